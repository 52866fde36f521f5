"""Weather Underground readers: one station's local day from its workbook or its Airbyte export."""

from __future__ import annotations

import csv
import json
import re
import zipfile
import zlib
from collections.abc import Iterator
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import dagster as dg
import openpyxl
from openpyxl.worksheet.formula import ArrayFormula, DataTableFormula

from forecast_assets.partitions import ddmmyy
from forecast_assets.raw.records import RawBatch, SourceUnavailableError, reject, with_lineage
from forecast_assets.raw.wunderground_sheets import check_sheet_naming, sheet_date

#: The workbook header, exactly as Weather Underground writes it.
WU_COLUMNS: tuple[str, ...] = (
    "Time",
    "Temperature",
    "Dew Point",
    "Humidity",
    "Wind",
    "Speed",
    "Gust",
    "Pressure",
    "Precip. Rate.",
    "Precip. Accum.",
    "UV",
    "Solar",
)
#: The 16 compass points exactly as Weather Underground writes its ``Wind`` column, clockwise from North.
WIND_POINTS: tuple[str, ...] = (
    "North",
    "NNE",
    "NE",
    "ENE",
    "East",
    "ESE",
    "SE",
    "SSE",
    "South",
    "SSW",
    "SW",
    "WSW",
    "West",
    "WNW",
    "NW",
    "NNW",
)

_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?\s*$")
#: Prefix of the fields Airbyte's file sources add to every row of ``_airbyte_data``.
_AIRBYTE_FILE_FIELDS = "_ab_"
#: A formula element in a sheet's XML: ``<f>``, ``<f t="shared" …>``, ``<x:f/>``.
_FORMULA_TAG = re.compile(rb"<(?:\w+:)?f[\s>/]")
#: What a damaged .xlsx (zip, XML or cell values) raises while openpyxl reads it.
_UNREADABLE = (zipfile.BadZipFile, zlib.error, OSError, EOFError, KeyError, ValueError, SyntaxError)


def clock_text(value: Any) -> str | None:
    """A WU ``Time`` cell as a 24-hour ``HH:MM:SS`` string, or None if it is not a time of day.

    Accepts what the sources hold: an Excel time (``datetime.time``, or a datetime / day fraction
    when a cell lost its format) and the Airbyte export's ``HH:MM:SS`` / ``h:mm AM`` text.
    """
    if isinstance(value, datetime):
        value = value.time()
    if isinstance(value, time):
        return value.replace(microsecond=0).strftime("%H:%M:%S")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1:
        seconds = round(value * 86400)
        return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    if isinstance(value, str):
        match = _CLOCK.match(value)
        if match:
            hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
            if match[4]:
                if not 1 <= hour <= 12:
                    return None
                hour = hour % 12 + (12 if match[4].lower() == "pm" else 0)
            if hour < 24 and minute < 60 and second < 60:
                return f"{hour:02d}:{minute:02d}:{second:02d}"
    return None


def _column_difference(columns: Any) -> str:
    """How ``columns`` differ from the WU header: ``missing [...], unexpected [...]``."""
    missing = [c for c in WU_COLUMNS if c not in columns]
    unexpected = [c for c in columns if c not in WU_COLUMNS]
    return f"missing {missing}, unexpected {unexpected}"


def _land_row(
    batch: RawBatch,
    row: dict[str, Any],
    source_uri: str,
    position: str,
    ingested_at: str,
    found: Any = None,
) -> None:
    """Land a row whose Time is a time of day; reject it otherwise (as ``found``, if given)."""
    record = row if found is None else found
    if set(row) != set(WU_COLUMNS):
        batch.rejects.append(
            reject(
                f"columns do not match the WU header: {_column_difference(row)}",
                record,
                source_uri,
                position,
                ingested_at,
            )
        )
        return
    clock = clock_text(row["Time"])
    if clock is None:
        batch.rejects.append(
            reject(
                f"Time {row['Time']!r} is not a time of day",
                record,
                source_uri,
                position,
                ingested_at,
            )
        )
        return
    landed = {column: row[column] for column in WU_COLUMNS}
    landed["Time"] = clock
    batch.rows.append(with_lineage(landed, source_uri, position, ingested_at))


def _unreadable_sheet(path: Path, sheet: str, day: date, error: Exception) -> SourceUnavailableError:
    return SourceUnavailableError(
        f"workbook {path} sheet {sheet} ({day}) cannot be read: {type(error).__name__}: {error}; re-export the "
        f"workbook, or repair sheet {sheet} in a spreadsheet program and save the workbook again"
    )


def _sheet_rows(workbook: Any, sheet: str, path: Path, day: date) -> list[tuple]:
    """Every row of a sheet as values, read here so that a damaged sheet XML names itself."""
    try:
        return [tuple(values) for values in workbook[sheet].iter_rows(values_only=True)]
    except _UNREADABLE as error:
        raise _unreadable_sheet(path, sheet, day, error) from error


def _formula_cells(workbook: Any, path: Path, sheet: str, day: date) -> dict[tuple[int, int], str]:
    """The formulas of a sheet by (Excel row, column index), for when a row has an empty value.

    The sheet's XML is searched for a formula element first (one zip read); only if there is one is
    the formula view of the workbook opened and that sheet parsed again.
    """
    member = getattr(workbook[sheet], "_worksheet_path", None)  # openpyxl's read-only sheets know it
    if member:
        try:
            with zipfile.ZipFile(path) as archive:
                if not _FORMULA_TAG.search(archive.read(member)):
                    return {}
        except _UNREADABLE:
            pass  # let openpyxl say what is wrong, below
    try:
        formula_view = openpyxl.load_workbook(path, read_only=True, data_only=False)
    except _UNREADABLE as error:
        raise _unreadable_sheet(path, sheet, day, error) from error
    try:
        rows = _sheet_rows(formula_view, sheet, path, day)
    finally:
        formula_view.close()
    formulas = {}
    for excel_row, values in enumerate(rows, start=1):
        for column, value in enumerate(values):
            if isinstance(value, (ArrayFormula, DataTableFormula)):
                formulas[excel_row, column] = getattr(value, "text", None) or type(value).__name__
            elif isinstance(value, str) and value.startswith("="):
                formulas[excel_row, column] = value
    return formulas


def _header(values: tuple) -> tuple:
    header = tuple(h.strip() if isinstance(h, str) else h for h in values)
    while header and header[-1] is None:
        header = header[:-1]
    return header


def _blank(values: tuple) -> bool:
    return all(v is None or (isinstance(v, str) and not v.strip()) for v in values)


def read_workbook_day(path: Path, day: date, ingested_at: str) -> RawBatch:
    """The sheet of local ``day`` (named ``DDMMYY``) of a WU workbook, rows landed unchanged.

    SourceUnavailableError if the workbook or that sheet cannot be read, or its sheets are named
    MMDDYY (or ambiguously, with another sheet that could be ``day``). Rejected with a reason: rows
    of another sheet naming the same day (``51024``, ``05-10-24``, ``051024 (2)``) and rows holding
    a formula whose value was never computed (``data_only`` would read it as empty).
    """
    sheet_name = ddmmyy(day)
    if not path.is_file():
        raise SourceUnavailableError(f"workbook {path} not found (looking for sheet {sheet_name} = {day})")
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except _UNREADABLE as error:
        raise SourceUnavailableError(f"workbook {path} cannot be read as .xlsx: {error}") from error
    try:
        names = tuple(workbook.sheetnames)
        naming = check_sheet_naming(path, day, names)
        rows = _sheet_rows(workbook, sheet_name, path, day)
        header = _header(rows[0] if rows else ())
        if header != WU_COLUMNS:
            difference = _column_difference(header) if set(header) != set(WU_COLUMNS) else "same columns, other order"
            raise SourceUnavailableError(
                f"workbook {path} sheet {sheet_name}: header {list(header)} is not the WU header "
                f"{list(WU_COLUMNS)} ({difference})"
            )
        batch = RawBatch(source_uri=path.resolve().as_uri())
        blank = _land_sheet(batch, workbook, rows, path, sheet_name, day, ingested_at)
        for name in names:
            if name != sheet_name and sheet_date(name) == day:
                reason = f"duplicate sheet for {day}: {name} (only sheet {sheet_name} is read)"
                blank += _reject_sheet(batch, _sheet_rows(workbook, name, path, day), name, reason, ingested_at)
    finally:
        workbook.close()
    batch.notes["empty_rows_skipped"] = blank
    if naming.scheme == "ambiguous":
        batch.notes["sheet_naming"] = f"ambiguous, read as DDMMYY: {naming.evidence}"
        dg.get_dagster_logger().warning(
            f"workbook {path}: sheet names read both as DDMMYY and MMDDYY ({naming.evidence}); read {sheet_name} "
            f"as {day} (DDMMYY, the expected scheme)"
        )
    return batch


def _land_sheet(
    batch: RawBatch, workbook: Any, rows: list[tuple], path: Path, sheet_name: str, day: date, ingested_at: str
) -> int:
    """Land (or reject) the data rows below the header; the number of blank rows skipped."""
    blank, formulas = 0, None
    for excel_row, values in enumerate(rows[1:], start=2):
        if _blank(values):
            blank += 1
            continue
        position = f"sheet={sheet_name} row={excel_row}"
        extra = [v for v in values[len(WU_COLUMNS) :] if v is not None]
        if extra:
            batch.rejects.append(
                reject(
                    f"values beyond the {len(WU_COLUMNS)} WU columns: {extra}",
                    list(values),
                    batch.source_uri,
                    position,
                    ingested_at,
                )
            )
            continue
        padded = tuple(values) + (None,) * (len(WU_COLUMNS) - len(values))
        if None in padded:  # maybe a formula never computed: look once per sheet
            formulas = _formula_cells(workbook, path, sheet_name, day) if formulas is None else formulas
            uncached = [
                f"formula without a cached value in {column} ({formulas[excel_row, index]})"
                for index, column in enumerate(WU_COLUMNS)
                if padded[index] is None and (excel_row, index) in formulas
            ]
            if uncached:
                batch.rejects.append(reject("; ".join(uncached), list(values), batch.source_uri, position, ingested_at))
                continue
        _land_row(batch, dict(zip(WU_COLUMNS, padded)), batch.source_uri, position, ingested_at)
    return blank


def _reject_sheet(batch: RawBatch, rows: list[tuple], sheet_name: str, reason: str, ingested_at: str) -> int:
    """Reject every data row of a sheet (its WU header, if any, is not a row); the blank rows skipped."""
    blank = 0
    for excel_row, values in enumerate(rows, start=1):
        if excel_row == 1 and _header(values) == WU_COLUMNS:
            continue
        if _blank(values):
            blank += 1
            continue
        position = f"sheet={sheet_name} row={excel_row}"
        batch.rejects.append(reject(reason, list(values), batch.source_uri, position, ingested_at))
    return blank


def _airbyte_records(file: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed record or the raw text that failed to parse) of an Airbyte export file."""
    if file.suffix == ".csv":
        with file.open(newline="", encoding="utf-8") as handle:
            for line_no, record in enumerate(csv.DictReader(handle), start=2):
                yield line_no, record
        return
    with file.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield line_no, json.loads(line)
            except json.JSONDecodeError:
                yield line_no, line.rstrip("\n")


def _airbyte_data(record: Any) -> dict[str, Any] | str:
    """The wrapped row of an Airbyte record, or the reason it has none."""
    if not isinstance(record, dict):
        return "not a JSON object"
    data = record.get("_airbyte_data")
    if isinstance(data, str):  # the CSV destination stores it as a JSON string
        try:
            data = json.loads(data)
        except json.JSONDecodeError:
            return "_airbyte_data is not valid JSON"
    if not isinstance(data, dict):
        return "no _airbyte_data object"
    return data


def read_airbyte_day(export_dir: Path, day: date, ingested_at: str) -> RawBatch:
    """One sheet's rows from an Airbyte export laid out as ``<export_dir>/<DDMMYY>/*.jsonl|*.csv``.

    The fields Airbyte's file sources add to each row (``_ab_source_file_url``,
    ``_ab_source_file_last_modified``, any ``_ab_*``) are lineage, not data: they are dropped from
    the landed row, and the source file URL (without its query string, which may hold a signature)
    is kept in the row's ``_source_position``. A rejected row is stored as found, with them.
    """
    folder = export_dir / ddmmyy(day)
    files = sorted(p for p in folder.glob("*") if p.suffix in (".jsonl", ".csv")) if folder.is_dir() else []
    if not files:
        raise SourceUnavailableError(f"no Airbyte export (*.jsonl, *.csv) for {day} in {folder}")
    batch = RawBatch(source_uri=folder.resolve().as_uri())
    for file in files:
        file_uri = file.resolve().as_uri()
        for line_no, record in _airbyte_records(file):
            position = f"file={file.name} line={line_no}"
            data = _airbyte_data(record)
            if isinstance(data, str):
                batch.rejects.append(reject(data, record, file_uri, position, ingested_at))
                continue
            raw_id = record.get("_airbyte_raw_id")
            if raw_id:
                position += f" airbyte_raw_id={raw_id}"
            row = {key: value for key, value in data.items() if not key.startswith(_AIRBYTE_FILE_FIELDS)}
            source_file = data.get("_ab_source_file_url")
            if source_file:
                position += f" ab_source_file_url={str(source_file).split('?', 1)[0]}"
            _land_row(batch, row, file_uri, position, ingested_at, found=data)
    return batch


class WundergroundSource(dg.ConfigurableResource):
    """Where one Weather Underground station's observations are read from.

    ``location`` is either the station's workbook (``.xlsx``, one sheet per local day named
    ``DDMMYY``) or a folder holding its Airbyte export (``<DDMMYY>/*.jsonl`` or ``*.csv``).
    """

    station_id: str
    location: str

    def describe(self) -> str:
        """Where the data is read from, for metadata."""
        return str(Path(self.location).resolve())

    def fetch_day(self, day: date, ingested_at: str) -> RawBatch:
        """The station's rows for local ``day``."""
        path = Path(self.location)
        if path.suffix.lower() in (".xlsx", ".xlsm"):
            batch = read_workbook_day(path, day, ingested_at)
        elif path.is_dir():
            batch = read_airbyte_day(path, day, ingested_at)
        else:
            raise SourceUnavailableError(
                f"{self.station_id}: {path} is neither an .xlsx workbook nor an Airbyte export folder "
                f"(looking for {day})"
            )
        batch.notes["rows_per_station"] = {self.station_id: len(batch.rows)}
        return batch
