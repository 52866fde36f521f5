"""InfoClimat API faults through the assets: raw/InfoClimat → weather_data against a real local HTTP server.

Each fault ends either in a landed, reconciled day (every record served is landed, rejected with a
reason or dropped as a duplicate, and both accounting checks pass) or in a failed run whose error
names the day (and the station, where one is at fault) with nothing materialized: never a silently
empty partition.
"""

from __future__ import annotations

import json

import dagster as dg
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from forecast_assets.definitions import build_defs
from forecast_assets.feeds import raw_asset_key
from forecast_assets.raw.infoclimat import InfoClimatApi
from forecast_assets.staging import LocalStagingZone
from forecast_assets.staging.layout import quality_key, raw_landed_key
from forecast_assets.weather.assets import WEATHER_DATA
from forecast_assets_tests.raw.test_infoclimat import PATH, TOKEN, response_doc, static, synop

DAY = "2024-10-05"
RAW_INFOCLIMAT = raw_asset_key("InfoClimat")
#: weather_data reads every raw source of its day; BE and FR come from the shipped sample workbooks.
SELECTION = {raw_asset_key("BE"), raw_asset_key("FR"), RAW_INFOCLIMAT, WEATHER_DATA}
INFOCLIMAT_STATIONS = ("00052", "000R5", "STATIC0010", "07015")


def full_day() -> dict:
    """A whole UTC day for the four stations: 144 ten-minute records each, 24 hourly for 07015."""
    stamps = [f"{DAY} {h:02d}:{m:02d}:00" for h in range(24) for m in range(0, 60, 10)]
    hourly = {sid: [static(sid, s) for s in stamps] for sid in ("00052", "000R5", "STATIC0010")}
    hourly["07015"] = [synop(f"{DAY} {h:02d}:00:00") for h in range(24)]
    return response_doc(hourly)


def run(httpserver: HTTPServer, staging: LocalStagingZone) -> dg.ExecuteInProcessResult:
    api = InfoClimatApi(base_url=httpserver.url_for(PATH), token=TOKEN, backoff_seconds=0.01, max_attempts=4)
    defs = build_defs(resource_overrides={"staging": staging, "infoclimat": api}, env="local")
    job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection=SELECTION)
    return job.execute_in_process(partition_key=DAY, raise_on_error=False)


def checks(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    """The run's evaluations by (asset, check), each recorded once, as DAY's."""
    evaluations = {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}
    assert len(evaluations) == len(result.get_asset_check_evaluations())
    assert {e.partition for e in evaluations.values()} == {DAY}
    return evaluations


def completeness(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    return checks(result)["weather_data", "completeness"]


def completeness_details(result: dg.ExecuteInProcessResult) -> dict:
    """The completeness check's details for DAY (coverage per station, stations below it, ...)."""
    return completeness(result).metadata["details"].value


def assert_reconciled(result, staging: LocalStagingZone, served: int, rejected_at_raw: int = 0) -> dict:
    """Both accounting checks passed and the counts add up from the records served to the rows output."""
    assert result.success
    evaluations = checks(result)
    assert all(evaluations[f"raw/{source}", "raw_accounting"].passed for source in ("BE", "FR", "InfoClimat"))
    assert evaluations["weather_data", "reconciliation"].passed
    landed = staging.read_jsonl(raw_landed_key("InfoClimat", DAY))
    assert len(landed) + rejected_at_raw == served
    report = staging.read_json(quality_key(DAY))
    rows = {r["station_id"]: r for r in report["rows_per_station"]}
    assert sum(rows[sid]["raw_rows"] for sid in INFOCLIMAT_STATIONS if sid in rows) == len(landed)
    for r in rows.values():
        assert r["raw_rows"] == r["output_rows"] + r["rejected"] + r["duplicates_dropped"], r
    return rows


@pytest.fixture
def staging(tmp_path) -> LocalStagingZone:
    return LocalStagingZone(root=str(tmp_path / "staging"))


@pytest.mark.integration
def test_500_twice_then_ok_lands_the_whole_day(httpserver: HTTPServer, staging):
    httpserver.expect_ordered_request(PATH).respond_with_data("boom", status=500)
    httpserver.expect_ordered_request(PATH).respond_with_data("boom", status=502)
    httpserver.expect_ordered_request(PATH).respond_with_json(full_day())
    result = run(httpserver, staging)
    assert len(httpserver.log) == 3
    rows = assert_reconciled(result, staging, served=3 * 144 + 24)
    assert {sid: rows[sid]["output_rows"] for sid in INFOCLIMAT_STATIONS} == {
        "00052": 144,
        "000R5": 144,
        "STATIC0010": 144,
        "07015": 24,
    }
    details = completeness_details(result)
    assert not set(INFOCLIMAT_STATIONS) & set(details["stations_below_coverage"])
    assert {sid: details["coverage"][sid] for sid in INFOCLIMAT_STATIONS} == {sid: 1.0 for sid in INFOCLIMAT_STATIONS}


@pytest.mark.integration
def test_partial_day_lands_what_came_and_completeness_says_what_is_missing(httpserver: HTTPServer, staging):
    document = full_day()
    document["hourly"]["07015"] = document["hourly"]["07015"][:12]  # the synop stopped at noon
    httpserver.expect_request(PATH).respond_with_json(document)
    result = run(httpserver, staging)
    rows = assert_reconciled(result, staging, served=3 * 144 + 12)
    assert rows["07015"]["output_rows"] == 12
    evaluation = completeness(result)
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.description.startswith(f"{DAY}: coverage below 90%: ") and "07015 50.0%" in evaluation.description
    details = completeness_details(result)
    assert details["stations_below_coverage"] == ["07015"] and details["coverage"]["07015"] == 0.5
    full = INFOCLIMAT_STATIONS[:3]  # the ten-minute stations came whole
    assert {sid: details["coverage"][sid] for sid in full} == {sid: 1.0 for sid in full}
    # a WARN check: the day is still materialized, with the rows that came
    assert {m.partition for m in result.asset_materializations_for_node("weather_data")} == {DAY}


@pytest.mark.integration
def test_malformed_records_are_rejected_with_reasons_and_counted(httpserver: HTTPServer, staging):
    document = full_day()
    document["hourly"]["00052"][5] = {"id_station": "00052", "temperature": "8.0"}  # no dh_utc
    document["hourly"]["000R5"][7]["temperature"] = "warm"  # lands raw, rejected by the transform
    httpserver.expect_request(PATH).respond_with_json(document)
    result = run(httpserver, staging)
    rows = assert_reconciled(result, staging, served=3 * 144 + 24, rejected_at_raw=1)
    assert staging.exists(f"raw/_rejects/InfoClimat/{DAY[8:10]}{DAY[5:7]}{DAY[2:4]}/infoclimat.jsonl")
    assert rows["000R5"]["rejected"] == 1 and rows["000R5"]["output_rows"] == 143
    assert rows["00052"]["raw_rows"] == 143 and rows["00052"]["output_rows"] == 143


def _assert_failed_naming(result, *needles: str) -> None:
    assert not result.success
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failures and failures[0].step_key.startswith("raw__InfoClimat")
    message = str(failures[0].event_specific_data.error)
    for needle in needles:
        assert needle in message, (needle, message)
    assert TOKEN not in message
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert RAW_INFOCLIMAT not in materialized and WEATHER_DATA not in materialized


@pytest.mark.integration
@pytest.mark.parametrize(
    "response, needles",
    [
        (
            Response("<html><title>Maintenance</title></html>", status=200, content_type="text/html"),
            ("not JSON", "Maintenance", DAY),
        ),
        (
            Response(json.dumps({"status": "KO", "errors": ["quota exceeded"]}), content_type="application/json"),
            ("quota exceeded", DAY),
        ),
    ],
    ids=["html-page", "status-not-ok"],
)
def test_unusable_answers_fail_the_day_clearly(httpserver: HTTPServer, staging, response, needles):
    httpserver.expect_request(PATH).respond_with_response(response)
    result = run(httpserver, staging)
    _assert_failed_naming(result, *needles)
    assert not staging.exists(raw_landed_key("InfoClimat", DAY))


@pytest.mark.integration
def test_a_station_missing_from_the_answer_fails_naming_it(httpserver: HTTPServer, staging):
    document = full_day()
    del document["hourly"]["STATIC0010"]
    httpserver.expect_request(PATH).respond_with_json(document)
    result = run(httpserver, staging)
    _assert_failed_naming(result, "STATIC0010", DAY)


@pytest.mark.integration
def test_persistent_500_fails_after_the_retries(httpserver: HTTPServer, staging):
    httpserver.expect_request(PATH).respond_with_data("boom", status=500)
    result = run(httpserver, staging)
    _assert_failed_naming(result, "500", DAY)
    assert len(httpserver.log) == 4
