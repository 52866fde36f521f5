"""The MongoDB collection the data scientists query, loaded from weather_data one day at a time."""

from collections.abc import Iterator

import dagster as dg
import pandas as pd
from pydantic import Field

from forecast_assets.daily_assets import daily_multi_asset, stage_spec
from forecast_assets.feeds import FEEDS, day_windows
from forecast_assets.mongo import checks
from forecast_assets.mongo.collection_setup import MEASUREMENTS, ensure_collections
from forecast_assets.mongo.documents import measurements_column_schema_metadata
from forecast_assets.mongo.resources import MongoResource
from forecast_assets.mongo.sync import DEFAULT_BATCH_SIZE, ShrinkPolicy, sync_windows
from forecast_assets.partition_checks import failed_on_day
from forecast_assets.raw.checks import RAW_ACCOUNTING
from forecast_assets.staging import StagingZone
from forecast_assets.staging.layout import dataset_key, quality_key
from forecast_assets.stations import STATIONS
from forecast_assets.weather.assets import WEATHER_DATA
from forecast_assets.weather.check_specs import failed_blocking_checks
from forecast_assets.weather.dataset import from_jsonl

WEATHER_MEASUREMENTS = dg.AssetKey(["mongodb", MEASUREMENTS])


class MongoLoadConfig(dg.Config):
    """Tuning of the load and of its checks, and the override that lets a load delete documents."""

    batch_size: int = DEFAULT_BATCH_SIZE
    latency_samples: int = 30
    latency_p95_warn_ms: float = 100.0
    max_deleted_share: float = Field(
        default=0.0,
        description="Share of a station-day's stored documents a load may delete (0: none). A "
        "station-day whose load would delete more is refused: its documents stay.",
    )
    allow_deletions: list[str] = Field(
        default=[],
        description="Station-days whose load may delete documents without limit, as "
        "`STATION@YYYY-MM-DD`; `*` stands for any station or any day (`ILAMAD25@*`, "
        "`*@2024-10-05`). For intended deletions only: see docs/faults.md.",
    )


def shrink_policy(config: MongoLoadConfig, partition_key: str) -> ShrinkPolicy:
    """The day's policy: the configured share, and the stations ``allow_deletions`` names for it."""
    allowed = set()
    for entry in config.allow_deletions:
        station, _, day = entry.partition("@")
        if not day:
            raise dg.Failure(f"allow_deletions entry {entry!r} is not STATION@YYYY-MM-DD (`*` for any)")
        if day in ("*", partition_key):
            allowed |= set(STATIONS) if station == "*" else {station}
    return ShrinkPolicy(max_deleted_share=config.max_deleted_share, allowed=frozenset(allowed))


def load_day(
    mongo: MongoResource, frame: pd.DataFrame, partition_key: str, batch_size: int, policy: ShrinkPolicy
) -> dict:
    """Make every station's window of the day hold exactly the day's rows, unless ``policy`` refuses
    a window's deletions; the load's counts."""
    collection = mongo.get_database()[MEASUREMENTS]
    windows = day_windows(partition_key)
    return mongo.with_retries(
        lambda: sync_windows(collection, frame, windows, batch_size, policy), f"load {partition_key}"
    )


#: The raw checks that keep a day out of MongoDB when they failed on it.
RAW_DAY_GATES = [dg.AssetCheckKey(feed.asset_key, RAW_ACCOUNTING) for feed in FEEDS.values()]


def blocked_checks(instance: dg.DagsterInstance, staging: StagingZone, partition_key: str) -> list[str]:
    """Why a day must not be loaded: the blocking checks it failed upstream (empty: load it).

    The raw stage's from the instance, weather_data's from the day's quality report: both are the
    latest for the day, so a run that selects only this asset does not load a day that was blocked
    in an earlier run.
    """
    failed = failed_on_day(instance, RAW_DAY_GATES, partition_key)
    try:
        report = staging.read_json(quality_key(partition_key))
    except FileNotFoundError:
        return [*failed, "no quality report: materialize weather_data for this day"]
    return [*failed, *(f"weather_data {name}" for name in failed_blocking_checks(report["checks"]))]


def _load_metadata(partition_key: str, rows: int, counts: dict, kept: dict, database: str) -> dict:
    seconds = counts["seconds"]
    written = counts["inserted"] + counts["updated"]
    return {
        "dagster/row_count": rows,
        **{k: counts[k] for k in ("inserted", "updated", "unchanged", "deleted", "write_errors")},
        "write_error_samples": dg.MetadataValue.json(counts["error_samples"]),
        "station_days_refused": dg.MetadataValue.json([f"{station}@{partition_key}" for station in kept]),
        "load_seconds": round(seconds, 3),
        "docs_per_s": round(rows / seconds, 1) if seconds else 0.0,
        "written_docs_per_s": round(written / seconds, 1) if seconds and written else 0.0,
        "database": database,
    }


@daily_multi_asset(
    stage_spec(
        WEATHER_MEASUREMENTS,
        "mongodb",
        metadata=measurements_column_schema_metadata(),
        deps=[WEATHER_DATA],
        kinds={"mongodb"},
        description=(
            f"`{MEASUREMENTS}`: one document per (station_id, timestamp), the weather_data contract as BSON "
            "(UTC dates, doubles; measures a station did not report are omitted). Unique index on "
            "(station_id, timestamp), index on (timestamp, station_id), a $jsonSchema validator derived "
            "from the Pandera model, and a `stations` collection with 2dsphere locations. A day whose "
            "weather_data failed a blocking check is not loaded (and not materialized): the others are."
        ),
    ),
    checks.mongo_check_specs(WEATHER_MEASUREMENTS),
)
def weather_measurements(
    context: dg.AssetExecutionContext, config: MongoLoadConfig, staging: StagingZone, mongo: MongoResource
) -> Iterator[dg.AssetMaterialization]:
    """Load each day of the range that passed its blocking checks; only what differs is written.

    Each loaded day is materialized with its own figures and checks; a blocked day is not
    materialized, and its ``weather_data_passed`` check fails naming why.
    """
    database = mongo.get_database()
    mongo.with_retries(lambda: ensure_collections(database), "create collections and indexes")
    collection = database[MEASUREMENTS]
    where = f"{mongo.redacted_uri()} / {mongo.database}"
    for partition_key in context.partition_keys:
        blocked = blocked_checks(context.instance, staging, partition_key)
        if blocked:
            checks.log_gate(context, WEATHER_MEASUREMENTS, partition_key, blocked)
            context.log.error(f"{MEASUREMENTS} {partition_key}: not loaded, failed upstream: {', '.join(blocked)}")
            continue
        frame = from_jsonl(staging.read_bytes(dataset_key(partition_key)))
        counts = load_day(mongo, frame, partition_key, config.batch_size, shrink_policy(config, partition_key))
        refusals = [{"partition": partition_key, **r} for r in counts.pop("refused")]
        kept = {r["station_id"]: r["stored"] for r in refusals}
        for r in refusals:
            context.log.error(
                f"{MEASUREMENTS} {partition_key}: {r['station_id']} not loaded, its "
                f"{r['stored']} stored document(s) kept: the delivery {r['reason']}"
            )
        if counts["write_errors"]:
            context.log.error(f"{MEASUREMENTS} {partition_key}: {counts['write_errors']} document(s) refused")
        reconciliation = mongo.with_retries(
            lambda: checks.reconcile(collection, frame, partition_key, kept), f"reconcile {partition_key}"
        )
        mismatches = mongo.with_retries(
            lambda: checks.round_trip(collection, frame[~frame["station_id"].isin(kept)], partition_key),
            f"read back {partition_key}",
        )
        latency = mongo.with_retries(
            lambda: checks.read_latency(collection, [partition_key], config.latency_samples),
            f"measure read latency {partition_key}",
        )
        yield dg.AssetMaterialization(  # yielded, not logged: stored now, so the checks below target it
            asset_key=WEATHER_MEASUREMENTS,
            partition=partition_key,
            metadata=_load_metadata(partition_key, len(frame), counts, kept, where),
        )
        checks.log_gate(context, WEATHER_MEASUREMENTS, partition_key, blocked)
        checks.log_day_results(
            context,
            WEATHER_MEASUREMENTS,
            partition_key,
            reconciliation,
            mismatches,
            latency,
            config.latency_p95_warn_ms,
            refusals,
        )
        context.log.info(f"{MEASUREMENTS} {partition_key}: {counts}")
    # Loaded days are materialized by the events above, one per day; a blocked day is not.
