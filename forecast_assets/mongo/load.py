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
from pymongo.errors import CollectionInvalid, OperationFailure

from forecast_assets.mongo.documents import json_schema_validator, station_documents

MEASUREMENTS = "weather_measurements"
STATIONS = "stations"

#: Unique natural key; also serves "one station over a time range" (equality then range on timestamp).
KEY_INDEX = IndexModel(
    [("station_id", ASCENDING), ("timestamp", ASCENDING)], name="station_id_timestamp", unique=True
)
#: "All stations at one instant / in one window".
TIME_INDEX = IndexModel([("timestamp", ASCENDING), ("station_id", ASCENDING)], name="timestamp_station_id")
LOCATION_INDEX = IndexModel([("location", GEOSPHERE)], name="location_2dsphere")

_NAMESPACE_EXISTS = 48


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

