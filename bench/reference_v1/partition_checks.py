"""Asset checks evaluated per day, whatever the shape of the run.

A step over a range of days (one run for a week, a single-run backfill) cannot return one
``AssetCheckResult`` per day: Dagster stamps a returned result with the step's partition only when the
step has a single one. So every check of this platform is a *partitioned* check spec, and the asset
logs one ``AssetCheckEvaluation`` per (check, day) with that day as its partition: the UI's check
status, history and alerts are then per day, and re-running one day changes that day only.

Because the evaluations are logged rather than returned, Dagster cannot gate downstream steps on them
(it would only warn that a "blocking" check emitted no result). A check that must keep a bad day out
of MongoDB says so in its description and metadata (``blocks_day``); the MongoDB asset reads the day's
quality report and skips that day alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)
from dagster._core.event_api import PartitionKeyFilter
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from bench.reference_v1.partitions import daily_partitions


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


def log_day_check(
    context: dg.AssetExecutionContext,
    asset_key: dg.AssetKey,
    check_name: str,
    partition_key: str,
    passed: bool,
    severity: dg.AssetCheckSeverity,
    description: str,
    metadata: Mapping[str, Any] | None = None,
    target: AssetCheckEvaluationTargetMaterializationData | None = None,
) -> None:
    """Record one day's evaluation of a check (if the run selected the check).

    Call it after the day's materialization is stored: the evaluation names it as its target
    (``target``, looked up when not given: pass :func:`day_target` once for several checks of a day),
    which is what makes the UI count the day's check status as current.
    """
    key = dg.AssetCheckKey(asset_key, check_name)
    if key not in context.selected_asset_check_keys:
        return
    context.log_event(
        dg.AssetCheckEvaluation(
            asset_key=asset_key,
            check_name=check_name,
            passed=bool(passed),
            partition=partition_key,
            severity=severity,
            description=description,
            metadata=dict(metadata or {}),
            target_materialization_data=target or day_target(context, asset_key, partition_key),
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
