"""Completeness of a weather_data day: each station's slots filled and its measured columns' null rates.

Counted over the whole day's frame at once (station codes, ``bincount``, one group-by for the null
rates): the cost grows with the rows, not with rows × stations.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from forecast_assets.feeds import day_windows, station_window
from forecast_assets.stations import STATIONS, Station
from forecast_assets.weather.check_specs import (
    COMPLETENESS,
    COVERAGE_THRESHOLD,
    SPARSE_COLUMNS,
    CheckOutcome,
    max_null_rate,
    outcome,
)


def expected_slots(station: Station, partition_key: str) -> int:
    """How many observations the station should produce in its window for the day."""
    start, end = station_window(station, partition_key)
    return _slots(start, end, station)


def _slots(start: pd.Timestamp, end: pd.Timestamp, station: Station) -> int:
    return math.ceil((end - start) / station.cadence)


def _utc_nanoseconds(stamps: pd.Series) -> np.ndarray:
    """Timestamps as int64 UTC nanoseconds (NaT as ``NaT``'s integer); off-contract values coerced."""
    if not isinstance(stamps.dtype, pd.DatetimeTZDtype):
        # a frame off the contract (schema_conformance reports it) must still be measurable
        stamps = pd.to_datetime(stamps, utc=True, errors="coerce")
    return pd.DatetimeIndex(stamps).as_unit("ns").asi8


@functools.cache
def _nanoseconds(cadence: timedelta) -> int:
    return pd.Timedelta(cadence).value


def _station_codes(station_ids: pd.Series, table: list[str]) -> np.ndarray:
    """Each row's position in ``table`` (-1: not in it), as ``pd.Categorical(...).codes`` gives it,
    by the distinct ids (a day holds a few hundred)."""
    codes, uniques = pd.factorize(station_ids)
    position = {station_id: i for i, station_id in enumerate(table)}
    lookup = np.array([position.get(u, -1) for u in list(uniques)] + [-1], dtype=np.int64)
    return lookup[codes]


def station_coverage(partition_key: str, frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Coverage of every known station for the day: filled slots / expected slots.

    A slot is one cadence step of the station's window; a timestamp fills the slot it falls in
    (so on-grid timestamps count once each, and jittered ones are not double counted). Rows outside
    the window do not count and are reported as ``outside_window``.
    """
    stations = list(STATIONS.values())
    windows = day_windows(partition_key)
    n = len(stations)
    starts = np.array([windows[s.station_id][0].value for s in stations], dtype=np.int64)
    ends = np.array([windows[s.station_id][1].value for s in stations], dtype=np.int64)
    cadences = np.array([_nanoseconds(s.cadence) for s in stations], dtype=np.int64)
    rows, inside_rows, filled = (np.zeros(n, dtype=np.int64) for _ in range(3))
    if "station_id" in frame and "timestamp" in frame and len(frame):
        codes = _station_codes(frame["station_id"], list(windows))
        known = codes >= 0  # rows of stations outside the table belong to no station's coverage
        codes, stamps = codes[known], _utc_nanoseconds(frame["timestamp"])[known]
        inside = (stamps != pd.NaT.value) & (stamps >= starts[codes]) & (stamps < ends[codes])
        rows = np.bincount(codes, minlength=n)
        inside_rows = np.bincount(codes[inside], minlength=n)
        codes, stamps = codes[inside], stamps[inside]
        slots = (stamps - starts[codes]) // cadences[codes]
        width = int(slots.max(initial=0)) + 1  # (station, slot) as one integer, to count distinct pairs
        pairs = np.sort(codes * width + slots)  # distinct pairs by sorting (np.unique's hashing is slower)
        distinct = pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))] if len(pairs) else pairs
        filled = np.bincount(distinct // width, minlength=n)
    expected_of = -((starts - ends) // cadences)  # ceil((end - start) / cadence), in integers
    shown: dict[pd.Timestamp, str] = {}  # stations share a few windows: each instant written once
    table = []
    for i, station in enumerate(stations):
        start, end = windows[station.station_id]
        expected = int(expected_of[i])
        table.append(
            {
                "station_id": station.station_id,
                "source": station.provider,
                "window_start": shown.get(start) or shown.setdefault(start, start.isoformat()),
                "window_end": shown.get(end) or shown.setdefault(end, end.isoformat()),
                "rows": int(rows[i]),
                "expected_slots": expected,
                "filled_slots": int(filled[i]),
                "coverage": round(int(filled[i]) / expected, 4),
                "outside_window": int(rows[i] - inside_rows[i]),
            }
        )
    return table


def null_rate_failures(frame: pd.DataFrame, measured_columns: Mapping[str, list[str]]) -> dict[str, list[dict]]:
    """Per station with rows: its measured, non-sparse columns null more often than allowed.

    Nulls are counted for every station and column at once (one null mask, one sum per station's
    rows); the rate is nulls / rows of the station.
    """
    if "station_id" not in frame or frame.empty:
        return {}
    measured = {c for cols in measured_columns.values() for c in cols} - SPARSE_COLUMNS
    columns = sorted(c for c in measured if c in frame)
    codes, uniques = pd.factorize(frame["station_id"])  # null ids (code -1) belong to no station
    known = codes >= 0
    codes = codes[known]
    if not columns or not len(codes):
        return {}
    station_ids = list(uniques)
    sizes = np.bincount(codes, minlength=len(station_ids))
    isna = frame[columns].isna().to_numpy()
    if not known.all():
        isna = isna[known]
    if np.any(codes[1:] < codes[:-1]):  # a day's frame comes sorted by station: this is for any other
        order = np.argsort(codes, kind="stable")
        codes, isna = codes[order], isna[order]
    firsts = np.searchsorted(codes, np.arange(len(station_ids)))  # every code has rows: no empty group
    nulls = np.add.reduceat(isna, firsts, axis=0, dtype=np.int64)
    rates = nulls / sizes[:, None]  # int / int as Python divides them: the same doubles
    over = rates > np.array([max_null_rate(c) for c in columns])
    candidates = {station_ids[i]: int(i) for i in np.flatnonzero(over.any(axis=1))}
    column_index = {c: j for j, c in enumerate(columns)}
    failures: dict[str, list[dict]] = {}
    for sid in STATIONS:  # table order, then the station's measured columns in order
        i = candidates.get(sid)
        if i is None:
            continue
        for column in measured_columns.get(sid, []):
            j = column_index.get(column)  # None: sparse, or not in the frame
            if j is None or not over[i, j]:
                continue
            rate = float(rates[i, j])
            failures.setdefault(sid, []).append(
                {
                    "station_id": sid,
                    "column": column,
                    "null_rate": round(rate, 4),
                    "max_null_rate": max_null_rate(column),
                }
            )
    return failures


def completeness(
    partition_key: str,
    frame: pd.DataFrame,
    measured_columns: Mapping[str, list[str]],
    coverage: list[dict[str, Any]] | None = None,
) -> CheckOutcome:
    """Every station at least ``COVERAGE_THRESHOLD`` covered, and no measured column too often null.

    ``coverage``: the day's :func:`station_coverage` when already counted (the quality report shows it too).
    """
    nulls = null_rate_failures(frame, measured_columns)
    table, null_failures, low = [], [], []
    for row in station_coverage(partition_key, frame) if coverage is None else coverage:
        sid = row["station_id"]
        failures = nulls.get(sid, [])
        if row["coverage"] < COVERAGE_THRESHOLD:
            low.append(sid)
        null_failures += failures
        table.append(
            {
                "station_id": sid,
                "source": row["source"],
                "expected_slots": row["expected_slots"],
                "filled_slots": row["filled_slots"],
                "coverage": row["coverage"],
                "null_rate_failures": ", ".join(f"{f['column']} ({f['null_rate']:.0%})" for f in failures),
                "passed": row["coverage"] >= COVERAGE_THRESHOLD and not failures,
            }
        )
    passed = not low and not null_failures
    parts = []
    if low:
        parts.append(
            "coverage below {:.0%}: {}".format(
                COVERAGE_THRESHOLD,
                ", ".join(f"{r['station_id']} {r['coverage']:.1%}" for r in table if r["station_id"] in low),
            )
        )
    if null_failures:
        parts.append("null rate too high: " + ", ".join(f"{f['station_id']}.{f['column']}" for f in null_failures))
    summary = "; ".join(parts) if parts else f"all {len(table)} stations >= {COVERAGE_THRESHOLD:.0%} coverage"
    return outcome(
        COMPLETENESS,
        passed,
        summary,
        {"stations_below_coverage": len(low), "null_rate_failures": len(null_failures)},
        table,
        coverage_threshold=COVERAGE_THRESHOLD,
        coverage={r["station_id"]: r["coverage"] for r in table},
        stations_below_coverage=low,
        null_rate_failures=null_failures,
    )
