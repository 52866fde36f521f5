"""Every private Dagster name the platform uses, in one place (pinned: dagster 1.13.27).

Dagster's public API has no equivalent for these; on a Dagster upgrade this module is what to
review, and a removed name fails here, at import, naming itself.

- run tags: the partition range / partition of a run (schedules, alert sensors) and the pool and
  priority tags the executor reads;
- the executor wrapper (operations/executor.py) runs Dagster's own executors and needs their plan,
  step and concurrency types to free the pool slots of dead runs;
- per-day check evaluations (partition_checks.py) target the day's materialization and read the
  latest evaluation per partition;
- the local instance (instance.py) creates its SQLite schema under a file lock.
"""

from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)
from dagster._core.errors import DagsterExecutionInterruptedError
from dagster._core.event_api import PartitionKeyFilter
from dagster._core.events import DagsterEvent, EngineEventData
from dagster._core.execution.context.system import PlanOrchestrationContext
from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext
from dagster._core.execution.plan.plan import ExecutionPlan
from dagster._core.execution.plan.step import ExecutionStep
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    GLOBAL_CONCURRENCY_TAG,
    PARTITION_NAME_TAG,
    PRIORITY_TAG,
)
from dagster._serdes import ConfigurableClassData
from dagster._utils.interrupts import pop_captured_interrupt

__all__ = [
    "ASSET_PARTITION_RANGE_END_TAG",
    "ASSET_PARTITION_RANGE_START_TAG",
    "GLOBAL_CONCURRENCY_TAG",
    "PARTITION_NAME_TAG",
    "PRIORITY_TAG",
    "AssetCheckEvaluationTargetMaterializationData",
    "AssetCheckExecutionRecordStatus",
    "ConfigurableClassData",
    "DagsterEvent",
    "DagsterExecutionInterruptedError",
    "DagsterSqliteStorage",
    "EngineEventData",
    "ExecutionPlan",
    "ExecutionStep",
    "InstanceConcurrencyContext",
    "InstanceRef",
    "PartitionKeyFilter",
    "PlanOrchestrationContext",
    "pop_captured_interrupt",
]
