"""Checks on the MongoDB collection: reconciliation, round trip, and the data scientists' read latency."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
from pymongo.collection import Collection

from forecast_assets.feeds import day_windows
from forecast_assets.mongo.documents import frame_to_documents, window_query
from forecast_assets.mongo.sync import same_document
from forecast_assets.partition_checks import DayEvaluation, day_check_spec, log_day_evaluations

RECONCILIATION = "mongo_reconciliation"
NO_SHRINK = "mongo_no_silent_shrink"
ROUND_TRIP = "mongo_round_trip"
WEATHER_DATA_PASSED = "weather_data_passed"
READ_LATENCY = "mongo_read_latency"
ROUND_TRIP_SAMPLE = 25


def mongo_check_specs(asset_key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    """The collection's checks, declared on the loading asset, each evaluated per day."""
    return [
        day_check_spec(
            WEATHER_DATA_PASSED,
            asset_key,
            "The day passed the blocking checks upstream (raw_accounting, weather_data's), so it "
            "was loaded; a failed day is not loaded (its stored documents stay) and names the "
            "checks it failed.",
        ),
        day_check_spec(
            NO_SHRINK,
            asset_key,
            "No station-day lost documents to a worse delivery: a load that would delete stored "
            "documents beyond `max_deleted_share` is refused for that station-day (its documents "
            "stay) and fails this check; `allow_deletions` applies an intended deletion.",
        ),
        day_check_spec(
            RECONCILIATION,
            asset_key,
            "Documents per station in the day's window = rows of weather_data (or the stored "
            "documents, where the load of that window was refused).",
        ),
        day_check_spec(
            ROUND_TRIP, asset_key, "A sample of the day's documents read back equals the weather_data rows."
        ),
        day_check_spec(
            READ_LATENCY, asset_key, "p50/p95 of one station over the day sorted by time, and the index it uses."
        ),
    ]


def reconcile(
    collection: Collection, frame: pd.DataFrame, partition_key: str, kept: Mapping[str, int] | None = None
) -> list[dict[str, Any]]:
    """Per station: documents expected and found in its window.

    Expected is the station's rows of weather_data, or for a window whose load was refused
    (``kept``: station id -> documents it held) the documents it held before.
    """
    kept = kept or {}
    expected = {**frame["station_id"].value_counts().to_dict(), **kept}
    windows = day_windows(partition_key)
    # one aggregation counts every station's window (the $or of the station-window queries)
    found = {
        group["_id"]: group["documents"]
        for group in collection.aggregate(
            [
                {"$match": {"$or": [window_query(sid, start, end) for sid, (start, end) in windows.items()]}},
                {"$group": {"_id": "$station_id", "documents": {"$sum": 1}}},
            ]
        )
    }
    return [
        {
            "partition": partition_key,
            "station_id": sid,
            "expected": int(expected.get(sid, 0)),
            "found": int(found.get(sid, 0)),
            "load": "refused, stored kept" if sid in kept else "synced",
        }
        for sid in windows
    ]


def round_trip(collection: Collection, frame: pd.DataFrame, partition_key: str) -> list[dict[str, Any]]:
    """Sample rows (evenly spread) whose stored document differs from the row, or is missing."""
    if frame.empty:
        return []
    sample = frame.iloc[np.linspace(0, len(frame) - 1, min(ROUND_TRIP_SAMPLE, len(frame))).astype(int)]
    mismatches = []
    for doc in frame_to_documents(sample):
        stored = collection.find_one(
            {"station_id": doc["station_id"], "timestamp": doc["timestamp"]}, projection={"_id": 0}
        )
        if stored is None or not same_document(doc, stored):
            mismatches.append(
                {
                    "partition": partition_key,
                    "station_id": doc["station_id"],
                    "timestamp": doc["timestamp"].isoformat(),
                    "stored": str(stored)[:300],
                }
            )
    return mismatches


def _index_names(plan: Any) -> set[str]:
    """Every ``indexName`` anywhere in an explain plan."""
    if isinstance(plan, Mapping):
        names = {plan["indexName"]} if "indexName" in plan else set()
        return names.union(*(_index_names(v) for v in plan.values()))
    if isinstance(plan, list):
        return set().union(*(_index_names(v) for v in plan))
    return set()


def read_latency(collection: Collection, partition_keys: list[str], samples: int) -> dict[str, Any]:
    """Time the typical query (one station, one day, sorted by time); its plan's indexes."""
    queries = [
        window_query(sid, start, end) for key in partition_keys for sid, (start, end) in day_windows(key).items()
    ]
    timings = []
    for i in range(samples):
        started = time.perf_counter()
        list(collection.find(queries[i % len(queries)]).sort("timestamp", 1))
        timings.append((time.perf_counter() - started) * 1000)
    plan = collection.find(queries[0]).sort("timestamp", 1).explain()
    return {
        "p50_ms": float(np.percentile(timings, 50)),
        "p95_ms": float(np.percentile(timings, 95)),
        "samples": samples,
        "indexes_used": sorted(_index_names(plan.get("queryPlanner", plan))),
    }


def log_gate(context: dg.AssetExecutionContext, asset_key: dg.AssetKey, partition_key: str, blocked: list[str]) -> None:
    """Record whether the day was let through to the load (``weather_data_passed``)."""
    log_day_evaluations(
        context,
        asset_key,
        partition_key,
        [
            DayEvaluation(
                WEATHER_DATA_PASSED,
                not blocked,
                dg.AssetCheckSeverity.ERROR,
                f"{partition_key}: loaded"
                if not blocked
                else f"{partition_key}: not loaded, failed upstream: {', '.join(blocked)}; fix the source data and "
                "re-materialize the day from its raw assets down to this one",
                {"failed_checks": dg.MetadataValue.json(blocked)},
            )
        ],
    )


def log_day_results(
    context: dg.AssetExecutionContext,
    asset_key: dg.AssetKey,
    partition_key: str,
    reconciliation: list[dict],
    mismatches: list[dict],
    latency: dict[str, Any],
    p95_warn_ms: float,
    refused: list[dict[str, Any]],
) -> None:
    """Record one loaded day's evaluations of the collection's checks."""
    table = pd.DataFrame(reconciliation)
    off = table[table["expected"] != table["found"]]
    named = "; ".join(f"{r['station_id']} {r['partition']}: {r['reason']}" for r in refused)
    overrides = ", ".join(f"{r['station_id']}@{r['partition']}" for r in refused)
    uses_index = bool(latency["indexes_used"])
    error, warn = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN
    log_day_evaluations(
        context,
        asset_key,
        partition_key,
        [
            DayEvaluation(
                NO_SHRINK,
                not refused,
                error,
                f"{partition_key}: no station-day lost documents"
                if not refused
                else f"{partition_key}: {len(refused)} station-day(s) refused, stored documents kept: {named}. If the "
                f"deletion is intended, rerun with allow_deletions {overrides}.",
                {
                    "refused_station_days": dg.MetadataValue.json(refused),
                    "documents_kept": int(sum(r["would_delete"] for r in refused)),
                },
            ),
            DayEvaluation(
                RECONCILIATION,
                off.empty,
                error,
                f"{partition_key}: every station's window matches"
                if off.empty
                else f"{partition_key}: {len(off)} station window(s) differ: " + ", ".join(off["station_id"]),
                {
                    "documents": int(table["found"].sum()),
                    "rows": int(table["expected"].sum()),
                    "per_station": dg.MetadataValue.md(table.to_markdown(index=False)),
                },
            ),
            DayEvaluation(
                ROUND_TRIP,
                not mismatches,
                error,
                f"{partition_key}: {len(mismatches)} sampled document(s) differ from their row",
                {"mismatches": dg.MetadataValue.json(mismatches[:10])},
            ),
            DayEvaluation(
                READ_LATENCY,
                uses_index and latency["p95_ms"] <= p95_warn_ms,
                warn,
                f"{partition_key}: p95 {latency['p95_ms']:.1f} ms (threshold {p95_warn_ms} ms), "
                f"index: {', '.join(latency['indexes_used']) or 'NONE (collection scan)'}",
                {
                    "p50_ms": round(latency["p50_ms"], 2),
                    "p95_ms": round(latency["p95_ms"], 2),
                    "samples": latency["samples"],
                    "p95_threshold_ms": p95_warn_ms,
                    "indexes_used": dg.MetadataValue.json(latency["indexes_used"]),
                },
            ),
        ],
    )
