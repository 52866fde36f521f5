"""InfoClimat reader: API client against a real local HTTP server, response parsing, and the offline file mode."""

from __future__ import annotations

import json
import logging
import socket
import time
from datetime import date

import dagster as dg
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from forecast_assets.raw.infoclimat import (
    InfoClimatApi,
    InfoClimatResponseFile,
    InfoClimatSource,
    parse_response,
)
from forecast_assets.raw.infoclimat_api import InfoClimatError
from forecast_assets.raw.records import SourceUnavailableError
from forecast_assets.staging.layout import INGESTED_AT, LINEAGE_FIELDS, SOURCE_POSITION, SOURCE_URI
from forecast_assets.stations import INFOCLIMAT_STATION_IDS

DAY = date(2024, 10, 5)
NOW = "2024-10-08T06:00:00+00:00"
TOKEN = "test-token-not-a-secret-42"
STATIONS = list(INFOCLIMAT_STATION_IDS)
PATH = "/opendata/"


# --- small response documents, keys in the order the API sends them (SOURCES.md) ---------------


def synop(dh_utc: str, temperature: str = "7.6") -> dict:
    """A 07015 (Météo-France synop) record: 15 keys, measures as strings."""
    return {
        "id_station": "07015", "dh_utc": dh_utc, "temperature": temperature, "pression": "1020.7",
        "humidite": "89", "point_de_rosee": "5.9", "visibilite": "20000", "vent_moyen": "11.2",
        "vent_rafales": "22.3", "vent_direction": "230", "pluie_3h": None, "pluie_1h": "0",
        "neige_au_sol": None, "nebulosite": "", "temps_omm": None,
    }  # fmt: skip


def static(station: str, dh_utc: str, temperature: str = "8.1") -> dict:
    """An amateur "static" station record: 11 keys, ``vent_rafales`` always null."""
    return {
        "id_station": station, "dh_utc": dh_utc, "temperature": temperature, "pression": "1019.9",
        "humidite": "92", "point_de_rosee": "6.9", "vent_moyen": "7.4", "vent_rafales": None,
        "vent_direction": "215", "pluie_3h": "0.2", "pluie_1h": "0",
    }  # fmt: skip


def response_doc(hourly: dict[str, list]) -> dict:
    station_info = [
        {"id": sid, "name": sid, "latitude": 50.6, "longitude": 3.0, "elevation": 40, "type": "static",
         "license": {"license": "CC BY", "url": "https://example.org", "source": "infoclimat.fr", "metadonnees": ""}}
        for sid in hourly
    ]  # fmt: skip
    return {
        "status": "OK",
        "errors": [],
        "data": [],
        "stations": station_info,
        "metadata": {"temperature": "temperature,degC", "pression": "mean sea level pressure,hPa"},
        "hourly": {**hourly, "_params": ["temperature", "pression"]},
    }


def day_doc() -> dict:
    """Every station with rows on DAY, plus records of the neighbouring days that must not land."""
    return response_doc(
        {
            "00052": [static("00052", "2024-10-04 23:50:00"), static("00052", "2024-10-05 00:00:00"),
                      static("00052", "2024-10-05 00:10:00")],
            "000R5": [static("000R5", "2024-10-05 23:50:00")],
            "07015": [synop("2024-10-05 00:00:00"), synop("2024-10-05 01:00:00", "7.2"),
                      synop("2024-10-06 00:00:00")],
            "STATIC0010": [static("STATIC0010", "2024-10-06 00:00:00")],
        }
    )  # fmt: skip


def api(server: HTTPServer, **overrides) -> InfoClimatApi:
    settings = {"base_url": server.url_for(PATH), "token": TOKEN, "backoff_seconds": 0.01, **overrides}
    return InfoClimatApi(**settings)


def source_fields(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in LINEAGE_FIELDS}


# --- API mode, against a real local HTTP server -------------------------------------------------


def test_fetch_day_lands_the_days_rows_unchanged_with_redacted_lineage(httpserver: HTTPServer):
    doc = day_doc()
    httpserver.expect_request(PATH, method="GET").respond_with_json(doc)

    batch = api(httpserver).fetch_day(DAY, NOW)

    expected = [doc["hourly"]["00052"][1], doc["hourly"]["00052"][2], doc["hourly"]["000R5"][0],
                doc["hourly"]["07015"][0], doc["hourly"]["07015"][1]]  # fmt: skip
    assert [source_fields(row) for row in batch.rows] == expected
    assert [list(source_fields(row)) for row in batch.rows] == [list(record) for record in expected]
    assert [row[SOURCE_POSITION] for row in batch.rows] == [
        "hourly[00052][1]", "hourly[00052][2]", "hourly[000R5][0]", "hourly[07015][0]", "hourly[07015][1]"
    ]  # fmt: skip
    assert {row[INGESTED_AT] for row in batch.rows} == {NOW}
    assert {row[SOURCE_URI] for row in batch.rows} == {batch.source_uri}
    assert batch.source_uri.startswith(httpserver.url_for(PATH)) and "version=2" in batch.source_uri
    assert TOKEN not in batch.source_uri and "token" not in batch.source_uri
    assert batch.source_uri == api(httpserver).describe(DAY)
    assert batch.rejects == []
    assert batch.notes == {
        "rows_per_station": {"00052": 2, "000R5": 1, "07015": 2, "STATIC0010": 0},
        "stations_without_rows": ["STATIC0010"],
    }

    ((request, _response),) = httpserver.log
    assert request.args.getlist("stations[]") == STATIONS
    assert {k: request.args.getlist(k) for k in ("version", "method", "format", "start", "end", "token")} == {
        "version": ["2"], "method": ["get"], "format": ["json"],
        "start": ["2024-10-05"], "end": ["2024-10-06"], "token": [TOKEN],
    }  # fmt: skip


def test_429_with_retry_after_waits_then_succeeds(httpserver: HTTPServer):
    httpserver.expect_ordered_request(PATH).respond_with_response(
        Response("slow down", status=429, headers={"Retry-After": "1"})
    )
    httpserver.expect_ordered_request(PATH).respond_with_json(day_doc())

    started = time.monotonic()
    batch = api(httpserver, backoff_seconds=0.01).fetch_day(DAY, NOW)
    elapsed = time.monotonic() - started

    assert len(httpserver.log) == 2
    assert elapsed >= 0.95  # the server's Retry-After, not the 10 ms backoff
    assert len(batch.rows) == 5


def test_persistent_500_fails_after_max_attempts_naming_day_and_attempts(httpserver: HTTPServer):
    httpserver.expect_request(PATH).respond_with_data("internal error", status=500)

    with pytest.raises(InfoClimatError) as failure:
        api(httpserver, max_attempts=3).fetch_day(DAY, NOW)

    message = str(failure.value)
    assert "3 attempts" in message and "2024-10-05" in message and "HTTP 500" in message
    assert "07015" in message and TOKEN not in message
    assert len(httpserver.log) == 3


def test_read_timeout_is_retried_then_reported():
    attempts: list[float] = []

    def too_slow(request: Request) -> Response:
        attempts.append(time.monotonic())
        time.sleep(0.8)
        return Response(json.dumps(day_doc()), content_type="application/json")

    server = HTTPServer(threaded=True)  # each attempt gets its own handler thread
    server.expect_request(PATH).respond_with_handler(too_slow)
    server.start()
    try:
        with pytest.raises(InfoClimatError) as failure:
            api(server, timeout_seconds=0.3, max_attempts=2).fetch_day(DAY, NOW)
    finally:
        server.clear()
        server.stop()

    message = str(failure.value)
    assert "2 attempts" in message and "2024-10-05" in message and "Timeout" in message
    assert TOKEN not in message
    assert len(attempts) == 2


def test_connection_refused_is_reported_without_the_token():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = InfoClimatApi(base_url=f"http://127.0.0.1:{port}/opendata/", token=TOKEN, max_attempts=2,
                           backoff_seconds=0.01)  # fmt: skip

    with pytest.raises(InfoClimatError) as failure:
        source.fetch_day(DAY, NOW)

    message = str(failure.value)
    assert "2 attempts" in message and "ConnectionError" in message and "2024-10-05" in message
    assert TOKEN not in message and failure.value.__cause__ is None and failure.value.__context__ is None


def test_html_body_is_a_clear_error(httpserver: HTTPServer):
    page = "<html><head><title>Maintenance en cours</title></head><body>Revenez plus tard</body></html>"
    httpserver.expect_request(PATH).respond_with_data(page, content_type="text/html; charset=utf-8")

    with pytest.raises(InfoClimatError, match="not JSON") as failure:
        api(httpserver).fetch_day(DAY, NOW)

    message = str(failure.value)
    assert "text/html" in message and "Maintenance en cours" in message and "2024-10-05" in message
    assert len(httpserver.log) == 1  # not retried


def test_unauthorised_is_not_retried_and_points_at_the_token(httpserver: HTTPServer):
    httpserver.expect_request(PATH).respond_with_data("Forbidden", status=403)

    with pytest.raises(InfoClimatError, match="INFOCLIMAT_TOKEN") as failure:
        api(httpserver).fetch_day(DAY, NOW)

    assert "invalid" in str(failure.value) and "403" in str(failure.value)
    assert len(httpserver.log) == 1


def test_status_not_ok_quotes_the_errors(httpserver: HTTPServer):
    doc = {**response_doc({}), "status": "KO", "errors": ["Token invalide ou expiré"]}
    httpserver.expect_request(PATH).respond_with_json(doc)

    with pytest.raises(InfoClimatError, match="Token invalide ou expiré") as failure:
        api(httpserver).fetch_day(DAY, NOW)

    assert "'KO'" in str(failure.value) and "2024-10-05" in str(failure.value)


def test_station_missing_from_hourly_is_named(httpserver: HTTPServer):
    doc = day_doc()
    del doc["hourly"]["STATIC0010"]
    httpserver.expect_request(PATH).respond_with_json(doc)

    with pytest.raises(InfoClimatError, match="Station STATIC0010 is absent") as failure:
        api(httpserver).fetch_day(DAY, NOW)

    assert "2024-10-05" in str(failure.value)


def test_malformed_records_are_rejected_while_the_others_land(httpserver: HTTPServer):
    good_first, good_last = synop("2024-10-05 12:00:00"), synop("2024-10-05 13:00:00")
    no_time = {"id_station": "07015", "temperature": "7.0"}
    bad_time = {"id_station": "07015", "dh_utc": "05/10/2024 14:00"}
    impossible_time = {"id_station": "07015", "dh_utc": "2024-10-05 25:00:00"}
    wrong_station = static("000R5", "2024-10-05 15:00:00")
    no_station = {"dh_utc": "2024-10-05 16:00:00", "temperature": "7.0"}
    records = [good_first, "not a record", no_time, bad_time, impossible_time, wrong_station, no_station, good_last]
    httpserver.expect_request(PATH).respond_with_json(response_doc({"07015": records}))

    batch = api(httpserver, stations=["07015"]).fetch_day(DAY, NOW)

    assert [source_fields(row) for row in batch.rows] == [good_first, good_last]
    assert [row[SOURCE_POSITION] for row in batch.rows] == ["hourly[07015][0]", "hourly[07015][7]"]
    reasons = {r[SOURCE_POSITION]: r["reason"] for r in batch.rejects}
    assert list(reasons) == [f"hourly[07015][{i}]" for i in range(1, 7)]
    assert "not an object" in reasons["hourly[07015][1]"]
    assert "'dh_utc'" in reasons["hourly[07015][2]"]
    assert "YYYY-MM-DD HH:MM:SS" in reasons["hourly[07015][3]"]
    assert "not a real date" in reasons["hourly[07015][4]"]
    assert "'000R5' does not match" in reasons["hourly[07015][5]"]
    assert "'id_station'" in reasons["hourly[07015][6]"]
    assert [r["record"] for r in batch.rejects] == records[1:7]
    assert {r[SOURCE_URI] for r in batch.rejects} == {batch.source_uri}
    assert batch.read_count == 8
    assert batch.notes["rows_per_station"] == {"07015": 2}


@pytest.mark.parametrize("token", [None, ""])
def test_missing_token_fails_before_any_request(httpserver: HTTPServer, token):
    httpserver.expect_request(PATH).respond_with_json(day_doc())

    with pytest.raises(InfoClimatError, match="set the INFOCLIMAT_TOKEN environment variable"):
        api(httpserver, token=token).fetch_day(DAY, NOW)

    assert len(httpserver.log) == 0


def test_unset_env_var_token_fails_before_any_request(httpserver: HTTPServer, monkeypatch):
    monkeypatch.delenv("INFOCLIMAT_TOKEN", raising=False)
    httpserver.expect_request(PATH).respond_with_json(day_doc())

    with pytest.raises(InfoClimatError, match="INFOCLIMAT_TOKEN"):
        api(httpserver, token=dg.EnvVar("INFOCLIMAT_TOKEN")).fetch_day(DAY, NOW)

    assert len(httpserver.log) == 0


def test_only_the_requested_utc_day_lands():
    doc = day_doc()

    batch = parse_response(doc, date(2024, 10, 6), STATIONS, "https://example.org/opendata/", NOW)

    assert [(row["id_station"], row["dh_utc"]) for row in batch.rows] == [
        ("07015", "2024-10-06 00:00:00"), ("STATIC0010", "2024-10-06 00:00:00")
    ]  # fmt: skip
    assert batch.notes["stations_without_rows"] == ["00052", "000R5"]


def test_logs_attempts_without_the_token(httpserver: HTTPServer, caplog):
    httpserver.expect_ordered_request(PATH).respond_with_data("busy", status=503)
    httpserver.expect_ordered_request(PATH).respond_with_json(day_doc())

    with caplog.at_level(logging.INFO):
        api(httpserver).fetch_day(DAY, NOW)

    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("dagster"))
    assert "attempt 1/5" in ours and "attempt 2/5" in ours and "HTTP 503" in ours
    assert TOKEN not in ours  # (the test server's own access log does show it: it received it)


# --- offline mode: saved responses --------------------------------------------------------------


def test_response_file_lands_a_day_and_an_uncovered_day_has_no_rows(tmp_path):
    saved = tmp_path / "infoclimat_20241005.json"
    saved.write_text(json.dumps(day_doc()), encoding="utf-8")
    source = InfoClimatResponseFile(path=str(saved))

    batch = source.fetch_day(DAY, NOW)
    empty = source.fetch_day(date(2024, 10, 9), NOW)

    assert len(batch.rows) == 5 and batch.rejects == []
    assert {row[SOURCE_URI] for row in batch.rows} == {saved.resolve().as_uri()} == {source.describe()}
    assert batch.rows[0][SOURCE_POSITION] == "hourly[00052][1]"
    assert empty.rows == [] and empty.rejects == []
    assert empty.notes == {"rows_per_station": dict.fromkeys(STATIONS, 0), "stations_without_rows": STATIONS}


def test_response_directory_merges_files_per_station_in_name_order(tmp_path):
    (tmp_path / "b_afternoon.json").write_text(json.dumps(response_doc({
        "07015": [synop("2024-10-05 13:00:00", "9.0")], "00052": [static("00052", "2024-10-05 13:00:00")]
    })))  # fmt: skip
    (tmp_path / "a_morning.json").write_text(json.dumps(response_doc({
        "07015": [synop("2024-10-05 08:00:00", "6.0"), synop("2024-10-05 09:00:00", "6.5")]
    })))  # fmt: skip
    (tmp_path / "notes.txt").write_text("not a response")

    batch = InfoClimatResponseFile(path=str(tmp_path), stations=["07015", "00052"]).fetch_day(DAY, NOW)

    morning, afternoon = (tmp_path / "a_morning.json").as_uri(), (tmp_path / "b_afternoon.json").as_uri()
    assert [(row["id_station"], row["temperature"], row[SOURCE_URI], row[SOURCE_POSITION]) for row in batch.rows] == [
        ("07015", "6.0", morning, "hourly[07015][0]"),
        ("07015", "6.5", morning, "hourly[07015][1]"),
        ("07015", "9.0", afternoon, "hourly[07015][0]"),
        ("00052", "8.1", afternoon, "hourly[00052][0]"),
    ]
    assert batch.source_uri == tmp_path.resolve().as_uri()
    assert batch.notes["rows_per_station"] == {"07015": 3, "00052": 1}


def test_missing_response_file_is_source_unavailable(tmp_path):
    missing = tmp_path / "nowhere.json"

    with pytest.raises(SourceUnavailableError) as failure:
        InfoClimatResponseFile(path=str(missing)).fetch_day(DAY, NOW)

    assert str(missing) in str(failure.value) and "2024-10-05" in str(failure.value)


# --- chosen by configuration: the same asset code runs on either source ------------------------


def test_an_asset_reads_whichever_source_is_configured(httpserver: HTTPServer, tmp_path, monkeypatch):
    @dg.asset
    def infoclimat_rows(infoclimat: InfoClimatSource) -> dg.MaterializeResult:
        batch = infoclimat.fetch_day(DAY, NOW)
        return dg.MaterializeResult(metadata={"dagster/row_count": len(batch.rows), "source": infoclimat.describe(DAY)})

    monkeypatch.setenv("INFOCLIMAT_TOKEN", TOKEN)
    httpserver.expect_request(PATH).respond_with_json(day_doc())
    saved = tmp_path / "saved.json"
    saved.write_text(json.dumps(day_doc()))

    for resource in (
        InfoClimatApi(base_url=httpserver.url_for(PATH), token=dg.EnvVar("INFOCLIMAT_TOKEN")),
        InfoClimatResponseFile(path=str(saved)),
    ):
        result = dg.materialize([infoclimat_rows], resources={"infoclimat": resource})
        (materialization,) = result.asset_materializations_for_node("infoclimat_rows")
        assert materialization.metadata["dagster/row_count"].value == 5
        assert TOKEN not in materialization.metadata["source"].value

    assert httpserver.log[0][0].args["token"] == TOKEN
