"""Loading weather_data into MongoDB: collections, validator and indexes, idempotent upserts.

Every function here is idempotent, so a caller may wrap it in ``MongoResource.with_retries`` and a
rerun of a partition (or a run that died half-way) converges to the same collection:

* :func:`ensure_collections` creates or ``collMod``\\ s the measurements collection with the
  validator derived from the contract, its indexes, and the ``stations`` collection.
* :func:`upsert_frame` upserts rows by their natural key ``(station_id, timestamp)``.
* :func:`replace_window` = upsert, then :func:`delete_stale`: the window ends up holding exactly the
  frame's rows. Upsert comes first so readers never see the window empty (unlike delete-then-insert);
  a crash between the two leaves at worst stale extra rows, which the rerun removes.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from typing import Any

import pandas as pd
from pymongo import ASCENDING, GEOSPHERE, IndexModel, ReplaceOne, UpdateOne
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError, CollectionInvalid, OperationFailure

from forecast_assets.mongo.documents import document_groups, json_schema_validator, station_documents
from forecast_assets.weather.schema import KEY_COLUMNS

MEASUREMENTS = "weather_measurements"
STATIONS = "stations"

#: Unique natural key; also serves "one station over a time range" (equality then range on timestamp).
KEY_INDEX = IndexModel(
    [("station_id", ASCENDING), ("timestamp", ASCENDING)], name="station_id_timestamp", unique=True
)
#: "All stations at one instant / in one window".
TIME_INDEX = IndexModel([("timestamp", ASCENDING), ("station_id", ASCENDING)], name="timestamp_station_id")
LOCATION_INDEX = IndexModel([("location", GEOSPHERE)], name="location_2dsphere")

DEFAULT_BATCH_SIZE = 1000
_NAMESPACE_EXISTS = 48
#: How many write errors to keep (code and message) in the counts, for metadata and logs.
_ERROR_SAMPLES = 5


def _create_or_update_validator(db: Database, name: str, validator: dict[str, Any]) -> str:
    options = {"validator": validator, "validationLevel": "strict", "validationAction": "error"}
    if name not in db.list_collection_names(filter={"name": name}):
        try:
            db.create_collection(name, **options)
            return "created"
        except (CollectionInvalid, OperationFailure) as exc:  # created concurrently
            if isinstance(exc, OperationFailure) and exc.code != _NAMESPACE_EXISTS:
                raise
    db.command("collMod", name, **options)
    return "updated"


def create_indexes(collection: Collection, indexes: list[IndexModel]) -> list[str]:
    """Create the indexes not already present (same name and key); returns all their names.

    Indexes that exist are skipped rather than re-sent: SecantusDB 0.7.0b3 reports
    ``IndexKeySpecsConflict`` when an identical 2dsphere index is created again (it compares the
    request with the stored spec, which has the server-added ``2dsphereIndexVersion``). A same-name
    index with a different key or uniqueness still raises, on purpose.
    """
    existing = collection.index_information()
    missing = []
    for model in indexes:
        spec = model.document
        current = existing.get(spec["name"])
        if current is None or list(current["key"]) != list(spec["key"].items()) or bool(
            current.get("unique")
        ) != bool(spec.get("unique")):
            missing.append(model)
    if missing:
        collection.create_indexes(missing)
    return [model.document["name"] for model in indexes]


def sync_stations(db: Database, collection_name: str = STATIONS) -> dict[str, int]:
    """Make the stations collection hold exactly ``stations.py``'s stations (2dsphere-indexed)."""
    collection = db[collection_name]
    create_indexes(collection, [LOCATION_INDEX])
    documents = station_documents()
    result = collection.bulk_write([ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in documents])
    removed = collection.delete_many({"_id": {"$nin": [d["_id"] for d in documents]}})
    return {
        "stations": len(documents),
        "inserted": result.upserted_count,
        "updated": result.modified_count,
        "removed": removed.deleted_count,
    }


def ensure_collections(db: Database, collection_name: str = MEASUREMENTS) -> dict[str, Any]:
    """Create or update the measurements collection (validator, indexes) and the stations collection.

    Idempotent: an existing collection gets the current validator through ``collMod``, existing
    indexes with the same definition are left alone (a changed definition under the same name
    raises, on purpose: drop the old index deliberately).
    """
    action = _create_or_update_validator(db, collection_name, json_schema_validator())
    indexes = create_indexes(db[collection_name], [KEY_INDEX, TIME_INDEX])
    stations = {f"stations_{key}": value for key, value in sync_stations(db).items()}
    return {"collection": collection_name, "validator": action, "indexes": indexes, **stations}


def _operations(frame: pd.DataFrame) -> tuple[list[UpdateOne], list[int]]:
    """One upsert per row, and each one's row position in ``frame`` (they come grouped by null pattern)."""
    operations: list[UpdateOne] = []
    rows: list[int] = []
    for group in document_groups(frame):
        unset = {name: "" for name in group.absent}
        for doc in group.documents:
            update: dict[str, Any] = {"$set": doc}
            if unset:
                update["$unset"] = unset
            operations.append(UpdateOne({key: doc[key] for key in KEY_COLUMNS}, update, upsert=True))
        rows.extend(group.positions.tolist())
    return operations, rows


def upsert_frame(
    collection: Collection, frame: pd.DataFrame, batch_size: int = DEFAULT_BATCH_SIZE
) -> dict[str, Any]:
    """Upsert each row by ``(station_id, timestamp)``: unordered bulk writes of ``batch_size``.

    Each row becomes ``UpdateOne(key, {"$set": doc, "$unset": absent measures}, upsert=True)``, so
    the stored document equals the row afterwards and a rerun of the same frame modifies nothing.
    Returns ``inserted`` (upserted), ``updated`` (matched and modified), ``unchanged`` (matched, not
    modified), ``write_errors`` (e.g. validator rejections; the other rows are still written — the
    caller decides whether that fails the run), ``error_samples`` (frame row position, code, message
    of the first few), ``seconds`` and ``docs_per_s``.
    """
    started = time.perf_counter()
    counts: dict[str, Any] = {
        "rows": len(frame), "inserted": 0, "updated": 0, "unchanged": 0, "write_errors": 0,
    }
    samples: list[dict[str, Any]] = []
    operations, rows = _operations(frame)
    for start in range(0, len(operations), batch_size):
        try:
            batch = operations[start:start + batch_size]
            result = collection.bulk_write(batch, ordered=False).bulk_api_result
        except BulkWriteError as exc:
            result = exc.details
        errors = result.get("writeErrors", [])
        counts["inserted"] += result.get("nUpserted", 0)
        counts["updated"] += result.get("nModified", 0)
        counts["unchanged"] += result.get("nMatched", 0) - result.get("nModified", 0)
        counts["write_errors"] += len(errors)
        samples.extend(
            {
                "row": rows[start + e.get("index", 0)],
                "code": e.get("code"),
                "errmsg": str(e.get("errmsg", ""))[:300],
            }
            for e in errors[: max(0, _ERROR_SAMPLES - len(samples))]
        )
    seconds = time.perf_counter() - started
    counts["error_samples"] = samples
    counts["seconds"] = round(seconds, 4)
    counts["docs_per_s"] = round(len(operations) / seconds, 1) if seconds > 0 and operations else 0.0
    return counts


def _utc(value: dt.datetime | pd.Timestamp) -> dt.datetime:
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        raise ValueError(f"Window bounds must be timezone-aware, got {value!r}")
    return stamp.tz_convert("UTC").to_pydatetime()


def _window(start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    return {"$gte": _utc(start), "$lt": _utc(end)}


def count_window(
    collection: Collection, start: dt.datetime, end: dt.datetime, station_id: str | None = None
) -> int:
    """Documents with ``start <= timestamp < end`` (optionally of one station)."""
    query: dict[str, Any] = {"timestamp": _window(start, end)}
    if station_id is not None:
        query["station_id"] = station_id
    return collection.count_documents(query)


def delete_stale(
    collection: Collection,
    frame: pd.DataFrame,
    start: dt.datetime,
    end: dt.datetime,
    station_ids: Iterable[str] | None = None,
) -> int:
    """Delete documents in ``[start, end)`` whose key is not a row of ``frame``; returns how many.

    ``station_ids`` limits the deletion to those stations (default: every station, so the window
    holds exactly the frame afterwards — a station absent from the frame loses its documents there).
    """
    stamps = frame["timestamp"]
    in_window = frame[(stamps >= pd.Timestamp(_utc(start))) & (stamps < pd.Timestamp(_utc(end)))]
    keep = {
        station: list(pd.to_datetime(times, utc=True).dt.to_pydatetime())
        for station, times in in_window.groupby("station_id", observed=True)["timestamp"]
    }
    window = _window(start, end)
    if station_ids is None:
        station_ids = collection.distinct("station_id", {"timestamp": window})
    stations = list(station_ids)
    deleted = 0
    for station in stations:
        query = {"station_id": station, "timestamp": {**window, "$nin": keep.get(station, [])}}
        deleted += collection.delete_many(query).deleted_count
    return deleted


def replace_window(
    collection: Collection,
    frame: pd.DataFrame,
    start: dt.datetime,
    end: dt.datetime,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> dict[str, Any]:
    """Make ``[start, end)`` hold exactly ``frame``'s rows: :func:`upsert_frame` then :func:`delete_stale`.

    Rows of ``frame`` outside the window are refused (ValueError): a partition writes only its window.
    """
    stamps = frame["timestamp"]
    outside = (stamps < pd.Timestamp(_utc(start))) | (stamps >= pd.Timestamp(_utc(end)))
    if outside.any():
        raise ValueError(f"{int(outside.sum())} row(s) fall outside the window [{start}, {end})")
    counts = upsert_frame(collection, frame, batch_size=batch_size)
    counts["deleted"] = delete_stale(collection, frame, start, end)
    return counts
