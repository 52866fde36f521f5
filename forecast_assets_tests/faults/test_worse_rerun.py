"""Faults: a worse delivery of a day that was loaded well never shrinks the MongoDB collection silently.

The whole lineage (raw/* → weather_data → mongodb/weather_measurements) runs on 5 October 2024 with a
clean generated La Madeleine (ILAMAD25) workbook, against a local staging folder and a real SecantusDB
server; then the same day is delivered again, worse: every temperature with a decimal comma (every FR
row rejected), or half the day missing. The stored documents must stay, the run must say so with ERROR
checks naming station, day, counts and why, and the documented override must apply an intended deletion.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from forecast_assets.feeds import station_window
from forecast_assets.mongo.assets import weather_measurements
from forecast_assets.mongo.checks import NO_SHRINK, RECONCILIATION
from forecast_assets.mongo.collection_setup import MEASUREMENTS
from forecast_assets.partitions import ddmmyy, partition_day
from forecast_assets.raw.wunderground import WundergroundSource
from forecast_assets.resources import resources_for
from forecast_assets.sample_data import BE_WORKBOOK
from forecast_assets.staging import LocalStagingZone
from forecast_assets.stations import STATIONS
from forecast_assets.weather.check_specs import STATION_DAY_REJECTS
from forecast_assets_tests.faults.test_workbooks import BE, COL, FR, LINEAGE, fr_workbook
from forecast_assets_tests.mongo.conftest import mongo, mongo_server  # noqa: F401  (fixtures)

DAY = "2024-10-05"
SHEET = ddmmyy(partition_day(DAY))
LOAD_OP = "mongodb__weather_measurements"


def run(workbook: Path, staging: LocalStagingZone, mongo_resource, **load_config) -> dg.ExecuteInProcessResult:
    """The whole lineage of ``DAY`` with ``workbook`` as the FR source."""
    resources = {
        **resources_for("local"),
        "staging": staging,
        "mongo": mongo_resource,
        "wu_be": WundergroundSource(station_id=BE, location=str(BE_WORKBOOK)),
        "wu_fr": WundergroundSource(station_id=FR, location=str(workbook)),
    }
    return dg.materialize(
        LINEAGE,
        resources=resources,
        partition_key=DAY,
        raise_on_error=False,
        run_config={"ops": {LOAD_OP: {"config": load_config}}} if load_config else None,
    )


def check(result, asset_key: dg.AssetKey, name: str):
    [evaluation] = [
        e for e in result.get_asset_check_evaluations() if e.asset_key == asset_key and e.check_name == name
    ]
    return evaluation


def documents(mongo_resource, station_id: str) -> list[dict]:
    start, end = station_window(STATIONS[station_id], DAY)
    return list(
        mongo_resource.get_database()[MEASUREMENTS]
        .find(
            {"station_id": station_id, "timestamp": {"$gte": start.to_pydatetime(), "$lt": end.to_pydatetime()}},
            projection={"_id": 0},
        )
        .sort("timestamp", 1)
    )


def _decimal_commas(workbook) -> None:
    sheet = workbook[SHEET]
    for row in range(2, sheet.max_row + 1):
        cell = sheet.cell(row=row, column=COL["Temperature"] + 1)
        if isinstance(cell.value, str):
            cell.value = cell.value.replace(".", ",")


def _second_half_missing(workbook) -> None:
    sheet = workbook[SHEET]
    sheet.delete_rows(2 + (sheet.max_row - 1) // 2, sheet.max_row)


@pytest.fixture
def loaded(tmp_path, mongo):  # noqa: F811
    """5 October loaded from a clean workbook: (staging, the clean FR documents, every station's count)."""
    staging = LocalStagingZone(root=str(tmp_path / "staging"))
    good = fr_workbook(tmp_path / "good.xlsx", [DAY], lambda wb: None)
    result = run(good, staging, mongo)
    assert result.success
    fr_documents = documents(mongo, FR)
    assert len(fr_documents) == 288
    counts = {sid: len(documents(mongo, sid)) for sid in STATIONS}
    return staging, fr_documents, counts


@pytest.mark.integration
def test_a_rejected_delivery_keeps_the_stored_documents_and_fails_loudly(tmp_path, mongo, loaded):  # noqa: F811
    staging, fr_documents, counts = loaded
    worse = fr_workbook(tmp_path / "commas.xlsx", [DAY], _decimal_commas)

    result = run(worse, staging, mongo)

    rejects = check(result, dg.AssetKey("weather_data"), STATION_DAY_REJECTS)
    assert not rejects.passed and rejects.severity == dg.AssetCheckSeverity.ERROR
    assert "ILAMAD25 288/288 (100%)" in rejects.description
    shrink = check(result, weather_measurements.key, NO_SHRINK)
    assert not shrink.passed and shrink.severity == dg.AssetCheckSeverity.ERROR
    assert "ILAMAD25 2024-10-05: would delete 288 of its 288 stored document(s)" in shrink.description
    assert "allow_deletions ILAMAD25@2024-10-05" in shrink.description
    [refused] = shrink.metadata["refused_station_days"].value
    assert (refused["station_id"], refused["partition"], refused["stored"], refused["delivered"]) == (FR, DAY, 288, 0)
    # the good documents are all there, unchanged; the other stations were loaded as before
    assert documents(mongo, FR) == fr_documents
    assert {sid: len(documents(mongo, sid)) for sid in STATIONS} == counts
    assert check(result, weather_measurements.key, RECONCILIATION).passed


@pytest.mark.integration
def test_losing_half_a_day_is_refused_unless_the_share_allows_it(tmp_path, mongo, loaded):  # noqa: F811
    staging, fr_documents, _ = loaded
    half = fr_workbook(tmp_path / "half.xlsx", [DAY], _second_half_missing)

    refused = run(half, staging, mongo)
    assert not check(refused, weather_measurements.key, NO_SHRINK).passed
    assert documents(mongo, FR) == fr_documents
    # rows missing are not rows rejected: weather_data has nothing to say against the delivery itself
    assert check(refused, dg.AssetKey("weather_data"), STATION_DAY_REJECTS).passed

    allowed = run(half, staging, mongo, max_deleted_share=0.6)
    assert check(allowed, weather_measurements.key, NO_SHRINK).passed
    assert len(documents(mongo, FR)) == 144


@pytest.mark.integration
def test_an_intended_deletion_applies_with_the_override(tmp_path, mongo, loaded):  # noqa: F811
    staging, _, counts = loaded
    worse = fr_workbook(tmp_path / "commas.xlsx", [DAY], _decimal_commas)

    result = run(worse, staging, mongo, allow_deletions=["ILAMAD25@2024-10-05"])

    assert check(result, weather_measurements.key, NO_SHRINK).passed
    assert documents(mongo, FR) == []
    assert {sid: len(documents(mongo, sid)) for sid in STATIONS if sid != FR} == {
        sid: n for sid, n in counts.items() if sid != FR
    }
    assert check(result, weather_measurements.key, RECONCILIATION).passed


@pytest.mark.integration
def test_a_malformed_override_is_a_clear_error(tmp_path, mongo, loaded):  # noqa: F811
    staging, fr_documents, _ = loaded
    result = run(
        fr_workbook(tmp_path / "same.xlsx", [DAY], lambda wb: None), staging, mongo, allow_deletions=["ILAMAD25"]
    )
    assert not result.success
    [failure] = [e for e in result.get_step_failure_events() if e.step_key == LOAD_OP]
    assert "allow_deletions entry 'ILAMAD25' is not STATION@YYYY-MM-DD" in (
        failure.step_failure_data.user_failure_data.description
    )
    assert documents(mongo, FR) == fr_documents
