"""The weather stage's view of the providers: each one's transform (dispatch table), the columns a
station measures, and de-duplication of the day's rows.

Each provider's knowledge lives in its own module: :mod:`forecast_assets.weather.wunderground` and
:mod:`forecast_assets.weather.infoclimat` (readers: ``forecast_assets.raw.*``); what they share in
:mod:`forecast_assets.weather.convert`. Import names from the module that defines them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from forecast_assets.feeds import Feed
from forecast_assets.stations import INFOCLIMAT, STATIONS, WEATHER_UNDERGROUND
from forecast_assets.weather import infoclimat, wunderground
from forecast_assets.weather.convert import Transformed
from forecast_assets.weather.landed import LandedColumns
from forecast_assets.weather.schema import KEY_COLUMNS, MEASURE_COLUMNS


@dataclass(frozen=True)
class ProviderTransform:
    """What the weather stage needs of a provider: its transform, the raw fields it reads, and the raw
    field naming a record's station."""

    transform: Callable[[LandedColumns, Feed, date], Transformed]  # (landed rows, feed, partition day)
    read_fields: tuple[str, ...]
    station_field: str | None  # None: every record of a feed is its single station's
    fields: dict[str, str]  # raw field → contract measure column
    #: several files of a feed at once: (landed rows, feed, each row's partition day, each row's file)
    transform_files: Callable[[LandedColumns, Feed, np.ndarray, np.ndarray], Transformed] | None = None


#: The transform of each provider (the ``provider`` of forecast_assets.feeds entries).
TRANSFORMS: dict[str, ProviderTransform] = {
    WEATHER_UNDERGROUND: ProviderTransform(
        lambda rows, feed, day: wunderground.transform_wunderground(rows, feed.station_ids[0], day),
        wunderground.READ_FIELDS,
        station_field=None,
        fields=wunderground.WU_FIELDS,
        transform_files=lambda rows, feed, days, files: wunderground.transform_wunderground_sheets(
            rows, feed.station_ids[0], days, files
        ),
    ),
    INFOCLIMAT: ProviderTransform(
        lambda rows, feed, day: infoclimat.transform_infoclimat(rows),
        infoclimat.READ_FIELDS,
        station_field=infoclimat.STATION_FIELD,
        fields=infoclimat.INFOCLIMAT_FIELDS,
        transform_files=lambda rows, feed, days, files: infoclimat.transform_infoclimat(rows),
    ),
}


#: Per provider: the contract measure columns it can fill, in contract order (every other one is null).
MEASURED_COLUMNS: dict[str, list[str]] = {
    provider: [column for column in MEASURE_COLUMNS if column in t.fields.values()]
    for provider, t in TRANSFORMS.items()
}


def measured_columns(station_id: str) -> list[str]:
    """The contract measure columns a station actually reports (contract order); others are always null."""
    station = STATIONS[station_id]
    if station.provider != INFOCLIMAT:
        return list(MEASURED_COLUMNS[station.provider])
    unmeasured = {infoclimat.INFOCLIMAT_FIELDS[f] for f in infoclimat.unmeasured_fields(station)}
    return [column for column in MEASURED_COLUMNS[INFOCLIMAT] if column not in unmeasured]


def deduplicate(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(kept, dropped): one row per (station_id, timestamp), the most complete one.

    Completeness is the number of non-null measures; ties go to the row that comes first in
    ``frame``. ``kept`` is sorted by (station_id, timestamp) with a fresh index; ``dropped`` holds
    the other rows in their original order, keeping their index labels in ``frame``. One sort.
    """
    kept, dropped, _ = deduplicate_days(frame, np.zeros(len(frame), dtype=np.intp))
    return kept, dropped


def deduplicate_days(frame: pd.DataFrame, days: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """:func:`deduplicate` of each day's rows (``days``: each row's day, non-decreasing), all in one sort:
    (kept, dropped, day of each kept row); ``kept`` is sorted by (day, station_id, timestamp)."""
    if frame.empty:
        return frame.reset_index(drop=True), frame, np.zeros(0, dtype=np.intp)
    completeness = frame[MEASURE_COLUMNS].notna().sum(axis=1).to_numpy()
    station_codes, _ = pd.factorize(frame[KEY_COLUMNS[0]], sort=True)
    stamps = pd.DatetimeIndex(frame[KEY_COLUMNS[1]]).asi8
    kept, dropped = deduplicated_positions(days, station_codes, stamps, completeness)
    return frame.iloc[kept].reset_index(drop=True), frame.iloc[dropped], days[kept]


def deduplicated_positions(
    days: np.ndarray, station_ranks: np.ndarray, stamps: np.ndarray, completeness: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The de-duplication as row positions, by one sort: (kept, in (day, station, timestamp) order;
    dropped, ascending). ``station_ranks`` order stations as their ids sort; of the rows of one
    (day, station, timestamp) the most complete is kept, the first of them on a tie."""
    position = np.arange(len(days))
    order = np.lexsort((position, -completeness, stamps, station_ranks, days))  # last key sorts first
    key_changes = np.ones(len(order), dtype=bool)
    key_changes[1:] = (np.diff(days[order]) != 0) | (np.diff(station_ranks[order]) != 0) | (np.diff(stamps[order]) != 0)
    return order[key_changes], np.sort(order[~key_changes])
