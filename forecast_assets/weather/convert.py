"""What both providers' transforms share: the result type, the convert → range-check → reject loop,
the contract frame and the rejects."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from forecast_assets.staging.layout import INGESTED_AT, LINEAGE_FIELDS, SOURCE_POSITION, SOURCE_URI
from forecast_assets.stations import Station
from forecast_assets.weather.landed import LandedColumns
from forecast_assets.weather.schema import COLUMNS, MEASURE_COLUMNS, RANGE_BOUNDS, TIMESTAMP_DTYPE, below_and_above
from forecast_assets.weather.units import convert_factorized

#: The station identity columns, filled from stations.py.
STATION_COLUMNS: list[str] = COLUMNS[: COLUMNS.index("timestamp")]
_STATION_ATTRIBUTES = ("station_id", "name", "provider", "latitude", "longitude", "elevation_m")

#: A failed check over a batch: (bad rows mask, reason of bad row ``i``).
Problem = tuple[np.ndarray, Callable[[int], str]]


@dataclass
class ContractRows:
    """Contract rows as arrays, before any DataFrame: station ``stations[station_codes[i]]``, UTC
    ``timestamps`` (int64 microseconds since the epoch) and float ``measures`` by contract column
    (a column left out is null). Rows of several batches concatenate as arrays; a DataFrame is made
    once, of the rows kept (:meth:`frame`)."""

    stations: Sequence[Station | None]  # None: a code no row uses (an unknown station id)
    station_codes: np.ndarray  # intp
    timestamps: np.ndarray  # int64 µs
    measures: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.station_codes)

    def frame(self, index: np.ndarray | None = None) -> pd.DataFrame:
        """These rows as the contract frame (``index``: its labels, else a fresh range)."""
        frame = build_frame(self.stations, self.station_codes, self.timestamps, self.measures)
        if index is not None:
            frame.index = index
        return frame

    def take(self, rows: np.ndarray) -> ContractRows:
        """Rows ``rows`` (positions), in that order."""
        return ContractRows(
            self.stations,
            self.station_codes[rows],
            self.timestamps[rows],
            {column: values[rows] for column, values in self.measures.items()},
        )

    def completeness(self) -> np.ndarray:
        """Non-null measures per row (``frame[MEASURE_COLUMNS].notna().sum(axis=1)``)."""
        filled = np.zeros(len(self), dtype=np.int64)
        for column in MEASURE_COLUMNS:
            values = self.measures.get(column)
            if values is not None:
                filled += ~np.isnan(np.asarray(values, dtype=np.float64))
        return filled

    @classmethod
    def concat(cls, parts: Sequence[ContractRows], stations: Sequence[Station]) -> ContractRows:
        """Parts one after the other, their stations re-coded as positions in ``stations``."""
        position = {station.station_id: i for i, station in enumerate(stations)}
        codes = []
        for part in parts:
            lookup = np.array([position[s.station_id] if s is not None else -1 for s in part.stations] + [-1])
            codes.append(lookup[part.station_codes] if len(part) else np.zeros(0, dtype=np.intp))
        columns = {column for part in parts for column in part.measures}
        return cls(
            list(stations),
            np.concatenate(codes).astype(np.intp, copy=False) if codes else np.zeros(0, dtype=np.intp),
            np.concatenate([p.timestamps for p in parts]) if parts else np.zeros(0, dtype=np.int64),
            {
                column: np.concatenate(
                    [
                        np.asarray(p.measures[column], dtype=np.float64)
                        if column in p.measures
                        else np.full(len(p), np.nan)
                        for p in parts
                    ]
                )
                for column in MEASURE_COLUMNS
                if column in columns
            },
        )


@dataclass
class Transformed:
    """One raw batch transformed: contract rows, rejected raw rows with reasons, and the count read."""

    rows: ContractRows  # the kept rows, as arrays (``frame`` is them as the contract frame)
    rejects: list[dict]  # {"reason", "station_id", "record", _source_uri, _source_position, _ingested_at}
    read: int  # raw rows given: len(frame) + len(rejects)
    #: raw rows per station id of stations.py (None: a row naming no such station)
    stations_read: dict[str | None, int] = field(default_factory=dict)
    #: the batch's row each frame row comes from, and each reject's (in order): to split a chunk by file
    kept_rows: np.ndarray | None = None
    rejected_rows: np.ndarray | None = None
    #: the batch as finally checked (exact values of suspect rows included)
    landed: LandedColumns | None = None

    @functools.cached_property
    def frame(self) -> pd.DataFrame:
        """The kept rows: exactly schema COLUMNS in order, contract dtypes."""
        return self.rows.frame()


@dataclass(frozen=True)
class MeasureField:
    """A raw field that becomes a contract measure column, and how one of its values is parsed."""

    field: str
    column: str
    parse: Callable[[Any], float | None]  # raises UnitError with the reject reason


@dataclass
class Checked:
    """A batch after one pass: measures by contract column, and the checks that failed for some rows."""

    measures: dict[str, np.ndarray]
    problems: list[Problem]

    def bad(self, n: int) -> np.ndarray:
        """Rows failing any check."""
        bad = np.zeros(n, dtype=bool)
        for mask, _ in self.problems:
            bad |= mask
        return bad


def convert_measures(landed: LandedColumns, fields: Sequence[MeasureField], problems: list[Problem]) -> Checked:
    """Each measure field converted (distinct values parsed once), range-checked; failures appended."""
    measures: dict[str, np.ndarray] = {}
    for spec in fields:
        raw = landed.columns[spec.field]
        converted = convert_factorized(raw.codes, raw.uniques, spec.parse)
        measures[spec.column] = converted.values
        problems.append((converted.bad, converted.reason))
        impossible = out_of_range(converted.values, spec.column, spec.field, raw.value)
        if impossible:
            problems.append(impossible)
    return Checked(measures, problems)


def checked_exactly(landed: LandedColumns, check: Callable[[LandedColumns], Checked]) -> tuple[LandedColumns, Checked]:
    """``check`` the batch; if rows fail and their exact JSON values differ from the texts read, check
    again with those values (reasons quote them; a number may parse where its text does not)."""
    checked = check(landed)
    exact = landed.exact_for(checked.bad(landed.n))
    if exact is None:
        return landed, checked
    return exact, check(exact)


def build_frame(
    stations: Sequence[Station | None],
    station_codes: np.ndarray,
    timestamps: np.ndarray,
    measures: Mapping[str, np.ndarray],
) -> pd.DataFrame:
    """The contract frame: station columns from ``stations[station_codes]``, UTC ``timestamps``
    (int64 microseconds since the epoch) and float ``measures`` by contract column (others null).

    ``stations`` may hold None for codes no kept row uses (an unknown station id).
    """
    n = len(station_codes)
    data: dict[str, Any] = {}
    for column, attribute in zip(STATION_COLUMNS, _STATION_ATTRIBUTES):
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


def out_of_range(values: np.ndarray, column: str, field: str, raw_of: Callable[[int], Any]) -> Problem | None:
    """(bad mask, reason(row)) for converted ``values`` outside ``column``'s physical range in the
    contract, or None if the column has no range. The row is rejected, not loaded: one impossible
    reading must not hold back the rest of the day. ``raw_of(row)`` is the value as landed."""
    bounds = RANGE_BOUNDS.get(column)
    if bounds is None:
        return None
    below, above = below_and_above(values, bounds)
    bad = below | above
    allowed = f"{bounds.get('min', '-inf')} to {bounds.get('max', 'inf')}"

    def reason(row: int) -> str:
        raw = raw_of(row)
        shown = raw.replace("\u00a0", " ") if isinstance(raw, str) else raw
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
    landed: LandedColumns, checked: Checked, station_of: Callable[[int], str | None]
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """(mask of rows kept, reject dicts). Only rejected rows are visited in Python; every reason of a
    row is reported, joined by "; "."""
    bad = checked.bad(landed.n)
    rejects = []
    for row in np.flatnonzero(bad):
        reasons = [reason(row) for mask, reason in checked.problems if mask[row]]
        rejects.append(make_reject("; ".join(reasons), station_of(row), landed.row(row)))
    return ~bad, rejects
