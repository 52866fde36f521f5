"""Station metadata: the one place that says which stations exist and what they are."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

#: Providers: who runs a station's network; the value of the contract's ``source`` column.
WEATHER_UNDERGROUND = "weather_underground"
INFOCLIMAT = "infoclimat"


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
    provider: str  # WEATHER_UNDERGROUND | INFOCLIMAT: written to the contract's ``source`` column
    feed: str  # the raw feed (forecast_assets.feeds) it arrives through: "BE", "FR", "InfoClimat"
    cadence: timedelta  # expected spacing between observations


# One line per station (fmt: off keeps the table a table).
# fmt: off
_STATION_TABLE: tuple[Station, ...] = (
    #       id            name              city            country  lat     lon    elev  timezone          provider             feed          cadence
    Station("IICHTE19",   "WeerstationBS",  "Ichtegem",     "BE",    51.092, 2.999, 15,   "Europe/Brussels", WEATHER_UNDERGROUND, "BE",         timedelta(minutes=5)),
    Station("ILAMAD25",   "La Madeleine",   "La Madeleine", "FR",    50.659, 3.070, 23,   "Europe/Paris",    WEATHER_UNDERGROUND, "FR",         timedelta(minutes=5)),
    Station("00052",      "Armentières",    "Armentières",  "FR",    50.689, 2.877, 16,   "Europe/Paris",    INFOCLIMAT,          "InfoClimat", timedelta(minutes=10)),
    Station("000R5",      "Bergues",        "Bergues",      "FR",    50.968, 2.441, 17,   "Europe/Paris",    INFOCLIMAT,          "InfoClimat", timedelta(minutes=10)),
    Station("07015",      "Lille-Lesquin",  "Lesquin",      "FR",    50.575, 3.092, 47,   "Europe/Paris",    INFOCLIMAT,          "InfoClimat", timedelta(hours=1)),
    Station("STATIC0010", "Hazebrouck",     "Hazebrouck",   "FR",    50.734, 2.545, 31,   "Europe/Paris",    INFOCLIMAT,          "InfoClimat", timedelta(minutes=10)),
)
# fmt: on

STATIONS: dict[str, Station] = {s.station_id: s for s in _STATION_TABLE}


def station_ids_of(provider: str) -> tuple[str, ...]:
    """The ids of a provider's stations, in table order."""
    return tuple(s.station_id for s in STATIONS.values() if s.provider == provider)


#: The stations InfoClimat's API is asked for.
INFOCLIMAT_STATION_IDS: tuple[str, ...] = station_ids_of(INFOCLIMAT)
