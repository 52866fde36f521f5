"""The MongoDB collection the data scientists query, loaded from weather_data one day at a time."""

import dagster as dg
import pandas as pd
from pydantic import Field

from forecast_assets.mongo import checks
from forecast_assets.mongo.load import MEASUREMENTS, ensure_collections
from forecast_assets.mongo.resources import MongoResource
from forecast_assets.mongo.sync import DEFAULT_BATCH_SIZE, ShrinkPolicy, sync_windows
from forecast_assets.partitions import daily_partitions
from forecast_assets.staging import StagingZone
from forecast_assets.stations import STATIONS
from forecast_assets.weather.assets import WEATHER_DATA, dataset_key, quality_key
from forecast_assets.weather.checks import failed_blocking_checks, station_window
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


def load_day(mongo: MongoResource, frame: pd.DataFrame, partition_key: str, batch_size: int,
             policy: ShrinkPolicy) -> dict:
    """Make every station's window of the day hold exactly the day's rows, unless ``policy`` refuses
    a window's deletions; the load's counts."""
    collection = mongo.get_database()[MEASUREMENTS]
    windows = {s.station_id: station_window(s, partition_key) for s in STATIONS.values()}
    return mongo.with_retries(
        lambda: sync_windows(collection, frame, windows, batch_size, policy), f"load {partition_key}"
    )


def refuse_blocked_days(staging: StagingZone, partition_keys: list[str]) -> None:
    """Fail, before anything is written, if a day's weather_data failed a blocking check.

    weather_data stages its dataset before its checks run, so a run that selects only this asset
    would otherwise load a day that was blocked in an earlier run.
    """
    blocked = {}
    for partition_key in partition_keys:
        try:
            report = staging.read_json(quality_key(partition_key))
        except FileNotFoundError:
            blocked[partition_key] = ["no quality report: materialize weather_data for this day"]
            continue
        failed = failed_blocking_checks(report["checks"])
        if failed:
            blocked[partition_key] = failed
    if blocked:
        listed = "; ".join(f"{day}: {', '.join(names)}" for day, names in blocked.items())
        raise dg.Failure(
            description=(f"weather_data did not pass its blocking checks for {len(blocked)} day(s), so "
                         f"nothing was loaded into {MEASUREMENTS}: {listed}. Fix the source data and "
                         "re-materialize weather_data for those days."),
            metadata={"blocked_partitions": dg.MetadataValue.json(blocked)},
        )


@dg.asset(
    key=WEATHER_MEASUREMENTS,
    group_name="mongodb",
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[WEATHER_DATA],
    check_specs=checks.mongo_check_specs(WEATHER_MEASUREMENTS),
    kinds={"mongodb"},
    description=(
        f"`{MEASUREMENTS}`: one document per (station_id, timestamp), the weather_data contract as BSON "
        "(UTC dates, doubles; measures a station did not report are omitted). Unique index on "
        "(station_id, timestamp), index on (timestamp, station_id), a $jsonSchema validator derived from "
        "the Pandera model, and a `stations` collection with 2dsphere locations."
    ),
)
def weather_measurements(
    context: dg.AssetExecutionContext, config: MongoLoadConfig, staging: StagingZone, mongo: MongoResource
) -> dg.MaterializeResult:
    """Load each day of the range; only what differs from the collection is written."""
    refuse_blocked_days(staging, list(context.partition_keys))
    database = mongo.get_database()
    setup = mongo.with_retries(lambda: ensure_collections(database), "create collections and indexes")
    collection = database[MEASUREMENTS]
    per_day, reconciliation, mismatches, error_samples, refused = [], [], [], [], []
    for partition_key in context.partition_keys:
        frame = from_jsonl(staging.read_bytes(dataset_key(partition_key)))
        counts = load_day(mongo, frame, partition_key, config.batch_size, shrink_policy(config, partition_key))
        error_samples += counts.pop("error_samples")
        refusals = counts.pop("refused")
        kept = {r["station_id"]: r["stored"] for r in refusals}
        refused += [{"partition": partition_key, **r} for r in refusals]
        for r in refusals:
            context.log.error(f"{MEASUREMENTS} {partition_key}: {r['station_id']} not loaded, its "
                              f"{r['stored']} stored document(s) kept: the delivery {r['reason']}")
        per_day.append({"partition": partition_key, "rows": len(frame), **counts, "refused": len(kept)})
        if counts["write_errors"]:
            context.log.error(f"{MEASUREMENTS} {partition_key}: {counts['write_errors']} document(s) refused")
        reconciliation += mongo.with_retries(
            lambda: checks.reconcile(collection, frame, partition_key, kept), f"reconcile {partition_key}")
        mismatches += mongo.with_retries(
            lambda: checks.round_trip(collection, frame[~frame["station_id"].isin(kept)], partition_key),
            f"read back {partition_key}")
        context.log.info(f"{MEASUREMENTS} {partition_key}: {counts}")
    latency = mongo.with_retries(
        lambda: checks.read_latency(collection, list(context.partition_keys), config.latency_samples),
        "measure read latency")
    table = pd.DataFrame(per_day)
    seconds = float(table["seconds"].sum())
    written = int(table[["inserted", "updated"]].sum().sum())
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": int(table["rows"].sum()),
            "inserted": int(table["inserted"].sum()),
            "updated": int(table["updated"].sum()),
            "unchanged": int(table["unchanged"].sum()),
            "deleted": int(table["deleted"].sum()),
            "write_errors": int(table["write_errors"].sum()),
            "write_error_samples": dg.MetadataValue.json(error_samples[:10]),
            "station_days_refused": dg.MetadataValue.json(
                [f"{r['station_id']}@{r['partition']}" for r in refused]),
            "load_seconds": round(seconds, 3),
            "docs_per_s": round(int(table["rows"].sum()) / seconds, 1) if seconds else 0.0,
            "written_docs_per_s": round(written / seconds, 1) if seconds and written else 0.0,
            "database": f"{mongo.redacted_uri()} / {mongo.database}",
            "indexes": dg.MetadataValue.json(setup.get("indexes")),
            "per_partition": dg.MetadataValue.md(table.round(3).to_markdown(index=False)),
        },
        check_results=checks.results(reconciliation, mismatches, latency, config.latency_p95_warn_ms, refused),
    )
