"""Collections, indexes and idempotent upserts against a real SecantusDB server, including a crash."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pymongo import WriteConcern

from forecast_assets.mongo.documents import json_schema_validator
from forecast_assets.mongo.load import count_window, delete_stale, ensure_collections, replace_window, upsert_frame
from forecast_assets.mongo.local_server import LocalMongoServer
from forecast_assets.mongo.resources import MongoResource
from forecast_assets.stations import STATIONS

LILLE = [3.06, 50.63]  # lon, lat
EARTH_RADIUS_M = 6378100.0
DAY_START = pd.Timestamp("2024-10-01", tz="UTC")
DAY_END = pd.Timestamp("2024-10-02", tz="UTC")


@pytest.fixture
def db(mongo: MongoResource):
    database = mongo.get_database()
    ensure_collections(database)
    return database


@pytest.fixture
def measurements(db):
    return db["weather_measurements"]


def _distance_m(lon_lat: list[float]) -> float:
    lon1, lat1, lon2, lat2 = map(math.radians, [*LILLE, *lon_lat])
    a = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def _duplicates(collection) -> list:
    return list(collection.aggregate([
        {"$group": {"_id": {"s": "$station_id", "t": "$timestamp"}, "n": {"$sum": 1}}},
        {"$match": {"n": {"$gt": 1}}},
    ]))


def test_ensure_collections_is_idempotent_and_sets_validator_and_indexes(db) -> None:
    again = ensure_collections(db)  # second call: collMod, indexes already there

    assert again["validator"] == "updated"
    options = db.command("listCollections", filter={"name": "weather_measurements"})["cursor"]["firstBatch"][0]["options"]
    assert options["validator"] == json_schema_validator()
    assert (options["validationLevel"], options["validationAction"]) == ("strict", "error")
    indexes = db["weather_measurements"].index_information()
    assert indexes["station_id_timestamp"]["key"] == [("station_id", 1), ("timestamp", 1)]
    assert indexes["station_id_timestamp"]["unique"] is True
    assert indexes["timestamp_station_id"]["key"] == [("timestamp", 1), ("station_id", 1)]
    assert not indexes["timestamp_station_id"].get("unique", False)


def test_upsert_is_idempotent_and_counts_changes(measurements, make_frame) -> None:
    frame = make_frame(rows_per_station=50)
    n = len(frame)

    first = upsert_frame(measurements, frame, batch_size=64)
    assert (first["inserted"], first["updated"], first["unchanged"], first["write_errors"]) == (n, 0, 0, 0)
    assert first["docs_per_s"] > 0 and first["seconds"] > 0

    again = upsert_frame(measurements, frame, batch_size=64)
    assert (again["inserted"], again["updated"], again["unchanged"], again["write_errors"]) == (0, 0, n, 0)

    changed = frame.copy()
    changed.loc[7, "pressure_hpa"] = 1001.5
    third = upsert_frame(measurements, changed)
    assert (third["inserted"], third["updated"], third["unchanged"]) == (0, 1, n - 1)
    assert measurements.count_documents({}) == n
    key = {"station_id": frame.loc[7, "station_id"], "timestamp": frame.loc[7, "timestamp"].to_pydatetime()}
    assert measurements.find_one(key)["pressure_hpa"] == 1001.5


def test_a_measure_that_became_absent_is_removed(measurements, frame) -> None:
    upsert_frame(measurements, frame)
    row = frame.index[frame["temperature_c"].notna()][0]
    changed = frame.copy()
    changed.loc[row, "temperature_c"] = np.nan

    counts = upsert_frame(measurements, changed)

    assert (counts["updated"], counts["unchanged"]) == (1, len(frame) - 1)
    key = {"station_id": frame.loc[row, "station_id"], "timestamp": frame.loc[row, "timestamp"].to_pydatetime()}
    assert "temperature_c" not in measurements.find_one(key)


def test_rejected_rows_are_counted_and_the_others_written(measurements, frame) -> None:
    bad = frame.copy()
    bad.loc[[3, 20], "temperature_c"] = 99.0  # above the contract's maximum: the validator refuses

    counts = upsert_frame(measurements, bad, batch_size=16)

    assert (counts["inserted"], counts["write_errors"]) == (len(frame) - 2, 2)
    assert sorted(e["row"] for e in counts["error_samples"]) == [3, 20]
    assert {e["code"] for e in counts["error_samples"]} == {121}


def test_stations_collection_is_geo_indexed(db) -> None:
    stations = db["stations"]
    assert stations.count_documents({}) == len(STATIONS) == 6
    assert stations.index_information()["location_2dsphere"]["key"] == [("location", "2dsphere")]
    distances = {d["_id"]: _distance_m(d["location"]["coordinates"]) for d in stations.find()}

    within = {d["_id"] for d in stations.find(
        {"location": {"$geoWithin": {"$centerSphere": [LILLE, 20_000 / EARTH_RADIUS_M]}}}
    )}
    assert within == {sid for sid, m in distances.items() if m < 20_000}

    near = list(stations.aggregate([
        {"$geoNear": {"near": {"type": "Point", "coordinates": LILLE}, "distanceField": "d", "spherical": True}}
    ]))
    assert [d["_id"] for d in near] == sorted(distances, key=distances.get)
    assert all(abs(d["d"] - distances[d["_id"]]) < 100 for d in near)

    in_range = {d["_id"] for d in stations.find(
        {"location": {"$near": {"$geometry": {"type": "Point", "coordinates": LILLE}, "$maxDistance": 20_000}}}
    )}
    assert in_range == within


@pytest.mark.xfail(reason="SecantusDB 0.7.0b3: $near filters but does not sort by distance (mongod does)")
def test_near_sorts_by_distance(db) -> None:
    stations = db["stations"]
    distances = {d["_id"]: _distance_m(d["location"]["coordinates"]) for d in stations.find()}
    near = [d["_id"] for d in stations.find({"location": {"$near": {"$geometry": {"type": "Point", "coordinates": LILLE}}}})]
    assert near == sorted(distances, key=distances.get)


def test_stations_are_synced_idempotently(db) -> None:
    db["stations"].insert_one({"_id": "GONE", "location": {"type": "Point", "coordinates": [0.0, 0.0]}})
    summary = ensure_collections(db)
    assert (summary["stations_inserted"], summary["stations_updated"], summary["stations_removed"]) == (0, 0, 1)
    assert db["stations"].count_documents({}) == 6


def _winning_index(explain: dict) -> str | None:
    stage = explain["queryPlanner"]["winningPlan"]
    while stage:
        if stage.get("stage") == "IXSCAN":
            return stage["indexName"]
        stage = stage.get("inputStage")
    return None


def test_queries_use_the_indexes(measurements, frame) -> None:
    upsert_frame(measurements, frame)
    window = {"$gte": DAY_START.to_pydatetime(), "$lt": (DAY_START + pd.Timedelta(hours=1)).to_pydatetime()}

    one_station = measurements.find({"station_id": "07015", "timestamp": window}).sort("timestamp", 1).explain()
    all_stations = measurements.find({"timestamp": DAY_START.to_pydatetime()}).explain()

    assert _winning_index(one_station) == "station_id_timestamp"
    assert one_station["executionStats"]["totalDocsExamined"] == one_station["executionStats"]["nReturned"] == 6
    assert _winning_index(all_stations) == "timestamp_station_id"


def test_replace_window_leaves_exactly_the_frame(measurements, make_frame) -> None:
    frame = make_frame(rows_per_station=20)
    upsert_frame(measurements, frame)
    next_day = make_frame(rows_per_station=5, start="2024-10-02")
    upsert_frame(measurements, next_day)
    smaller = frame[frame["timestamp"] < DAY_START + pd.Timedelta(minutes=100)].reset_index(drop=True)

    counts = replace_window(measurements, smaller, DAY_START.to_pydatetime(), DAY_END.to_pydatetime())

    assert (counts["inserted"], counts["updated"], counts["deleted"]) == (0, 0, len(frame) - len(smaller))
    assert count_window(measurements, DAY_START, DAY_END) == len(smaller)
    assert count_window(measurements, DAY_START, DAY_END, station_id="07015") == 10
    assert count_window(measurements, DAY_END, DAY_END + pd.Timedelta(days=1)) == len(next_day)  # untouched
    assert delete_stale(measurements, smaller, DAY_START, DAY_END) == 0
    with pytest.raises(ValueError, match="outside the window"):
        replace_window(measurements, next_day, DAY_START, DAY_END)
    with pytest.raises(ValueError, match="timezone-aware"):
        count_window(measurements, DAY_START.tz_localize(None), DAY_END)


@pytest.mark.integration
def test_crash_mid_load_then_rerun_converges(tmp_path: Path, make_frame) -> None:
    frame = make_frame(rows_per_station=100)
    n, half = len(frame), len(frame) // 2
    with LocalMongoServer(tmp_path / "data") as server:
        mongo = MongoResource(uri=server.uri, database="crash", server_selection_timeout_ms=2000)
        db = mongo.get_database()
        ensure_collections(db)
        # j:true, so the half is on disk before the kill (without it, SecantusDB may lose
        # writes acknowledged just before a SIGKILL, like mongod with j:false)
        journaled = db.get_collection("weather_measurements", write_concern=WriteConcern(w=1, j=True))
        assert upsert_frame(journaled, frame.iloc[:half])["inserted"] == half

        server.kill()
        assert not server.is_running()
        mongo.close()
        server.restart()

        collection = mongo.get_database()["weather_measurements"]
        assert collection.count_documents({}) == half
        counts = upsert_frame(collection, frame)
        assert (counts["inserted"], counts["unchanged"], counts["write_errors"]) == (n - half, half, 0)
        assert collection.count_documents({}) == n
        assert _duplicates(collection) == []
        assert "station_id_timestamp" in collection.index_information()
        mongo.close()
