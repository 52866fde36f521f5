"""Raw station assets: one daily-partitioned asset per source, built by one factory."""

from collections.abc import Iterator
from datetime import datetime, timezone

import dagster as dg
import pandas as pd

from forecast_assets.ownership import owners_for
from forecast_assets.partitions import RAW_SOURCES, daily_partitions, ddmmyy, partition_day
from forecast_assets.raw.checks import account_partition, log_accounting, raw_check_specs
from forecast_assets.raw.infoclimat import InfoClimatError
from forecast_assets.raw.records import INGESTED_AT, RawBatch, SourceUnavailableError
from forecast_assets.staging import Landing, StagingZone, replace_landing

#: Resource key of each raw source's reader, and the file name its day is landed under.
SOURCE_RESOURCE_KEYS: dict[str, str] = {"BE": "wu_be", "FR": "wu_fr", "InfoClimat": "infoclimat"}
LANDED_FILE_NAMES: dict[str, str] = {"BE": "IICHTE19", "FR": "ILAMAD25", "InfoClimat": "infoclimat"}
#: Concurrency pool of sources behind a rate-limited API.
INFOCLIMAT_POOL = "infoclimat_api"


def raw_asset_key(source: str) -> dg.AssetKey:
    """The asset key of a raw source, e.g. ``raw/BE``."""
    return dg.AssetKey(["raw", source])


def landed_key(source: str, partition_key: str) -> str:
    """Staging key of a source's landed day: ``raw/<source>/<DDMMYY>/<file>.jsonl``."""
    return f"raw/{source}/{ddmmyy(partition_day(partition_key))}/{LANDED_FILE_NAMES[source]}.jsonl"


def rejects_key(source: str, partition_key: str) -> str:
    """Staging key of a source's rejected records for a day: ``raw/_rejects/<source>/<DDMMYY>/…``."""
    return f"raw/_rejects/{source}/{ddmmyy(partition_day(partition_key))}/{LANDED_FILE_NAMES[source]}.jsonl"


def land_batch(staging: StagingZone, source: str, partition_key: str, batch: RawBatch) -> dict:
    """Write a day's rows (and rejects, if any) to the staging zone; a summary row for metadata.

    A previous landing of the day whose records differ is kept in the zone's history first
    (``raw/_history/``, see :mod:`forecast_assets.staging.landing`); stale rejects are removed.
    """
    landing = Landing(landed_key(source, partition_key), rejects_key(source, partition_key), INGESTED_AT,
                      label=f"{source} {partition_key}")
    uri = replace_landing(staging, landing, batch.rows, batch.rejects)
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


def build_raw_asset(source: str) -> dg.AssetsDefinition:
    """The raw asset of one source: each partition is that source's day, landed unchanged."""
    resource_key = SOURCE_RESOURCE_KEYS[source]
    asset_key = raw_asset_key(source)

    @dg.multi_asset(
        name=asset_key.to_python_identifier(),
        specs=[dg.AssetSpec(
            asset_key,
            group_name="raw",
            owners=owners_for("raw"),
            kinds={"python", "json"},
            description=(
                f"{source} observations of one day, landed unchanged (original field names and text) "
                f"as JSONL at `raw/{source}/<DDMMYY>/{LANDED_FILE_NAMES[source]}.jsonl`, with ingestion "
                "lineage; unreadable records go to `raw/_rejects/` with their reason."
            ),
        )],
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        required_resource_keys={resource_key, "staging"},
        pool=INFOCLIMAT_POOL if source == "InfoClimat" else None,
        check_specs=raw_check_specs(asset_key),
        can_subset=True,  # checks are logged per day (forecast_assets.partition_checks), not returned
    )
    def _raw(context: dg.AssetExecutionContext) -> Iterator[dg.MaterializeResult]:
        reader = getattr(context.resources, resource_key)
        staging: StagingZone = context.resources.staging
        ingested_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        accounts = []
        for partition_key in context.partition_keys:  # one day in memory at a time
            try:
                batch = reader.fetch_day(partition_day(partition_key), ingested_at)
            except (SourceUnavailableError, InfoClimatError) as error:
                raise dg.Failure(
                    description=f"raw/{source} partition {partition_key}: {error}",
                    metadata={"source": reader.describe(), "partition": partition_key},
                ) from error
            summary = land_batch(staging, source, partition_key, batch)
            context.add_asset_metadata(_day_metadata(reader, summary, batch), asset_key=asset_key,
                                       partition_key=partition_key)
            accounts.append(account_partition(
                staging, partition_key, batch.read_count,
                landed_key(source, partition_key), rejects_key(source, partition_key),
            ))
            context.log.info(
                f"{source} {partition_key}: {len(batch.rows)} rows landed, {len(batch.rejects)} rejected"
            )
            if not batch.rows:
                context.log.warning(f"{source} {partition_key}: the source has ZERO rows for this day")
            elif batch.notes.get("stations_without_rows"):
                context.log.warning(
                    f"{source} {partition_key}: no rows for {batch.notes['stations_without_rows']}"
                )
        # a generator: Dagster takes a returned value for a tuple of every output, checks included
        yield dg.MaterializeResult(asset_key=asset_key)
        for account in accounts:  # after the days' materializations, which they target
            log_accounting(context, asset_key, account)

    return _raw


raw_assets = [build_raw_asset(source) for source in RAW_SOURCES]
