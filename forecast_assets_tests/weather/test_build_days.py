"""A chunk of days built at once (``build_days``) gives every day exactly what ``build_day`` gives it alone.

Compared per day, exactly: the frame, the rejects, the duplicates (index labels included), the
accounting, the check outcomes and the quality report. Ranges: the generated weeks around both DST
changes (duplicates and rejects every week), hand-written odd files (numbers, booleans, blank lines,
NaN: some files read one by one), and the same odd rows landed on two days of one chunk (keys that
repeat across days: one validation of the chunk fails, the days are validated alone).
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict
from datetime import timedelta

import pandas as pd
import pytest

from forecast_assets.staging import LocalStagingZone
from forecast_assets.staging.layout import raw_landed_key, raw_rejects_key
from forecast_assets.stations import STATIONS
from forecast_assets.weather.assets import built_days
from forecast_assets.weather.build import CHUNK_ROWS, Day, build_day, build_days, days_per_chunk
from forecast_assets.weather.landed import LandedColumns
from forecast_assets.weather.wunderground import READ_FIELDS
from forecast_assets_tests.weather.test_reference_equivalence import (  # noqa: F401  (fixtures)
    DST_DAYS,
    dst_weeks,
    odd_files,
    week_around,
)

DST_RANGE = sorted({d.isoformat() for day in DST_DAYS for d in week_around(day)})
FEEDS = ("BE", "FR", "InfoClimat")


def as_json(value) -> str:
    return json.dumps(value, default=str, allow_nan=True, sort_keys=True)


def assert_same(chunked: Day, alone: Day, key: str) -> None:
    pd.testing.assert_frame_equal(chunked.frame, alone.frame, check_exact=True, obj=f"frame of {key}")
    assert chunked.rejects == alone.rejects, key
    pd.testing.assert_frame_equal(chunked.duplicates, alone.duplicates, check_exact=True, obj=f"duplicates of {key}")
    assert asdict(chunked.accounting) == asdict(alone.accounting), key
    assert as_json([asdict(o) for o in chunked.outcomes]) == as_json([asdict(o) for o in alone.outcomes]), key
    assert as_json(chunked.report) == as_json(alone.report), key


def assert_chunk_as_days(staging: LocalStagingZone, keys: list[str]) -> dict[str, Day]:
    chunked = build_days(staging, keys)
    assert list(chunked) == keys
    for key in keys:
        assert_same(chunked[key], build_day(staging, key), key)
    return chunked


def test_a_chunk_over_both_dst_changes_equals_each_day_alone(dst_weeks):
    chunked = assert_chunk_as_days(dst_weeks, DST_RANGE)
    assert all(chunked[day].frame.size for day in DST_DAYS)
    assert any(len(day.duplicates) for day in chunked.values()) and any(day.rejects for day in chunked.values())
    # the chunk was read in one pass per feed, not file by file
    files = [dst_weeks.read_bytes(raw_landed_key("BE", key)) for key in DST_RANGE]
    assert len(LandedColumns.read_files(files, READ_FIELDS)) == 1


@pytest.mark.parametrize("chunk_days", [1, 5, 31])
def test_the_asset_s_chunks_give_each_day_as_built_alone(dst_weeks, chunk_days):
    built = list(built_days(dst_weeks, DST_RANGE, chunk_days=chunk_days))
    assert [key for key, _ in built] == DST_RANGE
    for key, day in built:
        assert_same(day, build_day(dst_weeks, key), key)


def test_odd_files_in_one_chunk_equal_each_day_alone(odd_files):
    assert_chunk_as_days(odd_files, ["2024-10-27", "2024-10-28", "2025-03-30"])


@pytest.fixture(scope="module")
def odd_rows_twice(odd_files, tmp_path_factory) -> LocalStagingZone:
    """The odd autumn day without its blank lines, landed again the next day (same InfoClimat keys)."""
    staging = LocalStagingZone(root=str(tmp_path_factory.mktemp("twice") / "staging"))
    for day in ("2024-10-27", "2024-10-29"):
        for feed in FEEDS:
            data = odd_files.read_bytes(raw_landed_key(feed, "2024-10-27"))
            lines = [line for line in data.split(b"\n") if line.strip()]
            staging.write_bytes(raw_landed_key(feed, day), b"\n".join(lines) + b"\n")
            if odd_files.exists(raw_rejects_key(feed, "2024-10-27")):
                staging.write_bytes(
                    raw_rejects_key(feed, day), odd_files.read_bytes(raw_rejects_key(feed, "2024-10-27"))
                )
    return staging


def test_odd_rows_on_two_days_of_a_chunk_equal_each_day_alone(odd_rows_twice):
    keys = ["2024-10-27", "2024-10-29"]
    chunked = assert_chunk_as_days(odd_rows_twice, keys)
    files = [odd_rows_twice.read_bytes(raw_landed_key("InfoClimat", key)) for key in keys]
    assert len(LandedColumns.read_files(files, ("id_station",))) == 1  # one pass, exact values of suspects
    assert all(len(chunked[key].rejects) > 15 and len(chunked[key].duplicates) >= 2 for key in keys)


@pytest.mark.parametrize("chunk_days", [4, 2, 1], ids=["in-first-chunk", "in-read-ahead-chunk", "day-by-day"])
def test_a_missing_file_fails_on_its_day_after_the_days_before_it(dst_weeks, tmp_path, chunk_days):
    staging = LocalStagingZone(root=str(tmp_path / "staging"))
    keys = DST_RANGE[:4]
    for key in keys:
        for feed in FEEDS:
            if key != keys[2] or feed != "FR":
                staging.write_bytes(raw_landed_key(feed, key), dst_weeks.read_bytes(raw_landed_key(feed, key)))
    delivered = []
    with pytest.raises(FileNotFoundError):
        for key, day in built_days(staging, keys, chunk_days=chunk_days):
            delivered.append(key)
            assert_same(day, build_day(staging, key), key)
    assert delivered == keys[:2]


def test_a_consumer_that_stops_early_leaves_no_read_ahead_running(dst_weeks):
    days = built_days(dst_weeks, DST_RANGE, chunk_days=2)
    first_key, _ = next(days)  # the second chunk is being read ahead now
    days.close()
    assert first_key == DST_RANGE[0]
    assert not [t for t in threading.enumerate() if t.name.startswith("weather-read-ahead")]


def test_a_chunk_holds_about_chunk_rows_raw_rows_whatever_the_stations():
    rows_per_day = sum(timedelta(days=1) / station.cadence for station in STATIONS.values())
    days = days_per_chunk()
    assert days * rows_per_day <= CHUNK_ROWS < (days + 1) * rows_per_day
    assert days > 7  # the 6 real stations: months per chunk, not a week
    assert days_per_chunk(chunk_rows=1) == 1
