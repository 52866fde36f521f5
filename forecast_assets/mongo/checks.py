"""Checks on the MongoDB collection: reconciliation, round trip, and the data scientists' read latency."""

from __future__ import annotations

import time
from typing import Any, Mapping

import dagster as dg
import numpy as np
import pandas as pd
from pymongo.collection import Collection

from forecast_assets.mongo.documents import frame_to_documents
from forecast_assets.mongo.sync import same_document
from forecast_assets.stations import STATIONS
from forecast_assets.weather.checks import station_window

RECONCILIATION = "mongo_reconciliation"
NO_SHRINK = "mongo_no_silent_shrink"
ROUND_TRIP = "mongo_round_trip"
READ_LATENCY = "mongo_read_latency"
ROUND_TRIP_SAMPLE = 25


def mongo_check_specs(asset_key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    """The collection's checks, declared on the loading asset."""
    return [
        dg.AssetCheckSpec(RECONCILIATION, asset=asset_key, blocking=True,
                          description="Documents per station in the partition's window = rows of weather_data "
                                      "(or the stored documents, where the load of that window was refused)."),
        dg.AssetCheckSpec(NO_SHRINK, asset=asset_key,
                          description="No station-day lost documents to a worse delivery: a load that would "
                                      "delete stored documents beyond `max_deleted_share` is refused for that "
                                      "station-day (its documents stay) and fails this check; "
                                      "`allow_deletions` applies an intended deletion."),
        dg.AssetCheckSpec(ROUND_TRIP, asset=asset_key,
                          description="A sample of documents read back equals the weather_data rows."),
        dg.AssetCheckSpec(READ_LATENCY, asset=asset_key,
                          description="p50/p95 of one station over one day sorted by time, and the index it uses."),
    ]


def reconcile(collection: Collection, frame: pd.DataFrame, partition_key: str,
              kept: Mapping[str, int] | None = None) -> list[dict[str, Any]]:
    """Per station: documents expected and found in its window.

    Expected is the station's rows of weather_data, or for a window whose load was refused
    (``kept``: station id -> documents it held) the documents it held before.
    """
    kept = kept or {}
    expected = {**frame["station_id"].value_counts().to_dict(), **kept}
    rows = []
    for station in STATIONS.values():
        start, end = station_window(station, partition_key)
        found = collection.count_documents(
            {"station_id": station.station_id,
             "timestamp": {"$gte": start.to_pydatetime(), "$lt": end.to_pydatetime()}}
        )
        rows.append({"partition": partition_key, "station_id": station.station_id,
                     "expected": int(expected.get(station.station_id, 0)), "found": found,
                     "load": "refused, stored kept" if station.station_id in kept else "synced"})
    return rows


def round_trip(collection: Collection, frame: pd.DataFrame, partition_key: str) -> list[dict[str, Any]]:
    """Sample rows (evenly spread) whose stored document differs from the row, or is missing."""
    if frame.empty:
        return []
    sample = frame.iloc[np.linspace(0, len(frame) - 1, min(ROUND_TRIP_SAMPLE, len(frame))).astype(int)]
    mismatches = []
    for doc in frame_to_documents(sample):
        stored = collection.find_one({"station_id": doc["station_id"], "timestamp": doc["timestamp"]},
                                     projection={"_id": 0})
        if stored is None or not same_document(doc, stored):
            mismatches.append({"partition": partition_key, "station_id": doc["station_id"],
                               "timestamp": doc["timestamp"].isoformat(), "stored": str(stored)[:300]})
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
        {"station_id": s.station_id,
         "timestamp": {"$gte": w[0].to_pydatetime(), "$lt": w[1].to_pydatetime()}}
        for key in partition_keys for s in STATIONS.values() for w in [station_window(s, key)]
    ]
    timings = []
    for i in range(samples):
        started = time.perf_counter()
        list(collection.find(queries[i % len(queries)]).sort("timestamp", 1))
        timings.append((time.perf_counter() - started) * 1000)
    plan = collection.find(queries[0]).sort("timestamp", 1).explain()
    return {"p50_ms": float(np.percentile(timings, 50)), "p95_ms": float(np.percentile(timings, 95)),
            "samples": samples, "indexes_used": sorted(_index_names(plan.get("queryPlanner", plan)))}


def no_shrink_result(refused: list[dict[str, Any]]) -> dg.AssetCheckResult:
    """``mongo_no_silent_shrink``: fails naming every refused station-day, its counts and why."""
    named = [f"{r['station_id']} {r['partition']}: {r['reason']}" for r in refused]
    return dg.AssetCheckResult(
        check_name=NO_SHRINK, passed=not refused, severity=dg.AssetCheckSeverity.ERROR,
        description=("no station-day lost documents" if not refused else
                     f"{len(refused)} station-day(s) refused, stored documents kept: " + "; ".join(named)
                     + ". If the deletion is intended, rerun with allow_deletions "
                     + ", ".join(f"{r['station_id']}@{r['partition']}" for r in refused) + "."),
        metadata={"refused_station_days": dg.MetadataValue.json(refused),
                  "documents_kept": int(sum(r["would_delete"] for r in refused))},
    )


def results(reconciliation: list[dict], mismatches: list[dict], latency: dict[str, Any],
            p95_warn_ms: float, refused: list[dict[str, Any]] | None = None) -> list[dg.AssetCheckResult]:
    """The check results of a load run."""
    table = pd.DataFrame(reconciliation)
    off = table[table["expected"] != table["found"]]
    uses_index = bool(latency["indexes_used"])
    return [
        no_shrink_result(refused or []),
        dg.AssetCheckResult(
            check_name=RECONCILIATION, passed=off.empty, severity=dg.AssetCheckSeverity.ERROR,
            description="every station's window matches" if off.empty
            else f"{len(off)} station-day(s) differ: " + ", ".join(f"{r.station_id} {r.partition}" for r in off.itertuples()),
            metadata={"documents": int(table["found"].sum()), "rows": int(table["expected"].sum()),
                      "per_station": dg.MetadataValue.md(table.to_markdown(index=False))},
        ),
        dg.AssetCheckResult(
            check_name=ROUND_TRIP, passed=not mismatches, severity=dg.AssetCheckSeverity.ERROR,
            description=f"{len(mismatches)} sampled document(s) differ from their row",
            metadata={"mismatches": dg.MetadataValue.json(mismatches[:10])},
        ),
        dg.AssetCheckResult(
            check_name=READ_LATENCY, passed=uses_index and latency["p95_ms"] <= p95_warn_ms,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"p95 {latency['p95_ms']:.1f} ms (threshold {p95_warn_ms} ms), "
                        f"index: {', '.join(latency['indexes_used']) or 'NONE (collection scan)'}",
            metadata={"p50_ms": round(latency["p50_ms"], 2), "p95_ms": round(latency["p95_ms"], 2),
                      "samples": latency["samples"], "p95_threshold_ms": p95_warn_ms,
                      "indexes_used": dg.MetadataValue.json(latency["indexes_used"])},
        ),
    ]
