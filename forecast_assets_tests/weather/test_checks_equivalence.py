"""Check outcomes, their metadata, the quality report and its markdown are what 5aaf639 gave.

The reference is the frozen path of ``bench/reference_v1``: its ``build_day`` gives a day's inputs
(frame, accounting, rejects, duplicates) and the outcomes and report the old checks computed from
them; today's checks run on the same inputs. Days: the shipped sample week, generated weeks around
the DST changes, hand-written odd files, and frames off the contract built here. The temperature
plot of a day of the 6 stations is the same picture too.
"""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pandas as pd
import pytest

from bench.reference_v1 import build_day as reference_build_day
from bench.reference_v1 import checks as reference_checks
from bench.reference_v1 import quality as reference_quality
from bench.reference_v1.build import MEASURED
from forecast_assets.weather.accounting import Accounting
from forecast_assets.weather.checks import check_partition, outcome_metadata
from forecast_assets.weather.quality import (
    PLOTTED_STATIONS,
    build_quality_report,
    report_markdown,
    temperature_plot_markdown,
)
from forecast_assets_tests.weather.test_checks import day_slots, full_day, make_frame
from forecast_assets_tests.weather.test_reference_equivalence import (  # noqa: F401  (fixtures)
    DST_DAYS,
    dst_weeks,
    odd_files,
    sample_week,
    week_around,
)


def as_json(value) -> str:
    return json.dumps(value, default=str, allow_nan=True)


def outcome_of(call, *args):
    """What a call gives: its value, or the type of the error it raises (the old code's too)."""
    try:
        return call(*args)
    except Exception as error:  # noqa: BLE001  (an off-contract frame may break both the same way)
        return type(error)


def assert_same_checks(
    partition_key: str,
    frame: pd.DataFrame,
    accounting: dict,
    rejects: list,
    duplicates: pd.DataFrame,
    plot: bool = True,
) -> None:
    """Today's outcomes, metadata, report and markdown on these inputs equal the reference's."""
    old_accounting = reference_checks.Accounting(**accounting)
    new_accounting = Accounting(**accounting)
    old = reference_checks.check_partition(partition_key, frame, old_accounting, MEASURED)
    new = check_partition(partition_key, frame, new_accounting, MEASURED)
    assert as_json([asdict(o) for o in new]) == as_json([asdict(o) for o in old]), partition_key
    assert [outcome_metadata(o) for o in new] == [reference_checks.outcome_metadata(o) for o in old], partition_key
    old_report = outcome_of(
        reference_quality.build_quality_report, partition_key, frame, old_accounting, rejects, duplicates, old
    )
    new_report = outcome_of(build_quality_report, partition_key, frame, new_accounting, rejects, duplicates, new)
    assert as_json(new_report) == as_json(old_report), partition_key
    if isinstance(old_report, dict):
        assert report_markdown(new_report) == reference_quality.report_markdown(old_report), partition_key
    if plot and frame.get("station_id", pd.Series()).nunique() <= PLOTTED_STATIONS:  # more: drawn differently
        assert outcome_of(temperature_plot_markdown, frame) == outcome_of(
            reference_quality.temperature_plot_markdown, frame
        ), partition_key


def assert_same_day(staging, partition_key: str) -> None:
    day = reference_build_day(staging, partition_key)
    assert_same_checks(partition_key, day.frame, asdict(day.accounting), day.rejects, day.duplicates)
    # the reference's own outcomes and report: what 5aaf639's weather_data wrote for the day
    assert as_json(
        [asdict(o) for o in check_partition(partition_key, day.frame, Accounting(**asdict(day.accounting)), MEASURED)]
    ) == as_json([asdict(o) for o in day.outcomes])


@pytest.mark.parametrize("day", [f"2024-10-0{d}" for d in range(1, 8)])
def test_sample_week_checks_and_report_as_at_5aaf639(sample_week, day):
    assert_same_day(sample_week, day)


@pytest.mark.parametrize("day", [d.isoformat() for day in DST_DAYS for d in week_around(day)][::3] + DST_DAYS)
def test_generated_dst_days_checks_and_report_as_at_5aaf639(dst_weeks, day):
    assert_same_day(dst_weeks, day)


@pytest.mark.parametrize("day", ["2024-10-27", "2025-03-30", "2024-10-28"])
def test_odd_files_checks_and_report_as_at_5aaf639(odd_files, day):
    assert_same_day(odd_files, day)


def messy_day(partition_key: str, seed: int) -> tuple[pd.DataFrame, dict, list, pd.DataFrame]:
    """A generated day of the 6 stations with gaps, jitter, nulls near the thresholds, rows outside their
    window, an unknown station, duplicated keys and a value out of range; its accounting."""
    rng = np.random.default_rng(seed)
    stamps = {}
    for sid in ("IICHTE19", "ILAMAD25", "00052", "000R5", "07015", "STATIC0010"):
        slots = day_slots(sid, partition_key)
        keep = rng.random(len(slots)) > rng.choice([0.0, 0.05, 0.2])
        jitter = pd.to_timedelta(rng.integers(0, 90, len(slots)), unit="s") * rng.integers(0, 2)
        stamps[sid] = (slots + jitter)[keep]
    frame = make_frame(stamps)
    frame["temperature_c"] += rng.normal(0, 0.8, len(frame))
    for column, share in (("humidity_pct", 0.12), ("pressure_hpa", 0.08), ("wind_gust_kmh", 0.6)):
        frame.loc[rng.random(len(frame)) < share, column] = np.nan
    frame.loc[3, "temperature_c"] = 80.0
    outside = frame.iloc[[0, 1]].assign(timestamp=frame["timestamp"].iloc[0] - pd.Timedelta(days=1))
    frame = pd.concat([frame, outside, frame.iloc[[10, 11]]], ignore_index=True)
    frame.loc[len(frame) - 1, "station_id"] = "BOGUS"
    counts = frame.groupby("station_id").size().to_dict()
    accounting = {
        "raw_rows": {s: int(n) + 2 for s, n in counts.items()} | {"unknown": 3},
        "output_rows": {s: int(n) for s, n in counts.items()} | {"07015": 1},
        "rejected": {"IICHTE19": 2, "unknown": 3, "00052": 40},
        "duplicates_dropped": {"ILAMAD25": 1},
        "raw_rejected": {"00052": 30, "unknown": 1},
    }
    rejects = [
        {
            "reason": f"reason {i % 3}",
            "station_id": "IICHTE19",
            "record": {"t": "x" * (150 + 10 * i)},
            "_source_uri": "file:///raw.jsonl",
            "_source_position": str(i),
        }
        for i in range(14)
    ]
    return frame, accounting, rejects, frame.iloc[[10, 11]].copy()


@pytest.mark.parametrize(("day", "seed"), [("2024-10-27", 1), ("2025-03-30", 2), ("2024-11-14", 3)])
def test_generated_messy_days_as_at_5aaf639(day, seed):
    assert_same_checks(day, *messy_day(day, seed))


def test_frames_off_the_contract_as_at_5aaf639():
    full = full_day("2024-10-02")
    empty = make_frame({})
    cases = {
        "empty": empty,
        "no columns": pd.DataFrame(),
        "extra column": full.assign(extra=1.0),
        "text timestamps": full.assign(timestamp=full["timestamp"].astype(str)),
        "naive timestamps": full.assign(timestamp=full["timestamp"].dt.tz_localize(None)),
        "paris timestamps": full.assign(timestamp=full["timestamp"].dt.tz_convert("Europe/Paris")),
        "missing timestamp": full.drop(columns=["timestamp"]),
        "null timestamps": full.assign(timestamp=full["timestamp"].where(full.index % 7 != 0)),
        "numeric station ids": full.assign(station_id=full["station_id"].where(full.index % 5 != 0, 52)),
        "null station ids": full.assign(station_id=full["station_id"].where(full.index % 9 != 0)),
        "all measures null": full.assign(temperature_c=np.nan, humidity_pct=np.nan),
    }
    for name, frame in cases.items():
        counts = frame.groupby("station_id").size() if "station_id" in frame else pd.Series(dtype=int)
        accounting = {
            "raw_rows": {str(s): int(n) for s, n in counts.items()},
            "output_rows": {str(s): int(n) for s, n in counts.items()},
        }
        try:
            assert_same_checks("2024-10-02", frame, accounting, [], frame.iloc[0:0])
        except AssertionError as error:
            raise AssertionError(f"{name}: {error}") from error
