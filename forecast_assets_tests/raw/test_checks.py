"""raw_accounting on real local staging folders: balanced landings pass, damaged or stale files fail."""

from __future__ import annotations

from datetime import time

import dagster as dg
import pytest

from forecast_assets.definitions import build_defs
from forecast_assets.raw.assets import build_raw_asset, landed_key, raw_asset_key, rejects_key
from forecast_assets.raw.checks import RAW_ACCOUNTING
from forecast_assets.raw.wunderground import WundergroundSource
from forecast_assets.staging import LocalStagingZone
from forecast_assets.weather.assets import WEATHER_DATA
from forecast_assets_tests.raw.test_assets import BE_ROWS, FR_ROWS, RAW_KEYS, WEEK, run_week, staging  # noqa: F401
from forecast_assets_tests.raw.test_wunderground import write_workbook, wu_row

DAY = "2024-10-01"
#: Raw rows per source of the sample week (no raw rejects in the sample).
SAMPLE_TOTALS = {"BE": 1899, "FR": 1908, "InfoClimat": 1143}
INFOCLIMAT_ROWS = [0, 0, 0, 0, 456, 455, 232]


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


def accounting(result, source: str) -> dg.AssetCheckEvaluation:
    [evaluation] = [e for e in result.get_asset_check_evaluations()
                    if e.asset_key == raw_asset_key(source) and e.check_name == RAW_ACCOUNTING]
    return evaluation


def totals(evaluation: dg.AssetCheckEvaluation) -> dict[str, int]:
    return {k: evaluation.metadata[k].value for k in ("read", "landed", "rejected")}


def per_partition(evaluation: dg.AssetCheckEvaluation) -> dict[str, dict[str, str]]:
    """The rows of the check's markdown table, by partition."""
    def cells(line: str) -> list[str]:
        return [c.strip() for c in line.strip().strip("|").split("|")]

    header, _rule, *rows = evaluation.metadata["per_partition"].value.splitlines()
    return {row["partition"]: row for row in (dict(zip(cells(header), cells(line))) for line in rows)}


def materialize_be(staging: LocalStagingZone, workbook) -> dg.ExecuteInProcessResult:
    resources = {"staging": staging, "wu_be": WundergroundSource(station_id="IICHTE19", location=str(workbook))}
    return dg.materialize([build_raw_asset("BE")], resources=resources, partition_key=DAY,
                          raise_on_error=False)


def test_spec_is_a_blocking_check_on_each_raw_asset():
    graph = build_defs(env="local").resolve_asset_graph()
    for key in RAW_KEYS:
        [check] = graph.get_check_keys_for_assets({key})
        assert check.name == RAW_ACCOUNTING
        assert graph.get_check_spec(check).blocking


@pytest.mark.integration
def test_sample_week_balances_every_partition(staging):
    result = run_week({"staging": staging})

    assert result.success
    expected_rows = {"BE": BE_ROWS, "FR": FR_ROWS, "InfoClimat": INFOCLIMAT_ROWS}
    for source, total in SAMPLE_TOTALS.items():
        evaluation = accounting(result, source)
        assert evaluation.passed, source
        assert evaluation.severity == dg.AssetCheckSeverity.ERROR
        assert totals(evaluation) == {"read": total, "landed": total, "rejected": 0}, source
        assert evaluation.metadata["failed_partitions"].value == []
        table = per_partition(evaluation)
        assert list(table) == WEEK
        for day, rows in zip(WEEK, expected_rows[source]):
            assert table[day]["balanced"] == table[day]["passed"] == "True", (source, day)
            assert int(table[day]["read"]) == int(table[day]["landed"]) + int(table[day]["rejected"])
            assert int(table[day]["landed"]) == rows == len(staging.read_jsonl(landed_key(source, day)))


def test_bad_rows_are_counted_as_rejected(tmp_path, staging):
    bad = [wu_row("not a time"), wu_row("--"), [*wu_row(time(0, 24)), "13th cell"]]
    good = [wu_row(time(0, 4)), wu_row(time(0, 14)), wu_row(time(0, 34)), wu_row(time(0, 44))]
    workbook = write_workbook(tmp_path / "wb.xlsx", {"011024": [good[0], bad[0], good[1], bad[1], bad[2], *good[2:]]})

    result = materialize_be(staging, workbook)

    evaluation = accounting(result, "BE")
    assert result.success and evaluation.passed
    assert totals(evaluation) == {"read": 7, "landed": 4, "rejected": 3}
    assert len(staging.read_jsonl(rejects_key("BE", DAY))) == 3


@pytest.mark.parametrize("fault, landed, problem", [
    ("drop_last_line", 2, ""),
    ("cut_last_line", 2, "1 stored line(s) are not JSON records"),
    ("first_line_is_last", 3, "stored more than once: sheet=011024 row=4"),
])
def test_landed_file_that_does_not_hold_what_was_read_fails(tmp_path, fault, landed, problem):
    workbook = write_workbook(tmp_path / "wb.xlsx", {"011024": [wu_row(time(0, m)) for m in (4, 14, 24)]})
    staging = FaultyStagingZone(root=str(tmp_path / "staging"), fault_key=landed_key("BE", DAY), fault=fault)

    result = materialize_be(staging, workbook)

    evaluation = accounting(result, "BE")
    assert not result.success and evaluation.passed is False
    assert evaluation.metadata["failed_partitions"].value == [DAY]
    assert totals(evaluation) == {"read": 3, "landed": landed, "rejected": 0}
    row = per_partition(evaluation)[DAY]
    assert row["balanced"] == str(landed == 3) and row["passed"] == "False"
    assert row["problems"] == problem


@pytest.mark.integration
def test_failed_check_blocks_weather_data_in_the_same_run(tmp_path):
    days = WEEK[:3]
    staging = FaultyStagingZone(root=str(tmp_path / "staging"), fault_key=landed_key("FR", days[1]),
                                fault="drop_last_line")
    job = (build_defs(resource_overrides={"staging": staging}, env="local")
           .resolve_implicit_global_asset_job_def().get_subset(asset_selection={*RAW_KEYS, WEATHER_DATA}))

    result = job.execute_in_process(
        tags={"dagster/asset_partition_range_start": days[0], "dagster/asset_partition_range_end": days[-1]},
        raise_on_error=False,
    )

    evaluation = accounting(result, "FR")
    assert evaluation.passed is False
    assert evaluation.metadata["failed_partitions"].value == [days[1]]
    assert "2024-10-02" in evaluation.description
    assert totals(evaluation) == {"read": 864, "landed": 863, "rejected": 0}
    assert accounting(result, "BE").passed and accounting(result, "InfoClimat").passed
    [failure] = result.get_step_failure_events()
    assert failure.step_key == "raw__FR"
    assert failure.event_specific_data.error.cls_name == "DagsterAssetCheckFailedError"
    assert result.is_node_untouched("weather_data")
    assert WEATHER_DATA not in {e.asset_key for e in result.get_asset_materialization_events()}
    assert not staging.list_keys("Transform/")


def test_rerun_that_rejects_nothing_leaves_no_stale_rejects(tmp_path, staging):
    workbook = write_workbook(tmp_path / "wb.xlsx", {"011024": [wu_row(time(0, 4)), wu_row("not a time")]})
    first = accounting(materialize_be(staging, workbook), "BE")
    assert first.passed and totals(first) == {"read": 2, "landed": 1, "rejected": 1}

    write_workbook(workbook, {"011024": [wu_row(time(0, 4))]})
    second = accounting(materialize_be(staging, workbook), "BE")

    assert second.passed and totals(second) == {"read": 1, "landed": 1, "rejected": 0}
    assert not staging.exists(rejects_key("BE", DAY))


def test_stale_rejects_file_that_survives_a_rerun_fails(tmp_path):
    staging = FaultyStagingZone(root=str(tmp_path / "staging"), fault_key=rejects_key("BE", DAY),
                                fault="ignore_delete")
    workbook = write_workbook(tmp_path / "wb.xlsx", {"011024": [wu_row(time(0, 4)), wu_row("not a time")]})
    assert accounting(materialize_be(staging, workbook), "BE").passed

    write_workbook(workbook, {"011024": [wu_row(time(0, 4))]})
    result = materialize_be(staging, workbook)

    evaluation = accounting(result, "BE")
    assert not result.success and evaluation.passed is False
    assert totals(evaluation) == {"read": 1, "landed": 1, "rejected": 1}
    assert per_partition(evaluation)[DAY]["balanced"] == "False"
