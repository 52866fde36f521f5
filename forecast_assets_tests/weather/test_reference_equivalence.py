"""The weather path gives what it gave at 5aaf639 (frozen in ``bench/reference_v1``) on the same landed files.

Compared per day: the contract frame (rows, order, dtypes, nulls, values within 0.01), the rejects
(reasons, station, record, lineage), the duplicates dropped and the accounting. Check outcomes and
the quality report are compared by the checks' own tests. Data: the shipped sample week, generated
weeks around the DST changes (autumn 2024-10-27 and 2025-10-26, spring 2025-03-30), hand-written
files holding what the landing format allows but the readers rarely write (numbers, booleans,
objects, NaN, blank lines, unknown stations), and (integration) a generated year.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pandas as pd
import pytest

from bench.reference_v1 import build_day as reference_build_day
from forecast_assets.raw.assets import land_batch
from forecast_assets.raw.infoclimat import InfoClimatResponseFile
from forecast_assets.raw.wunderground import WundergroundSource
from forecast_assets.sample_data import BE_WORKBOOK, FR_WORKBOOK, INFOCLIMAT_RESPONSE
from forecast_assets.sample_data.generate import generate_infoclimat_response, generate_wu_workbook
from forecast_assets.staging import LocalStagingZone
from forecast_assets.staging.layout import raw_landed_key, raw_rejects_key
from forecast_assets.weather.assets import build_day

INGESTED_AT = "2024-10-08T00:00:00+00:00"
WU_FEEDS = {"IICHTE19": "BE", "ILAMAD25": "FR"}
INFOCLIMAT_IDS = ["00052", "000R5", "07015", "STATIC0010"]
#: Autumn (the 02:00-03:00 hour twice) and spring (02:00-03:00 skipped) changes inside the partitions'
#: range (it starts 2024-10-01: a day before it has no raw partition to read).
DST_DAYS = ["2024-10-27", "2025-03-30", "2025-10-26"]


def assert_same_day(staging: LocalStagingZone, partition_key: str) -> None:
    new, old = build_day(staging, partition_key), reference_build_day(staging, partition_key)
    pd.testing.assert_frame_equal(
        new.frame, old.frame, check_exact=False, atol=0.01, rtol=0, obj=f"frame of {partition_key}"
    )
    assert new.rejects == old.rejects, partition_key
    pd.testing.assert_frame_equal(
        new.duplicates.reset_index(drop=True),
        old.duplicates.reset_index(drop=True),
        check_exact=False,
        atol=0.01,
        rtol=0,
        obj=f"duplicates of {partition_key}",
    )
    assert asdict(new.accounting) == asdict(old.accounting), partition_key


def land_days(root: Path, days: list[date], seed: int = 2024) -> LocalStagingZone:
    """Generate (with the weekly mess plan) and land the 6 stations for ``days``, one week per file."""
    staging = LocalStagingZone(root=str(root / "staging"))
    for week_index in range(0, len(days), 7):
        week = days[week_index : week_index + 7]
        readers = {}
        for offset, (station_id, feed) in enumerate(WU_FEEDS.items()):
            path = root / "sources" / station_id / f"{week[0].isoformat()}.xlsx"
            generate_wu_workbook(
                path, station_id, week, seed=seed + 100 * offset + week_index, short_last_day_rows=None, mess=True
            )
            readers[feed] = WundergroundSource(station_id=station_id, location=str(path))
        path = root / "sources" / "infoclimat" / f"{week[0].isoformat()}.json"
        generate_infoclimat_response(
            path,
            INFOCLIMAT_IDS,
            datetime.combine(week[0], time(0, 0), tzinfo=UTC),
            datetime.combine(week[-1], time(23, 59), tzinfo=UTC),
            seed=seed + week_index,
            mess=True,
        )
        readers["InfoClimat"] = InfoClimatResponseFile(path=str(path), stations=INFOCLIMAT_IDS)
        for day in week:
            for feed, reader in readers.items():
                land_batch(staging, feed, day.isoformat(), reader.fetch_day(day, INGESTED_AT))
    return staging


def week_around(day: str) -> list[date]:
    middle = date.fromisoformat(day)
    return [middle + timedelta(days=i) for i in range(-3, 4)]


@pytest.fixture(scope="module")
def sample_week(tmp_path_factory) -> LocalStagingZone:
    staging = LocalStagingZone(root=str(tmp_path_factory.mktemp("sample") / "staging"))
    readers = {
        "BE": WundergroundSource(station_id="IICHTE19", location=str(BE_WORKBOOK)),
        "FR": WundergroundSource(station_id="ILAMAD25", location=str(FR_WORKBOOK)),
        "InfoClimat": InfoClimatResponseFile(path=str(INFOCLIMAT_RESPONSE), stations=INFOCLIMAT_IDS),
    }
    for index in range(7):
        day = date(2024, 10, 1) + timedelta(days=index)
        for feed, reader in readers.items():
            land_batch(staging, feed, day.isoformat(), reader.fetch_day(day, INGESTED_AT))
    return staging


@pytest.fixture(scope="module")
def dst_weeks(tmp_path_factory) -> LocalStagingZone:
    root = tmp_path_factory.mktemp("dst")
    days = sorted({d for day in DST_DAYS for d in week_around(day)})
    staging = LocalStagingZone(root=str(root / "staging"))
    for day in DST_DAYS:  # one generation per week: the weeks do not overlap
        land_days_into(root, staging, week_around(day))
    assert len(days) == 21
    return staging


def land_days_into(root: Path, staging: LocalStagingZone, days: list[date]) -> None:
    landed = land_days(root / days[0].isoformat(), days)
    for day in days:
        for feed in ("BE", "FR", "InfoClimat"):
            for key in (raw_landed_key(feed, day.isoformat()), raw_rejects_key(feed, day.isoformat())):
                if landed.exists(key):
                    staging.write_bytes(key, landed.read_bytes(key))


@pytest.mark.parametrize("day", [f"2024-10-0{d}" for d in range(1, 8)])
def test_sample_week_as_at_5aaf639(sample_week, day):
    assert_same_day(sample_week, day)


@pytest.mark.parametrize("day", sorted({d.isoformat() for day in DST_DAYS for d in week_around(day)}))
def test_generated_dst_weeks_as_at_5aaf639(dst_weeks, day):
    assert_same_day(dst_weeks, day)


def lineage(position: int, feed: str) -> dict:
    return {
        "_source_uri": f"file:///sources/{feed}.xlsx",
        "_source_position": f"row {position}",
        "_ingested_at": INGESTED_AT,
    }


def wu_row(clock, **values) -> dict:
    row = {
        "Time": clock,
        "Temperature": "51.2\u00a0°F",
        "Dew Point": "48.0\u00a0°F",
        "Humidity": "89\u00a0%",
        "Wind": "WSW",
        "Speed": "3.1\u00a0mph",
        "Gust": "5.2\u00a0mph",
        "Pressure": "29.95\u00a0in",
        "Precip. Rate.": "0.00\u00a0in",
        "Precip. Accum.": "0.01\u00a0in",
        "UV": 0,
        "Solar": "0.0\u00a0w/m²",
    }
    row.update(values)
    return row


def ic_row(station, stamp, **values) -> dict:
    row = {
        "id_station": station,
        "dh_utc": stamp,
        "temperature": "11.4",
        "pression": "1016.2",
        "humidite": "88",
        "point_de_rosee": "9.5",
        "visibilite": None,
        "vent_moyen": "7.2",
        "vent_rafales": "12.6",
        "vent_direction": "230",
        "pluie_1h": "0",
        "pluie_3h": "0.2",
        "neige_au_sol": None,
        "nebulosite": "",
        "temps_omm": None,
    }
    row.update(values)
    return row


def write_lines(staging: LocalStagingZone, key: str, rows: list, feed: str, blank_after: int | None = None) -> None:
    lines = []
    for position, row in enumerate(rows):
        record = {**row, **lineage(position, feed)} if isinstance(row, dict) else row
        lines.append(record if isinstance(record, str) else json.dumps(record, ensure_ascii=False))
        if position == blank_after:
            lines.append("   ")
    staging.write_bytes(key, ("\n".join(lines) + "\n").encode("utf-8"))


#: WU rows of the autumn DST day: the 02:xx hour twice (summer then winter time), odd JSON types.
ODD_WU_AUTUMN = [
    wu_row("01:54:00"),
    wu_row("02:14:00", UV=3),
    wu_row("02:54:00", UV="--"),
    wu_row("02:14:00", UV=2.5),
    wu_row("02:14:00"),  # the same wall time in winter time: a duplicate
    wu_row(0.5),
    wu_row(True),
    wu_row(None),
    wu_row("25:00:00"),
    wu_row("12:00 PM", Temperature=12),
    wu_row("12:05:00", UV=True),
    wu_row("12:10:00", UV=30),
    wu_row("12:15:00", Wind=270),
    wu_row("12:20:00", Wind="Calm"),
    wu_row("12:25:00", Wind="270°"),
    wu_row("12:30:00", Temperature="-99.0\u00a0°F"),
    wu_row("12:35:00", Solar="12\u2028x w/m²"),
    {k: v for k, v in wu_row("12:40:00").items() if k != "Solar"},
    wu_row("12:45:00", Speed="3,1 mph"),
    wu_row("12:50:00", Gust="5 knots"),
    wu_row("12:55:00", UV=12345678901234567890),
    wu_row("13:00:00", Temperature="1e400 °F"),
    wu_row("13:05:00", UV=1e-7, Humidity="89.0 %"),
]
ODD_WU_SPRING = [wu_row("01:59:00"), wu_row("02:00:00"), wu_row("02:30:00"), wu_row("03:00:00"), wu_row("0:05 am")]
ODD_IC = [
    ic_row("00052", "2024-10-27 00:00:00"),
    ic_row("00052", "2024-10-27 00:00:00", temperature=None),
    ic_row("00052", "2024-10-27 00:10:00", temperature=12.5, pression=1016),
    ic_row(52, "2024-10-27 00:20:00"),
    ic_row("BOGUS", "2024-10-27 00:20:00"),
    ic_row(None, "2024-10-27 00:20:00"),
    ic_row("000R5", 1730000000),
    ic_row("000R5", "2024-10-27 01:00"),
    ic_row("000R5", " 2024-10-27 01:00:00 "),
    ic_row("07015", "2024-10-27 01:00:00", temps_omm="3.5", nebulosite="8", visibilite="12000"),
    ic_row("07015", "2024-10-27 02:00:00", temps_omm="61", pression="2000"),
    ic_row("07015", "2024-10-27 03:00:00", temps_omm=True, humidite=False),
    ic_row("STATIC0010", "2024-10-27 00:00:00", pluie_3h="0.2 in", temperature="11.4 K"),
    {k: v for k, v in ic_row("STATIC0010", "2024-10-27 00:10:00").items() if k != "id_station"},
    ic_row("STATIC0010", "2024-10-27 00:10:00", temperature="NaN"),
    ic_row("00052", "2024-10-27 00:00:00"),
]


@pytest.fixture(scope="module")
def odd_files(tmp_path_factory) -> LocalStagingZone:
    """Landed files written by hand: what JSON lines may hold that the readers seldom land."""
    staging = LocalStagingZone(root=str(tmp_path_factory.mktemp("odd") / "staging"))
    autumn, spring, nan_day = "2024-10-27", "2025-03-30", "2024-10-28"
    write_lines(staging, raw_landed_key("BE", autumn), ODD_WU_AUTUMN, "BE", blank_after=3)
    write_lines(staging, raw_landed_key("FR", autumn), ODD_WU_SPRING[:1], "FR")
    write_lines(staging, raw_landed_key("InfoClimat", autumn), ODD_IC, "InfoClimat", blank_after=0)
    write_lines(
        staging,
        raw_rejects_key("InfoClimat", autumn),
        [
            {"reason": "x", "record": {"id_station": "07015"}},
            {"reason": "y", "record": "not a dict"},
            {"reason": "z", "record": {"id_station": 52}},
        ],
        "InfoClimat",
    )
    write_lines(staging, raw_rejects_key("BE", autumn), [{"reason": "x", "record": "a"}], "BE")
    write_lines(staging, raw_landed_key("BE", spring), ODD_WU_SPRING, "BE")
    write_lines(staging, raw_landed_key("FR", spring), [], "FR")
    staging.write_bytes(raw_landed_key("InfoClimat", spring), b"")
    # NaN and Infinity: Python's json writes and reads them, stricter JSON readers do not
    staging.write_bytes(
        raw_landed_key("BE", nan_day),
        (
            json.dumps({**wu_row("10:00:00", UV=float("nan")), **lineage(0, "BE")})
            + "\n"
            + json.dumps({**wu_row("10:05:00", UV=float("inf")), **lineage(1, "BE")})
            + "\n"
        ).encode(),
    )
    staging.write_bytes(raw_landed_key("FR", nan_day), b"")
    write_lines(
        staging,
        raw_landed_key("InfoClimat", nan_day),
        [ic_row("00052", "2024-10-28 00:00:00", temperature=float("nan"))],
        "InfoClimat",
    )
    return staging


@pytest.mark.parametrize("day", ["2024-10-27", "2025-03-30", "2024-10-28"])
def test_odd_landed_values_as_at_5aaf639(odd_files, day):
    assert_same_day(odd_files, day)


def test_odd_files_exercise_every_outcome(odd_files):
    """The hand-written days are not vacuous: rows kept, rejected, de-duplicated and counted."""
    day = reference_build_day(odd_files, "2024-10-27")
    assert len(day.frame) > 5 and len(day.rejects) > 15 and len(day.duplicates) >= 2
    assert day.accounting.raw_rejected == {"IICHTE19": 1, "07015": 1, "unknown": 2}


@pytest.mark.year
def test_generated_year_as_at_5aaf639(tmp_path):
    """A generated year, every day (> 10 min here: `make test-year`, not in the default run)."""
    days = [date(2024, 10, 1) + timedelta(days=i) for i in range(365)]
    staging = land_days(tmp_path, days)
    for day in days:
        assert_same_day(staging, day.isoformat())
