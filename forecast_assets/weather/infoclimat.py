"""InfoClimat API records (any stations, UTC) → contract rows.

The reader's side (API, saved responses, ``dh_utc`` format) is :mod:`forecast_assets.raw.infoclimat`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from forecast_assets.raw.infoclimat import DH_UTC_FORMAT
from forecast_assets.stations import INFOCLIMAT, STATIONS, Station, station_ids_of
from forecast_assets.weather.convert import (
    Checked,
    ContractRows,
    MeasureField,
    Problem,
    Transformed,
    checked_exactly,
    collect_rejects,
    convert_measures,
)
from forecast_assets.weather.landed import LandedColumns
from forecast_assets.weather.units import measure_parser

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
#: The record field naming its station.
STATION_FIELD = "id_station"
#: The raw fields the transform reads.
READ_FIELDS: tuple[str, ...] = (STATION_FIELD, "dh_utc", *INFOCLIMAT_FIELDS)

_MEASURES: tuple[MeasureField, ...] = tuple(
    MeasureField(
        field,
        column,
        measure_parser(column, field=field, bare_unit=INFOCLIMAT_UNITS[field], whole=column == "weather_code"),
    )
    for field, column in INFOCLIMAT_FIELDS.items()
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: A ``dh_utc`` text in the exact shape (seconds below 60: a leap second is not a UTC time here either).
_DH_UTC_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:[0-5]\d")


def is_synop(station: Station) -> bool:
    """Whether an InfoClimat station is a synop station (Météo-France, hourly).

    stations.py has no station type, so it is derived from the cadence: synop stations report
    hourly, the amateur "static" stations every 10 minutes.
    """
    return station.provider == INFOCLIMAT and station.cadence >= timedelta(hours=1)


def unmeasured_fields(station: Station) -> tuple[str, ...]:
    """The InfoClimat fields a station never fills (always null)."""
    return () if is_synop(station) else INFOCLIMAT_STATIC_NULL_FIELDS + INFOCLIMAT_SYNOP_ONLY_FIELDS


def _dh_utc_micros(value: Any) -> int | None:
    """µs since the epoch of a ``YYYY-MM-DD HH:MM:SS`` UTC text, None if it is not one."""
    if not isinstance(value, str):
        return None
    try:
        instant = datetime.strptime(value.strip(), DH_UTC_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None
    delta = instant - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _dh_utc_micros_all(values: Sequence[Any]) -> list[int | None]:
    """``_dh_utc_micros`` of each value: texts shaped exactly ``YYYY-MM-DD HH:MM:SS`` parsed at once
    (polars), every other value (and any such text polars refuses) one by one as before."""
    shaped = [isinstance(v, str) and _DH_UTC_SHAPE.fullmatch(v) is not None for v in values]
    fast = (
        pl.Series([v for v, ok in zip(values, shaped) if ok], dtype=pl.String)
        .str.strptime(pl.Datetime("us", "UTC"), DH_UTC_FORMAT, strict=False)
        .dt.epoch("us")
        .to_list()
    )
    found = iter(fast)
    out = [next(found) if ok else None for ok in shaped]
    return [_dh_utc_micros(v) if micros is None else micros for v, micros in zip(values, out)]


def _station(value: Any) -> Station | None:
    """The InfoClimat station of stations.py an ``id_station`` value names, else None."""
    station = STATIONS.get(value) if isinstance(value, str) else None
    return station if station is not None and station.provider == INFOCLIMAT else None


def _check(landed: LandedColumns) -> tuple[Checked, list[Station | None], np.ndarray]:
    """One pass over records: measures, problems, the station of each distinct id and each row's instant."""
    problems: list[Problem] = []
    ids = landed.columns[STATION_FIELD]
    stations = [_station(u) for u in ids.uniques]
    unknown = ~np.append(np.array([s is not None for s in stations], dtype=bool), False)[ids.codes]
    problems.append(
        (
            unknown,
            lambda i: (
                f"id_station: {ids.value(i)!r} is not an InfoClimat station of stations.py "
                f"({', '.join(sorted(station_ids_of(INFOCLIMAT)))})"
            ),
        )
    )
    stamps = landed.columns["dh_utc"]
    parsed = _dh_utc_micros_all(stamps.uniques)
    micros = np.array([0 if p is None else p for p in parsed] + [0], dtype=np.int64)[stamps.codes]
    bad_stamp = np.append(np.array([p is None for p in parsed], dtype=bool), True)[stamps.codes]
    problems.append(
        (bad_stamp, lambda i: f"dh_utc: {stamps.value(i)!r} is not a UTC time written 'YYYY-MM-DD HH:MM:SS'")
    )
    return convert_measures(landed, _MEASURES, problems), stations, micros


def _stations_read(landed: LandedColumns) -> dict[str | None, int]:
    """Rows per station id of stations.py (any provider, as the accounting counts them); None: any other."""
    ids = landed.columns[STATION_FIELD]
    counts = np.bincount(ids.codes + 1, minlength=len(ids.uniques) + 1)
    out: dict[str | None, int] = {}
    for value, count in zip([None, *ids.uniques], counts):
        if count:
            key = value if isinstance(value, str) and value in STATIONS else None
            out[key] = out.get(key, 0) + int(count)
    return out


def transform_infoclimat(rows: LandedColumns | Sequence[dict[str, Any]]) -> Transformed:
    """InfoClimat records as contract rows: measures are strings in the API's documented units.

    ``rows``: the landed records, as columns (:class:`LandedColumns`) or as dicts. ``null``, ``""``
    (nebulosite) and the other blank texts become null; ``temps_omm`` becomes the Int64
    ``weather_code``; ``pluie_3h`` is copied as is. A record whose ``id_station`` is not an InfoClimat
    station of stations.py, whose ``dh_utc`` is not a UTC time, or with a value that does not parse or
    lies outside the contract's physical range is rejected with the reason.
    """
    landed = rows if isinstance(rows, LandedColumns) else LandedColumns.from_rows(rows, READ_FIELDS)
    found: dict[str, Any] = {}

    def check(batch: LandedColumns) -> Checked:
        checked, found["stations"], found["micros"] = _check(batch)
        return checked

    landed, checked = checked_exactly(landed, check)
    ids = landed.columns[STATION_FIELD]

    def station_of(i: int) -> str | None:
        value = ids.value(i)
        return value if isinstance(value, str) else None

    keep, rejects = collect_rejects(landed, checked, station_of)
    rows = ContractRows(
        found["stations"],
        ids.codes[keep],
        found["micros"][keep],
        {column: values[keep] for column, values in checked.measures.items()},
    )
    return Transformed(
        rows=rows,
        rejects=rejects,
        read=landed.n,
        stations_read=_stations_read(landed),
        kept_rows=np.flatnonzero(keep),
        rejected_rows=np.flatnonzero(~keep),
        landed=landed,
    )
