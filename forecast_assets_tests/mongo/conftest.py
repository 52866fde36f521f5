"""MongoDB test fixtures: one real SecantusDB server per session, a fresh database per test."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd
import pytest

from forecast_assets.mongo.embedded_server import LocalMongoServer
from forecast_assets.mongo.resources import MongoResource
from forecast_assets.stations import STATIONS
from forecast_assets.weather.schema import COLUMNS, MEASURE_COLUMNS, TIMESTAMP_DTYPE, WeatherData

FrameFactory = Callable[..., pd.DataFrame]


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMongoServer]:
    """A real SecantusDB server (``secantusd-py`` subprocess) on 127.0.0.1 and a free port."""
    storage = tmp_path_factory.mktemp("mongo") / "data"
    with LocalMongoServer(storage) as server:
        yield server


@pytest.fixture
def mongo(mongo_server: LocalMongoServer) -> Iterator[MongoResource]:
    """A MongoResource on the session server, with a database of its own (dropped afterwards)."""
    resource = MongoResource(
        uri=mongo_server.uri,
        database=f"test_{uuid.uuid4().hex[:12]}",
        server_selection_timeout_ms=2000,
        max_attempts=2,
        backoff_seconds=0.05,
    )
    try:
        yield resource
    finally:
        resource.get_client().drop_database(resource.database)
        resource.close()


def weather_frame(
    rows_per_station: int = 10, start: str = "2024-10-01", freq: str = "10min", stations: list[str] | None = None
) -> pd.DataFrame:
    """A valid WeatherData frame: every station, regular timestamps, some measures absent.

    Weather Underground stations measure UV and solar radiation, InfoClimat ones cloud cover and
    weather code; every third row has no temperature, so rows differ in which fields are present.
    """
    parts = []
    for sid in stations or list(STATIONS):
        s = STATIONS[sid]
        n = rows_per_station
        stamps = pd.date_range(start, periods=n, freq=freq, tz="UTC", unit="us")
        wu = s.provider == "weather_underground"
        part = pd.DataFrame(
            {
                "station_id": pd.Series([sid] * n, dtype="str"),
                "station_name": pd.Series([s.name] * n, dtype="str"),
                "source": pd.Series([s.provider] * n, dtype="str"),
                "latitude": float(s.latitude),
                "longitude": float(s.longitude),
                "elevation_m": float(s.elevation_m),
                "timestamp": pd.Series(stamps),
            }
        )
        for column in MEASURE_COLUMNS:
            part[column] = np.nan
        steps = np.arange(n)
        part["temperature_c"] = np.where(steps % 3 == 0, np.nan, 10.0 + (steps % 7))
        part["humidity_pct"] = 80.0
        part["pressure_hpa"] = 1015.0 + (steps % 5)
        part["wind_speed_kmh"] = 12.5
        if wu:
            part["uv_index"] = 1.0
            part["solar_radiation_wm2"] = 120.0
        else:
            part["cloud_cover_octas"] = 4.0
        part["weather_code"] = pd.array([None if wu else int(i % 4) for i in steps], dtype="Int64")
        parts.append(part)
    frame = pd.concat(parts, ignore_index=True)[COLUMNS]
    frame["timestamp"] = frame["timestamp"].astype(TIMESTAMP_DTYPE)
    return WeatherData.validate(frame)


@pytest.fixture
def make_frame() -> FrameFactory:
    """The :func:`weather_frame` factory."""
    return weather_frame


@pytest.fixture
def frame() -> pd.DataFrame:
    """60 rows: 10 per station."""
    return weather_frame()
