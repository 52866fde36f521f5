"""Weather Underground rows (one station's local day) → contract rows in metric units and UTC.

The reader's side (workbook, header, clock texts) is :mod:`forecast_assets.raw.wunderground`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from forecast_assets.raw.wunderground import WU_COLUMNS, clock_text
from forecast_assets.stations import STATIONS, WEATHER_UNDERGROUND, Station
from forecast_assets.weather import convert
from forecast_assets.weather.landed import LandedColumns
from forecast_assets.weather.units import measure_parser, wind_parser

#: Weather Underground workbook column → contract column (``Time`` becomes ``timestamp``).
WU_FIELDS: dict[str, str] = {
    "Temperature": "temperature_c",
    "Dew Point": "dew_point_c",
    "Humidity": "humidity_pct",
    "Wind": "wind_direction_deg",
    "Speed": "wind_speed_kmh",
    "Gust": "wind_gust_kmh",
    "Pressure": "pressure_hpa",
    "Precip. Rate.": "precip_rate_mm_h",
    "Precip. Accum.": "precip_accum_mm",  # the running daily total as reported, not de-accumulated
    "UV": "uv_index",
    "Solar": "solar_radiation_wm2",
}
#: WU fields written as plain numbers, and the unit that number is in ("" = dimensionless).
WU_BARE_UNITS: dict[str, str] = {"UV": ""}
#: The raw fields the transform reads (the workbook header).
READ_FIELDS: tuple[str, ...] = WU_COLUMNS

_MEASURES: tuple[convert.MeasureField, ...] = tuple(
    convert.MeasureField(
        field,
        column,
        wind_parser(field=field)
        if field == "Wind"
        else measure_parser(column, field=field, bare_unit=WU_BARE_UNITS.get(field)),
    )
    for field, column in WU_FIELDS.items()
)
_US_PER_SECOND = 1_000_000
_NOT_A_TIME = np.iinfo(np.int64).min


_SECONDS: dict[tuple[type, Any], float] = {}  # clock texts recur every day: parse each once per process


def _seconds_of_day(value: Any) -> float:
    try:
        key = (type(value), value)
        known = _SECONDS.get(key)
    except TypeError:  # an unhashable JSON value: never a time of day
        return np.nan
    if known is None:
        if len(_SECONDS) >= 100_000:
            _SECONDS.clear()
        known = _SECONDS[key] = _parse_seconds(value)
    return known


def _parse_seconds(value: Any) -> float:
    clock = clock_text(value)
    if clock is None:
        return np.nan
    hours, minutes, seconds = (int(part) for part in clock.split(":"))
    return float(hours * 3600 + minutes * 60 + seconds)


def local_to_utc(
    seconds: np.ndarray, day: date | np.ndarray, zone: str, sheets: np.ndarray | None = None
) -> np.ndarray:
    """UTC instants (int64 µs since the epoch; the int64 minimum where the wall-clock time does not exist)
    of wall-clock ``seconds`` of local ``day`` in ``zone``, rows in sheet order.

    ``day`` may be one date per row (``datetime64[D]``) and ``sheets`` each row's sheet (rows of a sheet
    together, sheets one after the other): several sheets at once, each as if alone.
    An ambiguous time (the autumn hour that happens twice) is summer time until the wall clock has
    gone backwards once within the sheet, standard time afterwards.
    """
    known = ~np.isnan(seconds)
    series = pd.Series(seconds)
    filled = (series.ffill() if sheets is None else series.groupby(sheets, sort=False).ffill()).to_numpy()
    back = np.diff(filled) < 0
    if sheets is not None:
        back &= sheets[1:] == sheets[:-1]
    went_back = np.cumsum(np.concatenate(([False], back)))
    if sheets is not None and len(sheets):
        first = np.concatenate(([True], sheets[1:] != sheets[:-1]))
        went_back = went_back - np.maximum.accumulate(np.where(first, went_back, 0))
    is_dst = went_back == 0
    micros = np.where(known, seconds, 0).astype(np.int64) * _US_PER_SECOND
    start = np.datetime64(day, "us") if isinstance(day, date) else np.asarray(day).astype("datetime64[us]")
    local = start + micros.astype("timedelta64[us]")
    index = pd.DatetimeIndex(local).as_unit("us")
    utc = index.tz_localize(zone, ambiguous=is_dst, nonexistent="NaT").tz_convert("UTC")
    return utc.as_unit("us").asi8


def _check(
    landed: LandedColumns, station: Station, days: np.ndarray, sheets: np.ndarray | None
) -> tuple[convert.Checked, np.ndarray]:
    """One pass over sheets: measures, problems and the UTC instant of each row (``days``: its sheet's date)."""
    problems: list[convert.Problem] = []
    times = landed.columns["Time"]
    seconds = np.append(np.array([_seconds_of_day(u) for u in times.uniques], dtype=np.float64), np.nan)[times.codes]
    unreadable = np.isnan(seconds)
    problems.append((unreadable, lambda i: f"Time: {times.value(i)!r} is not a time of day"))
    utc = local_to_utc(seconds, days, station.timezone, sheets)
    in_gap = (utc == _NOT_A_TIME) & ~unreadable
    problems.append(
        (
            in_gap,
            lambda i: (
                f"Time: {times.value(i)!r} does not exist on {days[i]} in {station.timezone} "
                f"(skipped by the spring-forward DST change: the DST gap)"
            ),
        )
    )
    return convert.convert_measures(landed, _MEASURES, problems), utc


def transform_wunderground(
    rows: LandedColumns | Sequence[dict[str, Any]], station_id: str, day: date
) -> convert.Transformed:
    """One WU station's rows of local ``day`` (the sheet's date) as contract rows.

    ``rows``: the landed rows, as columns (:class:`LandedColumns`) or as dicts. Values are converted
    by the unit in their text; blanks, "--" and "N/A" become null; a row with a value that does not
    parse, an unexpected unit, an unknown wind text, a value outside the contract's physical range or
    a local time that does not exist (spring-forward gap) is rejected with the reason. Duplicates are
    kept (see ``forecast_assets.weather.transform.deduplicate``).
    """
    landed = rows if isinstance(rows, LandedColumns) else LandedColumns.from_rows(rows, READ_FIELDS)
    return transform_wunderground_sheets(landed, station_id, np.full(landed.n, np.datetime64(day, "D")), None)


def transform_wunderground_sheets(
    landed: LandedColumns, station_id: str, days: np.ndarray, sheets: np.ndarray | None
) -> convert.Transformed:
    """Several sheets of one WU station at once, each as :func:`transform_wunderground` would do it alone:
    ``days`` is each row's sheet date (``datetime64[D]``), ``sheets`` each row's sheet number (None: one)."""
    station = STATIONS.get(station_id)
    if station is None or station.provider != WEATHER_UNDERGROUND:
        raise ValueError(f"{station_id!r} is not a Weather Underground station in stations.py")
    utc: dict[str, np.ndarray] = {}

    def check(batch: LandedColumns) -> convert.Checked:
        checked, utc["now"] = _check(batch, station, days, sheets)
        return checked

    landed, checked = convert.checked_exactly(landed, check)
    keep, rejects = convert.collect_rejects(landed, checked, lambda i: station_id)
    rows = convert.ContractRows(
        [station],
        np.zeros(int(keep.sum()), dtype=np.intp),
        utc["now"][keep],
        {column: values[keep] for column, values in checked.measures.items()},
    )
    return convert.Transformed(
        rows=rows,
        rejects=rejects,
        read=landed.n,
        stations_read={station_id: landed.n},
        kept_rows=np.flatnonzero(keep),
        rejected_rows=np.flatnonzero(~keep),
        landed=landed,
    )
