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

from bench.reference_v1.stations import INFOCLIMAT, STATIONS, WEATHER_UNDERGROUND

#: Timestamps are UTC, timezone-aware, microsecond resolution (pandas' default).
TIMESTAMP_DTYPE = pd.DatetimeTZDtype(unit="us", tz="UTC")
#: The key of a row: one observation per station and instant.
KEY_COLUMNS = ["station_id", "timestamp"]


#: Metadata key of a Field's unit ("" = dimensionless). Read it through ``CONTRACT_UNITS``.
UNIT = "unit"


def _field(title: str, about: str, unit: str | None, **options) -> object:
    """A Field whose description ends with its unit, so the unit is written once per column.

    ``unit`` None: the column has no unit (identifiers, names, instants); "" means a dimensionless number.
    """
    shown = {None: "", "": " Unit: none (dimensionless)."}.get(unit, f" Unit: {unit}.")
    return pa.Field(title=title, description=f"{about}.{shown}", metadata={UNIT: unit or ""}, **options)


def _measure(title: str, about: str, unit: str, **checks) -> object:
    """A measured value: float, null when the source does not measure it or did not report it."""
    return _field(title, about, unit, nullable=True, **checks)


class WeatherData(pa.DataFrameModel):
    """One row per (station_id, timestamp): what a station observed at that instant, in metric units."""

    station_id: Series[str] = _field(
        "Station",
        "Station identifier: the WU station ID or the InfoClimat station code",
        None,
        isin=sorted(STATIONS),
    )
    station_name: Series[str] = _field("Station name", "Station name as its source names it", None)
    source: Series[str] = _field(
        "Source",
        "Network the observation came from: weather_underground or infoclimat",
        None,
        isin=[WEATHER_UNDERGROUND, INFOCLIMAT],
    )
    latitude: Series[float] = _field("Latitude", "Station latitude (WGS 84, north positive)", "°", ge=-90, le=90)
    longitude: Series[float] = _field("Longitude", "Station longitude (WGS 84, east positive)", "°", ge=-180, le=180)
    elevation_m: Series[float] = _field("Elevation", "Station elevation above mean sea level", "m")
    timestamp: Series[pd.DatetimeTZDtype] = _field(
        "Observation time",
        "Instant of the observation, timezone-aware UTC, microsecond resolution",
        None,
        dtype_kwargs={"unit": "us", "tz": "UTC"},
    )
    temperature_c: Series[float] = _measure("Temperature", "Air temperature", "°C", ge=-50, le=60)
    dew_point_c: Series[float] = _measure("Dew point", "Dew point temperature", "°C", ge=-60, le=60)
    humidity_pct: Series[float] = _measure("Humidity", "Relative humidity", "%", ge=0, le=100)
    pressure_hpa: Series[float] = _measure(
        "Pressure", "Atmospheric pressure as the station reports it", "hPa", ge=850, le=1090
    )
    wind_direction_deg: Series[float] = _measure(
        "Wind direction",
        "Direction the wind blows from, clockwise from North (null when calm or variable)",
        "°",
        ge=0,
        le=360,
    )
    wind_speed_kmh: Series[float] = _measure("Wind speed", "Mean wind speed", "km/h", ge=0, le=400)
    wind_gust_kmh: Series[float] = _measure("Wind gust", "Wind gust speed", "km/h", ge=0, le=500)
    precip_rate_mm_h: Series[float] = _measure(
        "Precipitation rate", "Precipitation rate at the observation (WU)", "mm/h", ge=0
    )
    precip_accum_mm: Series[float] = _measure(
        "Precipitation today", "Precipitation accumulated since local midnight, as WU reports it", "mm", ge=0
    )
    precip_1h_mm: Series[float] = _measure(
        "Precipitation 1 h", "Precipitation over the past hour (InfoClimat)", "mm", ge=0
    )
    precip_3h_mm: Series[float] = _measure(
        "Precipitation 3 h", "Precipitation over the past 3 hours, a trailing sum (InfoClimat)", "mm", ge=0
    )
    visibility_m: Series[float] = _measure("Visibility", "Horizontal visibility (InfoClimat synop)", "m", ge=0)
    cloud_cover_octas: Series[float] = _measure(
        "Cloud cover",
        "Total cloud cover: 0 clear to 8 overcast, 9 sky obscured (InfoClimat synop)",
        "octas",
        ge=0,
        le=9,
    )
    snow_depth_cm: Series[float] = _measure("Snow depth", "Depth of snow on the ground (InfoClimat synop)", "cm", ge=0)
    weather_code: Series[pd.Int64Dtype] = _measure(
        "Present weather", "Present weather, WMO code table 4677 (0-99; InfoClimat synop)", "", ge=0, le=99
    )
    uv_index: Series[float] = _measure("UV index", "UV index (WU)", "", ge=0, le=20)
    solar_radiation_wm2: Series[float] = _measure(
        "Solar radiation", "Global solar irradiance (WU)", "W/m²", ge=0, le=2000
    )

    class Config:
        title = "weather_data"
        description = "One row per (station_id, timestamp): what a station observed, in metric units, UTC"
        strict = True  # no column outside the contract
        ordered = True
        unique = KEY_COLUMNS


#: Column names in contract order.
COLUMNS: list[str] = list(WeatherData.to_schema().columns)
#: The measured columns (everything after the key and the station's identity).
MEASURE_COLUMNS: list[str] = COLUMNS[COLUMNS.index("timestamp") + 1 :]
#: Each column's unit as declared on its Field ("" = none or dimensionless); units.py converts to these.
CONTRACT_UNITS: dict[str, str] = {
    name: column.metadata[UNIT] for name, column in WeatherData.to_schema().columns.items()
}


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
