"""The data scientists' read path (``forecast_assets.read``) against a real SecantusDB server.

A sample day is built by the pipeline (raw → weather_data, staged) and loaded into MongoDB by the
``mongodb/weather_measurements`` asset itself; ``read_weather`` must give back exactly the staged
weather_data of that day: same rows, values, nulls and the contract's dtypes (UTC timestamps).
"""

from __future__ import annotations

import importlib.util

import pandas as pd
import pytest
from pymongo import MongoClient

from forecast_assets.definitions import build_defs
from forecast_assets.mongo.assets import WEATHER_MEASUREMENTS
from forecast_assets.read import DTYPES, ReadError, read_weather
from forecast_assets.staging import LocalStagingZone
from forecast_assets.staging.layout import dataset_key
from forecast_assets.stations import STATIONS
from forecast_assets.weather.dataset import from_jsonl
from forecast_assets.weather.schema import COLUMNS, WeatherData
from forecast_assets_tests.mongo.conftest import mongo, mongo_server  # noqa: F401  (fixtures)

DAY = "2024-10-05"
#: Wider than every station's window of DAY (WU stations' local day starts 22:00 UTC the day before).
AROUND = ("2024-10-04", "2024-10-07")


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["station_id", "timestamp"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def day_staging(tmp_path_factory) -> LocalStagingZone:
    """DAY's raw partitions and weather_data, built by the pipeline from the shipped sample data."""
    staging = LocalStagingZone(root=str(tmp_path_factory.mktemp("read") / "staging"))
    defs = build_defs(resource_overrides={"staging": staging}, env="local")
    job = defs.resolve_implicit_global_asset_job_def()
    selection = {key for key in job.asset_layer.executable_asset_keys if key != WEATHER_MEASUREMENTS}
    result = job.get_subset(asset_selection=selection).execute_in_process(partition_key=DAY, raise_on_error=False)
    assert result.success
    return staging


@pytest.fixture
def loaded(day_staging, mongo):  # noqa: F811
    """DAY loaded into a fresh database by the MongoDB asset; (client, database, staged frame)."""
    defs = build_defs(resource_overrides={"staging": day_staging, "mongo": mongo}, env="local")
    job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection={WEATHER_MEASUREMENTS})
    assert job.execute_in_process(partition_key=DAY, raise_on_error=False).success
    frame = from_jsonl(day_staging.read_bytes(dataset_key(DAY)))
    assert len(frame) > 500 and set(frame["station_id"]) == set(STATIONS)
    return mongo.get_client(), mongo.database, frame


def test_a_loaded_day_reads_back_exactly_as_weather_data_holds_it(loaded) -> None:
    client, database, frame = loaded
    result = read_weather(None, *AROUND, client=client, database=database)
    assert list(result.columns) == COLUMNS
    assert result.dtypes.to_dict() == frame.dtypes.to_dict() == {c: pd.Series(dtype=DTYPES[c]).dtype for c in COLUMNS}
    assert str(result["timestamp"].dtype) == "datetime64[us, UTC]"
    WeatherData.validate(result)  # the contract itself accepts it
    expected = _sorted(frame)
    # Same rows, same nulls (a measure absent from a document is NaN / <NA> again), values within 0.01.
    pd.testing.assert_frame_equal(result, expected, check_exact=False, atol=0.01, rtol=0)
    assert result.isna().sum().to_dict() == expected.isna().sum().to_dict()
    assert result["weather_code"].notna().any() and result["weather_code"].isna().any()


def test_station_and_column_subsets(loaded) -> None:
    client, database, frame = loaded
    result = read_weather(
        ["07015", "ILAMAD25"], *AROUND, columns=["weather_code", "temperature_c"], client=client, database=database
    )
    # Key columns always, the rest in contract order whatever the asked order.
    assert list(result.columns) == ["station_id", "timestamp", "temperature_c", "weather_code"]
    expected = _sorted(frame[frame["station_id"].isin(["07015", "ILAMAD25"])])[list(result.columns)]
    pd.testing.assert_frame_equal(result, expected, check_exact=False, atol=0.01, rtol=0)
    one = read_weather("ILAMAD25", *AROUND, columns="pressure_hpa", client=client, database=database)
    assert set(one["station_id"]) == {"ILAMAD25"} and len(one) == (frame["station_id"] == "ILAMAD25").sum()


def test_the_range_is_half_open_and_naive_bounds_are_utc(loaded) -> None:
    client, database, frame = loaded
    stamps = _sorted(frame[frame["station_id"] == "07015"])["timestamp"]
    start, end = stamps.iloc[3], stamps.iloc[8]
    result = read_weather("07015", start, end, client=client, database=database)
    assert list(result["timestamp"]) == list(stamps.iloc[3:8])  # start included, end excluded
    # Sub-millisecond bounds (BSON dates are milliseconds): end 1 µs after a row includes it,
    # start 1 µs after a row excludes it.
    micro = pd.Timedelta(microseconds=1)
    assert list(
        read_weather("07015", start + micro, end + micro, client=client, database=database)["timestamp"]
    ) == list(stamps.iloc[4:9])
    naive = read_weather("07015", start.tz_localize(None), end.tz_localize(None), client=client, database=database)
    paris = read_weather(
        "07015", start.tz_convert("Europe/Paris"), end.tz_convert("Europe/Paris"), client=client, database=database
    )
    pd.testing.assert_frame_equal(naive, result)
    pd.testing.assert_frame_equal(paris, result)


def test_an_empty_result_keeps_the_contract_dtypes(loaded) -> None:
    client, database, _ = loaded
    empty = read_weather(None, "2030-01-01", "2030-01-02", client=client, database=database)
    assert empty.empty and list(empty.columns) == COLUMNS
    assert empty.dtypes.to_dict() == {c: pd.Series(dtype=DTYPES[c]).dtype for c in COLUMNS}
    WeatherData.validate(empty)
    subset = read_weather("07015", "2030-01-01", "2030-01-02", columns=["uv_index"], client=client, database=database)
    assert list(subset.columns) == ["station_id", "timestamp", "uv_index"] and subset.empty
    assert str(subset["timestamp"].dtype) == "datetime64[us, UTC]" and subset["uv_index"].dtype == "float64"


def test_uri_and_mongo_uri(loaded, mongo_server, monkeypatch) -> None:  # noqa: F811
    client, database, frame = loaded
    by_uri = read_weather("07015", *AROUND, uri=mongo_server.uri, database=database)
    monkeypatch.setenv("MONGO_URI", mongo_server.uri)
    by_env = read_weather("07015", *AROUND, database=database)
    pd.testing.assert_frame_equal(by_uri, by_env)
    assert len(by_uri) == (frame["station_id"] == "07015").sum()


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"stations": "XYZ99"}, ["unknown station id(s) ['XYZ99']", "ILAMAD25", "07015"]),
        ({"stations": []}, ["unknown station id(s)", "known stations"]),
        ({"start": "2024-10-06", "end": "2024-10-05"}, ["empty range", "end must be after start"]),
        ({"start": "2024-10-05", "end": "2024-10-05"}, ["empty range"]),
        ({"start": "last tuesday"}, ["start='last tuesday' is not a date"]),
        ({"columns": ["temperature"]}, ["unknown column(s) ['temperature']", "temperature_c"]),
        ({"engine": "arrow"}, ["engine='arrow'"]),
    ],
)
def test_bad_arguments_give_a_clear_error(loaded, kwargs, words) -> None:
    client, database, _ = loaded
    arguments = {"stations": None, "start": DAY, "end": "2024-10-06", **kwargs}
    with pytest.raises(ReadError) as caught:
        read_weather(client=client, database=database, **arguments)
    for word in words:
        assert word in str(caught.value)


def test_a_database_without_the_collection_and_no_server_are_named(mongo_server, monkeypatch) -> None:  # noqa: F811
    with MongoClient(mongo_server.uri) as client:
        with pytest.raises(ReadError, match=r"nothing_here\.weather_measurements .*MONGO_DATABASE"):
            read_weather(None, DAY, "2024-10-06", client=client, database="nothing_here")
    monkeypatch.delenv("MONGO_URI", raising=False)
    with pytest.raises(ReadError, match="pass uri= or client=, or set MONGO_URI"):
        read_weather(None, DAY, "2024-10-06")


@pytest.mark.skipif(importlib.util.find_spec("pymongoarrow") is None, reason="pymongoarrow not installed")
def test_the_pymongoarrow_path_returns_the_same_frame(loaded) -> None:
    client, database, _ = loaded
    plain = read_weather(None, *AROUND, client=client, database=database, engine="pymongo")
    arrow = read_weather(None, *AROUND, client=client, database=database, engine="pymongoarrow")
    pd.testing.assert_frame_equal(arrow, plain)
