"""weather_data materialized through Dagster on the sample week, each day with its own figures and check
evaluations; a day that fails a blocking check is kept out of MongoDB alone."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest

from forecast_assets.definitions import build_defs
from forecast_assets.feeds import raw_asset_key
from forecast_assets.mongo.assets import WEATHER_MEASUREMENTS
from forecast_assets.mongo.collection_setup import MEASUREMENTS
from forecast_assets.staging import LocalStagingZone
from forecast_assets.staging.layout import dataset_key, quality_key, raw_landed_key, transform_rejects_key
from forecast_assets.weather.assets import WEATHER_DATA, weather_data
from forecast_assets.weather.dataset import from_jsonl
from forecast_assets_tests.mongo.conftest import mongo, mongo_server  # noqa: F401  (real SecantusDB fixtures)

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


def run(staging, selection, first=WEEK[0], last=WEEK[-1], extra_assets=(), resources=None):
    defs = build_defs(resource_overrides={"staging": staging, **(resources or {})}, env="local")
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


#: The checks of weather_data and their severity; each is evaluated once per day.
CHECK_SEVERITY = {
    "schema_conformance": dg.AssetCheckSeverity.ERROR,
    "unique_station_timestamp": dg.AssetCheckSeverity.ERROR,
    "reconciliation": dg.AssetCheckSeverity.ERROR,
    "station_day_rejects": dg.AssetCheckSeverity.ERROR,  # 1 transform reject in the week, no raw reject
    "completeness": dg.AssetCheckSeverity.WARN,
}
#: WARN, and rightly so: no InfoClimat data on 1-4 Oct, the export stops mid-afternoon on 7 Oct.
COMPLETENESS_FAILS = {*WEEK[:4], WEEK[6]}


def day_rows(index: int) -> int:
    return sum(rows[index] for rows in EXPECTED.values())


def evaluations_by_day(result, asset_key=WEATHER_DATA) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    """One evaluation per (check, day): a second one for the same pair fails the test."""
    found: dict[tuple[str, str], dg.AssetCheckEvaluation] = {}
    for e in result.get_asset_check_evaluations():
        if e.asset_key == asset_key:
            assert (e.check_name, e.partition) not in found, f"two evaluations of {e.check_name} for {e.partition}"
            found[(e.check_name, e.partition)] = e
    return found


def materializations_by_day(result, node: str) -> dict[str, dg.AssetMaterialization]:
    found: dict[str, dg.AssetMaterialization] = {}
    for m in result.asset_materializations_for_node(node):
        assert m.partition not in found, f"two materializations of {node} for {m.partition}"
        found[m.partition] = m
    return found


@pytest.mark.integration
def test_sample_week_checks_and_reports(sample_week):
    staging, result = sample_week
    evaluations = evaluations_by_day(result)
    assert set(evaluations) == {(name, day) for name in CHECK_SEVERITY for day in WEEK}
    for (name, day), evaluation in evaluations.items():
        assert evaluation.passed is not (name == "completeness" and day in COMPLETENESS_FAILS), (name, day)
        assert evaluation.severity == CHECK_SEVERITY[name], (name, day)
        assert evaluation.description.startswith(f"{day}: "), evaluation.description
    assert "07015" in evaluations[("completeness", WEEK[6])].description  # the station short of the day

    report = staging.read_json(quality_key("2024-10-05"))
    assert report["totals"]["rejected"] == 1 and report["duplicates"]["count"] == 0
    assert "Temperature" in next(iter(report["rejects"]["by_reason"]))
    [reject] = staging.read_jsonl(transform_rejects_key("2024-10-05"))
    assert reject["station_id"] == "IICHTE19" and reject["_source_position"] == "sheet=051024 row=118"
    assert staging.read_json(quality_key("2024-10-02"))["duplicates"]["count"] == 1
    assert {c["name"]: c["passed"] for c in staging.read_json(quality_key("2024-10-06"))["checks"]} == {
        "schema_conformance": True,
        "unique_station_timestamp": True,
        "completeness": True,
        "reconciliation": True,
        "station_day_rejects": True,
    }

    # Each day's materialization carries that day's own figures, files, report and chart.
    materializations = materializations_by_day(result, "weather_data")
    assert set(materializations) == set(WEEK)
    charts = set()
    for index, day in enumerate(WEEK):
        metadata = {k: v.value for k, v in materializations[day].metadata.items()}
        folder = f"Transform/{day[8:10]}{day[5:7]}{day[2:4]}/"
        assert metadata["dagster/row_count"] == day_rows(index), day
        assert folder + "weather_data.jsonl" in metadata["path"], (day, metadata["path"])
        assert folder + "weather_data.quality.json" in metadata["quality_report"], day
        assert metadata["rows_rejected"] == (1 if day == "2024-10-05" else 0), day
        assert metadata["duplicates_dropped"] == (1 if day == "2024-10-02" else 0), day
        assert f"## weather_data quality — {day}" in metadata["quality"], day
        assert "data:image/png;base64," in metadata["temperature"], day
        charts.add(metadata["temperature"])
    assert len(charts) == len(WEEK)  # a chart per day, not one stamped on every day
    assert sum(day_rows(i) for i in range(len(WEEK))) == 4948


@pytest.fixture
def day_staging(sample_week, tmp_path):
    """A private copy of the sample week's raw partitions, free to corrupt."""
    source, _ = sample_week
    staging = LocalStagingZone(root=str(tmp_path / "staging"))
    for key in source.list_keys("raw/"):
        staging.write_bytes(key, source.read_bytes(key))
    return staging


@dg.asset(
    partitions_def=weather_data.partitions_def, deps=[WEATHER_DATA], backfill_policy=dg.BackfillPolicy.single_run()
)
def downstream_load(context) -> None:
    context.log.info("loaded")


def run_day(staging, day):
    return run(staging, {WEATHER_DATA, downstream_load.key}, first=day, last=day, extra_assets=[downstream_load])


@pytest.mark.integration
def test_a_physically_impossible_value_rejects_its_row_and_the_day_flows_on(day_staging):
    rows = day_staging.read_jsonl(raw_landed_key("FR", "2024-10-03"))
    rows[10]["Temperature"] = "212.0\u00a0°F"  # 100 °C: parses, but is physically impossible here
    day_staging.write_jsonl(raw_landed_key("FR", "2024-10-03"), rows)

    result = run_day(day_staging, "2024-10-03")

    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations() if e.asset_key == WEATHER_DATA}
    assert evaluations["schema_conformance"].passed and evaluations["reconciliation"].passed
    [reject] = day_staging.read_jsonl(transform_rejects_key("2024-10-03"))
    assert reject["reason"] == (
        "Temperature: '212.0 °F' is 100 in temperature_c, outside its physical range (-50 to 60)"
    )
    assert reject["_source_position"] == rows[10]["_source_position"]
    frame = pd.read_json(day_staging.uri(dataset_key("2024-10-03")).removeprefix("file://"), lines=True)
    assert (frame["station_id"] == "ILAMAD25").sum() == 287  # 288 raw - 1 rejected
    assert result.asset_materializations_for_node("downstream_load")  # the rest of the day flows on


def _utc(value) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def staged_keys(staging, days) -> set[tuple[str, pd.Timestamp]]:
    """The (station_id, timestamp) keys of the days' staged weather_data."""
    keys = set()
    for day in days:
        frame = from_jsonl(staging.read_bytes(dataset_key(day)))
        keys |= {(s, _utc(t)) for s, t in zip(frame["station_id"], frame["timestamp"])}
    return keys


@pytest.mark.integration
def test_a_failed_blocking_check_blocks_its_day_only(day_staging, mongo, monkeypatch):
    """A de-duplication bug (simulated) lets the sample's planted duplicate of 2 Oct through: 2 Oct
    fails its blocking checks and stays out of MongoDB; 1 and 3 Oct, in the same run, are loaded."""
    days = WEEK[:3]
    monkeypatch.setattr(
        "forecast_assets.weather.assets.deduplicate",
        lambda frame: (frame.sort_values(["station_id", "timestamp"]), frame.iloc[:0]),
    )

    result = run(
        day_staging, {WEATHER_DATA, WEATHER_MEASUREMENTS}, first=days[0], last=days[-1], resources={"mongo": mongo}
    )

    assert result.success  # a bad day no longer fails the run or stops the load of the others
    evaluations = evaluations_by_day(result)
    assert set(evaluations) == {(name, day) for name in CHECK_SEVERITY for day in days}
    failed = {key for key, e in evaluations.items() if not e.passed}
    assert failed == {
        ("schema_conformance", "2024-10-02"),
        ("unique_station_timestamp", "2024-10-02"),
        *(("completeness", day) for day in days),
    }  # completeness: WARN, no InfoClimat yet
    assert evaluations[("unique_station_timestamp", "2024-10-02")].description == (
        "2024-10-02: 1 duplicated (station_id, timestamp) row(s)"
    )
    # weather_data itself is materialized every day (the bad day's data is staged for inspection)
    assert set(materializations_by_day(result, "weather_data")) == set(days)

    # The load: the bad day is not materialized and not loaded; the others are, exactly.
    loaded = materializations_by_day(result, "mongodb__weather_measurements")
    assert set(loaded) == {"2024-10-01", "2024-10-03"}
    for day in loaded:
        assert loaded[day].metadata["inserted"].value == day_rows(WEEK.index(day)), day
    collection = mongo.get_database()[MEASUREMENTS]
    stored = {(d["station_id"], _utc(d["timestamp"])) for d in collection.find({}, {"station_id": 1, "timestamp": 1})}
    assert len(stored) == collection.count_documents({}) == day_rows(0) + day_rows(2)
    assert stored == staged_keys(day_staging, ["2024-10-01", "2024-10-03"])
    assert not stored & staged_keys(day_staging, ["2024-10-02"])

    gate = {
        day: e
        for (name, day), e in evaluations_by_day(result, WEATHER_MEASUREMENTS).items()
        if name == "weather_data_passed"
    }
    assert {day: e.passed for day, e in gate.items()} == {"2024-10-01": True, "2024-10-02": False, "2024-10-03": True}
    assert gate["2024-10-02"].description.startswith("2024-10-02: not loaded"), gate["2024-10-02"].description
    assert all(name in gate["2024-10-02"].description for name in ("schema_conformance", "unique_station_timestamp"))
    assert sorted(c.removeprefix("weather_data ") for c in gate["2024-10-02"].metadata["failed_checks"].value) == [
        "schema_conformance",
        "unique_station_timestamp",
    ]
    # The other checks of the load were evaluated on the loaded days only, and passed.
    other = {key for key in evaluations_by_day(result, WEATHER_MEASUREMENTS) if key[0] != "weather_data_passed"}
    assert {day for _, day in other} == {"2024-10-01", "2024-10-03"}


@pytest.mark.integration
def test_rerunning_a_good_day_leaves_the_bad_days_status_failed(day_staging, monkeypatch):
    """Check status is per day in the instance: re-running 3 Oct changes 3 Oct only."""
    days = WEEK[:3]
    defs = build_defs(resource_overrides={"staging": day_staging}, env="local")
    job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection={WEATHER_DATA})
    key = dg.AssetCheckKey(WEATHER_DATA, "schema_conformance")

    def statuses(instance) -> dict[str, tuple[str, str]]:
        infos = instance.event_log_storage.get_asset_check_partition_info([key])
        return {i.partition_key: (i.latest_execution_status.value, i.latest_planned_run_id) for i in infos}

    with dg.DagsterInstance.ephemeral() as instance:
        with monkeypatch.context() as patch:  # the de-duplication bug: 2 Oct keeps its planted duplicate
            patch.setattr(
                "forecast_assets.weather.assets.deduplicate",
                lambda frame: (frame.sort_values(["station_id", "timestamp"]), frame.iloc[:0]),
            )
            first = job.execute_in_process(
                instance=instance,
                tags={"dagster/asset_partition_range_start": days[0], "dagster/asset_partition_range_end": days[-1]},
            )
        assert first.success
        before = statuses(instance)
        assert {day: status for day, (status, _) in before.items()} == {
            "2024-10-01": "SUCCEEDED",
            "2024-10-02": "FAILED",
            "2024-10-03": "SUCCEEDED",
        }

        again = job.execute_in_process(instance=instance, partition_key="2024-10-03")
        assert again.success
        after = statuses(instance)
        assert after["2024-10-03"] == ("SUCCEEDED", again.run_id)
        assert after["2024-10-01"] == before["2024-10-01"] and after["2024-10-02"] == before["2024-10-02"]
