"""Raw assets materialized through Dagster on the shipped sample week and on crafted bad input."""

from __future__ import annotations

import json
from collections import Counter
from datetime import time

import dagster as dg
import openpyxl
import pytest
from dagster._core.event_api import PartitionKeyFilter
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from forecast_assets.definitions import build_defs
from forecast_assets.feeds import raw_asset_key
from forecast_assets.partitions import ddmmyy, partition_day
from forecast_assets.raw.assets import build_raw_asset
from forecast_assets.raw.checks import RAW_ACCOUNTING
from forecast_assets.raw.infoclimat import InfoClimatResponseFile
from forecast_assets.raw.wunderground import WU_COLUMNS, WundergroundSource
from forecast_assets.sample_data import BE_WORKBOOK, FR_WORKBOOK, INFOCLIMAT_RESPONSE
from forecast_assets.staging import LocalStagingZone
from forecast_assets.staging.layout import raw_landed_key, raw_rejects_key
from forecast_assets_tests.raw.test_wunderground import write_workbook, wu_row

WEEK = [f"2024-10-0{d}" for d in range(1, 8)]
BE_ROWS = [288, 285, 284, 288, 288, 288, 178]
FR_ROWS = [288] * 6 + [180]
INFOCLIMAT_ROWS = [0, 0, 0, 0, 456, 455, 232]  # the saved response covers 5-7 October only
RAW_KEYS = [raw_asset_key(s) for s in ("BE", "FR", "InfoClimat")]


def run_week(resources: dict, first: str = WEEK[0], last: str = WEEK[-1], **kwargs):
    defs = build_defs(resource_overrides=resources, env="local")
    job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection=set(RAW_KEYS))
    return job.execute_in_process(
        tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
        raise_on_error=kwargs.pop("raise_on_error", True),
        **kwargs,
    )


def materializations_by_day(result, node: str) -> dict[str, dg.AssetMaterialization]:
    """The run's materializations of a node, by partition: exactly one per day, in day order."""
    materializations = result.asset_materializations_for_node(node)
    by_day = {m.partition: m for m in materializations}
    assert len(by_day) == len(materializations), f"{node}: more than one materialization for a day"
    return dict(sorted(by_day.items()))


@pytest.fixture
def staging(tmp_path) -> LocalStagingZone:
    return LocalStagingZone(root=str(tmp_path / "staging"))


@pytest.mark.integration
def test_sample_week_lands_all_21_partitions(staging):
    result = run_week({"staging": staging})

    assert result.success
    for source, expected in (("BE", BE_ROWS), ("FR", FR_ROWS)):
        counts = [len(staging.read_jsonl(raw_landed_key(source, day))) for day in WEEK]
        assert counts == expected, source
    per_day = [len(staging.read_jsonl(raw_landed_key("InfoClimat", day))) for day in WEEK]
    assert per_day == INFOCLIMAT_ROWS and sum(per_day) == 1143
    assert staging.list_keys("raw/BE/011024") == ["raw/BE/011024/IICHTE19.jsonl"]

    # each partition's materialization carries that day's own figures, file and preview
    for source, expected in (("BE", BE_ROWS), ("FR", FR_ROWS), ("InfoClimat", INFOCLIMAT_ROWS)):
        by_day = materializations_by_day(result, f"raw__{source}")
        assert list(by_day) == WEEK, source
        for day, rows in zip(WEEK, expected):
            metadata = by_day[day].metadata
            assert metadata["dagster/row_count"].value == rows, (source, day)
            assert metadata["rows_rejected"].value == 0, (source, day)
            assert metadata["path"].value == staging.uri(raw_landed_key(source, day)), (source, day)
    infoclimat = materializations_by_day(result, "raw__InfoClimat")
    for day in WEEK[:4]:
        assert infoclimat[day].metadata["preview"].value == "_no rows_"
    for day in WEEK[4:]:
        [first] = staging.read_jsonl(raw_landed_key("InfoClimat", day))[:1]
        assert first["dh_utc"].startswith(day) and first["dh_utc"] in infoclimat[day].metadata["preview"].value


def sheet_rows(workbook, day: str) -> int:
    """Data rows of a day's sheet (non-blank rows below the header), counted without the reader."""
    book = openpyxl.load_workbook(workbook, read_only=True)
    try:
        rows = list(book[ddmmyy(partition_day(day))].iter_rows(min_row=2, values_only=True))
    finally:
        book.close()
    return sum(1 for row in rows if any(cell is not None for cell in row))


@pytest.mark.integration
def test_one_week_run_records_each_days_own_materialization_and_accounting_in_the_instance(tmp_path, staging):
    key = raw_asset_key("BE")
    check = dg.AssetCheckKey(key, RAW_ACCOUNTING)
    home = tmp_path / "dagster_home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        result = run_week({"staging": staging}, instance=instance)
        assert result.success

        history = instance.event_log_storage.get_asset_check_execution_history(check, limit=100)
        assert sorted(str(r.partition) for r in history) == WEEK  # one evaluation per day, none run-level
        for day, expected in zip(WEEK, BE_ROWS):
            rows = sheet_rows(BE_WORKBOOK, day)
            assert rows == expected
            [record] = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key, asset_partitions=[day]), limit=1
            ).records
            assert record.run_id == result.run_id and record.partition_key == day
            metadata = record.asset_materialization.metadata
            assert metadata["dagster/row_count"].value == rows, day
            assert metadata["rows_rejected"].value == 0, day
            assert metadata["path"].value == staging.uri(raw_landed_key("BE", day))
            assert metadata["path"].value.endswith(f"/raw/BE/{ddmmyy(partition_day(day))}/IICHTE19.jsonl")

            [execution] = instance.event_log_storage.get_asset_check_execution_history(
                check, limit=100, partition_filter=PartitionKeyFilter(key=day)
            )
            assert (execution.partition, execution.run_id) == (day, result.run_id)
            assert execution.status == AssetCheckExecutionRecordStatus.SUCCEEDED
            evaluation = execution.event.dagster_event.event_specific_data
            assert evaluation.partition == day and evaluation.passed
            assert evaluation.severity == dg.AssetCheckSeverity.ERROR
            assert evaluation.description == f"{day}: {rows} record(s) read = {rows} landed + 0 rejected"
            assert {k: evaluation.metadata[k].value for k in ("read", "landed", "rejected")} == {
                "read": rows,
                "landed": rows,
                "rejected": 0,
            }


@pytest.mark.integration
def test_workbook_values_are_carried_through_unchanged(staging):
    run_week({"staging": staging}, first="2024-10-01", last="2024-10-01")

    sheet = openpyxl.load_workbook(BE_WORKBOOK, read_only=True)["011024"]
    cells = [row for row in sheet.iter_rows(min_row=2, values_only=True)]
    landed = staging.read_jsonl(raw_landed_key("BE", "2024-10-01"))
    assert len(landed) == len(cells)
    for row, original in zip(landed, cells):
        assert row["Time"] == original[0].strftime("%H:%M:%S")
        assert [row[c] for c in WU_COLUMNS[1:]] == list(original[1:12])
        assert row["_source_position"].startswith("sheet=011024 row=")
    assert any("\u00a0" in (v or "") for v in landed[0].values() if isinstance(v, str))


@pytest.mark.integration
def test_infoclimat_records_are_carried_through_unchanged(staging):
    run_week({"staging": staging}, first="2024-10-06", last="2024-10-06")

    document = json.loads(INFOCLIMAT_RESPONSE.read_text(encoding="utf-8"))
    expected = [
        record
        for station, records in document["hourly"].items()
        if station != "_params"
        for record in records
        if record["dh_utc"].startswith("2024-10-06")
    ]
    landed = staging.read_jsonl(raw_landed_key("InfoClimat", "2024-10-06"))
    assert [{k: r[k] for k in e} for r, e in zip(landed, expected)] == expected
    assert Counter(r["id_station"] for r in landed)["00052"] == 144


def test_bad_rows_go_to_rejects_and_reruns_leave_no_stale_rejects(tmp_path, staging):
    rows = [wu_row(time(0, 4)), wu_row("not a time"), wu_row(time(0, 14))]
    workbook = write_workbook(tmp_path / "wb.xlsx", {"011024": rows})
    resources = {"staging": staging, "wu_be": WundergroundSource(station_id="IICHTE19", location=str(workbook))}
    result = dg.materialize([build_raw_asset("BE")], resources=resources, partition_key="2024-10-01")

    metadata = result.asset_materializations_for_node("raw__BE")[0].metadata
    assert metadata["dagster/row_count"].value == 2 and metadata["rows_rejected"].value == 1
    [rejected] = staging.read_jsonl(raw_rejects_key("BE", "2024-10-01"))
    assert rejected["reason"] == "Time 'not a time' is not a time of day"
    assert rejected["_source_position"] == "sheet=011024 row=3"

    write_workbook(workbook, {"011024": [wu_row(time(0, 4))]})
    dg.materialize([build_raw_asset("BE")], resources=resources, partition_key="2024-10-01")
    assert not staging.exists(raw_rejects_key("BE", "2024-10-01"))
    assert len(staging.read_jsonl(raw_landed_key("BE", "2024-10-01"))) == 1


def test_missing_sheet_fails_naming_source_day_and_place(tmp_path, staging):
    workbook = write_workbook(tmp_path / "wb.xlsx", {"021024": [wu_row(time(0, 4))]})
    resources = {"staging": staging, "wu_fr": WundergroundSource(station_id="ILAMAD25", location=str(workbook))}
    with pytest.raises(
        Exception, match=r"raw/FR partition 2024-10-01: workbook .*wb.xlsx has no sheet '011024' for 2024-10-01"
    ):
        dg.materialize([build_raw_asset("FR")], resources=resources, partition_key="2024-10-01")
    assert not staging.exists(raw_landed_key("FR", "2024-10-01"))


def test_missing_infoclimat_response_fails_naming_path(tmp_path, staging):
    resources = {"staging": staging, "infoclimat": InfoClimatResponseFile(path=str(tmp_path / "nope.json"))}
    with pytest.raises(Exception, match=r"raw/InfoClimat partition 2024-10-05: .*nope.json"):
        dg.materialize([build_raw_asset("InfoClimat")], resources=resources, partition_key="2024-10-05")


def test_sample_files_are_the_default_sources():
    resources = build_defs(env="local").resources
    assert resources["wu_be"].location == str(BE_WORKBOOK)
    assert resources["wu_fr"].location == str(FR_WORKBOOK)
    assert resources["infoclimat"].path == str(INFOCLIMAT_RESPONSE)
