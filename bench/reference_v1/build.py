"""``build_day`` of forecast_assets/weather/assets.py at 5aaf639, with its staging keys inlined.

Reads ``raw/<source>/<DDMMYY>/<IICHTE19|ILAMAD25|infoclimat>.jsonl`` and the raw stage's rejects
``raw/_rejects/<source>/<DDMMYY>/<same>.jsonl`` from any ``forecast_assets.staging.StagingZone``.
"""

from collections import Counter
from dataclasses import dataclass

import dagster as dg
import pandas as pd

from bench.reference_v1.checks import UNKNOWN_STATION, Accounting, CheckOutcome, check_partition
from bench.reference_v1.partitions import RAW_SOURCES, daily_partitions, ddmmyy, partition_day
from bench.reference_v1.quality import build_quality_report
from bench.reference_v1.schema import COLUMNS
from bench.reference_v1.stations import STATIONS, stations_of
from bench.reference_v1.transform import (
    Transformed,
    deduplicate,
    measured_columns,
    transform_infoclimat,
    transform_wunderground,
)

LANDED_FILE_NAMES: dict[str, str] = {"BE": "IICHTE19", "FR": "ILAMAD25", "InfoClimat": "infoclimat"}
#: Partition D of weather_data reads partition D of every raw source.
RAW_PARTITION_MAPPING = dg.IdentityPartitionMapping()
MEASURED = {station_id: measured_columns(station_id) for station_id in STATIONS}


def landed_key(source: str, partition_key: str) -> str:
    return f"raw/{source}/{ddmmyy(partition_day(partition_key))}/{LANDED_FILE_NAMES[source]}.jsonl"


def raw_rejects_key(source: str, partition_key: str) -> str:
    return f"raw/_rejects/{source}/{ddmmyy(partition_day(partition_key))}/{LANDED_FILE_NAMES[source]}.jsonl"


def upstream_partition_keys(partition_key: str) -> list[str]:
    """The raw partitions that feed one weather_data partition, per the partition mapping."""
    result = RAW_PARTITION_MAPPING.get_upstream_mapped_partitions_result_for_partitions(
        daily_partitions.subset_with_partition_keys([partition_key]), daily_partitions, daily_partitions
    )
    return sorted(result.partitions_subset.get_partition_keys())


def _station_key(station_id: object) -> str:
    return station_id if station_id in STATIONS else UNKNOWN_STATION


def _transform_source(staging, source: str, raw_partition: str) -> tuple[Transformed, Counter]:
    """One raw partition through its source's transform; the raw rows it held, per station."""
    rows = staging.read_jsonl(landed_key(source, raw_partition))
    if source == "InfoClimat":
        return transform_infoclimat(rows), Counter(_station_key(r.get("id_station")) for r in rows)
    [station] = stations_of(source)
    day = partition_day(raw_partition)
    return transform_wunderground(rows, station.station_id, day), Counter({station.station_id: len(rows)})


def _raw_rejected(staging, source: str, raw_partition: str) -> Counter:
    """Records the raw stage rejected for one partition of a source, per station."""
    try:
        rejects = staging.read_jsonl(raw_rejects_key(source, raw_partition))
    except FileNotFoundError:
        return Counter()
    stations = stations_of(source)
    if len(stations) == 1:  # a single-station feed: every record is that station's
        return Counter({stations[0].station_id: len(rejects)})
    return Counter(
        _station_key(r["record"].get("id_station")) if isinstance(r.get("record"), dict) else UNKNOWN_STATION
        for r in rejects
    )


@dataclass
class Day:
    """One weather_data partition, built."""

    frame: pd.DataFrame
    rejects: list[dict]
    duplicates: pd.DataFrame
    accounting: Accounting
    outcomes: list[CheckOutcome]
    report: dict


def build_day(staging, partition_key: str) -> Day:
    """Read, convert, de-duplicate and check one day; every raw row is output, rejected or a duplicate."""
    frames, rejects, raw_rows, raw_rejected = [], [], Counter(), Counter()
    for source in RAW_SOURCES:
        for raw_partition in upstream_partition_keys(partition_key):
            transformed, read = _transform_source(staging, source, raw_partition)
            frames.append(transformed.frame)
            rejects.extend(transformed.rejects)
            raw_rows.update(read)
            raw_rejected.update(_raw_rejected(staging, source, raw_partition))
    combined = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
    frame, duplicates = deduplicate(combined)
    accounting = Accounting(
        raw_rows=dict(raw_rows),
        output_rows=dict(Counter(frame["station_id"])),
        rejected=dict(Counter(_station_key(r.get("station_id")) for r in rejects)),
        duplicates_dropped=dict(Counter(duplicates["station_id"])),
        raw_rejected=dict(raw_rejected),
    )
    outcomes = check_partition(partition_key, frame, accounting, MEASURED)
    report = build_quality_report(partition_key, frame, accounting, rejects, duplicates, outcomes)
    return Day(frame, rejects, duplicates, accounting, outcomes, report)
