"""Unit conversions and the wind table: the one place that knows how source text becomes metric numbers.

Every measured contract column lists the units it accepts and how each converts to the contract's
unit (``ALLOWED_UNITS``). A value is converted by the unit written in its own text (``56.8 °F``,
``1013.2 hPa``), never by an assumed one; a bare number is accepted only when the caller says what
unit the source documents for it (``bare_unit``: InfoClimat's API metadata, WU's unitless UV).

Text values repeat heavily, so the column functions (``convert_values``, ``convert_wind``) parse
each *distinct* value once and map the results back with a vectorised take.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

# --- conversion constants ---------------------------------------------------------------------
#: Miles per hour → kilometres per hour (exact: 1 mile = 1.609344 km).
MPH_TO_KMH = 1.609344
#: Inches of mercury → hectopascals.
INHG_TO_HPA = 33.8639
#: Inches → millimetres (exact).
IN_TO_MM = 25.4
#: Inches per hour → millimetres per hour (exact).
IN_H_TO_MM_H = 25.4
#: Metres per second → kilometres per hour (exact).
MS_TO_KMH = 3.6
#: Kilometres → metres.
KM_TO_M = 1000.0

Converter = Callable[[float], float]


def fahrenheit_to_celsius(value: float) -> float:
    """°F → °C."""
    return (value - 32.0) * 5.0 / 9.0


def _same(value: float) -> float:
    return value


def _times(factor: float) -> Converter:
    def convert(value: float) -> float:
        return value * factor

    convert.__name__ = f"times_{factor}"
    return convert


_TEMPERATURE = {"°C": _same, "℃": _same, "°F": fahrenheit_to_celsius, "℉": fahrenheit_to_celsius}
_SPEED = {"km/h": _same, "kph": _same, "mph": _times(MPH_TO_KMH), "m/s": _times(MS_TO_KMH)}
_DEPTH = {"mm": _same, "in": _times(IN_TO_MM)}

#: Per contract column: the units a source value may carry (as written, matched case-insensitively)
#: and the converter to the column's unit. The empty unit ``""`` means "a plain number" and is
#: listed only for dimensionless columns (UV index, WMO code).
ALLOWED_UNITS: dict[str, dict[str, Converter]] = {
    "temperature_c": _TEMPERATURE,
    "dew_point_c": _TEMPERATURE,
    "humidity_pct": {"%": _same},
    "pressure_hpa": {"hPa": _same, "mb": _same, "mbar": _same, "in": _times(INHG_TO_HPA), "inHg": _times(INHG_TO_HPA)},
    "wind_direction_deg": {"°": _same, "deg": _same},
    "wind_speed_kmh": _SPEED,
    "wind_gust_kmh": _SPEED,
    # WU writes the precipitation *rate* as "0.00 in": inches per hour.
    "precip_rate_mm_h": {
        "mm/h": _same,
        "mm/hr": _same,
        "mm": _same,
        "in/h": _times(IN_H_TO_MM_H),
        "in/hr": _times(IN_H_TO_MM_H),
        "in": _times(IN_H_TO_MM_H),
    },
    "precip_accum_mm": _DEPTH,
    "precip_1h_mm": _DEPTH,
    "precip_3h_mm": _DEPTH,
    "visibility_m": {"m": _same, "km": _times(KM_TO_M)},
    "cloud_cover_octas": {"octas": _same, "octa": _same, "octats": _same},
    "snow_depth_cm": {"cm": _same},
    "weather_code": {"": _same},
    "uv_index": {"": _same},
    "solar_radiation_wm2": {"w/m²": _same, "w/m2": _same},
}
_ALLOWED_FOLDED: dict[str, dict[str, Converter]] = {
    column: {unit.casefold(): convert for unit, convert in units.items()} for column, units in ALLOWED_UNITS.items()
}

#: Cell texts that mean "no value" (compared after stripping whitespace, case-insensitively).
NULL_TEXTS = frozenset({"", "--", "n/a"})

#: The 16 compass points exactly as Weather Underground writes them, clockwise from North.
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
#: Wind text → direction the wind blows from, in degrees (North = 0, clockwise).
WIND_DEGREES: dict[str, float] = {
    **{point: index * 22.5 for index, point in enumerate(WIND_POINTS)},
    "N": 0.0,
    "E": 90.0,
    "S": 180.0,
    "W": 270.0,
}
#: Wind texts meaning there is no direction (calm or variable wind): a null direction.
CALM_WORDS = frozenset({"calm", "variable", "var", "vrb"})
_WIND_FOLDED = {text.casefold(): degrees for text, degrees in WIND_DEGREES.items()}

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_DIGIT_OR_DOT = re.compile(r"[0-9.]")


class UnitError(ValueError):
    """A source value that cannot be converted; the message is the reject reason."""


def _shown(value: Any) -> str:
    """A value as quoted in a reason: the no-break space shown as a plain space."""
    return repr(value.replace("\u00a0", " ") if isinstance(value, str) else value)


def _split(text: str) -> tuple[str, str]:
    """(number text, unit text) of a stripped cell text."""
    parts = text.split(None, 1)  # str.split() splits on the no-break space too
    if len(parts) == 2:
        return parts[0], parts[1].strip()
    match = _NUMBER.match(text)
    if match:
        return text[: match.end()], text[match.end() :]
    return text, ""


def parse_measure(
    value: Any,
    column: str,
    *,
    field: str | None = None,
    bare_unit: str | None = None,
    whole: bool = False,
) -> float | None:
    """One source value converted to ``column``'s unit; None for a blank / missing value.

    ``field`` names the source column in reasons (defaults to ``column``). ``bare_unit`` is the unit
    of a number written without one (None: a unit is required). ``whole`` requires an integer
    (codes). Raises UnitError whose message names the field and the value.
    """
    field = field or column
    allowed = _ALLOWED_FOLDED[column]
    if value is None:
        return None
    if isinstance(value, bool):
        raise UnitError(f"{field}: {_shown(value)} is a boolean, not a number")
    if isinstance(value, (int, float, np.integer, np.floating)):
        if math.isnan(value):
            return None
        number, unit, text = float(value), None, None
    elif isinstance(value, str):
        text = value.strip()
        if text.casefold() in NULL_TEXTS:
            return None
        number_text, unit = _split(text)
        if number_text.casefold() in NULL_TEXTS:  # e.g. "--\u00a0°F": a dropped sensor
            return None
        if not _NUMBER.fullmatch(number_text) or _DIGIT_OR_DOT.search(unit):
            raise UnitError(f"{field}: {_shown(value)} is not a number")
        number = float(number_text)
        unit = unit or None
    else:
        raise UnitError(f"{field}: {_shown(value)} is a {type(value).__name__}, not a number or text")
    if unit is None:
        if bare_unit is None:
            raise UnitError(f"{field}: {_shown(value)} has no unit; expected one of {_expected(column)}")
        unit = bare_unit
    convert = allowed.get(unit.casefold())
    if convert is None:
        raise UnitError(
            f"{field}: {_shown(value)} has unit {unit!r}, which is not a unit of {column} "
            f"(expected one of {_expected(column)})"
        )
    if not math.isfinite(number):
        raise UnitError(f"{field}: {_shown(value)} is not a finite number")
    if whole and not number.is_integer():
        raise UnitError(f"{field}: {_shown(value)} is not a whole number")
    return convert(number)


def _expected(column: str) -> str:
    return ", ".join(repr(unit) for unit in ALLOWED_UNITS[column])


def parse_wind_direction(value: Any, *, field: str = "Wind") -> float | None:
    """A WU wind text (compass point, or degrees written with ``°``) → degrees; None if blank or calm."""
    if isinstance(value, str):
        text = value.strip().casefold()
        if text in NULL_TEXTS or text in CALM_WORDS:
            return None
        if text in _WIND_FOLDED:
            return _WIND_FOLDED[text]
        try:
            return parse_measure(value, "wind_direction_deg", field=field)
        except UnitError:
            pass
    elif value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    raise UnitError(
        f"{field}: {_shown(value)} is not a known wind direction (expected a compass point such as "
        f"'North', 'NNE' or 'W', degrees such as '270°', or a calm/variable word)"
    )


@dataclass(frozen=True)
class ConvertedColumn:
    """A source column converted row by row: values (NaN = null) and which rows could not be."""

    values: np.ndarray  # float64
    bad: np.ndarray  # bool
    codes: np.ndarray  # row → index into the distinct values (-1 = missing)
    reasons: tuple[str | None, ...]  # per distinct value: why it could not be converted

    def reason(self, row: int) -> str | None:
        """Why row ``row`` could not be converted (None if it could)."""
        code = self.codes[row]
        return self.reasons[code] if code >= 0 else None


def factorize(values: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """(codes, distinct values) of any Python values; None / NaN get code -1."""
    array = np.empty(len(values), dtype=object)
    array[:] = values
    codes, uniques = pd.factorize(array)
    return np.asarray(codes, dtype=np.intp), np.asarray(uniques, dtype=object)


def convert_distinct(values: Sequence[Any], parse_one: Callable[[Any], float | None]) -> ConvertedColumn:
    """Apply ``parse_one`` (raising UnitError) once per distinct value and map the results to every row."""
    codes, uniques = factorize(values)
    numbers = np.full(len(uniques) + 1, np.nan)  # the extra last slot is what code -1 picks
    bad = np.zeros(len(uniques) + 1, dtype=bool)
    reasons: list[str | None] = [None] * len(uniques)
    for index, unique in enumerate(uniques):
        try:
            number = parse_one(unique)
        except UnitError as error:
            bad[index], reasons[index] = True, str(error)
        else:
            if number is not None:
                numbers[index] = number
    return ConvertedColumn(numbers[codes], bad[codes], codes, tuple(reasons))


def convert_values(
    values: Sequence[Any],
    column: str,
    *,
    field: str | None = None,
    bare_unit: str | None = None,
    whole: bool = False,
) -> ConvertedColumn:
    """``parse_measure`` over a whole column, each distinct value parsed once."""
    return convert_distinct(values, lambda v: parse_measure(v, column, field=field, bare_unit=bare_unit, whole=whole))


def convert_wind(values: Sequence[Any], *, field: str = "Wind") -> ConvertedColumn:
    """``parse_wind_direction`` over a whole column, each distinct value parsed once."""
    return convert_distinct(values, lambda v: parse_wind_direction(v, field=field))
