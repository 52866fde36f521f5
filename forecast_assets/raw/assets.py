"""Raw assets: one daily-partitioned asset per feed of the registry, built by one factory."""

from collections.abc import Iterator
from datetime import UTC, datetime

import dagster as dg
import pandas as pd

from forecast_assets.daily_assets import daily_multi_asset, stage_spec
from forecast_assets.feeds import FEEDS
from forecast_assets.partitions import partition_day
from forecast_assets.raw.checks import account_partition, log_accounting, raw_check_specs
from forecast_assets.raw.records import RawBatch, SourceUnavailableError
from forecast_assets.staging import StagingZone, replace_landing
from forecast_assets.staging.layout import raw_landed_key, raw_landing, raw_rejects_key


def land_batch(staging: StagingZone, feed: str, partition_key: str, batch: RawBatch) -> dict:
    """Write a day's rows (and rejects, if any) to the staging zone; a summary row for metadata.

    A previous landing of the day whose records differ is kept in the zone's history first
    (``raw/_history/``, see :mod:`forecast_assets.staging.landing`); stale rejects are removed.
    """
    uri = replace_landing(staging, raw_landing(feed, partition_key), batch.rows, batch.rejects)
    return {
        "partition": partition_key,
        "rows": len(batch.rows),
        "rejected": len(batch.rejects),
        "without_rows": ", ".join(batch.notes.get("stations_without_rows", [])),
        "uri": uri,
    }


def _preview(batch: RawBatch, rows: int = 5) -> str:
    if not batch.rows:
        return "_no rows_"
    return pd.DataFrame(batch.rows[:rows]).to_markdown(index=False)


def _day_metadata(reader: object, summary: dict, batch: RawBatch) -> dict:
    """What one day of a raw asset shows in the UI: that day's figures, file and preview."""
    return {
        "dagster/row_count": summary["rows"],
        "rows_rejected": summary["rejected"],
        "stations_without_rows": summary["without_rows"],
        "source": reader.describe(),
        "path": dg.MetadataValue.path(summary["uri"]),
        "preview": dg.MetadataValue.md(_preview(batch)),
    }


def build_raw_asset(feed_key: str) -> dg.AssetsDefinition:
    """The raw asset of one feed of the registry: each partition is that feed's day, landed unchanged."""
    feed = FEEDS[feed_key]
    asset_key = feed.asset_key

    @daily_multi_asset(
        stage_spec(
            asset_key,
            "raw",
            kinds={"python", "json"},
            description=(
                f"{feed.key} observations of one day, landed unchanged (original field names and text) "
                f"as JSONL at `raw/{feed.key}/<DDMMYY>/{feed.landed_file}.jsonl`, with ingestion "
                "lineage; unreadable records go to `raw/_rejects/` with their reason."
            ),
        ),
        raw_check_specs(asset_key),
        required_resource_keys={feed.reader_key, "staging"},
        pool=feed.pool,
    )
    def _raw(context: dg.AssetExecutionContext) -> Iterator[dg.MaterializeResult]:
        reader = getattr(context.resources, feed.reader_key)
        staging: StagingZone = context.resources.staging
        ingested_at = datetime.now(UTC).isoformat(timespec="seconds")
        accounts = []
        for partition_key in context.partition_keys:  # one day in memory at a time
            try:
                batch = reader.fetch_day(partition_day(partition_key), ingested_at)
            except SourceUnavailableError as error:  # InfoClimatError included
                raise dg.Failure(
                    description=f"raw/{feed.key} partition {partition_key}: {error}",
                    metadata={"source": reader.describe(), "partition": partition_key},
                ) from error
            summary = land_batch(staging, feed.key, partition_key, batch)
            context.add_asset_metadata(
                _day_metadata(reader, summary, batch), asset_key=asset_key, partition_key=partition_key
            )
            accounts.append(
                account_partition(
                    staging,
                    partition_key,
                    batch.read_count,
                    raw_landed_key(feed.key, partition_key),
                    raw_rejects_key(feed.key, partition_key),
                )
            )
            context.log.info(
                f"{feed.key} {partition_key}: {len(batch.rows)} rows landed, {len(batch.rejects)} rejected"
            )
            if not batch.rows:
                context.log.warning(f"{feed.key} {partition_key}: the source has ZERO rows for this day")
            elif batch.notes.get("stations_without_rows"):
                context.log.warning(f"{feed.key} {partition_key}: no rows for {batch.notes['stations_without_rows']}")
        # a generator: Dagster takes a returned value for a tuple of every output, checks included
        yield dg.MaterializeResult(asset_key=asset_key)
        for account in accounts:  # after the days' materializations, which they target
            log_accounting(context, asset_key, account)

    return _raw


raw_assets = [build_raw_asset(feed_key) for feed_key in FEEDS]
