"""The weather_data contract: one Pandera model is the single definition of columns, units and ranges.

Downstream notebooks rely on these names and units. Every other stage (transform, checks, the
MongoDB validator) derives from this model rather than retyping it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from forecast_assets.stations import INFOCLIMAT, STATIONS, WEATHER_UNDERGROUND

#: Timestamps are UTC, timezone-aware, microsecond resolution (pandas' default).
TIMESTAMP_DTYPE = pd.DatetimeTZDtype(unit="us", tz="UTC")
#: The key of a row: one observation per station and instant.
KEY_COLUMNS = ["station_id", "timestamp"]


def _measure(**checks) -> object:
    """A measured value: float, null when the source does not measure it or did not report it."""
    return pa.Field(nullable=True, **checks)


class WeatherData(pa.DataFrameModel):
    """One row per (station_id, timestamp): what a station observed at that instant, in metric units."""

    station_id: Series[str] = pa.Field(isin=sorted(STATIONS))
    station_name: Series[str]
    source: Series[str] = pa.Field(isin=[WEATHER_UNDERGROUND, INFOCLIMAT])
    latitude: Series[float] = pa.Field(ge=-90, le=90)
    longitude: Series[float] = pa.Field(ge=-180, le=180)
    elevation_m: Series[float]
    timestamp: Series[pd.DatetimeTZDtype] = pa.Field(dtype_kwargs={"unit": "us", "tz": "UTC"})
    temperature_c: Series[float] = _measure(ge=-50, le=60)
    dew_point_c: Series[float] = _measure(ge=-60, le=60)
    humidity_pct: Series[float] = _measure(ge=0, le=100)
    pressure_hpa: Series[float] = _measure(ge=850, le=1090)
    wind_direction_deg: Series[float] = _measure(ge=0, le=360)
    wind_speed_kmh: Series[float] = _measure(ge=0, le=400)
    wind_gust_kmh: Series[float] = _measure(ge=0, le=500)
    precip_rate_mm_h: Series[float] = _measure(ge=0)
    precip_accum_mm: Series[float] = _measure(ge=0)
    precip_1h_mm: Series[float] = _measure(ge=0)
    precip_3h_mm: Series[float] = _measure(ge=0)
    visibility_m: Series[float] = _measure(ge=0)
    cloud_cover_octas: Series[float] = _measure(ge=0, le=9)
    snow_depth_cm: Series[float] = _measure(ge=0)
    weather_code: Series[pd.Int64Dtype] = _measure(ge=0, le=99)
    uv_index: Series[float] = _measure(ge=0, le=20)
    solar_radiation_wm2: Series[float] = _measure(ge=0, le=2000)

    class Config:
        strict = True  # no column outside the contract
        ordered = True
        unique = KEY_COLUMNS


#: Column names in contract order.
COLUMNS: list[str] = list(WeatherData.to_schema().columns)
#: The measured columns (everything after the key and the station's identity).
MEASURE_COLUMNS: list[str] = COLUMNS[COLUMNS.index("timestamp") + 1:]


_LOWER = {"greater_than_or_equal_to": True, "greater_than": False}
_UPPER = {"less_than_or_equal_to": True, "less_than": False}


def range_bounds() -> dict[str, dict[str, Any]]:
    """The numeric bounds of each contract column, read from the Pandera model's checks."""
    bounds: dict[str, dict[str, Any]] = {}
    for name, column in WeatherData.to_schema().columns.items():
        entry: dict[str, Any] = {}
        for check in column.checks:
            stats = check.statistics or {}
            if check.name in _LOWER or check.name == "in_range":
                entry["min"] = stats["min_value"]
                entry["min_inclusive"] = _LOWER.get(check.name, stats.get("include_min", True))
            if check.name in _UPPER or check.name == "in_range":
                entry["max"] = stats["max_value"]
                entry["max_inclusive"] = _UPPER.get(check.name, stats.get("include_max", True))
        if entry:
            bounds[name] = entry
    return bounds


#: ``range_bounds()`` computed once: the transform rejects rows outside these bounds.
RANGE_BOUNDS: dict[str, dict[str, Any]] = range_bounds()


def below_and_above(values: Any, bounds: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the float ``values`` below and above ``bounds`` (NaN is neither)."""
    values = np.asarray(values, dtype=np.float64)
    below, above = np.zeros(len(values), dtype=bool), np.zeros(len(values), dtype=bool)
    with np.errstate(invalid="ignore"):
        if "min" in bounds:
            below = values < bounds["min"] if bounds["min_inclusive"] else values <= bounds["min"]
        if "max" in bounds:
            above = values > bounds["max"] if bounds["max_inclusive"] else values >= bounds["max"]
    return below, above
