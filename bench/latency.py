"""Section 5: the data scientists' query (one station, one day, sorted by time), with and without indexes.

On the collection the load section filled (the project's indexes ``station_id_timestamp`` and
``timestamp_station_id``) and on a copy of the same documents holding only the ``_id`` index:
``find({station_id, timestamp: {$gte, $lt}}).sort(timestamp)`` cycling over every station-day,
``samples`` times each; p50/p95 in ms, plus the stage names of each winning plan (``explain``).
"""

from __future__ import annotations

import time
import uuid

import numpy as np

from bench import mongo
from forecast_assets.feeds import station_window
from forecast_assets.mongo.collection_setup import MEASUREMENTS
from forecast_assets.stations import STATIONS


def _stages(plan) -> list[str]:
    found: list[str] = []
    if isinstance(plan, dict):
        if "stage" in plan:
            found.append(str(plan["stage"]) + (f"({plan['indexName']})" if plan.get("indexName") else ""))
        for key in ("inputStage", "queryPlan", "winningPlan"):
            if key in plan:
                found += _stages(plan[key])
        for child in plan.get("inputStages", []):
            found += _stages(child)
    return found


def _winning(explain: dict) -> list[str]:
    planner = explain.get("queryPlanner", explain)
    return _stages(planner.get("winningPlan", planner))


def _time_queries(collection, queries, samples: int) -> tuple[list[float], int]:
    timings, returned = [], 0
    for i in range(samples):
        started = time.perf_counter()
        returned += len(list(collection.find(queries[i % len(queries)]).sort("timestamp", 1)))
        timings.append((time.perf_counter() - started) * 1000)
    return timings, returned


def run(uri: str, database: str, partition_keys: list[str], samples: int = 100) -> dict:
    client = mongo.client(uri)
    try:
        indexed = client[database][MEASUREMENTS]
        copy_db = f"bench_latency_noindex_{uuid.uuid4().hex[:6]}"
        plain = client[copy_db][MEASUREMENTS]
        docs = list(indexed.find({}))
        plain.insert_many(docs, ordered=False)
        queries = [
            {"station_id": s.station_id, "timestamp": {"$gte": w[0].to_pydatetime(), "$lt": w[1].to_pydatetime()}}
            for key in partition_keys
            for s in STATIONS.values()
            for w in [station_window(s, key)]
        ]
        result = {"documents": len(docs), "samples": samples, "query_shapes": len(queries)}
        for name, collection in (("with_indexes", indexed), ("without_indexes", plain)):
            _time_queries(collection, queries, min(10, samples))  # warm-up
            timings, returned = _time_queries(collection, queries, samples)
            explain = collection.find(queries[0]).sort("timestamp", 1).explain()
            result[name] = {
                "p50_ms": float(np.percentile(timings, 50)),
                "p95_ms": float(np.percentile(timings, 95)),
                "mean_docs_returned": returned / samples,
                "indexes": sorted(collection.index_information()),
                "winning_plan": _winning(explain),
            }
        with_p95, without_p95 = result["with_indexes"]["p95_ms"], result["without_indexes"]["p95_ms"]
        result["p95_speedup"] = without_p95 / with_p95 if with_p95 else 0.0
        uses_index = any("IXSCAN" in stage for stage in result["with_indexes"]["winning_plan"])
        result["met"] = uses_index and with_p95 < without_p95
        client.drop_database(copy_db)
        return result
    finally:
        client.close()
