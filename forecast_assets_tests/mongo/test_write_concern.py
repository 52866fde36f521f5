"""The write concern setting reaches the writes, on a real SecantusDB server.

SecantusDB (0.7) answers as a one-member replica set (``setName: secantus``): ``w=majority`` and
``j=true`` are accepted there (majority of one), a ``w`` above the member count is refused with
``UnsatisfiableWriteConcern`` (code 100) after the documents were applied — exactly how a replica set
reports a write it could not acknowledge at the configured concern. Whether it really fsyncs its
journal for ``j=true`` cannot be observed from a client and is not claimed here.
"""

from __future__ import annotations

import pandas as pd
import pytest
from pymongo import WriteConcern
from pymongo.errors import OperationFailure

from forecast_assets.mongo.assets import load_day
from forecast_assets.mongo.collection_setup import MEASUREMENTS, ensure_collections
from forecast_assets.mongo.embedded_resource import EmbeddedMongoResource
from forecast_assets.mongo.resources import MongoResource
from forecast_assets.mongo.sync import ALLOW_ANY_SHRINK
from forecast_assets.mongo.write_concern import (
    DEFAULT_WRITE_CONCERN,
    WriteConcernSettingError,
    parse_write_concern,
)
from forecast_assets_tests.mongo.conftest import weather_frame

DAY = "2024-10-01"


@pytest.mark.parametrize(
    ("text", "document"),
    [
        ("w=majority,j=true,wtimeout=60000", {"w": "majority", "j": True, "wtimeout": 60000}),
        ("majority", {"w": "majority"}),
        ("w=1", {"w": 1}),
        (" w = 2 , journal = false ", {"w": 2, "j": False}),
        ("j=true", {"j": True}),
    ],
)
def test_parse_write_concern(text: str, document: dict) -> None:
    assert parse_write_concern(text).document == document


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "it is empty"),
        ("w=majority,j=maybe", "j must be true or false"),
        ("w=1,w=2", "w given twice"),
        ("w=1,fsync=true", "unknown key 'fsync'"),
        ("wtimeout=soon", "wtimeout must be a whole number"),
        ("w=0", "unacknowledged"),
    ],
)
def test_a_bad_setting_names_the_variable_the_text_and_the_fix(text: str, why: str) -> None:
    with pytest.raises(WriteConcernSettingError) as caught:
        parse_write_concern(text)
    message = str(caught.value)
    assert why in message and f"MONGO_WRITE_CONCERN={text!r}" in message and DEFAULT_WRITE_CONCERN in message


def test_the_default_is_journaled_majority_on_the_collection_the_loader_writes(mongo: MongoResource) -> None:
    """Production and local default: the loader's collection carries w=majority, j=true, a wtimeout."""
    assert MongoResource(uri="mongodb://h").write_concern == DEFAULT_WRITE_CONCERN
    assert EmbeddedMongoResource().write_concern == DEFAULT_WRITE_CONCERN
    expected = WriteConcern(w="majority", j=True, wtimeout=60000)
    # load_day writes through mongo.get_database()[MEASUREMENTS]: the same client and database.
    assert mongo.get_database()[MEASUREMENTS].write_concern == expected
    ensure_collections(mongo.get_database())
    frame = weather_frame(stations=["07015"])
    counts = load_day(mongo, frame, DAY, 1000, ALLOW_ANY_SHRINK)
    assert counts["inserted"] == len(frame) and counts["write_errors"] == 0  # accepted by the one-member set
    assert mongo.get_database()[MEASUREMENTS].count_documents({"station_id": "07015"}) == len(frame)


def test_a_configured_write_concern_reaches_the_loaders_writes(mongo: MongoResource) -> None:
    """w=5 on a one-member set: the server refuses to acknowledge it, and the load fails saying so."""
    strict = mongo.model_copy(update={"write_concern": "w=5,j=true"})
    try:
        assert strict.get_database()[MEASUREMENTS].write_concern == WriteConcern(w=5, j=True)
        frame = weather_frame(stations=["07015"])
        with pytest.raises(OperationFailure) as caught:
            load_day(strict, frame, DAY, 1000, ALLOW_ANY_SHRINK)
        assert caught.value.code == 100  # UnsatisfiableWriteConcern
        message = str(caught.value)
        assert "write concern" in message and MEASUREMENTS in message and "rerun" in message
        # A w=1 resource on the same database loads the same day: only the concern differed.
        loose = mongo.model_copy(update={"write_concern": "w=1"})
        assert loose.get_database()[MEASUREMENTS].write_concern == WriteConcern(w=1)
        assert load_day(loose, frame, DAY, 1000, ALLOW_ANY_SHRINK)["write_errors"] == 0
    finally:
        strict.close()


def test_a_uri_write_concern_must_agree_with_the_setting(mongo_server) -> None:
    agreeing = MongoResource(uri=f"{mongo_server.uri}?w=majority&journal=true&wTimeoutMS=60000")
    assert agreeing.get_client().write_concern == WriteConcern(w="majority", j=True, wtimeout=60000)
    agreeing.close()
    password = "s3cret"  # a dummy: the message must not show it
    contradicting = MongoResource(uri=f"mongodb://forecast:{password}@{mongo_server.host}:{mongo_server.port}/?w=1")
    with pytest.raises(WriteConcernSettingError) as caught:
        contradicting.get_client()
    message = str(caught.value)
    assert "'w=1'" in message and DEFAULT_WRITE_CONCERN in message and "s3cret" not in message
    assert "MONGO_WRITE_CONCERN" in message


def test_frame_fits_the_day_windows() -> None:
    """Guard of the fixtures above: the 10-minute frame lies inside 07015's UTC day."""
    stamps = weather_frame(stations=["07015"])["timestamp"]
    assert stamps.min() >= pd.Timestamp(DAY, tz="UTC") and stamps.max() < pd.Timestamp("2024-10-02", tz="UTC")
