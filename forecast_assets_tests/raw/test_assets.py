"""Raw assets materialized through Dagster on the shipped sample week and on crafted bad input."""

from __future__ import annotations

import json
from collections import Counter
from datetime import time

import dagster as dg
import openpyxl
import pytest

from forecast_assets.definitions import build_defs
from forecast_assets.raw.assets import build_raw_asset, landed_key, raw_asset_key, rejects_key
from forecast_assets.raw.infoclimat import InfoClimatResponseFile
from forecast_assets.raw.wunderground import WU_COLUMNS, WundergroundSource
from forecast_assets.sample_data import BE_WORKBOOK, FR_WORKBOOK, INFOCLIMAT_RESPONSE
from forecast_assets.staging import LocalStagingZone
from forecast_assets_tests.raw.test_wunderground import write_workbook, wu_row

WEEK = [f"2024-10-0{d}" for d in range(1, 8)]
BE_ROWS = [288, 285, 284, 288, 288, 288, 178]
FR_ROWS = [288] * 6 + [180]
RAW_KEYS = [raw_asset_key(s) for s in ("BE", "FR", "InfoClimat")]


def run_week(resources: dict, first: str = WEEK[0], last: str = WEEK[-1], **kwargs):
    defs = build_defs(resource_overrides=resources, env="local")
    job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection=set(RAW_KEYS))
    return job.execute_in_process(
        tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
        raise_on_error=kwargs.pop("raise_on_error", True),
        **kwargs,
    )


@pytest.fixture
def staging(tmp_path) -> LocalStagingZone:
    return LocalStagingZone(root=str(tmp_path / "staging"))


@pytest.mark.integration
def test_sample_week_lands_all_21_partitions(staging):
    result = run_week({"staging": staging})

    assert result.success
    for source, expected in (("BE", BE_ROWS), ("FR", FR_ROWS)):
        counts = [len(staging.read_jsonl(landed_key(source, day))) for day in WEEK]
        assert counts == expected, source
    per_day = [len(staging.read_jsonl(landed_key("InfoClimat", day))) for day in WEEK]
    assert per_day[:4] == [0, 0, 0, 0]  # the saved response covers 5-7 October only
    assert sum(per_day) == 1143
    assert staging.list_keys("raw/BE/011024") == ["raw/BE/011024/IICHTE19.jsonl"]

    materializations = result.asset_materializations_for_node("raw__InfoClimat")
    assert {m.partition for m in materializations} == set(WEEK)
    metadata = materializations[0].metadata
    assert metadata["dagster/row_count"].value == 1143
    assert metadata["zero_row_partitions"].value == WEEK[:4]
    assert "dh_utc" in metadata["preview"].value


@pytest.mark.integration
def test_workbook_values_are_carried_through_unchanged(staging):
    run_week({"staging": staging}, first="2024-10-01", last="2024-10-01")

    sheet = openpyxl.load_workbook(BE_WORKBOOK, read_only=True)["011024"]
    cells = [row for row in sheet.iter_rows(min_row=2, values_only=True)]
    landed = staging.read_jsonl(landed_key("BE", "2024-10-01"))
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
        record for station, records in document["hourly"].items() if station != "_params"
        for record in records if record["dh_utc"].startswith("2024-10-06")
    ]
    landed = staging.read_jsonl(landed_key("InfoClimat", "2024-10-06"))
    assert [{k: r[k] for k in e} for r, e in zip(landed, expected)] == expected
    assert Counter(r["id_station"] for r in landed)["00052"] == 144


def test_bad_rows_go_to_rejects_and_reruns_leave_no_stale_rejects(tmp_path, staging):
    rows = [wu_row(time(0, 4)), wu_row("not a time"), wu_row(time(0, 14))]
    workbook = write_workbook(tmp_path / "wb.xlsx", {"011024": rows})
    resources = {"staging": staging, "wu_be": WundergroundSource(station_id="IICHTE19", location=str(workbook))}
    result = dg.materialize([build_raw_asset("BE")], resources=resources, partition_key="2024-10-01")

    metadata = result.asset_materializations_for_node("raw__BE")[0].metadata
    assert metadata["dagster/row_count"].value == 2 and metadata["rows_rejected"].value == 1
    [rejected] = staging.read_jsonl(rejects_key("BE", "2024-10-01"))
    assert rejected["reason"] == "Time 'not a time' is not a time of day"
    assert rejected["_source_position"] == "sheet=011024 row=3"

    write_workbook(workbook, {"011024": [wu_row(time(0, 4))]})
    dg.materialize([build_raw_asset("BE")], resources=resources, partition_key="2024-10-01")
    assert not staging.exists(rejects_key("BE", "2024-10-01"))
    assert len(staging.read_jsonl(landed_key("BE", "2024-10-01"))) == 1


def test_missing_sheet_fails_naming_source_day_and_place(tmp_path, staging):
    workbook = write_workbook(tmp_path / "wb.xlsx", {"021024": [wu_row(time(0, 4))]})
    resources = {"staging": staging, "wu_fr": WundergroundSource(station_id="ILAMAD25", location=str(workbook))}
    with pytest.raises(Exception, match=r"raw/FR partition 2024-10-01: workbook .*wb.xlsx has no sheet '011024' for 2024-10-01"):
        dg.materialize([build_raw_asset("FR")], resources=resources, partition_key="2024-10-01")
    assert not staging.exists(landed_key("FR", "2024-10-01"))


def test_missing_infoclimat_response_fails_naming_path(tmp_path, staging):
    resources = {"staging": staging, "infoclimat": InfoClimatResponseFile(path=str(tmp_path / "nope.json"))}
    with pytest.raises(Exception, match=r"raw/InfoClimat partition 2024-10-05: .*nope.json"):
        dg.materialize([build_raw_asset("InfoClimat")], resources=resources, partition_key="2024-10-05")


def test_sample_files_are_the_default_sources():
    resources = build_defs(env="local").resources
    assert resources["wu_be"].location == str(BE_WORKBOOK)
    assert resources["wu_fr"].location == str(FR_WORKBOOK)
    assert resources["infoclimat"].path == str(INFOCLIMAT_RESPONSE)
