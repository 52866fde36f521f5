"""weather_data's checks on one day: run them all (``check_partition``) and record them (``log_outcomes``).

The weather_data asset evaluates the checks itself, one partition (day) at a time, and records each
day's outcomes as that day's evaluations (see :mod:`forecast_assets.partition_checks`); the day's
quality report holds the same outcomes. What each check is: :mod:`~forecast_assets.weather.check_specs`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import dagster as dg
import pandas as pd

from forecast_assets.markdown import markdown_table
from forecast_assets.partition_checks import DayEvaluation, log_day_evaluations
from forecast_assets.weather.accounting import Accounting, reconciliation, station_day_rejects
from forecast_assets.weather.check_specs import CheckOutcome
from forecast_assets.weather.completeness import completeness
from forecast_assets.weather.contract_checks import schema_conformance, unique_station_timestamp


def check_partition(
    partition_key: str,
    frame: pd.DataFrame,
    accounting: Accounting,
    measured_columns: Mapping[str, list[str]],
    schema: CheckOutcome | None = None,
    coverage: list[dict[str, Any]] | None = None,
) -> list[CheckOutcome]:
    """Every check on one partition's frame, in ``CHECKS`` order.

    ``measured_columns`` maps a station id to the contract columns its source measures; stations
    missing from it get no null-rate check. ``schema``: the frame's ``schema_conformance`` outcome
    when already known (one validation of a chunk of days, see ``schema_conformance_days``);
    ``coverage``: the frame's ``station_coverage`` when already counted.
    """
    return [
        schema_conformance(frame) if schema is None else schema,
        unique_station_timestamp(frame),
        completeness(partition_key, frame, measured_columns, coverage),
        reconciliation(frame, accounting),
        station_day_rejects(accounting),
    ]


def outcome_metadata(outcome: CheckOutcome) -> dict[str, Any]:
    """A day's outcome as check metadata: its counts, its table and its other details."""
    metadata: dict[str, Any] = {
        key: dg.MetadataValue.int(int(value)) for key, value in outcome.details.get("counts", {}).items()
    }
    if outcome.details.get("table"):
        metadata["table"] = dg.MetadataValue.md(markdown_table(outcome.details["table"]))
    details = {k: v for k, v in outcome.details.items() if k not in ("table", "counts")}
    if details:
        metadata["details"] = dg.MetadataValue.json(json.loads(json.dumps(details, default=str)))
    return metadata


def log_outcomes(
    context: dg.AssetExecutionContext, asset_key: dg.AssetKey, partition_key: str, outcomes: Iterable[CheckOutcome]
) -> None:
    """Record one day's outcomes as that day's check evaluations."""
    log_day_evaluations(
        context,
        asset_key,
        partition_key,
        [
            DayEvaluation(
                o.name,
                o.passed,
                dg.AssetCheckSeverity(o.severity),
                f"{partition_key}: {o.summary}",
                outcome_metadata(o),
            )
            for o in outcomes
        ],
    )
