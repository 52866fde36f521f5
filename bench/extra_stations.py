"""Synthetic stations for the scale section, registered in the bench's own processes only.

The pipeline rejects station ids missing from ``forecast_assets.stations.STATIONS``, and several
modules derive tables from it when they are imported (the Pandera ``isin`` list, the measured
columns per station). So a process that measures N > 6 stations enters ``registered(N)`` *before*
it imports the pipeline; the generator (which reads ``STATIONS`` at call time) needs no more.

Every extra station is an InfoClimat station (a copy of ``00052`` made with
``dataclasses.replace``) spread over the same corner of the Nord as the real ones: a Weather
Underground feed holds exactly one station (one workbook, one landed file per feed and day), so
the only feed that can carry 156 more stations is InfoClimat's. One extra in five reports every
5 minutes (WU's cadence) instead of 10, which brings 162 stations x 365 days to ~10.2 M raw rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta

from forecast_assets.stations import STATIONS, Station

PREFIX = "BENCH"
TEMPLATE = "00052"  # Armentières: a 10-minute InfoClimat static station
#: Extra ``i`` reports every 5 minutes when ``i % FAST_EVERY == FAST_AT`` (31 of 156), else every 10.
FAST_EVERY, FAST_AT = 5, 1


def real_station_ids() -> list[str]:
    """The project's own stations (table order), without any registered extra."""
    return [sid for sid in STATIONS if not sid.startswith(PREFIX)]


def extra_station(i: int) -> Station:
    """Extra station ``i``: deterministic id, position (lat 50.55-51.10, lon 2.40-3.10) and cadence."""
    fast = i % FAST_EVERY == FAST_AT
    return replace(
        STATIONS[TEMPLATE],
        station_id=f"{PREFIX}{i:03d}",
        name=f"Bench station {i}",
        city=f"Bench {i}",
        latitude=round(50.55 + 0.55 * ((i * 37) % 157) / 157, 3),
        longitude=round(2.40 + 0.70 * ((i * 61) % 157) / 157, 3),
        elevation_m=5 + (i * 13) % 60,
        cadence=timedelta(minutes=5 if fast else 10),
    )


def scale_station_ids(n_stations: int) -> list[str]:
    """The ``n_stations`` of a scale run: the real stations first, then extras ``BENCH000``…"""
    real = real_station_ids()
    if n_stations < 1:
        raise ValueError(f"a scale run needs at least 1 station, got {n_stations}")
    return real[:n_stations] + [f"{PREFIX}{i:03d}" for i in range(max(0, n_stations - len(real)))]


@contextmanager
def registered(n_stations: int) -> Iterator[list[str]]:
    """Add the extras of an ``n_stations`` run to ``STATIONS`` for the block; its station ids.

    Entries already present (a forked worker inherits them) are left alone, and only the entries
    this block added are removed on exit.
    """
    added = []
    for i in range(max(0, n_stations - len(real_station_ids()))):
        station = extra_station(i)
        if station.station_id not in STATIONS:
            STATIONS[station.station_id] = station
            added.append(station.station_id)
    try:
        yield scale_station_ids(n_stations)
    finally:
        for station_id in added:
            STATIONS.pop(station_id, None)
