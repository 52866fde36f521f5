"""Weather Underground readers on small crafted workbooks and Airbyte exports."""

from __future__ import annotations

import csv
import json
from datetime import date, time
from pathlib import Path

import openpyxl
import pytest

from forecast_assets.raw.records import SourceUnavailableError
from forecast_assets.raw.wunderground import (
    WU_COLUMNS,
    WundergroundSource,
    clock_text,
    read_airbyte_day,
    read_workbook_day,
)
from forecast_assets.staging.layout import SOURCE_POSITION, SOURCE_URI

NB = "\u00a0"
INGESTED = "2024-10-08T00:00:00+00:00"
OCT_1 = date(2024, 10, 1)


def wu_row(clock, temp="56.8", wind="WSW") -> list:
    return [
        clock,
        f"{temp}{NB}°F",
        f"50.1{NB}°F",
        f"87{NB}%",
        wind,
        f"8.2{NB}mph",
        f"12.0{NB}mph",
        f"29.93{NB}in",
        f"0.00{NB}in",
        f"0.00{NB}in",
        0,
        f"0{NB}w/m²",
    ]


def write_workbook(path: Path, sheets: dict[str, list[list]], header=WU_COLUMNS) -> Path:
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for name, rows in sheets.items():
        sheet = workbook.create_sheet(name)
        sheet.append(list(header))
        for row in rows:
            sheet.append(row)
        for cell in sheet["A"][1:]:
            cell.number_format = "h:mm AM/PM"
    workbook.save(path)
    return path


@pytest.mark.parametrize(
    "value, expected",
    [
        (time(0, 4), "00:04:00"),
        (time(23, 59, 30), "23:59:30"),
        (0.5, "12:00:00"),
        ("14:59:00", "14:59:00"),
        ("2:47 PM", "14:47:00"),
        ("12:04 AM", "00:04:00"),
        ("12:47 PM", "12:47:00"),
        ("25:00:00", None),
        ("13:00 PM", None),
        ("--", None),
        (None, None),
        (1.5, None),
    ],
)
def test_clock_text(value, expected):
    assert clock_text(value) == expected


def test_workbook_day_lands_rows_unchanged_with_lineage(tmp_path):
    dropped = wu_row(time(0, 9), wind=None)
    dropped[1] = "--"
    rows = [wu_row(time(0, 4)), dropped, [None] * 12, wu_row(time(0, 14))]
    path = write_workbook(tmp_path / "IICHTE19.xlsx", {"011024": rows, "021024": [wu_row(time(1, 0))]})

    batch = read_workbook_day(path, OCT_1, INGESTED)

    assert len(batch.rows) == 3 and batch.rejects == []
    assert batch.notes["empty_rows_skipped"] == 1
    first = batch.rows[0]
    assert [first[c] for c in WU_COLUMNS] == ["00:04:00", *wu_row(None)[1:]]
    assert first["Temperature"] == f"56.8{NB}°F"  # the no-break space is carried through
    assert batch.rows[1]["Temperature"] == "--" and batch.rows[1]["Wind"] is None
    assert first[SOURCE_URI] == path.resolve().as_uri()
    assert first[SOURCE_POSITION] == "sheet=011024 row=2"
    assert batch.rows[2][SOURCE_POSITION] == "sheet=011024 row=5"
    assert first["_ingested_at"] == INGESTED


def test_sheet_names_are_ddmmyy_not_mmddyy(tmp_path):
    # 100124 would be 1 October as MMDDYY; as DDMMYY it is 10 January. 011024 and 021024 are
    # consecutive days as DDMMYY only, which settles the scheme (alone, the two names would not:
    # see faults/test_reader_faults.py).
    sheets = {"100124": [wu_row(time(9, 0))], "011024": [wu_row(time(0, 4))], "021024": [wu_row(time(0, 9))]}
    path = write_workbook(tmp_path / "wb.xlsx", sheets)
    assert read_workbook_day(path, OCT_1, INGESTED).rows[0]["Time"] == "00:04:00"
    with pytest.raises(SourceUnavailableError, match=r"no sheet '011024' for 2024-10-01.*100124"):
        read_workbook_day(write_workbook(tmp_path / "us.xlsx", {"100124": []}), OCT_1, INGESTED)


def test_bad_time_and_extra_cells_are_rejected_with_reason(tmp_path):
    rows = [wu_row("noon"), wu_row(time(0, 9)) + ["surprise"], wu_row(time(0, 14))]
    path = write_workbook(tmp_path / "wb.xlsx", {"011024": rows})

    batch = read_workbook_day(path, OCT_1, INGESTED)

    assert [r["Time"] for r in batch.rows] == ["00:14:00"]
    reasons = [r["reason"] for r in batch.rejects]
    assert reasons[0] == "Time 'noon' is not a time of day"
    assert "beyond the 12 WU columns" in reasons[1] and "surprise" in reasons[1]
    assert [r[SOURCE_POSITION] for r in batch.rejects] == ["sheet=011024 row=2", "sheet=011024 row=3"]


def test_unusable_workbooks_fail_naming_file_and_day(tmp_path):
    renamed = list(WU_COLUMNS)
    renamed[1] = "Temp"
    bad_header = write_workbook(tmp_path / "renamed.xlsx", {"011024": [wu_row(time(0, 4))]}, header=renamed)
    with pytest.raises(SourceUnavailableError, match="renamed.xlsx sheet 011024: header"):
        read_workbook_day(bad_header, OCT_1, INGESTED)

    corrupt = tmp_path / "corrupt.xlsx"
    corrupt.write_bytes(b"PK\x03\x04 this is not a workbook")
    with pytest.raises(SourceUnavailableError, match="corrupt.xlsx cannot be read"):
        read_workbook_day(corrupt, OCT_1, INGESTED)

    with pytest.raises(SourceUnavailableError, match=r"missing.xlsx not found.*011024 = 2024-10-01"):
        read_workbook_day(tmp_path / "missing.xlsx", OCT_1, INGESTED)


def airbyte_line(data: dict, raw_id: str = "6c1f6f8e-0000-4000-8000-000000000001") -> dict:
    return {
        "_airbyte_raw_id": raw_id,
        "_airbyte_extracted_at": 1728305400000,
        "_airbyte_meta": {"sync_id": 1, "changes": []},
        "_airbyte_generation_id": 0,
        "_airbyte_data": data,
    }


def test_airbyte_jsonl_and_csv_give_the_workbook_rows(tmp_path):
    rows = [wu_row(time(0, 4)), wu_row(time(0, 9), wind=None)]
    workbook = write_workbook(tmp_path / "wb.xlsx", {"011024": rows})
    expected = [{c: r[c] for c in WU_COLUMNS} for r in read_workbook_day(workbook, OCT_1, INGESTED).rows]

    export = tmp_path / "export"
    (export / "011024").mkdir(parents=True)
    with (export / "011024" / "part-1.jsonl").open("w", encoding="utf-8") as handle:
        handle.write(json.dumps(airbyte_line(expected[0]), ensure_ascii=False) + "\n")
        handle.write("{not json\n")
    with (export / "011024" / "part-2.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(airbyte_line({})))
        writer.writeheader()
        line = airbyte_line(expected[1])
        writer.writerow(
            {
                **line,
                "_airbyte_meta": json.dumps(line["_airbyte_meta"]),
                "_airbyte_data": json.dumps(line["_airbyte_data"], ensure_ascii=False),
            }
        )

    batch = read_airbyte_day(export, OCT_1, INGESTED)

    assert [{c: r[c] for c in WU_COLUMNS} for r in batch.rows] == expected
    assert batch.rows[0][SOURCE_URI].endswith("/011024/part-1.jsonl")
    assert batch.rows[0][SOURCE_POSITION].startswith("file=part-1.jsonl line=1 airbyte_raw_id=")
    assert batch.rows[1][SOURCE_POSITION].startswith("file=part-2.csv line=2")
    assert [(r["reason"], r[SOURCE_POSITION]) for r in batch.rejects] == [
        ("not a JSON object", "file=part-1.jsonl line=2")
    ]


def test_airbyte_rows_with_other_columns_are_rejected(tmp_path):
    folder = tmp_path / "011024"
    folder.mkdir()
    data = dict(zip(WU_COLUMNS, ["00:04:00", *wu_row(None)[1:]]))
    data["Temp"] = data.pop("Temperature")
    (folder / "a.jsonl").write_text(json.dumps(airbyte_line(data)) + "\n", encoding="utf-8")

    batch = read_airbyte_day(tmp_path, OCT_1, INGESTED)

    assert batch.rows == []
    assert batch.rejects[0]["reason"] == (
        "columns do not match the WU header: missing ['Temperature'], unexpected ['Temp']"
    )


def test_missing_airbyte_day_names_the_folder(tmp_path):
    with pytest.raises(SourceUnavailableError, match=r"no Airbyte export .* for 2024-10-01 in .*011024"):
        read_airbyte_day(tmp_path, OCT_1, INGESTED)


def test_source_resource_picks_reader_by_location(tmp_path):
    workbook = write_workbook(tmp_path / "wb.xlsx", {"011024": [wu_row(time(0, 4))]})
    batch = WundergroundSource(station_id="IICHTE19", location=str(workbook)).fetch_day(OCT_1, INGESTED)
    assert batch.notes["rows_per_station"] == {"IICHTE19": 1}
    with pytest.raises(SourceUnavailableError, match="IICHTE19: .*nowhere.txt is neither"):
        WundergroundSource(station_id="IICHTE19", location=str(tmp_path / "nowhere.txt")).fetch_day(OCT_1, INGESTED)
