"""Asset checks evaluated per day, whatever the shape of the run.

A step over a range of days (one run for a week, a single-run backfill) cannot return one
``AssetCheckResult`` per day: Dagster stamps a returned result with the step's partition only when the
step has a single one. So every check of this platform is a *partitioned* check spec, and the asset
logs one ``AssetCheckEvaluation`` per (check, day) with that day as its partition: the UI's check
status, history and alerts are then per day, and re-running one day changes that day only.

Every stage records its days the same way: it turns a day's outcomes into :class:`DayEvaluation` s
and hands them to :func:`log_day_evaluations`.

Because the evaluations are logged rather than returned, Dagster cannot gate downstream steps on them
(it would only warn that a "blocking" check emitted no result). A check that must keep a bad day out
of MongoDB says so in its description and metadata (``blocks_day``); the MongoDB asset reads the day's
quality report and skips that day alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from forecast_assets.dagster_internals import (
    AssetCheckEvaluationTargetMaterializationData,
    AssetCheckExecutionRecordStatus,
    PartitionKeyFilter,
)
from forecast_assets.partitions import daily_partitions


def day_check_spec(
    name: str,
    asset_key: dg.AssetKey,
    description: str,
    blocks_day: bool = False,
    metadata: Mapping[str, Any] | None = None,
) -> dg.AssetCheckSpec:
    """A check evaluated once per daily partition (see the module docstring)."""
    return dg.AssetCheckSpec(
        name,
        asset=asset_key,
        partitions_def=daily_partitions,
        description=description + (" Blocks its day: a failed day is not loaded into MongoDB." if blocks_day else ""),
        metadata={**(metadata or {}), "blocks_day": blocks_day},
    )


@dataclass(frozen=True)
class DayEvaluation:
    """One check's outcome on one day, as the evaluation to record."""

    check_name: str
    passed: bool
    severity: dg.AssetCheckSeverity
    description: str
    metadata: Mapping[str, Any] = field(default_factory=dict)


def log_day_evaluations(
    context: dg.AssetExecutionContext, asset_key: dg.AssetKey, partition_key: str, evaluations: Iterable[DayEvaluation]
) -> None:
    """Record one day's evaluations of ``asset_key``'s checks (those the run selected).

    Call it after the day's materialization is stored: each evaluation names it as its target (one
    lookup for the day), which is what makes the UI count the day's check status as current.
    """
    selected = [
        e for e in evaluations if dg.AssetCheckKey(asset_key, e.check_name) in context.selected_asset_check_keys
    ]
    if not selected:
        return
    target = day_target(context, asset_key, partition_key)
    for evaluation in selected:
        context.log_event(
            dg.AssetCheckEvaluation(
                asset_key=asset_key,
                check_name=evaluation.check_name,
                passed=bool(evaluation.passed),
                partition=partition_key,
                severity=evaluation.severity,
                description=evaluation.description,
                metadata=dict(evaluation.metadata),
                target_materialization_data=target,
            )
        )


def day_target(
    context: dg.AssetExecutionContext, asset_key: dg.AssetKey, partition_key: str
) -> AssetCheckEvaluationTargetMaterializationData | None:
    """The day's latest stored materialization, as the target of its check evaluations."""
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition_key]), limit=1
    ).records
    if not records:
        return None
    return AssetCheckEvaluationTargetMaterializationData(
        run_id=records[0].run_id, storage_id=records[0].storage_id, timestamp=records[0].timestamp
    )


def failed_on_day(instance: dg.DagsterInstance, check_keys: list[dg.AssetCheckKey], partition_key: str) -> list[str]:
    """The checks among ``check_keys`` whose latest evaluation of the day failed, as ``<asset> <check>``.

    Read from the instance, so a later run (one that selects only a downstream asset) sees them too.
    """
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        check_keys, partition_filter=PartitionKeyFilter(key=partition_key)
    )
    return [
        f"{key.asset_key.to_user_string()} {key.name}"
        for key in check_keys
        if key in latest and latest[key].status == AssetCheckExecutionRecordStatus.FAILED
    ]
