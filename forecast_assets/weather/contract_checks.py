"""The contract checks of a weather_data day: every row conforms to the Pandera model, one row per key."""

from __future__ import annotations

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
    return outcome(
        SCHEMA_CONFORMANCE,
        True,
        f"{len(frame)} rows conform to WeatherData",
        {"failure_count": 0, "failing_rows": 0},
        [],
    )


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
    extra = frame.duplicated(KEY_COLUMNS, keep="first")
    count = int(extra.sum())
    per_station = frame.loc[extra].groupby("station_id").size()
    table = [{"station_id": str(s), "duplicates": int(n)} for s, n in per_station.items()]
    sample = frame.loc[frame.duplicated(KEY_COLUMNS, keep=False), KEY_COLUMNS].sort_values(KEY_COLUMNS)
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
        sample=records(sample),
    )
