"""The measurements collection in MongoDB: creation, ``$jsonSchema`` validator and indexes, and stations.

* :func:`ensure_collections` creates or ``collMod``\\ s the measurements collection with the
  validator derived from the contract, its indexes, and the ``stations`` collection. Idempotent, so
  a caller may wrap it in ``MongoResource.with_retries``.

Loading documents is :func:`forecast_assets.mongo.sync.sync_windows` (the only load path).
"""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, GEOSPHERE, IndexModel, ReplaceOne
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError, CollectionInvalid, OperationFailure

from forecast_assets.mongo.documents import json_schema_validator, station_documents

MEASUREMENTS = "weather_measurements"
STATIONS = "stations"

#: Unique natural key; also serves "one station over a time range" (equality then range on timestamp).
KEY_INDEX = IndexModel([("station_id", ASCENDING), ("timestamp", ASCENDING)], name="station_id_timestamp", unique=True)
#: "All stations at one instant / in one window".
TIME_INDEX = IndexModel([("timestamp", ASCENDING), ("station_id", ASCENDING)], name="timestamp_station_id")
LOCATION_INDEX = IndexModel([("location", GEOSPHERE)], name="location_2dsphere")

#: Codes a server answers when another process created the same index first:
#: IndexOptionsConflict, IndexKeySpecsConflict, IndexAlreadyExists.
_INDEX_RACE_CODES = (85, 86, 68)
_DUPLICATE_KEY = 11000
#: Rounds of "create what is missing" when another process keeps creating the same things.
_SETUP_ROUNDS = 3


class IndexConflictError(RuntimeError):
    """An index of the same name exists with another definition; it is never replaced silently."""


def _create_or_update_validator(db: Database, name: str, validator: dict[str, Any]) -> str:
    options = {"validator": validator, "validationLevel": "strict", "validationAction": "error"}
    if name not in db.list_collection_names(filter={"name": name}):
        try:
            db.create_collection(name, **options)
            return "created"
        except (CollectionInvalid, OperationFailure):
            # Created meanwhile by another process or implicitly by its createIndexes (mongod: 48
            # NamespaceExists; SecantusDB accepts the second create): collMod sets the validator.
            if name not in db.list_collection_names(filter={"name": name}):
                raise
    db.command("collMod", name, **options)
    return "updated"


def _same_index(current: dict[str, Any], spec: dict[str, Any]) -> bool:
    """Whether an index as ``index_information`` lists it has ``spec``'s key and uniqueness.

    Other stored options (``v``, ``2dsphereIndexVersion``) are the server's and are ignored.
    """
    return list(current["key"]) == list(spec["key"].items()) and bool(current.get("unique")) == bool(spec.get("unique"))


def _missing_indexes(collection: Collection, indexes: list[IndexModel]) -> list[IndexModel]:
    """The indexes not present yet; IndexConflictError if one is present with another definition."""
    existing = collection.index_information()
    missing = []
    for model in indexes:
        spec = model.document
        current = existing.get(spec["name"])
        if current is None:
            missing.append(model)
        elif not _same_index(current, spec):
            raise IndexConflictError(
                f"Index {spec['name']!r} of {collection.full_name} exists as key={current['key']} "
                f"unique={bool(current.get('unique'))}, but this code defines key={list(spec['key'].items())} "
                f"unique={bool(spec.get('unique'))}. It is not replaced automatically: drop it deliberately "
                f"(db.{collection.name}.dropIndex({spec['name']!r})) and rerun."
            )
    return missing


def create_indexes(collection: Collection, indexes: list[IndexModel]) -> list[str]:
    """Create the indexes not already present (same name, key and uniqueness); all their names.

    Safe when several processes set up the same database at once: indexes that exist are not
    re-sent (SecantusDB 0.7.0b3 answers ``IndexKeySpecsConflict`` for an identical 2dsphere index,
    comparing with the stored spec and its server-added ``2dsphereIndexVersion``), and a conflict
    answer (85, 86, 68) caused by another process creating the same index first is accepted once
    the index list shows an equivalent index. A same-name index with another key or uniqueness
    raises :class:`IndexConflictError`, on purpose.
    """
    for attempt in range(1, _SETUP_ROUNDS + 1):
        missing = _missing_indexes(collection, indexes)
        if not missing:
            break
        try:
            collection.create_indexes(missing)
            break
        except OperationFailure as exc:
            # Another process may have created one first: the next round re-reads the list.
            if exc.code not in _INDEX_RACE_CODES or attempt == _SETUP_ROUNDS:
                raise
    return [model.document["name"] for model in indexes]


def sync_stations(db: Database, collection_name: str = STATIONS) -> dict[str, int]:
    """Make the stations collection hold exactly ``stations.py``'s stations (2dsphere-indexed)."""
    collection = db[collection_name]
    create_indexes(collection, [LOCATION_INDEX])
    documents = station_documents()
    replaces = [ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in documents]
    try:
        result = collection.bulk_write(replaces)
    except BulkWriteError as exc:
        # Another process upserted the same station first (a server may not retry the upsert
        # itself): the replaces are idempotent, so run them again; they now match by _id.
        if any(error.get("code") != _DUPLICATE_KEY for error in exc.details.get("writeErrors", [])):
            raise
        result = collection.bulk_write(replaces)
    removed = collection.delete_many({"_id": {"$nin": [d["_id"] for d in documents]}})
    return {
        "stations": len(documents),
        "inserted": result.upserted_count,
        "updated": result.modified_count,
        "removed": removed.deleted_count,
    }


def ensure_collections(db: Database, collection_name: str = MEASUREMENTS) -> dict[str, Any]:
    """Create or update the measurements collection (validator, indexes) and the stations collection.

    Idempotent, also when several processes run it on one database at once: an existing collection
    gets the current validator through ``collMod``, existing indexes with the same definition are
    left alone (a changed definition under the same name raises :class:`IndexConflictError`, on
    purpose: drop the old index deliberately).
    """
    action = _create_or_update_validator(db, collection_name, json_schema_validator())
    indexes = create_indexes(db[collection_name], [KEY_INDEX, TIME_INDEX])
    stations = {f"stations_{key}": value for key, value in sync_stations(db).items()}
    return {"collection": collection_name, "validator": action, "indexes": indexes, **stations}
