"""The weather_data quality report: its numbers on a small frame, its markdown, its plot."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pandas as pd

from forecast_assets.weather.checks import check_partition
from forecast_assets.weather.completeness import station_coverage
from forecast_assets.weather.quality import (
    build_quality_report,
    plotted_stations,
    report_markdown,
    temperature_plot_markdown,
)
from forecast_assets.weather.schema import range_bounds
from forecast_assets_tests.weather.test_checks import (
    MEASURED,
    accounting_for,
    day_slots,
    full_day,
    make_frame,
)

DAY = "2024-10-02"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def small_day():
    """07015 for four hours (one reading at 80 °C), 00052 for a full day; one reject, one duplicate."""
    frame = make_frame({"07015": day_slots("07015")[:4], "00052": day_slots("00052")})
    frame.loc[1, "temperature_c"] = 80.0
    duplicates = frame.iloc[[10]].copy()
    rejects = [
        {
            "reason": "unparseable temperature",
            "station_id": "00052",
            "record": {"t": "x" * 500},
            "_source_uri": "s3://raw/InfoClimat.jsonl",
            "_source_position": "12",
        },
        {"reason": "unknown station", "record": {"id": "99999"}},
    ]
    accounting = accounting_for(frame, rejected={"00052": 1, "unknown": 1}, duplicates={"00052": 1})
    return frame, accounting, rejects, duplicates


def test_range_bounds_come_from_the_model():
    bounds = range_bounds()
    assert bounds["temperature_c"] == {"min": -50, "min_inclusive": True, "max": 60, "max_inclusive": True}
    assert bounds["precip_1h_mm"] == {"min": 0, "min_inclusive": True}
    assert "station_name" not in bounds


def test_report_numbers_on_a_small_frame():
    frame, accounting, rejects, duplicates = small_day()
    outcomes = check_partition(DAY, frame, accounting, MEASURED)
    report = build_quality_report(DAY, frame, accounting, rejects, duplicates, outcomes)
    json.dumps(report)

    assert set(report) == {
        "partition",
        "totals",
        "rows_per_source",
        "rows_per_station",
        "coverage",
        "time_range",
        "null_rate",
        "duplicates",
        "rejects",
        "range_violations",
        "checks",
    }
    assert report["totals"] == {
        "raw_rows": 151,
        "output_rows": 148,
        "rejected": 2,
        "duplicates_dropped": 1,
        "frame_rows": 148,
    }
    assert report["rows_per_source"] == {"infoclimat": 148}
    per_station = {r["station_id"]: r for r in report["rows_per_station"]}
    assert set(per_station) == {"00052", "07015", "unknown"}
    assert (per_station["00052"]["raw_rows"], per_station["00052"]["output_rows"]) == (146, 144)
    coverage = {r["station_id"]: r["coverage"] for r in report["coverage"]}
    assert coverage["00052"] == 1.0 and coverage["07015"] == round(4 / 24, 4) and coverage["IICHTE19"] == 0.0
    assert report["coverage"] == station_coverage(DAY, frame)  # one implementation
    assert report["time_range"] == {"min": "2024-10-02T00:00:00+00:00", "max": "2024-10-02T23:50:00+00:00"}
    assert report["null_rate"]["temperature_c"] == 0.0 and report["null_rate"]["visibility_m"] == 1.0
    assert report["duplicates"]["count"] == 1 and report["duplicates"]["per_station"] == {"00052": 1}
    assert report["rejects"]["by_reason"] == {"unparseable temperature": 1, "unknown station": 1}
    assert len(report["rejects"]["sample"][0]["record"]) <= 201
    assert report["range_violations"] == {
        "temperature_c": {
            "min_bound": -50,
            "max_bound": 60,
            "below": 0,
            "above": 1,
            "observed_min": frame["temperature_c"].min(),
            "observed_max": 80.0,
        }
    }
    checks = {c["name"]: c["passed"] for c in report["checks"]}
    assert checks == {
        "schema_conformance": False,
        "unique_station_timestamp": True,
        "completeness": False,
        "reconciliation": True,
        "station_day_rejects": True,
    }


def test_report_markdown_shows_the_same_content():
    frame, accounting, rejects, duplicates = small_day()
    report = build_quality_report(
        DAY, frame, accounting, rejects, duplicates, check_partition(DAY, frame, accounting, MEASURED)
    )
    markdown = report_markdown(report)
    for heading in (
        "## weather_data quality — 2024-10-02",
        "### Checks",
        "### Rows per station",
        "### Coverage per station",
        "### Null rate per column",
        "### Duplicates dropped: 1",
        "### Rejects: 2",
        "### Values outside the contract's bounds",
    ):
        assert heading in markdown
    assert re.search(r"\|\s*temperature_c\s*\|\s*-50\s*\|\s*60\s*\|\s*0\s*\|\s*1\s*\|", markdown)
    assert re.search(r"\|\s*unparseable temperature\s*\|\s*1\s*\|", markdown)


def test_report_on_an_empty_frame():
    frame = make_frame({})
    accounting = accounting_for(frame)
    report = build_quality_report(
        DAY, frame, accounting, [], frame.iloc[0:0], check_partition(DAY, frame, accounting, MEASURED)
    )
    json.dumps(report)
    assert report["totals"]["frame_rows"] == 0
    assert report["time_range"] == {"min": None, "max": None}
    assert all(r["coverage"] == 0.0 for r in report["coverage"])
    assert "_no rows_" in report_markdown(report)


def test_temperature_plot_is_a_small_embedded_png():
    frame = full_day("2024-10-27")  # every station, 25 h for WU, noisy like real readings
    frame["temperature_c"] += np.random.default_rng(0).normal(0, 0.8, len(frame))
    markdown = temperature_plot_markdown(frame)
    match = re.fullmatch(r"!\[[^\]]+\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", markdown)
    assert match
    png = base64.b64decode(match.group(1))
    assert png.startswith(PNG_SIGNATURE)
    assert len(png) <= 60_000


def test_temperature_plot_of_an_empty_frame_is_text():
    markdown = temperature_plot_markdown(make_frame({}))
    assert "image/png" not in markdown and markdown
    assert "image/png" not in temperature_plot_markdown(pd.DataFrame())


def test_temperature_plot_of_many_stations_draws_the_busiest_and_sums_up_the_others():
    """A day of 30 stations costs one picture of 6: the 6 with most readings, the 24 others in a line."""
    frame = full_day("2024-10-02")
    extra = []
    for i in range(24):  # stations the table does not know are drawn under their id
        part = frame[frame["station_id"] == "00052"].iloc[: 100 + i].assign(station_id=f"X{i:02d}")
        extra.append(part.assign(temperature_c=part["temperature_c"] + i))
    many = pd.concat([frame, *extra], ignore_index=True)
    assert plotted_stations(many) == sorted(["00052", "000R5", "STATIC0010", "IICHTE19", "ILAMAD25", "X23"])
    markdown = temperature_plot_markdown(many)
    image, line = markdown.split("\n\n")
    match = re.fullmatch(r"!\[[^\]]+\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", image)
    assert match and len(base64.b64decode(match.group(1))) <= 60_000
    others = many[~many["station_id"].isin(plotted_stations(many))]
    assert line == (
        f"_Drawn: 6 of 30 stations (most readings); the other 24: {len(others)} readings, "
        f"{others['temperature_c'].min():.1f} to {others['temperature_c'].max():.1f} °C "
        f"(median {others['temperature_c'].median():.1f} °C)._"
    )


def test_temperature_plot_of_the_six_stations_has_no_summary_line():
    assert "\n" not in temperature_plot_markdown(full_day("2024-10-02"))
