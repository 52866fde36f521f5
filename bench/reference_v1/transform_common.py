"""What both source transforms share: the result type, the field mappings, frame and reject building."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from bench.reference_v1.records import INGESTED_AT, LINEAGE_FIELDS, SOURCE_POSITION, SOURCE_URI
from bench.reference_v1.schema import COLUMNS, MEASURE_COLUMNS, RANGE_BOUNDS, TIMESTAMP_DTYPE, below_and_above
from bench.reference_v1.stations import INFOCLIMAT, STATIONS, WEATHER_UNDERGROUND, Station

# --- the raw field → contract column mappings (data, one dict per source) ---------------------

#: Weather Underground workbook column → contract column (``Time`` becomes ``timestamp``).
WU_FIELDS: dict[str, str] = {
    "Temperature": "temperature_c",
    "Dew Point": "dew_point_c",
    "Humidity": "humidity_pct",
    "Wind": "wind_direction_deg",
    "Speed": "wind_speed_kmh",
    "Gust": "wind_gust_kmh",
    "Pressure": "pressure_hpa",
    "Precip. Rate.": "precip_rate_mm_h",
    "Precip. Accum.": "precip_accum_mm",  # the running daily total as reported, not de-accumulated
    "UV": "uv_index",
    "Solar": "solar_radiation_wm2",
}
#: WU fields written as plain numbers, and the unit that number is in ("" = dimensionless).
WU_BARE_UNITS: dict[str, str] = {"UV": ""}

#: InfoClimat record field → contract column (``dh_utc`` becomes ``timestamp``).
INFOCLIMAT_FIELDS: dict[str, str] = {
    "temperature": "temperature_c",
    "pression": "pressure_hpa",
    "humidite": "humidity_pct",
    "point_de_rosee": "dew_point_c",
    "visibilite": "visibility_m",
    "vent_moyen": "wind_speed_kmh",
    "vent_rafales": "wind_gust_kmh",
    "vent_direction": "wind_direction_deg",
    "pluie_1h": "precip_1h_mm",
    "pluie_3h": "precip_3h_mm",  # a trailing 3-hour sum, NOT an accumulation: copied as is
    "neige_au_sol": "snow_depth_cm",
    "nebulosite": "cloud_cover_octas",
    "temps_omm": "weather_code",
}
#: The unit of each InfoClimat field, as the API's ``metadata`` documents it (values are bare numbers).
INFOCLIMAT_UNITS: dict[str, str] = {
    "temperature": "°C",
    "pression": "hPa",
    "humidite": "%",
    "point_de_rosee": "°C",
    "visibilite": "m",
    "vent_moyen": "km/h",
    "vent_rafales": "km/h",
    "vent_direction": "°",
    "pluie_1h": "mm",
    "pluie_3h": "mm",
    "neige_au_sol": "cm",
    "nebulosite": "octas",
    "temps_omm": "",
}
#: InfoClimat fields only the Météo-France synop station (07015) has.
INFOCLIMAT_SYNOP_ONLY_FIELDS: tuple[str, ...] = ("visibilite", "neige_au_sol", "nebulosite", "temps_omm")
#: InfoClimat fields the amateur "static" stations carry but always leave null.
INFOCLIMAT_STATIC_NULL_FIELDS: tuple[str, ...] = ("vent_rafales",)

#: Per source: raw field → contract column.
SOURCE_FIELDS: dict[str, dict[str, str]] = {
    WEATHER_UNDERGROUND: WU_FIELDS,
    INFOCLIMAT: INFOCLIMAT_FIELDS,
}
#: Per source: the contract measure columns it can fill, in contract order (every other one is null).
MEASURED_COLUMNS: dict[str, list[str]] = {
    source: [column for column in MEASURE_COLUMNS if column in fields.values()]
    for source, fields in SOURCE_FIELDS.items()
}

#: The station identity columns, filled from stations.py.
STATION_COLUMNS: list[str] = COLUMNS[: COLUMNS.index("timestamp")]


def is_synop(station: Station) -> bool:
    """Whether an InfoClimat station is a synop station (Météo-France, hourly).

    stations.py has no station type, so it is derived from the cadence: synop stations report
    hourly, the amateur "static" stations every 10 minutes.
    """
    return station.source == INFOCLIMAT and station.cadence >= timedelta(hours=1)


def measured_columns(station_id: str) -> list[str]:
    """The contract measure columns a station actually reports (contract order); others are always null."""
    station = STATIONS[station_id]
    if station.source != INFOCLIMAT:
        return list(MEASURED_COLUMNS[station.source])
    skipped = () if is_synop(station) else INFOCLIMAT_STATIC_NULL_FIELDS + INFOCLIMAT_SYNOP_ONLY_FIELDS
    unmeasured = {INFOCLIMAT_FIELDS[field] for field in skipped}
    return [column for column in MEASURED_COLUMNS[INFOCLIMAT] if column not in unmeasured]


# --- the result -------------------------------------------------------------------------------


@dataclass
class Transformed:
    """One raw batch transformed: contract rows, rejected raw rows with reasons, and the count read."""

    frame: pd.DataFrame  # exactly schema COLUMNS in order, contract dtypes
    rejects: list[dict]  # {"reason", "station_id", "record", _source_uri, _source_position, _ingested_at}
    read: int  # raw rows given: len(frame) + len(rejects)


def column_values(rows: Sequence[dict[str, Any]], key: str) -> list[Any]:
    """One raw field of every row (None where absent)."""
    return [row.get(key) for row in rows]


def build_frame(
    stations: Sequence[Station | None],
    station_codes: np.ndarray,
    timestamps: np.ndarray,
    measures: dict[str, np.ndarray],
) -> pd.DataFrame:
    """The contract frame: station columns from ``stations[station_codes]``, UTC ``timestamps``
    (int64 microseconds since the epoch) and float ``measures`` by contract column (others null).

    ``stations`` may hold None for codes no kept row uses (an unknown station id).
    """
    n = len(station_codes)
    data: dict[str, Any] = {}
    for column, attribute in zip(
        STATION_COLUMNS, ("station_id", "name", "source", "latitude", "longitude", "elevation_m")
    ):
        numeric = column in ("latitude", "longitude", "elevation_m")
        blank = np.nan if numeric else ""  # a None station: never selected by a kept row
        per_station = pd.array(
            [blank if s is None else getattr(s, attribute) for s in stations], dtype=np.float64 if numeric else "str"
        )
        data[column] = per_station.take(station_codes)
    data["timestamp"] = pd.array(timestamps.astype("datetime64[us]"), dtype="datetime64[us]").tz_localize("UTC")
    for column in MEASURE_COLUMNS:
        values = measures.get(column)
        if values is None:
            values = np.full(n, np.nan)
        if column == "weather_code":
            data[column] = pd.array(values, dtype="Float64").astype("Int64")
        else:
            data[column] = np.asarray(values, dtype=np.float64)
    frame = pd.DataFrame(data, columns=COLUMNS)
    frame["timestamp"] = frame["timestamp"].astype(TIMESTAMP_DTYPE)
    return frame


def out_of_range(values: np.ndarray, column: str, field: str, raw: Sequence[Any]) -> tuple[np.ndarray, Any] | None:
    """(bad mask, reason(row)) for converted ``values`` outside ``column``'s physical range in the
    contract, or None if the column has no range. The row is rejected, not loaded: one impossible
    reading must not hold back the rest of the day."""
    bounds = RANGE_BOUNDS.get(column)
    if bounds is None:
        return None
    below, above = below_and_above(values, bounds)
    bad = below | above
    allowed = f"{bounds.get('min', '-inf')} to {bounds.get('max', 'inf')}"

    def reason(row: int) -> str:
        shown = raw[row].replace("\u00a0", " ") if isinstance(raw[row], str) else raw[row]
        return f"{field}: {shown!r} is {values[row]:.6g} in {column}, outside its physical range ({allowed})"

    return bad, reason


def make_reject(reason: str, station_id: str | None, row: dict[str, Any]) -> dict[str, Any]:
    """A rejected raw row: the reason, its station, the row without lineage, and the lineage."""
    return {
        "reason": reason,
        "station_id": station_id,
        "record": {key: value for key, value in row.items() if key not in LINEAGE_FIELDS},
        SOURCE_URI: row.get(SOURCE_URI),
        SOURCE_POSITION: row.get(SOURCE_POSITION),
        INGESTED_AT: row.get(INGESTED_AT),
    }


def collect_rejects(
    rows: Sequence[dict[str, Any]], problems: Sequence[tuple[np.ndarray, Any]], station_of: Any
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """(mask of rows kept, reject dicts) from per-check (bad mask, reason(row) callable) pairs.

    Only rejected rows are visited in Python; every reason of a row is reported, joined by "; ".
    """
    bad = np.zeros(len(rows), dtype=bool)
    for mask, _ in problems:
        bad |= mask
    rejects = []
    for row in np.flatnonzero(bad):
        reasons = [reason(row) for mask, reason in problems if mask[row]]
        rejects.append(make_reject("; ".join(reasons), station_of(row), rows[row]))
    return ~bad, rejects
