"""What the weather_data checks are: their names, thresholds, severities and specs, and the outcome record.

The checks themselves live by concern: :mod:`~forecast_assets.weather.contract_checks` (the Pandera
contract, key uniqueness), :mod:`~forecast_assets.weather.completeness` (coverage, null rates) and
:mod:`~forecast_assets.weather.accounting` (reconciliation, rejected shares);
:mod:`~forecast_assets.weather.checks` runs them on a day and records the outcomes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import dagster as dg
import pandas as pd

from forecast_assets.partition_checks import day_check_spec

SCHEMA_CONFORMANCE = "schema_conformance"
UNIQUE_STATION_TIMESTAMP = "unique_station_timestamp"
COMPLETENESS = "completeness"
RECONCILIATION = "reconciliation"
STATION_DAY_REJECTS = "station_day_rejects"

ERROR = "ERROR"
WARN = "WARN"

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


@dataclass
class CheckOutcome:
    """One check on one partition; JSON-serialisable via ``dataclasses.asdict``.

    ``details`` always holds ``counts`` (ints, shown as the evaluation's numbers) and ``table`` (rows
    shown as a markdown table), plus check-specific entries.
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


def max_null_rate(column: str) -> float:
    """The null-rate threshold of a measured column."""
    return MAX_NULL_RATE.get(column, DEFAULT_MAX_NULL_RATE)


def outcome(
    name: str, passed: bool, summary: str, counts: dict[str, int], table: list[dict], **details: Any
) -> CheckOutcome:
    """The outcome of check ``name`` (its severity from ``CHECKS``), counts as ints."""
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
