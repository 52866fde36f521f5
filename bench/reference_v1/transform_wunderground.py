"""Weather Underground rows (one station's local day) → contract rows in metric units and UTC."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from bench.reference_v1.clock import clock_text
from bench.reference_v1.stations import STATIONS, WEATHER_UNDERGROUND
from bench.reference_v1.transform_common import (
    WU_BARE_UNITS,
    WU_FIELDS,
    Transformed,
    build_frame,
    collect_rejects,
    column_values,
    out_of_range,
)
from bench.reference_v1.units import convert_values, convert_wind, factorize

_US_PER_SECOND = 1_000_000


def _seconds_of_day(value: Any) -> float:
    clock = clock_text(value)
    if clock is None:
        return np.nan
    hours, minutes, seconds = (int(part) for part in clock.split(":"))
    return float(hours * 3600 + minutes * 60 + seconds)


def _wall_clock_seconds(times: list[Any]) -> np.ndarray:
    """Seconds of the day of each row's Time (NaN if unreadable), each distinct text parsed once."""
    codes, uniques = factorize(times)
    seconds = np.append(np.array([_seconds_of_day(u) for u in uniques], dtype=np.float64), np.nan)
    return seconds[codes]


def local_to_utc(seconds: np.ndarray, day: date, zone: str) -> np.ndarray:
    """UTC instants (int64 µs since the epoch; the int64 minimum where the wall-clock time does not exist)
    of wall-clock ``seconds`` of local ``day`` in ``zone``, rows in sheet order.

    An ambiguous time (the autumn hour that happens twice) is summer time until the wall clock has
    gone backwards once within the sheet, standard time afterwards.
    """
    known = ~np.isnan(seconds)
    filled = pd.Series(seconds).ffill().to_numpy()
    went_back = np.concatenate(([False], np.diff(filled) < 0))
    is_dst = np.cumsum(went_back) == 0
    micros = np.where(known, seconds, 0).astype(np.int64) * _US_PER_SECOND
    local = np.datetime64(day, "us") + micros.astype("timedelta64[us]")
    index = pd.DatetimeIndex(local).as_unit("us")
    utc = index.tz_localize(zone, ambiguous=is_dst, nonexistent="NaT").tz_convert("UTC")
    return utc.as_unit("us").asi8


def transform_wunderground(rows: list[dict], station_id: str, day: date) -> Transformed:
    """One WU station's rows of local ``day`` (the sheet's date) as contract rows.

    Values are converted by the unit in their text; blanks, "--" and "N/A" become null; a row with a
    value that does not parse, an unexpected unit, an unknown wind text, a value outside the
    contract's physical range or a local time that does not exist (spring-forward gap) is rejected
    with the reason. Duplicates are kept (see ``deduplicate``).
    """
    station = STATIONS.get(station_id)
    if station is None or station.source != WEATHER_UNDERGROUND:
        raise ValueError(f"{station_id!r} is not a Weather Underground station in stations.py")
    n = len(rows)
    problems: list[tuple[np.ndarray, Any]] = []

    times = column_values(rows, "Time")
    seconds = _wall_clock_seconds(times)
    unreadable = np.isnan(seconds)
    problems.append((unreadable, lambda i: f"Time: {times[i]!r} is not a time of day"))
    utc = local_to_utc(seconds, day, station.timezone)
    in_gap = (utc == np.iinfo(np.int64).min) & ~unreadable
    problems.append(
        (
            in_gap,
            lambda i: (
                f"Time: {times[i]!r} does not exist on {day.isoformat()} in {station.timezone} "
                f"(skipped by the spring-forward DST change: the DST gap)"
            ),
        )
    )

    measures: dict[str, np.ndarray] = {}
    for field, column in WU_FIELDS.items():
        values = column_values(rows, field)
        if field == "Wind":
            converted = convert_wind(values, field=field)
        else:
            converted = convert_values(values, column, field=field, bare_unit=WU_BARE_UNITS.get(field))
        measures[column] = converted.values
        problems.append((converted.bad, converted.reason))
        impossible = out_of_range(converted.values, column, field, values)
        if impossible:
            problems.append(impossible)

    keep, rejects = collect_rejects(rows, problems, lambda i: station_id)
    frame = build_frame(
        [station],
        np.zeros(int(keep.sum()), dtype=np.intp),
        utc[keep],
        {column: values[keep] for column, values in measures.items()},
    )
    return Transformed(frame=frame, rejects=rejects, read=n)
