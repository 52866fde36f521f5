"""N stations x D days of raw data at native cadence, from the project's own sample generator.

Weather Underground stations (5-minute rows) are written as workbooks of one week each with
``generate_wu_workbook`` (so the whole weekly mess plan appears), InfoClimat stations (10-minute
static, hourly synop) as one response per week with ``generate_infoclimat_response``. Every day is
then read by the project's readers (``WundergroundSource.fetch_day``, ``InfoClimatResponseFile.fetch_day``)
and landed with ``land_batch`` into a ``LocalStagingZone``, exactly as the raw assets do.

Generation is not what is benchmarked, so a landed zone is reused when ``root`` already holds the
requested stations and at least the requested days (``landed.json``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Sequence

from forecast_assets.partitions import RAW_SOURCES
from forecast_assets.raw.assets import land_batch, landed_key
from forecast_assets.raw.infoclimat import InfoClimatResponseFile
from forecast_assets.raw.wunderground import WundergroundSource
from forecast_assets.sample_data.generate import generate_infoclimat_response, generate_wu_workbook
from forecast_assets.staging import LocalStagingZone
from forecast_assets.stations import INFOCLIMAT, STATIONS

START = date(2024, 10, 1)
ALL_STATIONS: tuple[str, ...] = tuple(STATIONS)
INGESTED_AT = "2024-10-08T00:00:00+00:00"
SEED = 2024


@dataclass
class Landed:
    """A staging zone holding the raw partitions of ``days`` for ``stations``."""

    root: Path
    stations: list[str]
    days: list[date]
    raw_rows: int

    @property
    def staging(self) -> LocalStagingZone:
        return LocalStagingZone(root=str(self.root / "staging"))

    @property
    def partition_keys(self) -> list[str]:
        return [d.isoformat() for d in self.days]


def day_range(n_days: int, start: date = START) -> list[date]:
    return [start + timedelta(days=i) for i in range(n_days)]


def _weeks(days: Sequence[date]) -> list[list[date]]:
    return [list(days[i:i + 7]) for i in range(0, len(days), 7)]


def _source_of(station_id: str) -> str:
    return STATIONS[station_id].raw_source


def generate_and_land(root: Path, stations: Sequence[str], n_days: int, mess: bool = True) -> Landed:
    """Generate and land ``stations`` x ``n_days`` from 1 Oct 2024 under ``root`` (reused if present)."""
    root = Path(root)
    stations = [s for s in ALL_STATIONS if s in set(stations)]
    marker = root / "landed.json"
    days = day_range(n_days)
    if marker.exists():
        known = json.loads(marker.read_text())
        if known["stations"] == stations and known["days"] >= n_days and known["mess"] == mess:
            return Landed(root, stations, days, _count_rows(root, stations, days))
    staging = LocalStagingZone(root=str(root / "staging"))
    wu = [s for s in stations if STATIONS[s].source != INFOCLIMAT]
    ic = [s for s in stations if STATIONS[s].source == INFOCLIMAT]
    rows = 0
    for week_index, week in enumerate(_weeks(days)):
        sources = {}
        for offset, station_id in enumerate(wu):
            path = root / "sources" / station_id / f"{week[0].isoformat()}.xlsx"
            generate_wu_workbook(path, station_id, week, seed=SEED + 100 * offset + week_index,
                                 short_last_day_rows=None, mess=mess)
            sources[_source_of(station_id)] = WundergroundSource(station_id=station_id, location=str(path))
        if ic:
            path = root / "sources" / "infoclimat" / f"{week[0].isoformat()}.json"
            start = datetime.combine(week[0], time(0, 0), tzinfo=timezone.utc)
            end = datetime.combine(week[-1], time(23, 59), tzinfo=timezone.utc)
            generate_infoclimat_response(path, ic, start, end, seed=SEED + week_index, mess=mess)
            sources["InfoClimat"] = InfoClimatResponseFile(path=str(path), stations=ic)
        for day in week:
            key = day.isoformat()
            for source in RAW_SOURCES:
                reader = sources.get(source)
                if reader is None:  # no selected station of this source: an empty landed day
                    staging.write_jsonl(landed_key(source, key), [])
                    continue
                batch = reader.fetch_day(day, INGESTED_AT)
                land_batch(staging, source, key, batch)
                rows += len(batch.rows)
    marker.write_text(json.dumps({"stations": stations, "days": n_days, "mess": mess}))
    return Landed(root, stations, days, rows)


def _count_rows(root: Path, stations: list[str], days: list[date]) -> int:
    staging = LocalStagingZone(root=str(root / "staging"))
    total = 0
    for day in days:
        for source in RAW_SOURCES:
            data = staging.read_bytes(landed_key(source, day.isoformat()))
            total += data.count(b"\n")
    return total


def raw_rows_of(landed: Landed, partition_key: str) -> dict[str, list[dict]]:
    """The landed raw rows of one partition, per source."""
    return {s: landed.staging.read_jsonl(landed_key(s, partition_key)) for s in RAW_SOURCES}
