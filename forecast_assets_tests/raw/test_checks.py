"""raw_accounting on real local staging folders: balanced landings pass, damaged or stale files fail."""

from __future__ import annotations

from datetime import time

import dagster as dg
import pytest

from forecast_assets.definitions import build_defs
from forecast_assets.feeds import raw_asset_key, station_window
from forecast_assets.mongo.assets import WEATHER_MEASUREMENTS
from forecast_assets.mongo.checks import WEATHER_DATA_PASSED
from forecast_assets.mongo.collection_setup import MEASUREMENTS
from forecast_assets.partitions import daily_partitions
from forecast_assets.raw.assets import build_raw_asset
from forecast_assets.raw.checks import RAW_ACCOUNTING
from forecast_assets.raw.wunderground import WundergroundSource
from forecast_assets.staging import LocalStagingZone
from forecast_assets.staging.layout import dataset_key, raw_landed_key, raw_rejects_key
from forecast_assets.stations import STATIONS
from forecast_assets.weather.assets import WEATHER_DATA
from forecast_assets.weather.dataset import from_jsonl
from forecast_assets_tests.mongo.conftest import mongo, mongo_server  # noqa: F401  (fixtures)
from forecast_assets_tests.raw.test_assets import (  # noqa: F401  (staging: fixture)
    BE_ROWS,
    FR_ROWS,
    INFOCLIMAT_ROWS,
    RAW_KEYS,
    WEEK,
    run_week,
    staging,
)
from forecast_assets_tests.raw.test_wunderground import write_workbook, wu_row

DAY = "2024-10-01"
#: Raw rows per source of the sample week (no raw rejects in the sample).
SAMPLE_TOTALS = {"BE": 1899, "FR": 1908, "InfoClimat": 1143}


def _lines(data: bytes) -> list[str]:
    return data.decode("utf-8").split("\n")[:-1]


#: How a damaged write changes a JSONL file's lines, as a lost or partial upload would.
FAULTS = {
    "drop_last_line": lambda lines: lines[:-1],
    "cut_last_line": lambda lines: [*lines[:-1], lines[-1][: len(lines[-1]) // 2]],
    "first_line_is_last": lambda lines: [lines[-1], *lines[1:]],
}


class FaultyStagingZone(LocalStagingZone):
    """A real local staging folder that damages writes of ``fault_key`` (``FAULTS``) or never deletes it."""

    fault_key: str
    fault: str

    def write_bytes(self, key: str, data: bytes) -> str:
        if key == self.fault_key and self.fault in FAULTS:
            data = "".join(f"{line}\n" for line in FAULTS[self.fault](_lines(data))).encode("utf-8")
        return super().write_bytes(key, data)

    def delete(self, key: str) -> None:
        if not (key == self.fault_key and self.fault == "ignore_delete"):
            super().delete(key)


def accounting(result, source: str) -> dict[str, dg.AssetCheckEvaluation]:
    """The run's ``raw_accounting`` evaluations of a source, by day: exactly one per day, none run-level."""
    evaluations = [
        e
        for e in result.get_asset_check_evaluations()
        if e.asset_key == raw_asset_key(source) and e.check_name == RAW_ACCOUNTING
    ]
    by_day = {e.partition: e for e in evaluations}
    assert len(by_day) == len(evaluations) and None not in by_day, [e.partition for e in evaluations]
    return dict(sorted(by_day.items()))


def day_accounting(result, source: str = "BE", day: str = DAY) -> dg.AssetCheckEvaluation:
    """The only ``raw_accounting`` evaluation of a one-day run, recorded as that day's."""
    evaluations = accounting(result, source)
    assert list(evaluations) == [day]
    return evaluations[day]


def totals(evaluation: dg.AssetCheckEvaluation) -> dict[str, int]:
    return {k: evaluation.metadata[k].value for k in ("read", "landed", "rejected")}


def failed_days(result, source: str) -> set[str]:
    return {day for day, e in accounting(result, source).items() if not e.passed}


def materialize_be(staging: LocalStagingZone, workbook) -> dg.ExecuteInProcessResult:
    resources = {"staging": staging, "wu_be": WundergroundSource(station_id="IICHTE19", location=str(workbook))}
    return dg.materialize([build_raw_asset("BE")], resources=resources, partition_key=DAY, raise_on_error=False)


def test_spec_is_a_per_day_check_that_blocks_its_day_on_each_raw_asset():
    graph = build_defs(env="local").resolve_asset_graph()
    for key in RAW_KEYS:
        [check] = graph.get_check_keys_for_assets({key})
        assert check.name == RAW_ACCOUNTING
        spec = graph.get_check_spec(check)
        assert spec.partitions_def == daily_partitions  # evaluated, and shown, per day
        # Logged evaluations cannot gate a step (Dagster would only warn): the day is kept out of
        # MongoDB by the load's own gate, which the spec declares.
        assert not spec.blocking
        assert spec.metadata["blocks_day"] is True
        assert "Blocks its day" in spec.description


@pytest.mark.integration
def test_sample_week_balances_every_partition(staging):
    result = run_week({"staging": staging})

    assert result.success
    expected_rows = {"BE": BE_ROWS, "FR": FR_ROWS, "InfoClimat": INFOCLIMAT_ROWS}
    for source, total in SAMPLE_TOTALS.items():
        evaluations = accounting(result, source)
        assert list(evaluations) == WEEK, source
        for day, rows in zip(WEEK, expected_rows[source]):
            evaluation = evaluations[day]
            assert evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR, (source, day)
            assert totals(evaluation) == {"read": rows, "landed": rows, "rejected": 0}, (source, day)
            assert rows == len(staging.read_jsonl(raw_landed_key(source, day))), (source, day)
            assert evaluation.metadata["problems"].value == "none"
            assert evaluation.description == f"{day}: {rows} record(s) read = {rows} landed + 0 rejected"
        assert sum(totals(e)["landed"] for e in evaluations.values()) == total, source


def test_bad_rows_are_counted_as_rejected(tmp_path, staging):
    bad = [wu_row("not a time"), wu_row("--"), [*wu_row(time(0, 24)), "13th cell"]]
    good = [wu_row(time(0, 4)), wu_row(time(0, 14)), wu_row(time(0, 34)), wu_row(time(0, 44))]
    workbook = write_workbook(tmp_path / "wb.xlsx", {"011024": [good[0], bad[0], good[1], bad[1], bad[2], *good[2:]]})

    result = materialize_be(staging, workbook)

    evaluation = day_accounting(result)
    assert result.success and evaluation.passed
    assert totals(evaluation) == {"read": 7, "landed": 4, "rejected": 3}
    assert len(staging.read_jsonl(raw_rejects_key("BE", DAY))) == 3


@pytest.mark.parametrize(
    "fault, landed, problem",
    [
        ("drop_last_line", 2, ""),
        ("cut_last_line", 2, "1 stored line(s) are not JSON records"),
        ("first_line_is_last", 3, "stored more than once: sheet=011024 row=4"),
    ],
)
def test_landed_file_that_does_not_hold_what_was_read_fails(tmp_path, fault, landed, problem):
    workbook = write_workbook(tmp_path / "wb.xlsx", {"011024": [wu_row(time(0, m)) for m in (4, 14, 24)]})
    staging = FaultyStagingZone(root=str(tmp_path / "staging"), fault_key=raw_landed_key("BE", DAY), fault=fault)

    result = materialize_be(staging, workbook)

    evaluation = day_accounting(result)
    assert evaluation.passed is False and evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert totals(evaluation) == {"read": 3, "landed": landed, "rejected": 0}
    assert evaluation.metadata["problems"].value == (problem or "none")
    assert evaluation.description == (
        f"{DAY}: 3 record(s) read, {landed} landed + 0 rejected stored; {problem or 'unbalanced'}"
    )
    # the check is logged, not a Dagster gate: the run goes on, the day's evaluation says what is wrong
    assert result.success
    [materialization] = result.asset_materializations_for_node("raw__BE")
    assert materialization.partition == DAY


@pytest.mark.integration
def test_failed_day_is_kept_out_of_mongodb_and_the_other_days_load(tmp_path, mongo):  # noqa: F811
    """One landed file loses its last record on 2 Oct: that day's raw_accounting fails and the MongoDB
    load skips that day only; 1 and 3 Oct, in the same run, are loaded."""
    days = WEEK[:3]
    bad = days[1]
    staging = FaultyStagingZone(
        root=str(tmp_path / "staging"), fault_key=raw_landed_key("FR", bad), fault="drop_last_line"
    )
    job = (
        build_defs(resource_overrides={"staging": staging, "mongo": mongo}, env="local")
        .resolve_implicit_global_asset_job_def()
        .get_subset(asset_selection={*RAW_KEYS, WEATHER_DATA, WEATHER_MEASUREMENTS})
    )

    result = job.execute_in_process(
        tags={"dagster/asset_partition_range_start": days[0], "dagster/asset_partition_range_end": days[-1]},
        raise_on_error=False,
    )

    # a bad day no longer fails the run: nothing failed, every step ran
    assert result.success and not result.get_step_failure_events()
    fr = accounting(result, "FR")
    assert list(fr) == days and failed_days(result, "FR") == {bad}
    assert totals(fr[bad]) == {"read": 288, "landed": 287, "rejected": 0}
    assert fr[bad].description == f"{bad}: 288 record(s) read, 287 landed + 0 rejected stored; unbalanced"
    assert all(totals(fr[d]) == {"read": 288, "landed": 288, "rejected": 0} for d in days if d != bad)
    for source in ("BE", "InfoClimat"):
        assert list(accounting(result, source)) == days and not failed_days(result, source), source

    # weather_data is built every day (the bad day is staged for inspection) ...
    assert {m.partition for m in result.asset_materializations_for_node("weather_data")} == set(days)
    # ... and the load skips the bad day: neither loaded nor materialized; the others are, exactly
    loaded = {m.partition: m for m in result.asset_materializations_for_node("mongodb__weather_measurements")}
    assert set(loaded) == {days[0], days[2]}
    collection = mongo.get_database()[MEASUREMENTS]
    for day in days:
        frame = from_jsonl(staging.read_bytes(dataset_key(day))) if day != bad else None
        for station in STATIONS.values():
            start, end = station_window(station, day)
            window = {"$gte": start.to_pydatetime(), "$lt": end.to_pydatetime()}
            found = collection.count_documents({"station_id": station.station_id, "timestamp": window})
            expected = 0 if day == bad else int((frame["station_id"] == station.station_id).sum())
            assert found == expected, (day, station.station_id)
        if day != bad:
            assert loaded[day].metadata["inserted"].value == len(frame), day

    gate = {
        e.partition: e
        for e in result.get_asset_check_evaluations()
        if e.asset_key == WEATHER_MEASUREMENTS and e.check_name == WEATHER_DATA_PASSED
    }
    assert {day: e.passed for day, e in gate.items()} == {days[0]: True, bad: False, days[2]: True}
    assert gate[bad].description.startswith(f"{bad}: not loaded")
    assert RAW_ACCOUNTING in gate[bad].description and "raw/FR" in gate[bad].description


def test_rerun_that_rejects_nothing_leaves_no_stale_rejects(tmp_path, staging):
    workbook = write_workbook(tmp_path / "wb.xlsx", {"011024": [wu_row(time(0, 4)), wu_row("not a time")]})
    first = day_accounting(materialize_be(staging, workbook))
    assert first.passed and totals(first) == {"read": 2, "landed": 1, "rejected": 1}

    write_workbook(workbook, {"011024": [wu_row(time(0, 4))]})
    second = day_accounting(materialize_be(staging, workbook))

    assert second.passed and totals(second) == {"read": 1, "landed": 1, "rejected": 0}
    assert not staging.exists(raw_rejects_key("BE", DAY))


def test_stale_rejects_file_that_survives_a_rerun_fails(tmp_path):
    staging = FaultyStagingZone(
        root=str(tmp_path / "staging"), fault_key=raw_rejects_key("BE", DAY), fault="ignore_delete"
    )
    workbook = write_workbook(tmp_path / "wb.xlsx", {"011024": [wu_row(time(0, 4)), wu_row("not a time")]})
    assert day_accounting(materialize_be(staging, workbook)).passed

    write_workbook(workbook, {"011024": [wu_row(time(0, 4))]})
    result = materialize_be(staging, workbook)

    evaluation = day_accounting(result)
    assert evaluation.passed is False and evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert totals(evaluation) == {"read": 1, "landed": 1, "rejected": 1}
    assert evaluation.description == f"{DAY}: 1 record(s) read, 1 landed + 1 rejected stored; unbalanced"
    assert result.success  # logged, not a Dagster gate: the day's evaluation carries the failure
