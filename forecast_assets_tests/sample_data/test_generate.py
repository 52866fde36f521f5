"""The sample-data generator and the shipped sample files it produces."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from datetime import date, datetime, time, timedelta
from pathlib import Path

import openpyxl
import pytest

from forecast_assets.raw.wunderground import WIND_POINTS, WU_COLUMNS
from forecast_assets.sample_data import BE_WORKBOOK, FR_WORKBOOK, INFOCLIMAT_RESPONSE, SAMPLE_DIR
from forecast_assets.sample_data.generate import (
    generate_infoclimat_response,
    generate_wu_workbook,
    main,
    write_airbyte_export,
)
from forecast_assets.stations import INFOCLIMAT_STATION_IDS, STATIONS

NBSP = "\u00a0"
SHEETS = ["011024", "021024", "031024", "041024", "051024", "061024", "071024"]
ROW_COUNTS = {
    "IICHTE19.xlsx": [288, 285, 284, 288, 288, 288, 178],
    "ILAMAD25.xlsx": [288, 288, 288, 288, 288, 288, 180],
}
WORKBOOKS = {"IICHTE19.xlsx": BE_WORKBOOK, "ILAMAD25.xlsx": FR_WORKBOOK}

#: The well-formed shape of each value column.
PATTERNS = {
    "Temperature": re.compile(r"^-?\d+\.\d\u00a0°F$"),
    "Dew Point": re.compile(r"^-?\d+\.\d\u00a0°F$"),
    "Humidity": re.compile(r"^\d{1,3}\u00a0%$"),
    "Speed": re.compile(r"^\d+\.\d\u00a0mph$"),
    "Gust": re.compile(r"^\d+\.\d\u00a0mph$"),
    "Pressure": re.compile(r"^\d{2}\.\d{2}\u00a0in$"),
    "Precip. Rate.": re.compile(r"^\d+\.\d{2}\u00a0in$"),
    "Precip. Accum.": re.compile(r"^\d+\.\d{2}\u00a0in$"),
    "Solar": re.compile(r"^\d+(\.\d)?\u00a0w/m²$"),
}


def _num(text: str) -> float:
    return float(text.split(NBSP)[0])


@pytest.fixture(scope="module")
def workbooks():
    books = {name: openpyxl.load_workbook(path) for name, path in WORKBOOKS.items()}
    yield books
    for wb in books.values():
        wb.close()


@pytest.fixture(scope="module")
def readme_mess() -> list[dict]:
    """The mess table of the README, one dict per row (value decoded from JSON)."""
    rows = []
    for line in (SAMPLE_DIR / "README.md").read_text(encoding="utf-8").splitlines():
        if not re.match(r"^\| (IICHTE19|ILAMAD25)\.xlsx \|", line):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        workbook, sheet, row, column, value, kind = cells[:6]
        rows.append(
            {
                "workbook": workbook,
                "sheet": sheet,
                "row": int(row),
                "column": column,
                "value": json.loads(value.strip("`")),
                "kind": kind,
            }
        )
    assert rows, "README mess table not found"
    return rows


@pytest.fixture(scope="module")
def infoclimat() -> dict:
    return json.loads(INFOCLIMAT_RESPONSE.read_text(encoding="utf-8"))


# ------------------------------------------------------------------ determinism


def test_regenerating_gives_byte_identical_files(tmp_path: Path):
    assert main(["--out", str(tmp_path)]) == 0
    for shipped in (BE_WORKBOOK, FR_WORKBOOK, INFOCLIMAT_RESPONSE):
        assert (tmp_path / shipped.name).read_bytes() == shipped.read_bytes(), shipped.name


def test_workbook_properties_are_fixed(workbooks):
    for wb in workbooks.values():
        assert wb.properties.created == datetime(2024, 10, 7, 12, 50)
        assert wb.properties.modified == datetime(2024, 10, 7, 12, 50)


# ------------------------------------------------------------------ workbooks


@pytest.mark.parametrize("name", list(ROW_COUNTS))
def test_sheets_and_row_counts(workbooks, name):
    wb = workbooks[name]
    assert wb.sheetnames == SHEETS
    assert [ws.max_row - 1 for ws in wb.worksheets] == ROW_COUNTS[name]
    assert sum(ws.max_row - 1 for ws in wb.worksheets) == {"IICHTE19.xlsx": 1899, "ILAMAD25.xlsx": 1908}[name]


@pytest.mark.parametrize("name", list(ROW_COUNTS))
def test_headers(workbooks, name):
    for ws in workbooks[name].worksheets:
        assert ws.max_column == 12
        assert tuple(c.value for c in ws[1]) == WU_COLUMNS


@pytest.mark.parametrize("name", list(ROW_COUNTS))
def test_time_column(workbooks, name, readme_mess):
    documented = {
        (m["sheet"], m["row"]) for m in readme_mess if m["workbook"] == name and m["kind"] in ("gap", "offgrid")
    }
    for ws in workbooks[name].worksheets:
        times = []
        for (cell,) in ws.iter_rows(min_row=2, max_col=1):
            assert isinstance(cell.value, time), (ws.title, cell.row, cell.value)
            assert cell.number_format == "h:mm AM/PM"
            times.append(cell.value)
            minute = cell.value.hour * 60 + cell.value.minute
            assert (minute % 5 == 4) == ((ws.title, cell.row) not in documented), (ws.title, cell.row)
        assert times[0] == time(0, 4)
        last = {"IICHTE19.xlsx": time(14, 49), "ILAMAD25.xlsx": time(14, 59)}[name]
        assert times[-1] == (last if ws.title == "071024" else time(23, 59))
        assert times == sorted(times)


def test_gaps(workbooks):
    gaps = []
    for name in ROW_COUNTS:
        for ws in workbooks[name].worksheets:
            minutes = [c.value.hour * 60 + c.value.minute for (c,) in ws.iter_rows(min_row=2, max_col=1)]
            for i in range(1, len(minutes)):
                if minutes[i] - minutes[i - 1] > 10:
                    gaps.append((name, ws.title, i + 2, minutes[i] - minutes[i - 1]))
    assert gaps == [("IICHTE19.xlsx", "021024", 123, 24), ("IICHTE19.xlsx", "031024", 183, 27)]


def test_mess_is_where_the_readme_says(workbooks, readme_mess):
    for m in readme_mess:
        ws = workbooks[m["workbook"]][m["sheet"]]
        row = [c.value for c in ws[m["row"]]]
        value = row[WU_COLUMNS.index(m["column"])]
        if m["column"] == "Time":
            assert value.strftime("%H:%M:%S") == m["value"], m
        else:
            assert value == m["value"], m
        if m["kind"] == "duplicate":
            assert row == [c.value for c in ws[m["row"] - 1]], m


def test_exactly_this_much_mess(workbooks, readme_mess):
    """Every irregular cell or row is in the README table, and vice versa."""
    found = set()
    duplicates = []
    for name in ROW_COUNTS:
        for ws in workbooks[name].worksheets:
            prev = None
            for r, values in enumerate(ws.iter_rows(min_row=2, values_only=True), start=2):
                values = list(values)
                if values == prev:
                    duplicates.append((name, ws.title, r))
                prev = values
                for col, v in zip(WU_COLUMNS, values):
                    if col == "Time":
                        continue
                    if v is None:
                        found.add((name, ws.title, r, col, "blank"))
                    elif v == "--":
                        found.add((name, ws.title, r, col, "dash"))
                    elif col == "Wind":
                        assert v in WIND_POINTS, (name, ws.title, r, v)
                    elif col == "UV":
                        assert isinstance(v, int) and 0 <= v <= 3, (name, ws.title, r, v)
                    elif not PATTERNS[col].match(v):
                        found.add((name, ws.title, r, col, "malformed"))
    documented = {
        (m["workbook"], m["sheet"], m["row"], m["column"], m["kind"])
        for m in readme_mess
        if m["kind"] in ("blank", "dash", "malformed")
    }
    assert found == documented
    assert duplicates == [(m["workbook"], m["sheet"], m["row"]) for m in readme_mess if m["kind"] == "duplicate"]
    assert len(duplicates) == 1 and duplicates[0][0] == "IICHTE19.xlsx"
    malformed = [f for f in found if f[-1] == "malformed"]
    assert len(malformed) == 1 and malformed[0][0] == "IICHTE19.xlsx"
    assert malformed[0][1] != duplicates[0][1]
    kinds_fr = {m["kind"] for m in readme_mess if m["workbook"] == "ILAMAD25.xlsx"}
    assert kinds_fr <= {"blank", "dash"}


@pytest.mark.parametrize("name", list(ROW_COUNTS))
def test_weather_is_plausible(workbooks, name):
    for ws in workbooks[name].worksheets:
        prev_accum = None
        for values in ws.iter_rows(min_row=2, values_only=True):
            row = dict(zip(WU_COLUMNS, values))
            t, hour = row["Time"], row["Time"].hour
            if PATTERNS["Temperature"].match(row["Temperature"]):
                temp = _num(row["Temperature"])
                assert 42 <= temp <= 66
                assert _num(row["Dew Point"]) <= temp
            assert 50 <= _num(row["Humidity"]) <= 100
            assert 29.4 <= _num(row["Pressure"]) <= 30.3
            speed = _num(row["Speed"])
            assert 0 <= speed <= 20
            if row["Gust"] not in (None, "--"):
                assert _num(row["Gust"]) >= speed
            if row["Solar"] != "--" and (hour < 7 or hour >= 21):
                assert _num(row["Solar"]) == 0 and row["UV"] == 0
            accum = _num(row["Precip. Accum."])
            if prev_accum is not None and not (name == "ILAMAD25.xlsx" and t == time(8, 4)):
                assert accum >= prev_accum
            prev_accum = accum
        first = next(ws.iter_rows(min_row=2, max_row=2, values_only=True))
        if name == "IICHTE19.xlsx":
            assert first[WU_COLUMNS.index("Precip. Accum.")] == f"0.00{NBSP}in"


def test_la_madeleine_accumulation_resets_at_0804(workbooks):
    ws = workbooks["ILAMAD25.xlsx"]["031024"]
    accum = {values[0]: values[9] for values in ws.iter_rows(min_row=2, values_only=True)}
    assert _num(accum[time(7, 59)]) > 0
    assert accum[time(8, 4)] == f"0.00{NBSP}in"


def test_generator_is_parameterised(tmp_path: Path):
    days = [date(2024, 10, 1) + timedelta(days=i) for i in range(9)]
    path = tmp_path / "SYNTH01.xlsx"
    cells = generate_wu_workbook(path, "SYNTH01", days, seed=7, short_last_day_rows=None, mess=False)
    assert cells == []
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == [d.strftime("%d%m%y") for d in days]
    assert [ws.max_row - 1 for ws in wb.worksheets] == [288] * 9
    clean = tmp_path / "clean.json"
    doc = generate_infoclimat_response(
        clean, ["07015"], datetime(2024, 10, 1), datetime(2024, 10, 2), seed=1, mess=False
    )
    assert len(doc["hourly"]["07015"]) == 25
    assert all(r["nebulosite"] != "" for r in doc["hourly"]["07015"])


# ------------------------------------------------------------------ InfoClimat


STATIC_KEYS = [
    "id_station",
    "dh_utc",
    "temperature",
    "pression",
    "humidite",
    "point_de_rosee",
    "vent_moyen",
    "vent_rafales",
    "vent_direction",
    "pluie_1h",
    "pluie_3h",
]
SYNOP_KEYS = [
    "id_station",
    "dh_utc",
    "temperature",
    "pression",
    "humidite",
    "point_de_rosee",
    "visibilite",
    "vent_moyen",
    "vent_rafales",
    "vent_direction",
    "pluie_1h",
    "pluie_3h",
    "neige_au_sol",
    "nebulosite",
    "temps_omm",
]


def test_infoclimat_top_level(infoclimat):
    assert list(infoclimat) == ["status", "errors", "data", "stations", "metadata", "hourly"]
    assert infoclimat["status"] == "OK" and infoclimat["errors"] == [] and infoclimat["data"] == []
    assert list(infoclimat["hourly"]) == [*INFOCLIMAT_STATION_IDS, "_params"]
    assert infoclimat["metadata"]["temperature"] == "temperature,degC"
    assert infoclimat["metadata"]["pression"] == "mean sea level pressure,hPa"
    assert infoclimat["metadata"]["nebulosite"] == "Ncloud cover,octats"
    assert set(infoclimat["hourly"]["_params"]) == set(SYNOP_KEYS[2:])
    for st in infoclimat["stations"]:
        meta = STATIONS[st["id"]]
        assert list(st) == ["id", "name", "latitude", "longitude", "elevation", "type", "license"]
        assert (st["name"], st["latitude"], st["longitude"], st["elevation"]) == (
            meta.name,
            meta.latitude,
            meta.longitude,
            meta.elevation_m,
        )
        assert list(st["license"]) == ["license", "url", "source", "metadonnees"]
        if st["id"] == "07015":
            assert st["type"] == "synop" and "Etalab" in st["license"]["license"]
        else:
            assert st["type"] == "static" and st["license"]["license"] == "CC BY"


def test_infoclimat_counts(infoclimat):
    hourly = infoclimat["hourly"]
    counts = {sid: len(hourly[sid]) for sid in INFOCLIMAT_STATION_IDS}
    assert counts == {"00052": 361, "000R5": 361, "07015": 60, "STATIC0010": 361}
    assert sum(counts.values()) == 1143
    for sid in INFOCLIMAT_STATION_IDS:
        per_day = Counter(r["dh_utc"][:10] for r in hourly[sid])
        expected = (
            {"2024-10-05": 24, "2024-10-06": 23, "2024-10-07": 13}
            if sid == "07015"
            else {"2024-10-05": 144, "2024-10-06": 144, "2024-10-07": 73}
        )
        assert per_day == expected, sid
        stamps = [r["dh_utc"] for r in hourly[sid]]
        assert stamps == sorted(stamps) and stamps[0] == "2024-10-05 00:00:00" and stamps[-1] == "2024-10-07 12:00:00"
    assert "2024-10-06 05:00:00" not in {r["dh_utc"] for r in hourly["07015"]}


def test_infoclimat_records(infoclimat):
    hourly = infoclimat["hourly"]
    for sid in INFOCLIMAT_STATION_IDS:
        for r in hourly[sid]:
            assert list(r) == (SYNOP_KEYS if sid == "07015" else STATIC_KEYS), r
            assert r["id_station"] == sid
            assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", r["dh_utc"])
            for k, v in r.items():
                assert v is None or isinstance(v, str), (k, v)
            for k in ("temperature", "pression", "humidite", "point_de_rosee", "vent_moyen", "vent_direction"):
                float(r[k])
            assert -5 < float(r["point_de_rosee"]) <= float(r["temperature"]) < 25
            assert 995 < float(r["pression"]) < 1030
            on_hour = r["dh_utc"].endswith(":00:00")
            assert (r["pluie_1h"] is not None) == on_hour
            hour = int(r["dh_utc"][11:13])
            if sid == "07015":
                assert r["vent_rafales"] is not None and float(r["vent_rafales"]) >= float(r["vent_moyen"])
                assert (r["pluie_3h"] is not None) == (hour % 3 == 0)
                assert r["neige_au_sol"] is None
                assert r["nebulosite"] == "" or 0 <= int(r["nebulosite"]) <= 8
                int(r["visibilite"])
            else:
                assert r["vent_rafales"] is None
                assert (r["pluie_3h"] is not None) == (sid == "000R5" and on_hour)
    assert sum(r["nebulosite"] == "" for r in hourly["07015"]) == 39
    assert sum(float(r["pluie_1h"]) for r in hourly["07015"]) > 0  # the 6 October rain


@pytest.mark.parametrize("sid", ["000R5", "07015"])
def test_pluie_3h_is_trailing_sum(infoclimat, sid):
    by_time = {r["dh_utc"]: r for r in infoclimat["hourly"][sid]}
    checked = 0
    for stamp, r in by_time.items():
        if r["pluie_3h"] is None:
            continue
        t = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S")
        window = [by_time.get((t - timedelta(hours=k)).strftime("%Y-%m-%d %H:%M:%S")) for k in range(3)]
        if any(w is None for w in window):
            continue  # part of the window is before the range or the missing hour
        assert float(r["pluie_3h"]) == pytest.approx(sum(float(w["pluie_1h"]) for w in window), abs=1e-9)
        checked += 1
    assert checked >= 18


# ------------------------------------------------------------------ Airbyte export


def _expected_rows(ws) -> list[dict]:
    rows = []
    for values in ws.iter_rows(min_row=2, values_only=True):
        data = dict(zip(WU_COLUMNS, values))
        data["Time"] = data["Time"].strftime("%H:%M:%S")
        rows.append(data)
    return rows


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
@pytest.mark.parametrize("name", list(ROW_COUNTS))
def test_airbyte_export_round_trip(tmp_path: Path, workbooks, name, fmt):
    written = write_airbyte_export(WORKBOOKS[name], tmp_path, fmt=fmt)
    assert sorted(p.parent.name for p in written) == SHEETS
    raw_ids = set()
    for ws in workbooks[name].worksheets:
        (target,) = list((tmp_path / ws.title).iterdir())
        assert target.suffix == "." + fmt
        if fmt == "jsonl":
            lines = target.read_text(encoding="utf-8").splitlines()
            records = [json.loads(line) for line in lines]
        else:
            with target.open(encoding="utf-8", newline="") as fh:
                records = list(csv.DictReader(fh))
            assert all(isinstance(r["_airbyte_meta"], str) for r in records)
            for r in records:
                r["_airbyte_meta"] = json.loads(r["_airbyte_meta"])
                r["_airbyte_data"] = json.loads(r["_airbyte_data"])
                r["_airbyte_extracted_at"] = int(r["_airbyte_extracted_at"])
                r["_airbyte_generation_id"] = int(r["_airbyte_generation_id"])
        for r in records:
            assert list(r) == [
                "_airbyte_raw_id",
                "_airbyte_extracted_at",
                "_airbyte_meta",
                "_airbyte_generation_id",
                "_airbyte_data",
            ]
            assert re.fullmatch(
                r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", r["_airbyte_raw_id"]
            )
            assert isinstance(r["_airbyte_extracted_at"], int) and r["_airbyte_extracted_at"] > 1.7e12
            assert r["_airbyte_meta"]["changes"] == [] and isinstance(r["_airbyte_meta"]["sync_id"], int)
            raw_ids.add(r["_airbyte_raw_id"])
        assert [r["_airbyte_data"] for r in records] == _expected_rows(ws)
        for r in records:
            assert list(r["_airbyte_data"]) == list(WU_COLUMNS)
            assert re.fullmatch(r"\d\d:\d\d:\d\d", r["_airbyte_data"]["Time"])
    assert len(raw_ids) == sum(ROW_COUNTS[name])


def test_airbyte_export_is_deterministic_and_keeps_nbsp(tmp_path: Path):
    a = write_airbyte_export(BE_WORKBOOK, tmp_path / "a")
    b = write_airbyte_export(BE_WORKBOOK, tmp_path / "b")
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    text = (tmp_path / "a" / "051024").joinpath(a[4].name).read_text(encoding="utf-8")
    assert "4l.8\u00a0°F" in text  # the malformed value, no-break space kept literally
    first = json.loads(a[0].read_text(encoding="utf-8").splitlines()[0])
    assert first["_airbyte_data"]["Time"] == "00:04:00"
    blank = [json.loads(line) for line in a[0].read_text(encoding="utf-8").splitlines()][38]
    assert blank["_airbyte_data"]["Time"] == "03:14:00" and blank["_airbyte_data"]["Wind"] is None
