"""Completeness of a weather_data day: each station's slots filled and its measured columns' null rates.

Counted over the whole day's frame at once (station codes, ``bincount``, one group-by for the null
rates): the cost grows with the rows, not with rows × stations.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
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
    cadences = np.array([pd.Timedelta(s.cadence).value for s in stations], dtype=np.int64)
    rows, inside_rows, filled = (np.zeros(n, dtype=np.int64) for _ in range(3))
    if "station_id" in frame and "timestamp" in frame and len(frame):
        codes = pd.Categorical(frame["station_id"], categories=list(windows)).codes.astype(np.int64)
        known = codes >= 0  # rows of stations outside the table belong to no station's coverage
        codes, stamps = codes[known], _utc_nanoseconds(frame["timestamp"])[known]
        inside = (stamps != pd.NaT.value) & (stamps >= starts[codes]) & (stamps < ends[codes])
        rows = np.bincount(codes, minlength=n)
        inside_rows = np.bincount(codes[inside], minlength=n)
        codes, stamps = codes[inside], stamps[inside]
        slots = (stamps - starts[codes]) // cadences[codes]
        width = int(slots.max(initial=0)) + 1  # (station, slot) as one integer, to count distinct pairs
        filled = np.bincount(np.unique(codes * width + slots) // width, minlength=n)
    table = []
    for i, station in enumerate(stations):
        start, end = windows[station.station_id]
        expected = _slots(start, end, station)
        table.append(
            {
                "station_id": station.station_id,
                "source": station.provider,
                "window_start": start.isoformat(),
                "window_end": end.isoformat(),
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

    One group-by counts every station's nulls; the rate is nulls / rows of the station.
    """
    if "station_id" not in frame or frame.empty:
        return {}
    columns = sorted({c for cols in measured_columns.values() for c in cols if c not in SPARSE_COLUMNS and c in frame})
    station_ids = frame["station_id"]
    sizes = station_ids.value_counts(dropna=True)
    nulls = frame[columns].isna().groupby(station_ids, observed=True).sum().to_dict("index") if columns else {}
    failures: dict[str, list[dict]] = {}
    for sid in STATIONS:
        size = int(sizes.get(sid, 0))
        if not size:
            continue
        for column in measured_columns.get(sid, []):
            if column in SPARSE_COLUMNS or column not in frame:
                continue
            rate = float(int(nulls[sid][column]) / size)
            if rate > max_null_rate(column):
                failures.setdefault(sid, []).append(
                    {
                        "station_id": sid,
                        "column": column,
                        "null_rate": round(rate, 4),
                        "max_null_rate": max_null_rate(column),
                    }
                )
    return failures


def completeness(partition_key: str, frame: pd.DataFrame, measured_columns: Mapping[str, list[str]]) -> CheckOutcome:
    """Every station at least ``COVERAGE_THRESHOLD`` covered, and no measured column too often null."""
    nulls = null_rate_failures(frame, measured_columns)
    table, null_failures, low = [], [], []
    for row in station_coverage(partition_key, frame):
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
