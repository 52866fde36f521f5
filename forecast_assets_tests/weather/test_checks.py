"""weather_data checks, called directly on frames built in the contract: one pass, one failure each."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from forecast_assets.feeds import station_window
from forecast_assets.partitions import daily_partitions
from forecast_assets.stations import STATIONS
from forecast_assets.weather.accounting import Accounting
from forecast_assets.weather.check_specs import (
    COMPLETENESS,
    COVERAGE_THRESHOLD,
    RECONCILIATION,
    SCHEMA_CONFORMANCE,
    STATION_DAY_REJECTS,
    UNIQUE_STATION_TIMESTAMP,
    CheckOutcome,
    weather_check_specs,
)
from forecast_assets.weather.checks import check_partition, log_outcomes
from forecast_assets.weather.completeness import expected_slots
from forecast_assets.weather.schema import COLUMNS, MEASURE_COLUMNS, TIMESTAMP_DTYPE, WeatherData

DAY = "2024-10-02"
#: What every test station "measures"; precip_1h_mm is sparse by design and never null-rate checked.
MEASURED: dict[str, list[str]] = {
    sid: ["temperature_c", "humidity_pct", "pressure_hpa", "precip_1h_mm"] for sid in STATIONS
}


def make_frame(timestamps: Mapping[str, Sequence]) -> pd.DataFrame:
    """A valid contract frame: one row per (station, timestamp), plausible temperature/humidity/pressure."""
    parts = []
    for sid, stamps in timestamps.items():
        s = STATIONS[sid]
        ts = pd.Series(pd.DatetimeIndex(stamps, tz="UTC").as_unit("us"))
        n = len(ts)
        part = pd.DataFrame(
            {
                "station_id": pd.Series([sid] * n, dtype="str"),
                "station_name": pd.Series([s.name] * n, dtype="str"),
                "source": pd.Series([s.provider] * n, dtype="str"),
                "latitude": float(s.latitude),
                "longitude": float(s.longitude),
                "elevation_m": float(s.elevation_m),
                "timestamp": ts,
            }
        )
        for column in MEASURE_COLUMNS:
            part[column] = np.nan
        part["temperature_c"] = 10.0 + 5 * np.sin(np.linspace(0, 3, n))
        part["humidity_pct"] = 80.0
        part["pressure_hpa"] = 1015.0
        part["weather_code"] = pd.array([pd.NA] * n, dtype="Int64")
        parts.append(part)
    frame = pd.concat(parts, ignore_index=True) if parts else make_frame({"07015": []})
    frame["timestamp"] = frame["timestamp"].astype(TIMESTAMP_DTYPE)
    return frame[COLUMNS]


def day_slots(station_id: str, partition_key: str = DAY) -> pd.DatetimeIndex:
    """Every expected timestamp of a station's window for the day."""
    start, end = station_window(STATIONS[station_id], partition_key)
    return pd.date_range(start, end, freq=STATIONS[station_id].cadence, inclusive="left")


def full_day(partition_key: str = DAY, stations: Sequence[str] = tuple(STATIONS)) -> pd.DataFrame:
    return make_frame({sid: day_slots(sid, partition_key) for sid in stations})


def accounting_for(
    frame: pd.DataFrame, rejected: Mapping[str, int] = {}, duplicates: Mapping[str, int] = {}
) -> Accounting:
    """The accounting that balances for ``frame`` (plus the given rejects and dropped duplicates)."""
    out = {str(k): int(v) for k, v in frame.groupby("station_id").size().items()}
    stations = set(out) | set(rejected) | set(duplicates)
    return Accounting(
        raw_rows={s: out.get(s, 0) + rejected.get(s, 0) + duplicates.get(s, 0) for s in stations},
        output_rows=out,
        rejected=dict(rejected),
        duplicates_dropped=dict(duplicates),
    )


def run_checks(
    frame: pd.DataFrame, accounting: Accounting | None = None, partition_key: str = DAY
) -> dict[str, CheckOutcome]:
    outcomes = check_partition(partition_key, frame, accounting or accounting_for(frame), MEASURED)
    return {o.name: o for o in outcomes}


def test_the_helper_builds_a_frame_in_the_contract():
    WeatherData.validate(full_day())
    WeatherData.validate(make_frame({}))


def test_a_complete_valid_day_passes_every_check():
    outcomes = run_checks(
        full_day(), accounting_for(full_day(), rejected={"unknown": 2, "07015": 1}, duplicates={"IICHTE19": 3})
    )
    assert [o.name for o in outcomes.values()] == [
        SCHEMA_CONFORMANCE,
        UNIQUE_STATION_TIMESTAMP,
        COMPLETENESS,
        RECONCILIATION,
        STATION_DAY_REJECTS,
    ]
    assert all(o.passed for o in outcomes.values()), {n: o.summary for n, o in outcomes.items()}
    assert outcomes[COMPLETENESS].details["coverage"] == {sid: 1.0 for sid in STATIONS}
    assert outcomes[COMPLETENESS].severity == "WARN"
    assert outcomes[SCHEMA_CONFORMANCE].severity == "ERROR"
    json.dumps([asdict(o) for o in outcomes.values()])


def test_schema_conformance_fails_on_80_degrees_naming_temperature():
    frame = full_day(stations=["07015"])
    frame.loc[5, "temperature_c"] = 80.0
    outcome = run_checks(frame)[SCHEMA_CONFORMANCE]
    assert not outcome.passed
    assert outcome.details["failures_by_column"] == {"temperature_c": 1}
    assert outcome.details["failures_by_check"] == {"less_than_or_equal_to(60)": 1}
    assert outcome.details["counts"]["failure_count"] == 1
    [row] = outcome.details["failing_rows_sample"]
    assert row["temperature_c"] == 80.0 and row["station_id"] == "07015"
    assert "temperature_c" in outcome.summary
    json.dumps(asdict(outcome))


def test_schema_conformance_sample_stays_small():
    frame = full_day(stations=["IICHTE19"])
    frame["humidity_pct"] = 150.0
    outcome = run_checks(frame)[SCHEMA_CONFORMANCE]
    assert outcome.details["failures_by_column"] == {"humidity_pct": len(frame)}
    assert len(outcome.details["failing_rows_sample"]) == 20
    assert len(outcome.details["failure_cases_sample"]) == 20


def test_schema_conformance_fails_on_a_column_outside_the_contract():
    outcome = run_checks(full_day(stations=["07015"]).assign(extra=1.0))[SCHEMA_CONFORMANCE]
    assert not outcome.passed
    json.dumps(asdict(outcome))


def test_unique_station_timestamp_fails_on_a_duplicated_key():
    frame = full_day(stations=["07015", "00052"])
    frame = pd.concat([frame, frame.iloc[[3]]], ignore_index=True)
    outcome = run_checks(frame)[UNIQUE_STATION_TIMESTAMP]
    assert not outcome.passed
    assert outcome.details["counts"]["duplicate_count"] == 1
    assert outcome.details["duplicates_per_station"] == {"07015": 1}
    assert len(outcome.details["sample"]) == 2
    assert {r["station_id"] for r in outcome.details["sample"]} == {"07015"}


def test_completeness_passes_a_missing_hour_but_fails_three_missing_hours():
    slots = day_slots("00052")
    one_hour = run_checks(make_frame({**{s: day_slots(s) for s in STATIONS}, "00052": slots[6:]}))
    assert one_hour[COMPLETENESS].passed
    assert one_hour[COMPLETENESS].details["coverage"]["00052"] == round(138 / 144, 4)

    outcome = run_checks(make_frame({**{s: day_slots(s) for s in STATIONS}, "00052": slots[18:]}))[COMPLETENESS]
    assert not outcome.passed
    assert outcome.severity == "WARN"
    assert outcome.details["stations_below_coverage"] == ["00052"]
    assert outcome.details["coverage"]["00052"] == round(126 / 144, 4) < COVERAGE_THRESHOLD
    assert "00052" in outcome.summary


def test_completeness_fails_a_station_with_no_rows():
    outcome = run_checks(full_day(stations=[s for s in STATIONS if s != "ILAMAD25"]))[COMPLETENESS]
    assert not outcome.passed
    assert outcome.details["coverage"]["ILAMAD25"] == 0.0
    assert outcome.details["stations_below_coverage"] == ["ILAMAD25"]


def test_completeness_checks_null_rates_of_measured_non_sparse_columns_only():
    frame = full_day()
    frame["precip_1h_mm"] = np.nan  # sparse by design
    assert run_checks(frame)[COMPLETENESS].passed  # and the unmeasured columns are all null
    frame.loc[frame["station_id"] == "07015", "humidity_pct"] = np.nan
    outcome = run_checks(frame)[COMPLETENESS]
    assert not outcome.passed
    assert outcome.details["stations_below_coverage"] == []
    assert outcome.details["null_rate_failures"] == [
        {"station_id": "07015", "column": "humidity_pct", "null_rate": 1.0, "max_null_rate": 0.1}
    ]


@pytest.mark.parametrize(
    ("station_id", "day", "slots"),
    [
        ("IICHTE19", "2024-10-27", 300),  # DST fallback: the local day lasts 25 h
        ("ILAMAD25", "2025-03-30", 276),  # DST spring forward: 23 h
        ("IICHTE19", "2024-10-02", 288),
        ("00052", "2024-10-27", 144),  # InfoClimat: the UTC day
        ("07015", "2024-10-27", 24),
    ],
)
def test_expected_slots(station_id, day, slots):
    assert expected_slots(STATIONS[station_id], day) == slots


def test_a_full_dst_fallback_day_is_complete():
    outcome = run_checks(full_day("2024-10-27"), partition_key="2024-10-27")[COMPLETENESS]
    assert outcome.passed
    table = {r["station_id"]: r for r in outcome.details["table"]}
    assert table["IICHTE19"]["filled_slots"] == table["IICHTE19"]["expected_slots"] == 300
    start, end = station_window(STATIONS["IICHTE19"], "2024-10-27")
    assert (start.isoformat(), end.isoformat()) == ("2024-10-26T22:00:00+00:00", "2024-10-27T23:00:00+00:00")


def test_reconciliation_fails_when_rows_go_missing_naming_the_station():
    frame = full_day(stations=["07015", "00052"])
    accounting = accounting_for(frame, rejected={"07015": 2})
    accounting.raw_rows["07015"] += 1  # a row neither output, rejected nor dropped
    outcome = run_checks(frame, accounting)[RECONCILIATION]
    assert not outcome.passed
    assert outcome.severity == "ERROR"
    assert outcome.details["unreconciled_stations"] == ["07015"]
    assert "07015: raw 27 != output 24 + rejected 2 + duplicates 0" in outcome.summary


def test_reconciliation_fails_when_output_differs_from_the_frame():
    frame = full_day(stations=["07015"])
    accounting = accounting_for(frame)
    outcome = run_checks(frame.iloc[1:], accounting)[RECONCILIATION]
    assert not outcome.passed
    [row] = outcome.details["table"]
    assert (row["output_rows"], row["frame_rows"], row["matches_frame"]) == (24, 23, False)


def test_specs_declare_blocking_for_hard_rules_only():
    specs = {s.name: s for s in weather_check_specs(dg.AssetKey("weather_data"))}
    assert list(specs) == [
        SCHEMA_CONFORMANCE,
        UNIQUE_STATION_TIMESTAMP,
        COMPLETENESS,
        RECONCILIATION,
        STATION_DAY_REJECTS,
    ]
    assert all(s.partitions_def == daily_partitions for s in specs.values())
    assert {n: s.metadata["blocks_day"] for n, s in specs.items()} == {
        SCHEMA_CONFORMANCE: True,
        UNIQUE_STATION_TIMESTAMP: True,
        COMPLETENESS: False,
        RECONCILIATION: True,
        STATION_DAY_REJECTS: False,
    }
    assert all(s.asset_key == dg.AssetKey("weather_data") for s in specs.values())


def test_outcomes_are_recorded_per_day_whatever_the_range_of_the_run():
    frames = {"2024-10-01": full_day("2024-10-01"), "2024-10-02": full_day("2024-10-02")}
    frames["2024-10-02"].loc[0, "temperature_c"] = 80.0
    key = dg.AssetKey("weather_data")

    @dg.multi_asset(
        specs=[dg.AssetSpec(key)],
        partitions_def=daily_partitions,
        can_subset=True,
        check_specs=weather_check_specs(key),
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def weather_data(context):
        for day in context.partition_keys:
            log_outcomes(context, key, day, check_partition(day, frames[day], accounting_for(frames[day]), MEASURED))
        yield dg.MaterializeResult(asset_key=key)

    result = dg.materialize(
        [weather_data],
        tags={"dagster/asset_partition_range_start": "2024-10-01", "dagster/asset_partition_range_end": "2024-10-02"},
    )
    evaluations = {(e.check_name, e.partition): e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == {
        (c, d)
        for c in (SCHEMA_CONFORMANCE, UNIQUE_STATION_TIMESTAMP, COMPLETENESS, RECONCILIATION, STATION_DAY_REJECTS)
        for d in frames
    }
    bad, good = evaluations[SCHEMA_CONFORMANCE, "2024-10-02"], evaluations[SCHEMA_CONFORMANCE, "2024-10-01"]
    assert not bad.passed and good.passed
    assert bad.severity == dg.AssetCheckSeverity.ERROR
    assert bad.description.startswith("2024-10-02: 1 failure(s) in 1 column(s): temperature_c")
    assert bad.metadata["failure_count"] == dg.MetadataValue.int(1)
    assert "temperature_c" in bad.metadata["details"].value["failures_by_column"]
    completeness = evaluations[COMPLETENESS, "2024-10-01"]
    assert completeness.passed and completeness.severity == dg.AssetCheckSeverity.WARN
    assert "IICHTE19" in completeness.metadata["table"].value
    assert all(evaluations[c, d].passed for c in (UNIQUE_STATION_TIMESTAMP, RECONCILIATION) for d in frames)
