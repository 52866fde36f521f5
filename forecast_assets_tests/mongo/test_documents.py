"""Frame → document conversion and the derived validator, checked against a real SecantusDB server."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
from pymongo.errors import WriteError

from forecast_assets.mongo.collection_setup import ensure_collections
from forecast_assets.mongo.documents import (
    NULLABLE_COLUMNS,
    REQUIRED_COLUMNS,
    _check_keywords,
    frame_to_documents,
    json_schema_validator,
    measurements_column_schema,
    measurements_column_schema_metadata,
    station_documents,
)
from forecast_assets.mongo.resources import MongoResource
from forecast_assets.stations import STATIONS
from forecast_assets.weather.schema import COLUMNS, WeatherData

VALIDATION_FAILED = 121
PYTHON_TYPES = {"station_id": str, "station_name": str, "source": str, "timestamp": dt.datetime, "weather_code": int}


def _expected_type(column: str) -> type:
    return PYTHON_TYPES.get(column, float)


def _describe(column: str) -> dict[str, str]:
    """The title and description keywords the validator carries for a model column."""
    model_column = WeatherData.to_schema().columns[column]
    return {"title": model_column.title, "description": model_column.description}


def test_documents_hold_only_bson_native_values(frame: pd.DataFrame) -> None:
    documents = frame_to_documents(frame)

    assert len(documents) == len(frame)
    for doc in documents:
        assert set(REQUIRED_COLUMNS) <= set(doc)
        for key, value in doc.items():
            assert type(value) is _expected_type(key), (key, value, type(value))  # no numpy, no pd types
            if isinstance(value, float):
                assert not np.isnan(value)
        assert doc["timestamp"].tzinfo == dt.UTC
        assert list(doc) == [c for c in COLUMNS if c in doc]  # contract order


def test_absent_measures_are_omitted_and_present_ones_kept(frame: pd.DataFrame) -> None:
    documents = frame_to_documents(frame)

    for row, doc in zip(frame.to_dict("records"), documents):  # row order preserved
        assert (doc["station_id"], doc["timestamp"]) == (row["station_id"], row["timestamp"].to_pydatetime())
        for column in NULLABLE_COLUMNS:
            if pd.isna(row[column]):
                assert column not in doc
            else:
                assert doc[column] == row[column]
    assert any("weather_code" in d for d in documents) and any("weather_code" not in d for d in documents)


def test_frame_outside_the_contract_is_refused(frame: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="extra"):
        frame_to_documents(frame.assign(extra=1.0))
    naive = frame.copy()
    naive["timestamp"] = naive["timestamp"].dt.tz_localize(None)
    with pytest.raises(ValueError, match="timezone-aware"):
        frame_to_documents(naive)
    assert frame_to_documents(frame.iloc[:0]) == []


def test_documents_round_trip_through_the_server(mongo: MongoResource, frame: pd.DataFrame) -> None:
    collection = mongo.get_database()["round_trip"]
    collection.insert_many(frame_to_documents(frame))

    stored = list(collection.find({}, {"_id": 0}).sort([("station_id", 1), ("timestamp", 1)]))
    assert all(d["timestamp"].utcoffset() == dt.timedelta(0) for d in stored)  # tz-aware UTC back
    assert all(type(d.get("weather_code", 0)) is int for d in stored)
    back = pd.DataFrame(stored).reindex(columns=COLUMNS)
    back["timestamp"] = pd.to_datetime(back["timestamp"], utc=True).dt.as_unit("us")
    back["weather_code"] = back["weather_code"].astype("Int64")
    for column in ("station_id", "station_name", "source"):
        back[column] = back[column].astype("str")
    expected = frame.sort_values(["station_id", "timestamp"], ignore_index=True)
    pd.testing.assert_frame_equal(WeatherData.validate(back), expected)


def test_validator_is_derived_from_the_model() -> None:
    schema = json_schema_validator()["$jsonSchema"]
    properties = schema["properties"]

    described = {name: _describe(name) for name in COLUMNS}
    assert properties["temperature_c"] == {
        "bsonType": "double",
        "minimum": -50,
        "maximum": 60,
        **described["temperature_c"],
    }
    assert properties["station_id"] == {"bsonType": "string", "enum": sorted(STATIONS), **described["station_id"]}
    assert properties["timestamp"] == {"bsonType": "date", **described["timestamp"]}
    assert properties["weather_code"] == {
        "bsonType": ["int", "long"],
        "minimum": 0,
        "maximum": 99,
        **described["weather_code"],
    }
    assert properties["precip_1h_mm"] == {"bsonType": "double", "minimum": 0, **described["precip_1h_mm"]}
    assert "°C" in properties["temperature_c"]["description"]
    assert "hPa" in properties["pressure_hpa"]["description"]
    assert properties["_id"]["bsonType"] == "objectId" and properties["_id"]["description"]
    assert schema["required"] == [n for n, c in WeatherData.to_schema().columns.items() if not c.nullable]
    assert schema["additionalProperties"] is False
    assert set(properties) == {"_id", *COLUMNS}
    # every Field bound of the model is in the validator, whatever the column
    for name, column in WeatherData.to_schema().columns.items():
        for check in column.checks:
            stats = check.statistics
            if "min_value" in stats:
                assert properties[name]["minimum"] == stats["min_value"]
            if "max_value" in stats:
                assert properties[name]["maximum"] == stats["max_value"]


def test_server_accepts_and_keeps_the_validator_descriptions(mongo: MongoResource, frame: pd.DataFrame) -> None:
    """SecantusDB accepts title/description keywords, stores them, and still validates with them."""
    db = mongo.get_database()
    plain = json_schema_validator()
    for prop in plain["$jsonSchema"]["properties"].values():  # a collection made before descriptions
        prop.pop("description", None), prop.pop("title", None)
    db.create_collection("weather_measurements", validator=plain)

    ensure_collections(db)  # collMod: the described validator replaces the plain one

    [info] = db.list_collections(filter={"name": "weather_measurements"})
    stored = info["options"]["validator"]["$jsonSchema"]["properties"]
    for name in COLUMNS:
        assert stored[name]["description"] == WeatherData.to_schema().columns[name].description
        assert stored[name]["title"] == WeatherData.to_schema().columns[name].title
    assert "°C" in stored["temperature_c"]["description"]
    collection = db["weather_measurements"]
    valid = frame_to_documents(frame.iloc[[1]])[0]
    collection.insert_one(dict(valid))
    with pytest.raises(WriteError) as excinfo:  # descriptions do not weaken validation
        collection.insert_one({**valid, "timestamp": valid["timestamp"] + dt.timedelta(hours=1), "temperature_c": 99.0})
    assert excinfo.value.code == VALIDATION_FAILED


def test_measurements_column_schema_is_derived_from_the_validator() -> None:
    schema = json_schema_validator()["$jsonSchema"]
    columns = {column.name: column for column in measurements_column_schema().columns}

    assert list(columns) == ["_id", *COLUMNS]
    for name in COLUMNS:
        assert columns[name].description == schema["properties"][name]["description"]
        assert columns[name].constraints.nullable is (name not in schema["required"])
    assert [columns[n].type for n in ("_id", "timestamp", "temperature_c")] == ["objectId", "date", "double"]
    assert columns["weather_code"].type == "int | long"
    assert columns["station_id"].type == "string"
    assert "°C" in columns["temperature_c"].description and "hPa" in columns["pressure_hpa"].description
    assert columns["temperature_c"].constraints.other == ["≥ -50 and ≤ 60 °C", "omitted when not measured"]
    assert columns["station_id"].constraints.other[0].startswith("one of: ")
    assert "unique index: (station_id, timestamp)" in columns["timestamp"].constraints.other
    assert columns["_id"].constraints.unique is True
    spec = dg.AssetSpec(["mongodb", "weather_measurements"], metadata=measurements_column_schema_metadata())
    assert spec.metadata["dagster/column_schema"].schema == measurements_column_schema()


def test_a_check_without_json_schema_equivalent_is_an_error() -> None:
    with pytest.raises(ValueError, match="no \\$jsonSchema equivalent"):
        _check_keywords("station_name", pa.Check.str_startswith("W"))


@pytest.mark.parametrize(
    "change",
    [
        {"temperature_c": 99.0},  # above the contract's maximum
        {"station_id": "NOPE"},  # not a known station
        {"temperature_c": None},  # absent measures are omitted, never null
        {"weather_code": 5.0},  # an integer column given a double
        {"extra_field": 1.0},  # strict: no field outside the contract
        {"timestamp": "2024-10-01T00:00:00Z"},  # a string, not a BSON date
    ],
)
def test_server_rejects_documents_that_violate_the_validator(
    mongo: MongoResource, frame: pd.DataFrame, change: dict
) -> None:
    db = mongo.get_database()
    ensure_collections(db)
    collection = db["weather_measurements"]
    valid = frame_to_documents(frame.iloc[[1]])[0]
    collection.insert_one(dict(valid))  # the unchanged document passes

    with pytest.raises(WriteError) as excinfo:
        collection.insert_one({**valid, "timestamp": valid["timestamp"] + dt.timedelta(hours=1), **change})
    assert excinfo.value.code == VALIDATION_FAILED
    assert collection.count_documents({}) == 1


def test_server_rejects_a_document_missing_a_required_field(mongo: MongoResource, frame: pd.DataFrame) -> None:
    db = mongo.get_database()
    ensure_collections(db)
    doc = frame_to_documents(frame.iloc[[1]])[0]
    del doc["source"]
    with pytest.raises(WriteError) as excinfo:
        db["weather_measurements"].insert_one(doc)
    assert excinfo.value.code == VALIDATION_FAILED


def test_station_documents_have_geojson_points() -> None:
    documents = station_documents()

    assert [d["_id"] for d in documents] == list(STATIONS)
    for doc in documents:
        station = STATIONS[doc["_id"]]
        assert doc["location"] == {"type": "Point", "coordinates": [station.longitude, station.latitude]}
        assert doc["cadence_s"] == int(station.cadence.total_seconds())
        assert all(type(v) in (str, float, int, dict) for v in doc.values())
