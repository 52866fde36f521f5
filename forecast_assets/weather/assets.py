"""The weather_data asset: each day's raw partitions unified into the contract, checked and reported."""

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import dagster as dg
import pandas as pd

from forecast_assets.daily_assets import daily_multi_asset, stage_spec
from forecast_assets.feeds import FEEDS, Feed
from forecast_assets.partitions import daily_partitions, partition_day
from forecast_assets.staging import StagingZone
from forecast_assets.staging.layout import (
    dataset_key,
    quality_key,
    raw_landed_key,
    raw_rejects_key,
    transform_rejects_key,
)
from forecast_assets.stations import STATIONS
from forecast_assets.weather.accounting import UNKNOWN_STATION, Accounting
from forecast_assets.weather.check_specs import CheckOutcome, weather_check_specs
from forecast_assets.weather.checks import check_partition, log_outcomes
from forecast_assets.weather.column_schema import column_schema_metadata
from forecast_assets.weather.convert import Transformed
from forecast_assets.weather.dataset import to_jsonl
from forecast_assets.weather.landed import LandedColumns
from forecast_assets.weather.quality import build_quality_report, report_markdown, temperature_plot_markdown
from forecast_assets.weather.schema import COLUMNS
from forecast_assets.weather.transform import TRANSFORMS, deduplicate, measured_columns

WEATHER_DATA = dg.AssetKey("weather_data")
#: Partition D of weather_data reads partition D of every raw feed.
RAW_PARTITION_MAPPING = dg.IdentityPartitionMapping()
MEASURED = {station_id: measured_columns(station_id) for station_id in STATIONS}


def upstream_partition_keys(partition_key: str) -> list[str]:
    """The raw partitions that feed one weather_data partition, per the partition mapping."""
    result = RAW_PARTITION_MAPPING.get_upstream_mapped_partitions_result_for_partitions(
        daily_partitions.subset_with_partition_keys([partition_key]), daily_partitions, daily_partitions
    )
    return sorted(result.partitions_subset.get_partition_keys())


def _station_key(station_id: object) -> str:
    return station_id if station_id in STATIONS else UNKNOWN_STATION


def _stations_of_records(feed: Feed, records: list[object]) -> Counter:
    """Records of a feed per station: a single-station feed's are all its station's; otherwise the
    provider's station field says (records without one count as ``unknown``)."""
    if len(feed.stations) == 1:
        return Counter({feed.station_ids[0]: len(records)})
    field = TRANSFORMS[feed.provider].station_field
    return Counter(_station_key(r.get(field)) if isinstance(r, dict) else UNKNOWN_STATION for r in records)


def _transform_feed(staging: StagingZone, feed: Feed, raw_partition: str) -> tuple[Transformed, Counter]:
    """One raw partition through its provider's transform (read as columns); the raw rows it held, per station."""
    provider = TRANSFORMS[feed.provider]
    landed = LandedColumns.read(staging.read_bytes(raw_landed_key(feed.key, raw_partition)), provider.read_fields)
    transformed = provider.transform(landed, feed, partition_day(raw_partition))
    read = Counter()
    for station_id, count in transformed.stations_read.items():
        read[UNKNOWN_STATION if station_id is None else station_id] += count
    return transformed, read


def _raw_rejected(staging: StagingZone, feed: Feed, raw_partition: str) -> Counter:
    """Records the raw stage rejected for one partition of a feed, per station."""
    try:
        rejects = staging.read_jsonl(raw_rejects_key(feed.key, raw_partition))
    except FileNotFoundError:
        return Counter()
    return _stations_of_records(feed, [r.get("record") for r in rejects])


@dataclass
class Day:
    """One weather_data partition, built."""

    frame: pd.DataFrame
    rejects: list[dict]
    duplicates: pd.DataFrame
    accounting: Accounting
    outcomes: list[CheckOutcome]
    report: dict


def build_day(staging: StagingZone, partition_key: str) -> Day:
    """Read, convert, de-duplicate and check one day; every raw row is output, rejected or a duplicate."""
    frames, rejects, raw_rows, raw_rejected = [], [], Counter(), Counter()
    for feed in FEEDS.values():
        for raw_partition in upstream_partition_keys(partition_key):
            transformed, read = _transform_feed(staging, feed, raw_partition)
            frames.append(transformed.frame)
            rejects.extend(transformed.rejects)
            raw_rows.update(read)
            raw_rejected.update(_raw_rejected(staging, feed, raw_partition))
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


def write_day(staging: StagingZone, partition_key: str, day: Day) -> str:
    """Publish a day's dataset, quality report and rejects to the staging zone; the dataset's URI."""
    uri = staging.write_bytes(dataset_key(partition_key), to_jsonl(day.frame))
    staging.write_json(quality_key(partition_key), day.report)
    if day.rejects:
        staging.write_jsonl(transform_rejects_key(partition_key), day.rejects)
    elif staging.exists(transform_rejects_key(partition_key)):
        staging.delete(transform_rejects_key(partition_key))
    return uri


def day_metadata(staging: StagingZone, partition_key: str, day: Day, uri: str) -> dict:
    """What one day of weather_data shows in the UI: that day's counts, files, report and chart."""
    accounting = day.accounting
    per_station = [
        {
            "station_id": station,
            "raw": accounting.raw_rows.get(station, 0),
            "output": accounting.output_rows.get(station, 0),
            "rejected": accounting.rejected.get(station, 0),
            "raw_rejected": accounting.raw_rejected.get(station, 0),
            "duplicates": accounting.duplicates_dropped.get(station, 0),
        }
        for station in sorted(set(accounting.raw_rows) | set(accounting.raw_rejected) | set(STATIONS))
    ]
    return {
        "dagster/row_count": len(day.frame),
        "rows_rejected": len(day.rejects),
        "duplicates_dropped": len(day.duplicates),
        "path": dg.MetadataValue.path(uri),
        "quality_report": dg.MetadataValue.path(staging.uri(quality_key(partition_key))),
        "rows_per_station": dg.MetadataValue.md(pd.DataFrame(per_station).to_markdown(index=False)),
        "preview": dg.MetadataValue.md(day.frame.head(5).to_markdown(index=False)),
        "quality": dg.MetadataValue.md(report_markdown(day.report)),
        "temperature": dg.MetadataValue.md(temperature_plot_markdown(day.frame)),
    }


@daily_multi_asset(
    stage_spec(
        WEATHER_DATA,
        "weather",
        metadata=column_schema_metadata(),
        deps=[dg.AssetDep(feed.asset_key, partition_mapping=RAW_PARTITION_MAPPING) for feed in FEEDS.values()],
        kinds={"pandas", "pandera"},
        description=(
            "One row per (station_id, timestamp) for every station, in metric units with UTC timestamps, "
            "de-duplicated; partition D holds the WU sheets of local day D and InfoClimat's UTC day D. "
            "Written to `Transform/<DDMMYY>/weather_data.jsonl` with its `weather_data.quality.json`."
        ),
    ),
    weather_check_specs(WEATHER_DATA),
)
def weather_data(context: dg.AssetExecutionContext, staging: StagingZone) -> Iterator[dg.MaterializeResult]:
    """The data scientists' dataset, one day at a time (bounded memory across a backfill range)."""
    outcomes = {}
    for partition_key in context.partition_keys:
        day = build_day(staging, partition_key)
        uri = write_day(staging, partition_key, day)
        context.add_asset_metadata(
            day_metadata(staging, partition_key, day, uri), asset_key=WEATHER_DATA, partition_key=partition_key
        )
        outcomes[partition_key] = day.outcomes
        context.log.info(
            f"weather_data {partition_key}: {len(day.frame)} rows, {len(day.rejects)} rejected, "
            f"{len(day.duplicates)} duplicates dropped"
        )
    yield dg.MaterializeResult(asset_key=WEATHER_DATA)
    for partition_key, day_outcomes in outcomes.items():  # after the days' materializations, which they target
        log_outcomes(context, WEATHER_DATA, partition_key, day_outcomes)
