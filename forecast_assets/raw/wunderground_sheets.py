"""How a Weather Underground workbook names its sheets: ``DDMMYY`` (the contract), or not.

A sheet is one local day. Workbooks re-saved by hand sometimes carry ``MMDDYY`` names, copies
(``051024 (2)``) or other separators; the scheme is judged from all the sheet names at once, so a
workbook whose names are all valid both ways is not silently read a month off.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from forecast_assets.partitions import ddmmyy
from forecast_assets.raw.records import SourceUnavailableError

#: A sheet name that denotes a day: ``051024``, ``51024``, ``05-10-24``, ``05.10.2024`` ...
_DAY_NAME = re.compile(r"(\d{1,2})[-._ ]?(\d{2})[-._ ]?(\d{4}|\d{2})")
#: The suffix a spreadsheet program gives a copied sheet: ``051024 (2)``.
_COPY_SUFFIX = re.compile(r"\s*\(\d+\)$")


def sheet_date(name: str, day_first: bool = True) -> date | None:
    """The day a sheet name denotes, or None.

    Read day-month-year (``051024``, ``51024``, ``05-10-24``, ``05.10.2024``, and a copy such as
    ``051024 (2)``), or month-day-year when ``day_first`` is False.
    """
    match = _DAY_NAME.fullmatch(_COPY_SUFFIX.sub("", name.strip()))
    if not match:
        return None
    first, second, year = int(match[1]), int(match[2]), int(match[3])
    day_of_month, month = (first, second) if day_first else (second, first)
    try:
        return date(year if year >= 100 else 2000 + year, month, day_of_month)
    except ValueError:
        return None


@dataclass(frozen=True)
class SheetNaming:
    """How a workbook's sheets are named: ``DDMMYY``, ``MMDDYY``, ``mixed`` or ``ambiguous``, and why."""

    scheme: str
    evidence: str = ""


@functools.lru_cache(maxsize=64)
def sheet_naming(names: tuple[str, ...]) -> SheetNaming:
    """The naming scheme of a workbook, judged from all its sheet names (cached: once per workbook).

    A name that is a date only as DDMMYY (``131024``) or only as MMDDYY (``101324``) proves its
    scheme, and proofs of both make it ``mixed``. When every date-like name reads both ways, the
    reading under which more sheets are consecutive days wins; if that ties too it is ``ambiguous``.
    """
    readings = {name: (sheet_date(name), sheet_date(name, day_first=False)) for name in names}
    only_ddmmyy = [name for name, (dmy, mdy) in readings.items() if dmy and not mdy]
    only_mmddyy = [name for name, (dmy, mdy) in readings.items() if mdy and not dmy]
    if only_ddmmyy and only_mmddyy:
        return SheetNaming(
            "mixed", f"{', '.join(only_ddmmyy)} only valid as DDMMYY, {', '.join(only_mmddyy)} only valid as MMDDYY"
        )
    if only_mmddyy:
        return SheetNaming("MMDDYY", f"{only_mmddyy[0]} is a valid MMDDYY date but not a valid DDMMYY one")
    if only_ddmmyy:
        return SheetNaming("DDMMYY")
    both = [name for name, (dmy, mdy) in readings.items() if dmy and mdy and dmy != mdy]
    if not both:
        return SheetNaming("DDMMYY")
    as_ddmmyy = _consecutive_pairs({dmy for dmy, _ in readings.values() if dmy})
    as_mmddyy = _consecutive_pairs({mdy for _, mdy in readings.values() if mdy})
    if as_ddmmyy > as_mmddyy:
        return SheetNaming("DDMMYY")
    if as_mmddyy > as_ddmmyy:
        return SheetNaming(
            "MMDDYY",
            f"read as MMDDYY the sheets hold {as_mmddyy} pair(s) of consecutive days, read as DDMMYY {as_ddmmyy}",
        )
    return SheetNaming(
        "ambiguous",
        "; ".join(f"{name} is {readings[name][0]} as DDMMYY but {readings[name][1]} as MMDDYY" for name in both),
    )


def _consecutive_pairs(days: set[date]) -> int:
    return sum(1 for day in days if day + timedelta(days=1) in days)


def check_sheet_naming(path: Path, day: date, names: tuple[str, ...]) -> SheetNaming:
    """The workbook's naming, once it is known that sheet ``DDMMYY`` of ``day`` is the one to read."""
    sheet_name, naming = ddmmyy(day), sheet_naming(names)
    expected = (
        f"sheets are expected to be named DDMMYY (day, month, year: {sheet_name} for {day}); sheets: {list(names)}"
    )
    if naming.scheme == "MMDDYY":
        raise SourceUnavailableError(
            f"workbook {path} has its sheets named MMDDYY, not DDMMYY ({naming.evidence}), so it cannot be read "
            f"for {day}: {expected}. Rename the sheets (expected DDMMYY) or re-export the workbook"
        )
    if naming.scheme == "mixed":
        raise SourceUnavailableError(
            f"workbook {path} mixes DDMMYY and MMDDYY sheet names ({naming.evidence}), so it cannot be read "
            f"for {day}: {expected}. Rename the odd sheets or re-export the workbook"
        )
    if sheet_name not in names:
        raise SourceUnavailableError(
            f"workbook {path} has no sheet {sheet_name!r} for {day} (sheets are named DDMMYY; found {list(names)})"
        )
    as_mmddyy = day.strftime("%m%d%y")
    if naming.scheme == "ambiguous" and as_mmddyy != sheet_name and as_mmddyy in names:
        raise SourceUnavailableError(
            f"workbook {path}: the sheet naming is ambiguous, both {sheet_name!r} (as DDMMYY) and {as_mmddyy!r} "
            f"(as MMDDYY) could be {day}, and no sheet name settles the scheme ({naming.evidence}). The "
            f"{expected}: rename or remove the sheet that is not {day}, or re-export the workbook"
        )
    return naming
