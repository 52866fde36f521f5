"""weather_data materialized through Dagster on the sample week, and blocked when a value is corrupt."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest

from forecast_assets.definitions import build_defs
from forecast_assets.raw.assets import landed_key, raw_asset_key
from forecast_assets.staging import LocalStagingZone
from forecast_assets.weather.assets import WEATHER_DATA, dataset_key, quality_key, rejects_key, weather_data

WEEK = [f"2024-10-0{d}" for d in range(1, 8)]
RAW_KEYS = {raw_asset_key(s) for s in ("BE", "FR", "InfoClimat")}
#: Output rows per station and day: raw rows less the planted duplicate (BE, 2 Oct) and the
#: malformed temperature (BE, 5 Oct); InfoClimat covers 5-7 Oct only, 07015 misses 6 Oct 05:00.
EXPECTED = {
    "IICHTE19": [288, 284, 284, 288, 287, 288, 178],
    "ILAMAD25": [288, 288, 288, 288, 288, 288, 180],
    "00052": [0, 0, 0, 0, 144, 144, 73],
    "000R5": [0, 0, 0, 0, 144, 144, 73],
    "STATIC0010": [0, 0, 0, 0, 144, 144, 73],
    "07015": [0, 0, 0, 0, 24, 23, 13],
}


def run(staging, selection, first=WEEK[0], last=WEEK[-1], extra_assets=()):
    defs = build_defs(resource_overrides={"staging": staging}, env="local")
    if extra_assets:
        defs = dg.Definitions.merge(defs, dg.Definitions(assets=list(extra_assets)))
    job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection=set(selection))
    return job.execute_in_process(
        tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
        raise_on_error=False,
    )


@pytest.fixture(scope="module")
def sample_week(tmp_path_factory):
    staging = LocalStagingZone(root=str(tmp_path_factory.mktemp("week") / "staging"))
    result = run(staging, RAW_KEYS | {WEATHER_DATA})
    assert result.success
    return staging, result


@pytest.mark.integration
def test_sample_week_rows_per_station_and_day(sample_week):
    staging, _ = sample_week
    for index, day in enumerate(WEEK):
        frame = pd.read_json(staging.uri(dataset_key(day)).removeprefix("file://"), lines=True)
        counts = frame["station_id"].astype(str).value_counts().to_dict()
        assert {s: counts.get(s, 0) for s in EXPECTED} == {s: rows[index] for s, rows in EXPECTED.items()}, day
    assert sum(sum(rows) for rows in EXPECTED.values()) == 4948  # 4,950 raw rows - 1 reject - 1 duplicate


@pytest.mark.integration
def test_sample_week_checks_and_reports(sample_week):
    staging, result = sample_week
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations() if e.asset_key == WEATHER_DATA}
    assert {n: e.passed for n, e in evaluations.items()} == {
        "schema_conformance": True,
        "unique_station_timestamp": True,
        "reconciliation": True,
        # WARN, and rightly so: no InfoClimat data on 1-4 Oct, the export stops mid-afternoon on 7 Oct.
        "completeness": False,
        "station_day_rejects": True,  # 1 transform reject in the week, no raw reject
    }
    assert evaluations["completeness"].metadata["failed_partitions"].value == [*WEEK[:4], WEEK[6]]

    report = staging.read_json(quality_key("2024-10-05"))
    assert report["totals"]["rejected"] == 1 and report["duplicates"]["count"] == 0
    assert "Temperature" in next(iter(report["rejects"]["by_reason"]))
    [reject] = staging.read_jsonl(rejects_key("2024-10-05"))
    assert reject["station_id"] == "IICHTE19" and reject["_source_position"] == "sheet=051024 row=118"
    assert staging.read_json(quality_key("2024-10-02"))["duplicates"]["count"] == 1
    assert {c["name"]: c["passed"] for c in staging.read_json(quality_key("2024-10-06"))["checks"]} == {
        "schema_conformance": True, "unique_station_timestamp": True, "completeness": True,
        "reconciliation": True, "station_day_rejects": True,
    }

    [materialization] = [m for m in result.asset_materializations_for_node("weather_data") if m.partition == WEEK[0]]
    assert materialization.metadata["dagster/row_count"].value == 4948
    assert "data:image/png;base64," in materialization.metadata["temperature"].value


@pytest.fixture
def day_staging(sample_week, tmp_path):
    """A private copy of the sample week's raw partitions, free to corrupt."""
    source, _ = sample_week
    staging = LocalStagingZone(root=str(tmp_path / "staging"))
    for key in source.list_keys("raw/"):
        staging.write_bytes(key, source.read_bytes(key))
    return staging


@dg.asset(partitions_def=weather_data.partitions_def, deps=[WEATHER_DATA], backfill_policy=dg.BackfillPolicy.single_run())
def downstream_load(context) -> None:
    context.log.info("loaded")


def run_day(staging, day):
    return run(staging, {WEATHER_DATA, downstream_load.key}, first=day, last=day, extra_assets=[downstream_load])


@pytest.mark.integration
def test_a_physically_impossible_value_rejects_its_row_and_the_day_flows_on(day_staging):
    rows = day_staging.read_jsonl(landed_key("FR", "2024-10-03"))
    rows[10]["Temperature"] = "212.0\u00a0°F"  # 100 °C: parses, but is physically impossible here
    day_staging.write_jsonl(landed_key("FR", "2024-10-03"), rows)

    result = run_day(day_staging, "2024-10-03")

    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations() if e.asset_key == WEATHER_DATA}
    assert evaluations["schema_conformance"].passed and evaluations["reconciliation"].passed
    [reject] = day_staging.read_jsonl(rejects_key("2024-10-03"))
    assert reject["reason"] == ("Temperature: '212.0 °F' is 100 in temperature_c, outside its physical range "
                                "(-50 to 60)")
    assert reject["_source_position"] == rows[10]["_source_position"]
    frame = pd.read_json(day_staging.uri(dataset_key("2024-10-03")).removeprefix("file://"), lines=True)
    assert (frame["station_id"] == "ILAMAD25").sum() == 287  # 288 raw - 1 rejected
    assert result.asset_materializations_for_node("downstream_load")  # the rest of the day flows on


@pytest.mark.integration
def test_a_failed_blocking_check_stops_downstream(day_staging, monkeypatch):
    """A de-duplication bug (simulated) lets the sample's planted duplicate of 2 Oct through."""
    assert run_day(day_staging, "2024-10-02").asset_materializations_for_node("downstream_load")  # control
    monkeypatch.setattr("forecast_assets.weather.assets.deduplicate",
                        lambda frame: (frame.sort_values(["station_id", "timestamp"]), frame.iloc[:0]))

    result = run_day(day_staging, "2024-10-02")

    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations() if e.asset_key == WEATHER_DATA}
    assert evaluations["unique_station_timestamp"].passed is False
    assert evaluations["schema_conformance"].passed is False
    assert not result.asset_materializations_for_node("downstream_load")
    assert downstream_load.key not in {e.asset_key for e in result.get_asset_materialization_events()}
