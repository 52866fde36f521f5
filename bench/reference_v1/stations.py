"""Station metadata: the one place that says which stations exist and what they are."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class Station:
    """A weather station and the facts every stage needs about it."""

    station_id: str
    name: str
    city: str
    country: str
    latitude: float
    longitude: float
    elevation_m: float
    timezone: str
    source: str  # "weather_underground" | "infoclimat"
    raw_source: str  # the raw partition family it arrives through: "BE", "FR", "InfoClimat"
    cadence: timedelta  # expected spacing between observations


WEATHER_UNDERGROUND = "weather_underground"
INFOCLIMAT = "infoclimat"

STATIONS: dict[str, Station] = {
    s.station_id: s
    for s in (
        Station(
            "IICHTE19",
            "WeerstationBS",
            "Ichtegem",
            "BE",
            51.092,
            2.999,
            15,
            "Europe/Brussels",
            WEATHER_UNDERGROUND,
            "BE",
            timedelta(minutes=5),
        ),
        Station(
            "ILAMAD25",
            "La Madeleine",
            "La Madeleine",
            "FR",
            50.659,
            3.070,
            23,
            "Europe/Paris",
            WEATHER_UNDERGROUND,
            "FR",
            timedelta(minutes=5),
        ),
        Station(
            "00052",
            "Armentières",
            "Armentières",
            "FR",
            50.689,
            2.877,
            16,
            "Europe/Paris",
            INFOCLIMAT,
            "InfoClimat",
            timedelta(minutes=10),
        ),
        Station(
            "000R5",
            "Bergues",
            "Bergues",
            "FR",
            50.968,
            2.441,
            17,
            "Europe/Paris",
            INFOCLIMAT,
            "InfoClimat",
            timedelta(minutes=10),
        ),
        Station(
            "07015",
            "Lille-Lesquin",
            "Lesquin",
            "FR",
            50.575,
            3.092,
            47,
            "Europe/Paris",
            INFOCLIMAT,
            "InfoClimat",
            timedelta(hours=1),
        ),
        Station(
            "STATIC0010",
            "Hazebrouck",
            "Hazebrouck",
            "FR",
            50.734,
            2.545,
            31,
            "Europe/Paris",
            INFOCLIMAT,
            "InfoClimat",
            timedelta(minutes=10),
        ),
    )
}

INFOCLIMAT_STATION_IDS: tuple[str, ...] = tuple(s.station_id for s in STATIONS.values() if s.source == INFOCLIMAT)


def stations_of(raw_source: str) -> list[Station]:
    """The stations whose observations arrive through one raw source (``BE``, ``FR``, ``InfoClimat``)."""
    return [s for s in STATIONS.values() if s.raw_source == raw_source]


def _registered_extras() -> None:
    """Add the stations registered in today's table that 5aaf639's table lacks (the bench's extra
    stations of ``bench.extra_stations``), in 5aaf639's Station shape; the frozen six stay as they were."""
    from forecast_assets.stations import STATIONS as TODAY

    for station_id, station in TODAY.items():
        if station_id not in STATIONS:
            STATIONS[station_id] = Station(
                station.station_id,
                station.name,
                station.city,
                station.country,
                station.latitude,
                station.longitude,
                station.elevation_m,
                station.timezone,
                station.provider,
                station.feed,
                station.cadence,
            )


_registered_extras()
INFOCLIMAT_STATION_IDS = tuple(s.station_id for s in STATIONS.values() if s.source == INFOCLIMAT)
