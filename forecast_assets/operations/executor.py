"""The code location's executor: Dagster's own (multiprocess, or in-process by run config) behind a
step that makes pool waits end.

Before any step runs, ``forecast_executor``:

1. records the orchestrating process as run tags (``run_recovery.owner_tags``);
2. reaps runs of this machine whose process is gone: reported failed, their pool slots freed
   (``run_recovery.reap_dead_runs``), so a run killed with SIGKILL or SIGHUP no longer blocks the pool;
3. claims the pool slots of the plan's first steps (no upstream step in the run) itself, waiting at most
   ``pool_wait_seconds``. While it waits it logs "Step blocked by limit for pool …" (as Dagster does)
   and keeps reaping; past the limit the run fails with a ``dg.Failure`` naming each holding run, its
   status and owner, and the command that frees it. Dagster's executor then finds those slots already
   claimed (a claim is idempotent per run and step) and frees each when its step ends.

Why not wait inside Dagster's executor: while a step is blocked its loop yields nothing (the "still
blocked" message comes every 300 s, ``dagster/_core/execution/plan/active.py``), so a wrapper gets
no control there without a thread. The price: on a contended pool the run's other first steps
(raw/BE, raw/FR: a second each) start once the slot is got, not while waiting; weather_data needs
raw/InfoClimat anyway. Slots are claimed in pool-name order, so two runs never wait on each other.
Steps with an upstream step keep Dagster's own pool wait; in this code location the only pooled
asset, ``raw/InfoClimat``, has none.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import dagster as dg

from forecast_assets.dagster_internals import (
    GLOBAL_CONCURRENCY_TAG,
    PRIORITY_TAG,
    DagsterEvent,
    DagsterExecutionInterruptedError,
    EngineEventData,
    ExecutionPlan,
    ExecutionStep,
    InstanceConcurrencyContext,
    PlanOrchestrationContext,
    pop_captured_interrupt,
)
from forecast_assets.operations.run_recovery import current_owner, describe_holders, owner_tags, reap_dead_runs

POOL_WAIT_ENV_VAR = "FORECAST_POOL_WAIT_SECONDS"
#: Wait limit of a run started from the CLI or Python, when FORECAST_POOL_WAIT_SECONDS is not set.
CLI_POOL_WAIT_SECONDS = 60.0
#: Between two looks at the pool's holders while waiting (claims themselves back off up to 15 s).
REAP_INTERVAL_SECONDS = 5.0
POLL_SECONDS = 0.5


def pool_wait_setting() -> float | None:
    """``FORECAST_POOL_WAIT_SECONDS`` (0 = no limit), or None when it is not set."""
    value = os.getenv(POOL_WAIT_ENV_VAR, "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        raise ValueError(f"{POOL_WAIT_ENV_VAR}={value!r} is not a number of seconds (0 waits without limit)") from None


def pool_wait_seconds(run: dg.DagsterRun, setting: float | None) -> float:
    """How long a step of ``run`` may wait for a pool slot (0 = no limit).

    ``setting`` (``FORECAST_POOL_WAIT_SECONDS``) if given; otherwise 60 s for a run started from the
    CLI or Python (someone waits at a terminal, and no daemon may be running), and no limit for a run
    launched through a code location (UI, schedule, sensor, backfill): there the daemon's run
    monitoring bounds how long any holder keeps its slot (``max_runtime_seconds``,
    ``free_slots_after_run_end_seconds``), and waiting is what the pool is for.
    """
    if setting is not None:
        return setting
    return CLI_POOL_WAIT_SECONDS if run.remote_job_origin is None else 0.0


def _pool_of(step: ExecutionStep) -> str | None:
    return step.pool or (step.tags or {}).get(GLOBAL_CONCURRENCY_TAG)


def _priority(step: ExecutionStep) -> int:
    try:
        return int((step.tags or {}).get(PRIORITY_TAG, 0))
    except ValueError:
        return 0


class PoolWaitTimeout(dg.Failure):
    """A step waited longer than FORECAST_POOL_WAIT_SECONDS for a pool slot held by other runs."""


class RecoveringExecutor(dg.Executor):
    """Wraps a Dagster executor: owner tags, dead-run reaping and a bounded pool wait, then steps."""

    def __init__(self, inner: dg.Executor, wait_setting: float | None):
        self._inner = inner
        self._wait_setting = wait_setting

    @property
    def retries(self):
        return self._inner.retries

    @property
    def step_dependency_config(self):
        return self._inner.step_dependency_config

    def execute(self, plan_context: PlanOrchestrationContext, execution_plan: ExecutionPlan) -> Iterator[DagsterEvent]:
        instance, run_id = plan_context.instance, plan_context.run_id
        instance.add_run_tags(run_id, owner_tags(current_owner()))
        yield from self._reap(plan_context)
        claimed: set[str] = set()
        started: set[str] = set()
        try:
            yield from self._claim_first_steps(plan_context, execution_plan, claimed)
            for event in self._inner.execute(plan_context, execution_plan):
                if event.step_key in claimed and event.is_step_start:
                    started.add(event.step_key)
                yield event
        finally:
            for step_key in claimed - started:  # a started step's slot is freed by Dagster when it ends
                instance.event_log_storage.free_concurrency_slot_for_step(run_id, step_key)

    def _reap(self, plan_context: PlanOrchestrationContext) -> Iterator[DagsterEvent]:
        for line in reap_dead_runs(plan_context.instance, plan_context.run_id):
            yield DagsterEvent.engine_event(plan_context, line, EngineEventData())

    def _claim_first_steps(
        self, plan_context: PlanOrchestrationContext, execution_plan: ExecutionPlan, claimed: set[str]
    ) -> Iterator[DagsterEvent]:
        upstream = execution_plan.get_executable_step_deps()
        first = sorted(
            (
                step
                for step in execution_plan.get_steps_to_execute_in_topo_order()
                if _pool_of(step) and not upstream.get(step.key)
            ),
            key=lambda s: (_pool_of(s), s.key),
        )
        if not first:
            return
        wait_seconds = pool_wait_seconds(plan_context.dagster_run, self._wait_setting)
        with InstanceConcurrencyContext(plan_context.instance, plan_context.dagster_run) as slots:
            for step in first:
                yield from self._claim(plan_context, slots, step, wait_seconds)
                claimed.add(step.key)

    def _claim(
        self,
        plan_context: PlanOrchestrationContext,
        slots: InstanceConcurrencyContext,
        step: ExecutionStep,
        wait_seconds: float,
    ) -> Iterator[DagsterEvent]:
        pool = _pool_of(step)
        assert pool is not None
        started = time.monotonic()
        next_reap = started + REAP_INTERVAL_SECONDS
        blocked = False
        while not slots.claim(pool, step.key, _priority(step)):
            if pop_captured_interrupt():  # Ctrl-C / termination while waiting: stop as Dagster would
                raise DagsterExecutionInterruptedError()
            if not blocked:
                blocked = True
                yield DagsterEvent.step_concurrency_blocked(plan_context.for_step(step), pool, initial=True)
            now = time.monotonic()
            if now >= next_reap:
                yield from self._reap(plan_context)
                next_reap = now + REAP_INTERVAL_SECONDS
            if wait_seconds and now - started >= wait_seconds:
                raise PoolWaitTimeout(description=self._timeout_message(plan_context, step, pool, now - started))
            time.sleep(POLL_SECONDS)
        if blocked:
            yield DagsterEvent.engine_event(
                plan_context.for_step(step),
                f"Got a slot of pool {pool} after {time.monotonic() - started:.0f} s",
                EngineEventData(),
            )

    def _timeout_message(
        self, plan_context: PlanOrchestrationContext, step: ExecutionStep, pool: str, waited: float
    ) -> str:
        instance, run = plan_context.instance, plan_context.dagster_run
        info = instance.event_log_storage.get_concurrency_info(pool)
        holders = describe_holders(instance, pool, run.run_id) or [
            f"no other run (is the limit 0? `dagster instance concurrency get {pool}`)"
        ]
        partition = (
            run.tags.get("dagster/partition")
            or "–".join(
                filter(
                    None,
                    (
                        run.tags.get("dagster/asset_partition_range_start"),
                        run.tags.get("dagster/asset_partition_range_end"),
                    ),
                )
            )
            or "no partition"
        )
        return (
            f"Step {step.key} of run {run.run_id} ({partition}) waited {waited:.0f} s for a slot of pool "
            f"`{pool}` (limit {info.limit}) in the Dagster instance at {instance.root_directory}, and gave "
            f"up: nothing ran. Held by:\n- " + "\n- ".join(holders) + "\n"
            f"Once the slot is free, run this again. To let more steps use the pool at once: "
            f"`dagster instance concurrency set {pool} <N>`. To wait longer: set {POOL_WAIT_ENV_VAR} "
            f"(seconds; 0 waits without limit)."
        )


def build_forecast_executor(default: str) -> dg.ExecutorDefinition:
    """``multi_or_in_process_executor`` (same run config: ``multiprocess`` or ``in_process``, ``default``
    when the run config names neither) whose runs free the pool slots of dead runs and wait a bounded
    time for a pool slot."""
    selector = dg.multi_or_in_process_executor.config_schema.config_type
    if default not in selector.fields:
        raise ValueError(f"executor default {default!r} is not one of {sorted(selector.fields)}")

    @dg.executor(
        name="forecast_executor",
        config_schema=dg.Field(selector, default_value={default: {}}),
        requirements=dg.multi_or_in_process_executor.get_requirements,
    )
    def forecast_executor(init_context: dg.InitExecutorContext) -> dg.Executor:
        creation_fn = dg.multi_or_in_process_executor.executor_creation_fn
        assert creation_fn is not None
        return RecoveringExecutor(creation_fn(init_context), pool_wait_setting())

    return forecast_executor


#: Production: one process per step inside the run's ECS task (a step's crash cannot take the run's
#: orchestration with it; the run worker reports it).
forecast_executor = build_forecast_executor("multiprocess")
#: Local: every step in the run's process — a week of the sample lineage runs ~2.4× faster than with a
#: process per step (imports and resource set-up once; docs/architecture.md). ``multiprocess`` by run config.
forecast_in_process_executor = build_forecast_executor("in_process")
