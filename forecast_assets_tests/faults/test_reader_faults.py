"""Faults in what the raw readers are given: damaged workbooks, odd exports, surprising InfoClimat answers.

Each case is built for real in ``tmp_path`` (an .xlsx rewritten inside its zip, a UTF-16 file, an
Airbyte export, an InfoClimat answer served by a real local HTTP server) and ends either in rows and
rejects that add up to every record read, or in an error naming the source, the day, the place and
what to do. Nothing is dropped silently and nothing is counted twice.
"""

from __future__ import annotations

import json
import zipfile
from datetime import date, time, timedelta
from pathlib import Path

import dagster as dg
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from forecast_assets.raw.assets import build_raw_asset
from forecast_assets.raw.infoclimat import InfoClimatResponseFile
from forecast_assets.raw.infoclimat_api import InfoClimatError
from forecast_assets.raw.records import SourceUnavailableError
from forecast_assets.raw.wunderground import WU_COLUMNS, WundergroundSource, read_airbyte_day, read_workbook_day
from forecast_assets.sample_data import BE_WORKBOOK, FR_WORKBOOK
from forecast_assets.staging import LocalStagingZone
from forecast_assets.staging.layout import LINEAGE_FIELDS, SOURCE_POSITION, raw_rejects_key
from forecast_assets_tests.raw.test_infoclimat import PATH, TOKEN, api, response_doc, static, synop
from forecast_assets_tests.raw.test_wunderground import airbyte_line, write_workbook, wu_row

NOW = "2024-10-08T06:00:00+00:00"
OCT_1, OCT_5 = date(2024, 10, 1), date(2024, 10, 5)


@pytest.fixture
def staging(tmp_path) -> LocalStagingZone:
    return LocalStagingZone(root=str(tmp_path / "staging"))


def materialize(asset_source: str, resources: dict, first: str, last: str | None = None):
    """One raw asset over ``first``..``last`` in one run (a single-run backfill)."""
    return dg.materialize(
        [build_raw_asset(asset_source)],
        resources=resources,
        tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last or first},
    )


def raw_metadata(result, node: str) -> dict[str, dict]:
    """Each day's own materialization metadata (plain values), by day: exactly one per day."""
    materializations = result.asset_materializations_for_node(node)
    by_day = {m.partition: {k: v.value for k, v in m.metadata.items()} for m in materializations}
    assert len(by_day) == len(materializations)
    return by_day


def accounting(result) -> dict[str, dg.AssetCheckEvaluation]:
    """The run's raw_accounting evaluations, by day: exactly one per day, none run-level."""
    evaluations = result.get_asset_check_evaluations()
    by_day = {e.partition: e for e in evaluations}
    assert len(by_day) == len(evaluations) and None not in by_day
    return by_day


def counted(evaluation: dg.AssetCheckEvaluation) -> tuple[int, int, int]:
    """(read, landed, rejected) of one day's raw_accounting evaluation."""
    return tuple(evaluation.metadata[k].value for k in ("read", "landed", "rejected"))


# --- 1. a corrupt sheet inside a valid .xlsx ---------------------------------------------------


def corrupt_member(path: Path, member: str) -> None:
    """Cut ``member`` of the .xlsx zip in half: the zip stays valid, that XML does not."""
    with zipfile.ZipFile(path) as source:
        members = [(info, source.read(info.filename)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info, data in members:
            target.writestr(info, data[: len(data) // 2] if info.filename == member else data)


def test_corrupt_sheet_xml_fails_naming_workbook_sheet_day_and_fix(tmp_path, staging):
    path = write_workbook(
        tmp_path / "ILAMAD25.xlsx", {"011024": [wu_row(time(0, 4))] * 3, "021024": [wu_row(time(0, 4))]}
    )
    corrupt_member(path, "xl/worksheets/sheet1.xml")  # the first sheet written: 011024

    with pytest.raises(SourceUnavailableError) as failure:
        read_workbook_day(path, OCT_1, NOW)

    message = str(failure.value)
    assert str(path) in message and "sheet 011024" in message and "2024-10-01" in message
    assert "re-export the workbook" in message and "ParseError" in message
    assert len(read_workbook_day(path, date(2024, 10, 2), NOW).rows) == 1  # the other sheet still reads

    resources = {"staging": staging, "wu_fr": WundergroundSource(station_id="ILAMAD25", location=str(path))}
    with pytest.raises(dg.Failure, match=r"raw/FR partition 2024-10-01: workbook .*ILAMAD25.xlsx sheet 011024"):
        materialize("FR", resources, "2024-10-01")


# --- 2. a saved InfoClimat response that is not UTF-8 ------------------------------------------


def test_utf16_response_file_with_a_bom_is_read(tmp_path):
    document = response_doc(
        {"07015": [synop("2024-10-05 00:00:00"), {**synop("2024-10-05 01:00:00"), "temps_omm": "brouillard givrant"}]}
    )
    saved = tmp_path / "infoclimat.json"
    saved.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-16")  # BOM + UTF-16LE
    assert saved.read_bytes()[:2] == b"\xff\xfe"

    batch = InfoClimatResponseFile(path=str(saved), stations=["07015"]).fetch_day(OCT_5, NOW)

    assert [{k: v for k, v in row.items() if k not in LINEAGE_FIELDS} for row in batch.rows] == document["hourly"][
        "07015"
    ]
    assert batch.rejects == []


def test_undecodable_response_file_fails_naming_file_day_and_fix(tmp_path):
    saved = tmp_path / "infoclimat.json"
    text = json.dumps(response_doc({"07015": [{**synop("2024-10-05 00:00:00"), "temps_omm": "PLACEHOLDER"}]}))
    saved.write_bytes(text.replace("PLACEHOLDER", "averse de pluie l\xe9g\xe8re").encode("latin-1"))

    with pytest.raises(InfoClimatError) as failure:
        InfoClimatResponseFile(path=str(saved), stations=["07015"]).fetch_day(OCT_5, NOW)

    message = str(failure.value)
    assert str(saved) in message and "2024-10-05" in message
    assert "not UTF-8" in message and "save it again as UTF-8" in message


# --- 3. Airbyte file-source metadata in _airbyte_data ------------------------------------------


def test_airbyte_file_source_fields_are_lineage_not_data(tmp_path):
    folder = tmp_path / "011024"
    folder.mkdir()
    row = dict(zip(WU_COLUMNS, ["00:04:00", *wu_row(None)[1:]]))
    url = "https://files.example.org/wu/ILAMAD25.csv"
    lineage = {
        "_ab_source_file_url": f"{url}?signature=not-for-lineage",
        "_ab_source_file_last_modified": "2024-10-07T21:00:00.000000Z",
        "_ab_additional_properties": {},
    }
    renamed = {**{k: v for k, v in row.items() if k != "Temperature"}, "Temp": row["Temperature"], **lineage}
    lines = [
        airbyte_line({**row, **lineage}),
        airbyte_line({**row, "Time": "00:09:00", **lineage}),
        airbyte_line(renamed),
    ]
    (folder / "part-1.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")

    batch = read_airbyte_day(tmp_path, OCT_1, NOW)

    assert [{k: r[k] for k in r if k not in LINEAGE_FIELDS} for r in batch.rows] == [
        row,
        {**row, "Time": "00:09:00"},
    ]  # the WU columns, unchanged; no _ab_* field lands
    assert batch.rows[0][SOURCE_POSITION].endswith(f"ab_source_file_url={url}")
    [rejected] = batch.rejects  # a real column mismatch is still rejected, with the record as found
    assert rejected["reason"] == "columns do not match the WU header: missing ['Temperature'], unexpected ['Temp']"
    assert rejected["record"] == renamed


# --- 4. InfoClimat records of a station that is not configured ---------------------------------


def test_records_of_an_unknown_station_are_rejected_and_counted(tmp_path, httpserver: HTTPServer, staging):
    document = response_doc({
        "07015": [synop("2024-10-05 00:00:00"), static("99999", "2024-10-05 00:10:00")],
        "99999": [static("99999", "2024-10-05 00:00:00"), static("99999", "2024-10-05 00:10:00"),
                  static("99999", "2024-10-06 00:00:00")],
    })  # fmt: skip
    saved = tmp_path / "infoclimat.json"
    saved.write_text(json.dumps(document), encoding="utf-8")
    httpserver.expect_request(PATH).respond_with_json(document)

    for source in (InfoClimatResponseFile(path=str(saved), stations=["07015"]), api(httpserver, stations=["07015"])):
        batch = source.fetch_day(OCT_5, NOW)
        assert len(batch.rows) == 1 and batch.read_count == 4  # the 6 October record is 6 October's
        assert [(r[SOURCE_POSITION], r["reason"].split(":")[0]) for r in batch.rejects] == [
            ("hourly[07015][1]", "unknown station 99999"),
            ("hourly[99999][0]", "unknown station 99999"),
            ("hourly[99999][1]", "unknown station 99999"),
        ]
        assert batch.notes["unknown_stations"] == ["99999"]

    result = materialize(
        "InfoClimat",
        {"staging": staging, "infoclimat": InfoClimatResponseFile(path=str(saved), stations=["07015"])},
        "2024-10-05",
        "2024-10-06",
    )
    # each day counts its own records: 5 Oct's three unknown-station records, 6 Oct's one
    metadata = raw_metadata(result, "raw__InfoClimat")
    assert {day: (m["dagster/row_count"], m["rows_rejected"]) for day, m in metadata.items()} == {
        "2024-10-05": (1, 3),
        "2024-10-06": (0, 1),
    }
    evaluations = accounting(result)
    assert all(e.passed for e in evaluations.values())
    assert {day: counted(e) for day, e in evaluations.items()} == {"2024-10-05": (4, 1, 3), "2024-10-06": (1, 0, 1)}


# --- 5. a second sheet for the same day ---------------------------------------------------------


def test_a_second_sheet_for_the_same_day_is_rejected_row_by_row(tmp_path, staging):
    sheets = {
        "051024": [wu_row(time(0, 4)), wu_row(time(0, 9)), wu_row(time(0, 14))],
        "51024": [wu_row(time(0, 4)), wu_row(time(0, 9))],
        "051024 (2)": [wu_row(time(0, 4)), [None] * 12],
        "05-10-24": [wu_row(time(0, 4))],
        "061024": [wu_row(time(0, 4))],
    }
    path = write_workbook(tmp_path / "ILAMAD25.xlsx", sheets)

    batch = read_workbook_day(path, OCT_5, NOW)

    assert [r[SOURCE_POSITION] for r in batch.rows] == [f"sheet=051024 row={n}" for n in (2, 3, 4)]
    assert [(r["reason"], r[SOURCE_POSITION]) for r in batch.rejects] == [
        ("duplicate sheet for 2024-10-05: 51024 (only sheet 051024 is read)", "sheet=51024 row=2"),
        ("duplicate sheet for 2024-10-05: 51024 (only sheet 051024 is read)", "sheet=51024 row=3"),
        ("duplicate sheet for 2024-10-05: 051024 (2) (only sheet 051024 is read)", "sheet=051024 (2) row=2"),
        ("duplicate sheet for 2024-10-05: 05-10-24 (only sheet 051024 is read)", "sheet=05-10-24 row=2"),
    ]
    assert batch.rejects[0]["record"][:2] == wu_row(time(0, 4))[:2]
    assert read_workbook_day(path, date(2024, 10, 6), NOW).rejects == []  # they are 5 October's only

    resources = {"staging": staging, "wu_fr": WundergroundSource(station_id="ILAMAD25", location=str(path))}
    result = materialize("FR", resources, "2024-10-05")
    [(day, metadata)] = raw_metadata(result, "raw__FR").items()
    assert day == "2024-10-05" and (metadata["dagster/row_count"], metadata["rows_rejected"]) == (3, 4)
    [(day, evaluation)] = accounting(result).items()
    assert day == "2024-10-05" and evaluation.passed and counted(evaluation) == (7, 3, 4)
    assert len(staging.read_jsonl(raw_rejects_key("FR", "2024-10-05"))) == 4


# --- 6. a formula cell without a cached value --------------------------------------------------


def test_a_formula_without_a_cached_value_rejects_its_row(tmp_path):
    no_wind = wu_row(time(0, 14), wind=None)  # a real empty cell: lands as null, as before
    with_formula = wu_row(time(0, 9))
    with_formula[1] = '=CONCAT(52.1, " °F")'  # openpyxl never stores a computed value for a formula
    with_formula[7] = "=B3"
    path = write_workbook(tmp_path / "wb.xlsx", {"011024": [wu_row(time(0, 4)), with_formula, no_wind]})

    batch = read_workbook_day(path, OCT_1, NOW)

    assert [r["Time"] for r in batch.rows] == ["00:04:00", "00:14:00"] and batch.rows[1]["Wind"] is None
    [rejected] = batch.rejects
    assert rejected[SOURCE_POSITION] == "sheet=011024 row=3"
    assert rejected["reason"] == (
        'formula without a cached value in Temperature (=CONCAT(52.1, " °F")); '
        "formula without a cached value in Pressure (=B3)"
    )


# --- 7. an InfoClimat record without a usable date, in a multi-day response --------------------


def week_end_doc() -> dict:
    """5-7 October for 07015, with four records whose day cannot be read among them."""
    undated = [
        {"id_station": "07015", "temperature": "7.0"},
        {"id_station": "07015", "dh_utc": "06/10/2024 14:00"},
        "not a record",
        {"id_station": "07015", "dh_utc": None},
    ]
    records = [synop(f"2024-10-0{d} {h:02d}:00:00") for d in (5, 6, 7) for h in (0, 12)]
    return response_doc({"07015": records[:3] + undated + records[3:]})


def test_an_undated_record_is_rejected_once_not_once_per_day(tmp_path, staging):
    saved = tmp_path / "infoclimat_2024-10-05_2024-10-07.json"
    saved.write_text(json.dumps(week_end_doc()), encoding="utf-8")
    source = InfoClimatResponseFile(path=str(saved), stations=["07015"])

    batches = {d: source.fetch_day(d, NOW) for d in (OCT_5, OCT_5 + timedelta(1), OCT_5 + timedelta(2))}

    assert [len(b.rows) for b in batches.values()] == [2, 2, 2]
    assert [len(b.rejects) for b in batches.values()] == [4, 0, 0]  # the response's first day has them
    assert [r[SOURCE_POSITION] for r in batches[OCT_5].rejects] == [f"hourly[07015][{i}]" for i in range(3, 7)]

    result = materialize("InfoClimat", {"staging": staging, "infoclimat": source}, "2024-10-05", "2024-10-07")
    metadata = raw_metadata(result, "raw__InfoClimat")
    assert {day: (m["dagster/row_count"], m["rows_rejected"]) for day, m in metadata.items()} == {
        "2024-10-05": (2, 4),
        "2024-10-06": (2, 0),
        "2024-10-07": (2, 0),
    }  # rejected once, on the first day
    evaluations = accounting(result)
    assert all(e.passed for e in evaluations.values())
    assert {day: counted(e) for day, e in evaluations.items()} == {
        "2024-10-05": (6, 2, 4),
        "2024-10-06": (2, 2, 0),
        "2024-10-07": (2, 2, 0),
    }
    assert len(staging.read_jsonl(raw_rejects_key("InfoClimat", "2024-10-05"))) == 4
    assert not any(staging.exists(raw_rejects_key("InfoClimat", d)) for d in ("2024-10-06", "2024-10-07"))


def test_through_the_api_each_answer_rejects_its_undated_records_once():
    """The API reader asks for one day per request; an undated record counts in the day it was asked for."""

    def answer(request: Request) -> Response:
        start = date.fromisoformat(request.args["start"])
        end = start + timedelta(days=1)  # the API answers start..end inclusive of end's midnight
        records = [
            synop(f"{start} 00:00:00"),
            synop(f"{start} 12:00:00"),
            {"id_station": "07015"},
            synop(f"{end} 00:00:00"),
        ]
        return Response(json.dumps(response_doc({"07015": records})), content_type="application/json")

    server = HTTPServer()
    server.expect_request(PATH).respond_with_handler(answer)
    server.start()
    try:
        source = api(server, stations=["07015"])
        batches = [source.fetch_day(OCT_5 + timedelta(n), NOW) for n in range(3)]
    finally:
        server.clear()
        server.stop()

    assert [len(b.rejects) for b in batches] == [1, 1, 1] and [len(b.rows) for b in batches] == [2, 2, 2]
    assert TOKEN not in batches[0].source_uri


# --- 8. sheets named MMDDYY --------------------------------------------------------------------


@pytest.mark.parametrize(
    "names, proof",
    [
        (["101024", "101124", "101224", "101324"], "101324 is a valid MMDDYY date but not a valid DDMMYY one"),
        (["100124", "100224", "100324"], "consecutive days"),
    ],
    ids=["impossible-ddmmyy", "consecutive-as-mmddyy"],
)
def test_a_workbook_named_mmddyy_is_refused(tmp_path, names, proof):
    path = write_workbook(tmp_path / "ILAMAD25.xlsx", {name: [wu_row(time(0, 4))] for name in names})
    wanted = date(2024, 11, 10) if "101124" in names else date(2024, 1, 10)  # a sheet that DDMMYY would pick

    with pytest.raises(SourceUnavailableError) as failure:
        read_workbook_day(path, wanted, NOW)

    message = str(failure.value)
    assert str(path) in message and proof in message and str(names) in message
    assert "named MMDDYY" in message and "expected DDMMYY" in message and wanted.isoformat() in message


def test_an_ambiguous_naming_is_refused_when_two_sheets_could_be_the_day(tmp_path):
    path = write_workbook(tmp_path / "wb.xlsx", {"100124": [wu_row(time(9, 0))], "011024": [wu_row(time(0, 4))]})

    with pytest.raises(SourceUnavailableError) as failure:
        read_workbook_day(path, OCT_1, NOW)

    message = str(failure.value)
    assert str(path) in message and "ambiguous" in message and "'011024'" in message and "'100124'" in message
    assert "DDMMYY" in message and "2024-10-01" in message


def test_mixed_naming_is_refused(tmp_path):
    path = write_workbook(tmp_path / "wb.xlsx", {"131024": [wu_row(time(0, 4))], "101324": [wu_row(time(0, 4))]})

    with pytest.raises(SourceUnavailableError, match=r"mixes DDMMYY and MMDDYY.*131024.*101324"):
        read_workbook_day(path, date(2024, 10, 13), NOW)


def test_a_lone_ambiguous_sheet_loads_as_ddmmyy_and_says_so(tmp_path):
    path = write_workbook(tmp_path / "wb.xlsx", {"101124": [wu_row(time(0, 4))]})

    batch = read_workbook_day(path, date(2024, 11, 10), NOW)

    assert len(batch.rows) == 1
    assert "101124 is 2024-11-10 as DDMMYY but 2024-10-11 as MMDDYY" in batch.notes["sheet_naming"]


def test_the_shipped_sample_workbooks_are_read_as_ddmmyy():
    for workbook in (BE_WORKBOOK, FR_WORKBOOK):
        batch = read_workbook_day(workbook, date(2024, 10, 3), NOW)
        assert batch.rows and "sheet_naming" not in batch.notes
