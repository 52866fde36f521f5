"""The feed registry: one frozen entry per raw feed, from which every stage derives what it needs.

A feed is one daily-partitioned raw asset (``raw/<key>``): where its reader comes from, the file
its day lands under, the pool that rate-limits it, its provider and (through the station table)
its stations. Adding a Weather Underground station is one line here, one line in
:mod:`forecast_assets.stations` and its source setting (``FORECAST_<KEY>_SOURCE``).
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg
import pandas as pd

from forecast_assets.partitions import partition_day
from forecast_assets.stations import INFOCLIMAT, STATIONS, WEATHER_UNDERGROUND, Station

#: Providers whose stations deliver per *local* day (a workbook sheet is a local day); others per UTC day.
LOCAL_DAY_PROVIDERS: frozenset[str] = frozenset({WEATHER_UNDERGROUND})


@dataclass(frozen=True)
class Feed:
    """One raw feed: a raw asset, its reader and where its days land."""

    key: str  # the raw asset's last key part and staging folder: raw/<key>/<DDMMYY>/
    provider: str  # WEATHER_UNDERGROUND | INFOCLIMAT: picks the reader and the transform
    reader_key: str  # resource key of the reader that fetches its days
    landed_file: str  # file name (without .jsonl) a day lands under
    source_setting: str  # environment variable naming where the reader reads from
    sample_file: str | None = None  # shipped sample (forecast_assets/sample_data/) used when unset
    pool: str | None = None  # Dagster pool limiting concurrent fetches (a rate-limited API)

    @property
    def asset_key(self) -> dg.AssetKey:
        """``raw/<key>``."""
        return dg.AssetKey(["raw", self.key])

    @property
    def stations(self) -> tuple[Station, ...]:
        """The stations whose observations arrive through this feed (station table order)."""
        return tuple(s for s in STATIONS.values() if s.feed == self.key)

    @property
    def station_ids(self) -> tuple[str, ...]:
        return tuple(s.station_id for s in self.stations)


#: Concurrency pool of the rate-limited InfoClimat API.
INFOCLIMAT_POOL = "infoclimat_api"

# fmt: off
_FEED_TABLE: tuple[Feed, ...] = (
    #    key           provider             reader        landed file   source setting                sample file
    Feed("BE",         WEATHER_UNDERGROUND, "wu_be",      "IICHTE19",   "FORECAST_BE_SOURCE",         "IICHTE19.xlsx"),
    Feed("FR",         WEATHER_UNDERGROUND, "wu_fr",      "ILAMAD25",   "FORECAST_FR_SOURCE",         "ILAMAD25.xlsx"),
    Feed("InfoClimat", INFOCLIMAT,          "infoclimat", "infoclimat", "FORECAST_INFOCLIMAT_SOURCE",
         "infoclimat_2024-10-01_2024-10-07.json", pool=INFOCLIMAT_POOL),
)
# fmt: on

FEEDS: dict[str, Feed] = {f.key: f for f in _FEED_TABLE}
#: The feed keys, in registry order.
RAW_FEEDS: tuple[str, ...] = tuple(FEEDS)


def feeds_of(provider: str) -> tuple[Feed, ...]:
    """The feeds of one provider, in registry order."""
    return tuple(f for f in FEEDS.values() if f.provider == provider)


def feed_of(station: Station) -> Feed:
    """The feed a station's observations arrive through."""
    return FEEDS[station.feed]


def station_window(station: Station, partition_key: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The UTC window ``[start, end)`` a station's rows of a partition cover.

    WU sheets are per local day in the station's zone (23 h or 25 h on DST days); InfoClimat
    observations are per UTC day.
    """
    day = pd.Timestamp(partition_day(partition_key))
    zone = station.timezone if station.provider in LOCAL_DAY_PROVIDERS else "UTC"
    start, end = (
        t.tz_localize(zone, nonexistent="shift_forward", ambiguous=False).tz_convert("UTC")
        for t in (day, day + pd.Timedelta(days=1))
    )
    return start, end


def day_windows(partition_key: str) -> dict[str, tuple[pd.Timestamp, pd.Timestamp]]:
    """Every station's UTC window ``[start, end)`` of the day (:func:`station_window`),
    in station table order."""
    # a window depends on the station's provider (local or UTC day) and zone only: one per pair
    shared: dict[tuple[str, str], tuple[pd.Timestamp, pd.Timestamp]] = {}
    windows = {}
    for station in STATIONS.values():
        zone = (station.provider, station.timezone)
        if zone not in shared:
            shared[zone] = station_window(station, partition_key)
        windows[station.station_id] = shared[zone]
    return windows


def _validate() -> None:
    """Fail at import, naming the line to fix, when the station table and the registry disagree."""
    for station in STATIONS.values():
        if station.feed not in FEEDS:
            raise ValueError(
                f"station {station.station_id} arrives through feed {station.feed!r}, which is not in "
                f"forecast_assets.feeds ({', '.join(FEEDS)}): add the feed or fix the station line"
            )
    for feed in FEEDS.values():
        if any(s.provider != feed.provider for s in feed.stations):
            raise ValueError(
                f"feed {feed.key} ({feed.provider}) lists a station of another provider: "
                f"{[s.station_id for s in feed.stations]}"
            )
        if feed.provider == WEATHER_UNDERGROUND and len(feed.stations) != 1:
            raise ValueError(
                f"Weather Underground feed {feed.key} needs exactly one station (one workbook is one "
                f"station's), it has {list(feed.station_ids)}"
            )


_validate()


def raw_asset_key(feed: str) -> dg.AssetKey:
    """The asset key of a feed's raw asset: ``raw/<feed>``."""
    return FEEDS[feed].asset_key
