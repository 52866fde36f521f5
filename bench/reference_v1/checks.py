"""weather_data asset checks: the Pandera contract, key uniqueness, completeness and row accounting.

The weather_data asset evaluates these checks itself, one partition (day) at a time
(``check_partition``), and records each day's outcomes as that day's evaluations (``log_outcomes``,
see :mod:`forecast_assets.partition_checks`); the day's quality report holds the same outcomes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
import pandas as pd
import pandera.pandas as pa
from tabulate import tabulate

from bench.reference_v1.partition_checks import day_check_spec, day_target, log_day_check
from bench.reference_v1.partitions import partition_day
from bench.reference_v1.schema import KEY_COLUMNS, WeatherData
from bench.reference_v1.stations import STATIONS, WEATHER_UNDERGROUND, Station

SCHEMA_CONFORMANCE = "schema_conformance"
UNIQUE_STATION_TIMESTAMP = "unique_station_timestamp"
COMPLETENESS = "completeness"
RECONCILIATION = "reconciliation"
STATION_DAY_REJECTS = "station_day_rejects"

ERROR = "ERROR"
WARN = "WARN"

#: Accounting key of raw rows that could not be attributed to a known station.
UNKNOWN_STATION = "unknown"

#: A station passes completeness when it fills at least this share of its expected slots for the day.
COVERAGE_THRESHOLD = 0.9

#: Columns null most of the time by design (SYNOP reports 1 h / 3 h precipitation only at some
#: hours), so a high null rate says nothing about the data's health: never null-rate checked.
#: Sparse by design: hourly rain only on the hour, 3-hour rain every 3 h (or hourly at 000R5),
#: cloud cover in 3-hourly SYNOP messages only, snow depth only when there is snow on the ground.
SPARSE_COLUMNS: frozenset[str] = frozenset({"precip_1h_mm", "precip_3h_mm", "cloud_cover_octas", "snow_depth_cm"})

#: Highest share of a station-day's delivered rows that may be rejected (raw + transform) before the
#: station-day is an ERROR: a delivery that is mostly unreadable is a broken delivery, not noise.
MAX_REJECTED_SHARE = 0.5

#: Highest acceptable share of nulls in a column the station's source measures.
DEFAULT_MAX_NULL_RATE = 0.1
#: Per-column exceptions to ``DEFAULT_MAX_NULL_RATE``, for columns stations report irregularly:
#: gusts only when there are gusts, present weather / visibility not in every SYNOP,
#: wind direction is null in calm air.
MAX_NULL_RATE: dict[str, float] = {
    "wind_gust_kmh": 0.5,
    "wind_direction_deg": 0.3,
    "weather_code": 0.9,
    "visibility_m": 0.5,
}

#: Most rows (or failure cases) kept as a sample in a check's details.
SAMPLE_SIZE = 20
#: Most failed partitions whose full JSON details are attached to a combined result.
MAX_DETAILED_PARTITIONS = 10


@dataclass
class Accounting:
    """Where a partition's raw rows went, per station id (``UNKNOWN_STATION`` when none is known)."""

    raw_rows: dict[str, int] = field(default_factory=dict)
    output_rows: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    duplicates_dropped: dict[str, int] = field(default_factory=dict)
    #: Records the raw stage already rejected (never landed), per station: part of what was delivered.
    raw_rejected: dict[str, int] = field(default_factory=dict)


@dataclass
class CheckOutcome:
    """One check on one partition; JSON-serialisable via ``dataclasses.asdict``.

    ``details`` always holds ``counts`` (ints, summed across partitions by ``combine``) and
    ``table`` (rows shown as a markdown table per partition), plus check-specific entries.
    """

    name: str
    passed: bool
    severity: str  # "ERROR" | "WARN"
    summary: str
    details: dict


@dataclass(frozen=True)
class _CheckDefinition:
    name: str
    severity: str
    blocking: bool
    description: str


CHECKS: tuple[_CheckDefinition, ...] = (
    _CheckDefinition(
        SCHEMA_CONFORMANCE,
        ERROR,
        True,
        "Every row conforms to the WeatherData Pandera contract (columns, dtypes, ranges).",
    ),
    _CheckDefinition(UNIQUE_STATION_TIMESTAMP, ERROR, True, "At most one row per (station_id, timestamp)."),
    _CheckDefinition(
        COMPLETENESS,
        WARN,
        False,
        f"Each station fills >= {COVERAGE_THRESHOLD:.0%} of its expected slots for the day "
        "(WU: local day, InfoClimat: UTC day) and its measured columns are not too often null.",
    ),
    _CheckDefinition(
        RECONCILIATION,
        ERROR,
        True,
        "Per station: raw rows = output + rejected + duplicates dropped, and output = rows written.",
    ),
    _CheckDefinition(
        STATION_DAY_REJECTS,
        ERROR,
        False,
        f"No station-day has more than {MAX_REJECTED_SHARE:.0%} of its delivered records rejected "
        "(raw rejects + transform rejects over landed + raw rejects). Not blocking: the other "
        "stations load, and the MongoDB load keeps the stored documents of a shrunken station-day.",
    ),
)
_BY_NAME = {c.name: c for c in CHECKS}


def failed_blocking_checks(outcomes: Iterable[Mapping[str, Any]]) -> list[str]:
    """Names of the blocking checks that failed among ``outcomes`` (``CheckOutcome`` dicts, as in a
    day's quality report)."""
    return [o["name"] for o in outcomes if not o["passed"] and o["name"] in _BY_NAME and _BY_NAME[o["name"]].blocking]


def weather_check_specs(asset_key: dg.AssetKey | str | list[str]) -> list[dg.AssetCheckSpec]:
    """The check specs to declare on the weather_data asset (``check_specs=``)."""
    metadata = {
        COMPLETENESS: {
            "coverage_threshold": COVERAGE_THRESHOLD,
            "default_max_null_rate": DEFAULT_MAX_NULL_RATE,
            "max_null_rate": dg.MetadataValue.json(MAX_NULL_RATE),
            "sparse_columns": dg.MetadataValue.json(sorted(SPARSE_COLUMNS)),
        }
    }
    return [
        day_check_spec(
            c.name,
            dg.AssetKey.from_coercible(asset_key),
            c.description,
            blocks_day=c.blocking,
            metadata=metadata.get(c.name),
        )
        for c in CHECKS
    ]


# --- the station's day -------------------------------------------------------------------------


def station_window(station: Station, partition_key: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The UTC window ``[start, end)`` a station's rows of a partition cover.

    WU sheets are per local day in the station's zone (23 h or 25 h on DST days); InfoClimat
    observations are per UTC day.
    """
    day = pd.Timestamp(partition_day(partition_key))
    zone = station.timezone if station.source == WEATHER_UNDERGROUND else "UTC"
    start, end = (
        t.tz_localize(zone, nonexistent="shift_forward", ambiguous=False).tz_convert("UTC")
        for t in (day, day + pd.Timedelta(days=1))
    )
    return start, end


def expected_slots(station: Station, partition_key: str) -> int:
    """How many observations the station should produce in its window for the day."""
    start, end = station_window(station, partition_key)
    return math.ceil((end - start) / station.cadence)


def station_coverage(partition_key: str, frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Coverage of every known station for the day: filled slots / expected slots.

    A slot is one cadence step of the station's window; a timestamp fills the slot it falls in
    (so on-grid timestamps count once each, and jittered ones are not double counted). Rows outside
    the window do not count and are reported as ``outside_window``.
    """
    present = "station_id" in frame and "timestamp" in frame
    if present and not isinstance(frame["timestamp"].dtype, pd.DatetimeTZDtype):
        # a frame off the contract (schema_conformance reports it) must still be measurable
        frame = frame.assign(timestamp=pd.to_datetime(frame["timestamp"], utc=True, errors="coerce"))
    rows = []
    for station in STATIONS.values():
        start, end = station_window(station, partition_key)
        expected = expected_slots(station, partition_key)
        stamps = (
            frame.loc[frame["station_id"] == station.station_id, "timestamp"]
            if present
            else pd.Series([], dtype="datetime64[us, UTC]")
        )
        inside = stamps[(stamps >= start) & (stamps < end)]
        filled = int(((inside - start) // station.cadence).nunique())
        rows.append(
            {
                "station_id": station.station_id,
                "source": station.source,
                "window_start": start.isoformat(),
                "window_end": end.isoformat(),
                "rows": int(len(stamps)),
                "expected_slots": expected,
                "filled_slots": filled,
                "coverage": round(filled / expected, 4),
                "outside_window": int(len(stamps) - len(inside)),
            }
        )
    return rows


def max_null_rate(column: str) -> float:
    """The null-rate threshold of a measured column."""
    return MAX_NULL_RATE.get(column, DEFAULT_MAX_NULL_RATE)


# --- the checks --------------------------------------------------------------------------------


def check_partition(
    partition_key: str,
    frame: pd.DataFrame,
    accounting: Accounting,
    measured_columns: Mapping[str, list[str]],
) -> list[CheckOutcome]:
    """Every check on one partition's frame, in ``CHECKS`` order.

    ``measured_columns`` maps a station id to the contract columns its source measures; stations
    missing from it get no null-rate check.
    """
    return [
        _schema_conformance(frame),
        _unique_station_timestamp(frame),
        _completeness(partition_key, frame, measured_columns),
        _reconciliation(frame, accounting),
        _station_day_rejects(accounting),
    ]


def _outcome(
    name: str, passed: bool, summary: str, counts: dict[str, int], table: list[dict], **details: Any
) -> CheckOutcome:
    return CheckOutcome(
        name=name,
        passed=bool(passed),
        severity=_BY_NAME[name].severity,
        summary=summary,
        details={"counts": {k: int(v) for k, v in counts.items()}, "table": table, **details},
    )


def records(frame: pd.DataFrame, limit: int = SAMPLE_SIZE) -> list[dict[str, Any]]:
    """Up to ``limit`` rows as JSON-ready dicts (ISO timestamps, nulls as None)."""
    return json.loads(frame.head(limit).to_json(orient="records", date_format="iso"))


def _schema_conformance(frame: pd.DataFrame) -> CheckOutcome:
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
        return _outcome(
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
    return _outcome(
        SCHEMA_CONFORMANCE,
        True,
        f"{len(frame)} rows conform to WeatherData",
        {"failure_count": 0, "failing_rows": 0},
        [],
    )


def _unique_station_timestamp(frame: pd.DataFrame) -> CheckOutcome:
    missing = [c for c in KEY_COLUMNS if c not in frame]
    if missing:
        return _outcome(
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
    return _outcome(
        UNIQUE_STATION_TIMESTAMP,
        count == 0,
        summary,
        {"duplicate_count": count},
        table,
        duplicates_per_station={r["station_id"]: r["duplicates"] for r in table},
        sample=records(sample),
    )


def _completeness(partition_key: str, frame: pd.DataFrame, measured_columns: Mapping[str, list[str]]) -> CheckOutcome:
    table, null_failures, low = [], [], []
    for row in station_coverage(partition_key, frame):
        sid = row["station_id"]
        station_rows = frame.loc[frame["station_id"] == sid] if "station_id" in frame else frame.iloc[0:0]
        failures = []
        if len(station_rows):
            for column in measured_columns.get(sid, []):
                if column in SPARSE_COLUMNS or column not in station_rows:
                    continue
                rate = float(station_rows[column].isna().mean())
                if rate > max_null_rate(column):
                    failures.append(
                        {
                            "station_id": sid,
                            "column": column,
                            "null_rate": round(rate, 4),
                            "max_null_rate": max_null_rate(column),
                        }
                    )
        if row["coverage"] < COVERAGE_THRESHOLD:
            low.append(sid)
        null_failures += failures
        table.append(
            {
                "station_id": sid,
                "source": row["source"],
                "expected_slots": row["expected_slots"],
                "filled_slots": row["filled_slots"],
                "coverage": row["coverage"],
                "null_rate_failures": ", ".join(f"{f['column']} ({f['null_rate']:.0%})" for f in failures),
                "passed": row["coverage"] >= COVERAGE_THRESHOLD and not failures,
            }
        )
    passed = not low and not null_failures
    parts = []
    if low:
        parts.append(
            "coverage below {:.0%}: {}".format(
                COVERAGE_THRESHOLD,
                ", ".join(f"{r['station_id']} {r['coverage']:.1%}" for r in table if r["station_id"] in low),
            )
        )
    if null_failures:
        parts.append("null rate too high: " + ", ".join(f"{f['station_id']}.{f['column']}" for f in null_failures))
    summary = "; ".join(parts) if parts else f"all {len(table)} stations >= {COVERAGE_THRESHOLD:.0%} coverage"
    return _outcome(
        COMPLETENESS,
        passed,
        summary,
        {"stations_below_coverage": len(low), "null_rate_failures": len(null_failures)},
        table,
        coverage_threshold=COVERAGE_THRESHOLD,
        coverage={r["station_id"]: r["coverage"] for r in table},
        stations_below_coverage=low,
        null_rate_failures=null_failures,
    )


def reconciliation_rows(frame: pd.DataFrame, accounting: Accounting) -> list[dict[str, Any]]:
    """Per station: raw, output, rejected, duplicates dropped, rows in the frame, and whether they add up."""
    in_frame = frame.groupby("station_id").size() if "station_id" in frame else pd.Series(dtype=int)
    stations = sorted(
        set(accounting.raw_rows)
        | set(accounting.output_rows)
        | set(accounting.rejected)
        | set(accounting.duplicates_dropped)
        | {str(s) for s in in_frame.index}
    )
    rows = []
    for sid in stations:
        raw, out = int(accounting.raw_rows.get(sid, 0)), int(accounting.output_rows.get(sid, 0))
        rej, dup = int(accounting.rejected.get(sid, 0)), int(accounting.duplicates_dropped.get(sid, 0))
        frame_rows = int(in_frame.get(sid, 0))
        rows.append(
            {
                "station_id": sid,
                "raw_rows": raw,
                "output_rows": out,
                "rejected": rej,
                "duplicates_dropped": dup,
                "frame_rows": frame_rows,
                "balanced": raw == out + rej + dup,
                "matches_frame": out == frame_rows,
            }
        )
    return rows


def _reconciliation(frame: pd.DataFrame, accounting: Accounting) -> CheckOutcome:
    table = reconciliation_rows(frame, accounting)
    bad = [r for r in table if not (r["balanced"] and r["matches_frame"])]
    problems = []
    for r in bad:
        if not r["balanced"]:
            problems.append(
                f"{r['station_id']}: raw {r['raw_rows']} != output {r['output_rows']} + rejected "
                f"{r['rejected']} + duplicates {r['duplicates_dropped']}"
            )
        if not r["matches_frame"]:
            problems.append(f"{r['station_id']}: output {r['output_rows']} != {r['frame_rows']} rows in frame")
    summary = "; ".join(problems) if problems else f"{len(table)} station(s) reconciled"
    return _outcome(
        RECONCILIATION,
        not bad,
        summary,
        {"unreconciled_stations": len(bad)},
        table,
        unreconciled_stations=[r["station_id"] for r in bad],
    )


def _station_day_rejects(accounting: Accounting) -> CheckOutcome:
    stations = sorted((set(accounting.raw_rows) | set(accounting.raw_rejected)) - {UNKNOWN_STATION})
    table, failing = [], []
    for sid in stations:
        raw_rejected = int(accounting.raw_rejected.get(sid, 0))
        delivered = int(accounting.raw_rows.get(sid, 0)) + raw_rejected
        rejected = raw_rejected + int(accounting.rejected.get(sid, 0))
        share = rejected / delivered if delivered else 0.0
        passed = share <= MAX_REJECTED_SHARE
        table.append(
            {
                "station_id": sid,
                "delivered": delivered,
                "raw_rejected": raw_rejected,
                "transform_rejected": rejected - raw_rejected,
                "rejected_share": round(share, 4),
                "passed": passed,
            }
        )
        if not passed:
            failing.append(f"{sid} {rejected}/{delivered} ({share:.0%})")
    summary = (
        f"rejected share above {MAX_REJECTED_SHARE:.0%}: " + ", ".join(failing)
        if failing
        else f"{len(table)} station(s) at most {MAX_REJECTED_SHARE:.0%} rejected"
    )
    return _outcome(
        STATION_DAY_REJECTS,
        not failing,
        summary,
        {"stations_mostly_rejected": len(failing)},
        table,
        max_rejected_share=MAX_REJECTED_SHARE,
        stations_mostly_rejected=[f.split(" ")[0] for f in failing],
    )


# --- one evaluation per check and day -----------------------------------------------------------


def _markdown_table(rows: list[dict]) -> str:
    return tabulate(rows, headers="keys", tablefmt="github", disable_numparse=True) if rows else "_nothing to show_"


def outcome_metadata(outcome: CheckOutcome) -> dict[str, Any]:
    """A day's outcome as check metadata: its counts, its table and its other details."""
    metadata: dict[str, Any] = {
        key: dg.MetadataValue.int(int(value)) for key, value in outcome.details.get("counts", {}).items()
    }
    if outcome.details.get("table"):
        metadata["table"] = dg.MetadataValue.md(_markdown_table(outcome.details["table"]))
    details = {k: v for k, v in outcome.details.items() if k not in ("table", "counts")}
    if details:
        metadata["details"] = dg.MetadataValue.json(json.loads(json.dumps(details, default=str)))
    return metadata


def log_outcomes(
    context: dg.AssetExecutionContext, asset_key: dg.AssetKey, partition_key: str, outcomes: Iterable[CheckOutcome]
) -> None:
    """Record one day's outcomes as that day's check evaluations."""
    target = day_target(context, asset_key, partition_key)  # one lookup for the day's checks
    for outcome in outcomes:
        log_day_check(
            context,
            asset_key,
            outcome.name,
            partition_key,
            outcome.passed,
            dg.AssetCheckSeverity(outcome.severity),
            f"{partition_key}: {outcome.summary}",
            outcome_metadata(outcome),
            target,
        )
