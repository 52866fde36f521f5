"""Section 2: the project's MongoDB load (``load_day``) vs a per-document ``insert_one`` loop.

Same server, same documents: the frames are built once by ``build_day`` (not timed). The project's
path runs ``load_day`` per partition into a fresh database prepared with ``ensure_collections``; the
reference converts the same frame with ``frame_to_documents`` and calls ``insert_one`` per document
into another fresh database with the same validator and indexes. Both timings include the
frame -> document conversion; both end with the same document count (asserted).
"""

from __future__ import annotations

import time
import uuid

import pandas as pd

from bench import mongo
from bench.landed_data import Landed
from forecast_assets.mongo.assets import load_day
from forecast_assets.mongo.collection_setup import MEASUREMENTS, ensure_collections
from forecast_assets.mongo.documents import frame_to_documents
from forecast_assets.mongo.sync import DEFAULT_BATCH_SIZE, ShrinkPolicy
from forecast_assets.weather.assets import build_day

TARGET_RATIO = 5.0


def frames_of(landed: Landed, keys: list[str]) -> dict[str, pd.DataFrame]:
    return {key: build_day(landed.staging, key).frame for key in keys}


def run(landed: Landed, uri: str, n_days: int, database_prefix: str = "bench_load") -> dict:
    keys = landed.partition_keys[:n_days]
    frames = frames_of(landed, keys)
    docs = sum(len(f) for f in frames.values())
    tag = uuid.uuid4().hex[:6]
    project_db, reference_db = f"{database_prefix}_project_{tag}", f"{database_prefix}_insert_one_{tag}"
    resource = mongo.resource(uri, project_db)
    client = mongo.client(uri)
    try:
        ensure_collections(resource.get_database())
        started = time.perf_counter()
        totals = [load_day(resource, frames[key], key, DEFAULT_BATCH_SIZE, ShrinkPolicy()) for key in keys]
        project_s = time.perf_counter() - started
        inserted = sum(t["inserted"] for t in totals)

        database = client[reference_db]
        ensure_collections(database)
        collection = database[MEASUREMENTS]
        started = time.perf_counter()
        for key in keys:
            for doc in frame_to_documents(frames[key]):
                collection.insert_one(doc)
        reference_s = time.perf_counter() - started

        project_count = resource.get_database()[MEASUREMENTS].count_documents({})
        reference_count = collection.count_documents({})
        assert project_count == reference_count == docs, (project_count, reference_count, docs)
        rerun_started = time.perf_counter()
        rerun = [load_day(resource, frames[key], key, DEFAULT_BATCH_SIZE, ShrinkPolicy()) for key in keys]
        rerun_s = time.perf_counter() - rerun_started
    finally:
        resource.close()
        client.close()
    project_rate, reference_rate = docs / project_s, docs / reference_s
    ratio = project_rate / reference_rate
    return {
        "partitions": len(keys),
        "documents": docs,
        "inserted_by_load_day": inserted,
        "project_s": project_s,
        "reference_s": reference_s,
        "project_docs_per_s": project_rate,
        "reference_docs_per_s": reference_rate,
        "ratio": ratio,
        "target_ratio": TARGET_RATIO,
        "met": ratio >= TARGET_RATIO,
        "rerun_s": rerun_s,
        "rerun_written": sum(t["inserted"] + t["updated"] for t in rerun),
        "project_database": project_db,
        "reference_database": reference_db,
    }
