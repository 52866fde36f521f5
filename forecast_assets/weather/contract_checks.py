"""The contract checks of a weather_data day: every row conforms to the Pandera model, one row per key."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa

from forecast_assets.weather.check_specs import (
    SAMPLE_SIZE,
    SCHEMA_CONFORMANCE,
    UNIQUE_STATION_TIMESTAMP,
    CheckOutcome,
    outcome,
    records,
)
from forecast_assets.weather.schema import KEY_COLUMNS, WeatherData


def schema_conformance(frame: pd.DataFrame) -> CheckOutcome:
    """One Pandera validation of the whole frame (lazy: every failure case), summarised per column and check."""
    try:
        WeatherData.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as error:
        cases = error.failure_cases
        by_column_check = cases.groupby(["column", "check"], dropna=False).size()
        table = [
            {"column": str(col), "check": str(check), "failures": int(n)} for (col, check), n in by_column_check.items()
        ]
        failing_columns = [c for c in cases["column"].dropna().unique() if c in frame.columns]
        failing_index = pd.unique(cases["index"].dropna())
        sample_rows = frame.loc[
            frame.index.isin(failing_index),
            [c for c in KEY_COLUMNS if c in frame] + [c for c in failing_columns if c not in KEY_COLUMNS],
        ]
        return outcome(
            SCHEMA_CONFORMANCE,
            False,
            f"{len(cases)} failure(s) in {cases['column'].nunique()} column(s): "
            + ", ".join(sorted(str(c) for c in cases["column"].dropna().unique())),
            {"failure_count": len(cases), "failing_rows": len(failing_index)},
            table,
            failures_by_column={str(k): int(v) for k, v in cases.groupby("column").size().items()},
            failures_by_check={str(k): int(v) for k, v in cases.groupby("check").size().items()},
            failure_cases_sample=[
                {k: (None if pd.isna(v) else str(v)) for k, v in row.items()}
                for row in cases[["column", "check", "failure_case", "index"]].head(SAMPLE_SIZE).to_dict("records")
            ],
            failing_rows_sample=records(sample_rows),
        )
    return _conforms(len(frame))


def _conforms(rows: int) -> CheckOutcome:
    return outcome(
        SCHEMA_CONFORMANCE, True, f"{rows} rows conform to WeatherData", {"failure_count": 0, "failing_rows": 0}, []
    )


def schema_conformance_days(frame: pd.DataFrame, bounds: np.ndarray) -> list[CheckOutcome]:
    """:func:`schema_conformance` of each day of ``frame`` (day ``d``: rows ``bounds[d]:bounds[d+1]``,
    validated alone with a fresh index), with one Pandera validation of all of them.

    A frame conforms only if each of its days does, so days conform when the whole does; a day
    holding a failing row (or every day, for a failure of no row) is validated alone for its outcome.
    """
    n_days = len(bounds) - 1
    if n_days == 1:
        return [schema_conformance(frame)]
    try:
        WeatherData.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as error:
        index = error.failure_cases["index"]
        if index.isna().any():
            failing = set(range(n_days))
        else:
            positions = frame.index.get_indexer(pd.unique(index))
            failing = set(np.searchsorted(bounds, positions, side="right") - 1) if (positions >= 0).all() else None
            failing = set(range(n_days)) if failing is None else failing
        return [
            schema_conformance(frame.iloc[bounds[d] : bounds[d + 1]].reset_index(drop=True))
            if d in failing
            else _conforms(int(bounds[d + 1] - bounds[d]))
            for d in range(n_days)
        ]
    return [_conforms(int(bounds[d + 1] - bounds[d])) for d in range(n_days)]


def unique_station_timestamp(frame: pd.DataFrame) -> CheckOutcome:
    """At most one row per (station_id, timestamp): the extra rows per station, and a sample of both copies."""
    missing = [c for c in KEY_COLUMNS if c not in frame]
    if missing:
        return outcome(
            UNIQUE_STATION_TIMESTAMP,
            False,
            f"key column(s) missing: {', '.join(missing)}",
            {"duplicate_count": 0},
            [],
            missing_columns=missing,
        )
    extra, repeated = _duplicated_keys(frame)
    count = int(extra.sum())
    table, sample = [], []
    if count:
        per_station = frame.loc[extra].groupby("station_id").size()
        table = [{"station_id": str(s), "duplicates": int(n)} for s, n in per_station.items()]
        sample = records(frame.loc[repeated, KEY_COLUMNS].sort_values(KEY_COLUMNS))
    summary = (
        f"{count} duplicated (station_id, timestamp) row(s)"
        if count
        else f"{len(frame)} rows, no duplicated (station_id, timestamp)"
    )
    return outcome(
        UNIQUE_STATION_TIMESTAMP,
        count == 0,
        summary,
        {"duplicate_count": count},
        table,
        duplicates_per_station={r["station_id"]: r["duplicates"] for r in table},
        sample=sample,
    )


def _duplicated_keys(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``frame.duplicated(KEY_COLUMNS)`` with keep="first" and keep=False: one sort of integer codes
    when the timestamps are datetimes (the contract), pandas' hashing otherwise."""
    stamps = frame[KEY_COLUMNS[1]]
    if not isinstance(stamps.dtype, pd.DatetimeTZDtype | np.dtypes.DateTime64DType):
        return (
            frame.duplicated(KEY_COLUMNS, keep="first").to_numpy(),
            frame.duplicated(KEY_COLUMNS, keep=False).to_numpy(),
        )
    codes, _ = pd.factorize(frame[KEY_COLUMNS[0]])  # null ids share code -1, as duplicated() has them equal
    instants = pd.DatetimeIndex(stamps).asi8  # NaT: one integer, equal to itself as in duplicated()
    order = np.lexsort((instants, codes))  # stable: equal keys keep their order, the first one first
    same = np.zeros(len(order), dtype=bool)
    same[1:] = (np.diff(codes[order]) == 0) & (np.diff(instants[order]) == 0)
    extra = np.zeros(len(order), dtype=bool)
    extra[order[same]] = True
    repeated = np.zeros(len(order), dtype=bool)
    repeated[order[same]] = True
    repeated[order[np.flatnonzero(same) - 1]] = True
    return extra, repeated
