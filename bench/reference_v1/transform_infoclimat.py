"""InfoClimat API records (any stations, UTC) → contract rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np

from bench.reference_v1.stations import INFOCLIMAT, STATIONS
from bench.reference_v1.transform_common import (
    INFOCLIMAT_FIELDS,
    INFOCLIMAT_UNITS,
    Transformed,
    build_frame,
    collect_rejects,
    column_values,
    out_of_range,
)
from bench.reference_v1.units import convert_values, factorize

DH_UTC_FORMAT = "%Y-%m-%d %H:%M:%S"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INFOCLIMAT_IDS = sorted(s.station_id for s in STATIONS.values() if s.source == INFOCLIMAT)


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


def transform_infoclimat(rows: list[dict]) -> Transformed:
    """InfoClimat records as contract rows: measures are strings in the API's documented units.

    ``null``, ``""`` (nebulosite) and the other blank texts become null; ``temps_omm`` becomes the
    Int64 ``weather_code``; ``pluie_3h`` is copied as is. A record whose ``id_station`` is not an
    InfoClimat station of stations.py, whose ``dh_utc`` is not a UTC time, or with a value that does
    not parse or lies outside the contract's physical range is rejected with the reason.
    """
    n = len(rows)
    problems: list[tuple[np.ndarray, Any]] = []

    ids = column_values(rows, "id_station")
    id_codes, id_uniques = factorize(ids)
    known = [isinstance(u, str) and u in STATIONS and STATIONS[u].source == INFOCLIMAT for u in id_uniques]
    stations = [STATIONS[u] if ok else None for u, ok in zip(id_uniques, known)]
    unknown = ~np.append(np.array(known, dtype=bool), False)[id_codes]
    problems.append(
        (
            unknown,
            lambda i: (
                f"id_station: {ids[i]!r} is not an InfoClimat station of stations.py ({', '.join(_INFOCLIMAT_IDS)})"
            ),
        )
    )

    stamps = column_values(rows, "dh_utc")
    stamp_codes, stamp_uniques = factorize(stamps)
    parsed = [_dh_utc_micros(u) for u in stamp_uniques]
    micros = np.array([0 if p is None else p for p in parsed] + [0], dtype=np.int64)[stamp_codes]
    bad_stamp = np.append(np.array([p is None for p in parsed], dtype=bool), True)[stamp_codes]
    problems.append((bad_stamp, lambda i: f"dh_utc: {stamps[i]!r} is not a UTC time written 'YYYY-MM-DD HH:MM:SS'"))

    measures: dict[str, np.ndarray] = {}
    for field, column in INFOCLIMAT_FIELDS.items():
        values = column_values(rows, field)
        converted = convert_values(
            values,
            column,
            field=field,
            bare_unit=INFOCLIMAT_UNITS[field],
            whole=column == "weather_code",
        )
        measures[column] = converted.values
        problems.append((converted.bad, converted.reason))
        impossible = out_of_range(converted.values, column, field, values)
        if impossible:
            problems.append(impossible)

    def station_of(i: int) -> str | None:
        return ids[i] if isinstance(ids[i], str) else None

    keep, rejects = collect_rejects(rows, problems, station_of)
    frame = build_frame(
        stations,
        id_codes[keep],
        micros[keep],
        {column: values[keep] for column, values in measures.items()},
    )
    return Transformed(frame=frame, rejects=rejects, read=n)
