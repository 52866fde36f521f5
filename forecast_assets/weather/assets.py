"""The weather_data asset: each day's raw partitions unified into the contract, checked and reported."""

from collections.abc import Iterator

import dagster as dg
import pandas as pd

from forecast_assets.daily_assets import daily_multi_asset, stage_spec
from forecast_assets.feeds import FEEDS
from forecast_assets.staging import StagingZone
from forecast_assets.staging.layout import dataset_key, quality_key, transform_rejects_key
from forecast_assets.stations import STATIONS
from forecast_assets.weather.build import (
    RAW_PARTITION_MAPPING,
    Day,
    build_day,
    build_days,
    built_days,
    upstream_partition_keys,
)
from forecast_assets.weather.check_specs import weather_check_specs
from forecast_assets.weather.checks import log_outcomes
from forecast_assets.weather.column_schema import column_schema_metadata
from forecast_assets.weather.dataset import to_jsonl
from forecast_assets.weather.quality import report_markdown, temperature_plot_markdown
from forecast_assets.weather.transform import deduplicate

WEATHER_DATA = dg.AssetKey("weather_data")
__all__ = [
    "RAW_PARTITION_MAPPING",
    "Day",
    "build_day",
    "build_days",
    "built_days",
    "upstream_partition_keys",
    "weather_data",
]


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
    """The data scientists' dataset, built a chunk of days at a time (bounded memory across a backfill range),
    written and recorded per day."""
    outcomes = {}
    for partition_key, day in built_days(staging, context.partition_keys, deduplicate=deduplicate):
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
