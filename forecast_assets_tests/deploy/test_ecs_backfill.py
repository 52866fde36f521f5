"""A long backfill on ECS: several runs of N days each, at most 2 at once, each an ECS task (moto).

The instance is the production dagster.yaml (as in test_ecs_launcher: rendered, storage swapped for
SQLite; run coordinator, ``concurrency`` and launcher verbatim). The code location is a small module
of three daily-partitioned assets chained like raw → weather_data → MongoDB, on the project's
``daily_partitions``, with the backfill policy proposed for ``forecast_assets/daily_assets.py``:
``BackfillPolicy.multi_run(FORECAST_BACKFILL_DAYS_PER_RUN)`` (7 here). It is served by a real gRPC
code server. The backfill is launched as the UI launches it (GraphQL ``launchPartitionBackfill``),
turned into runs by the backfill daemon's iteration, and dequeued by the queued-run coordinator's
iterations, which call EcsRunLauncher → RunTask on moto. moto does not run containers: the test ends
the launched runs itself (as their tasks finishing would) between coordinator iterations.
"""

from __future__ import annotations

import logging
import textwrap
from datetime import date, timedelta

import pytest

from forecast_assets_tests.deploy.test_ecs_launcher import aws, dagster_home, ecs_deployment  # noqa: F401

DAYS_PER_RUN = 7
FIRST = date(2024, 10, 1)
DAYS = [(FIRST + timedelta(days=i)).isoformat() for i in range(28)]  # four weeks
BACKFILL_LIMIT = 2  # dagster.yaml: concurrency.runs.tag_concurrency_limits on dagster/backfill

ASSETS = """
import os
import dagster as dg
from forecast_assets.partitions import daily_partitions

days = int(os.environ["FORECAST_BACKFILL_DAYS_PER_RUN"])
POLICY = dg.BackfillPolicy.multi_run(days) if days > 0 else dg.BackfillPolicy.single_run()

@dg.asset(key=["raw", "InfoClimat"], partitions_def=daily_partitions, backfill_policy=POLICY)
def raw_infoclimat(context):
    return None

@dg.asset(key="weather_data", deps=[raw_infoclimat], partitions_def=daily_partitions, backfill_policy=POLICY)
def weather_data():
    return None

@dg.asset(key=["mongodb", "weather_measurements"], deps=[weather_data], partitions_def=daily_partitions,
          backfill_policy=POLICY)
def weather_measurements():
    return None

defs = dg.Definitions(assets=[raw_infoclimat, weather_data, weather_measurements])
"""

LAUNCH_BACKFILL = """
mutation($backfillParams: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $backfillParams) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
  }
}
"""


def ranges_of(runs) -> list[tuple[str, str]]:
    return sorted(
        (r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"]) for r in runs
    )


@pytest.mark.integration
def test_a_four_week_backfill_runs_as_four_ecs_tasks_of_seven_days_at_most_two_at_once(
    aws,
    ecs_deployment,
    dagster_home,
    tmp_path,
    monkeypatch,  # noqa: F811
):
    from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
    from dagster._core.events import DagsterEvent, DagsterEventType
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget
    from dagster._daemon.backfill import execute_backfill_iteration
    from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon
    from dagster_graphql.test.utils import execute_dagster_graphql

    monkeypatch.setenv("FORECAST_BACKFILL_DAYS_PER_RUN", str(DAYS_PER_RUN))
    (tmp_path / "backfill_defs.py").write_text(ASSETS)
    workspace_yaml = tmp_path / "workspace.yaml"
    workspace_yaml.write_text(
        textwrap.dedent(f"""
        load_from:
          - python_file:
              relative_path: {tmp_path / "backfill_defs.py"}
              location_name: forecast_assets
              working_directory: {tmp_path}
    """)
    )
    ecs, cluster = aws["ecs"], ecs_deployment["cluster"]

    with (
        DagsterInstance.get() as instance,
        WorkspaceProcessContext(instance, WorkspaceFileTarget(paths=[str(workspace_yaml)])) as workspace,
    ):
        result = execute_dagster_graphql(
            workspace.create_request_context(),
            LAUNCH_BACKFILL,
            variables={
                "backfillParams": {
                    "assetSelection": [
                        {"path": ["raw", "InfoClimat"]},
                        {"path": ["weather_data"]},
                        {"path": ["mongodb", "weather_measurements"]},
                    ],
                    "partitionNames": DAYS,
                }
            },
        )
        payload = result.data["launchPartitionBackfill"]
        assert payload["__typename"] == "LaunchBackfillSuccess", payload
        backfill_id = payload["backfillId"]

        # The backfill daemon: one iteration requests every run of the range (queued, not launched).
        list(execute_backfill_iteration(workspace, logging.getLogger("backfill")))
        runs = instance.get_runs(RunsFilter(tags={"dagster/backfill": backfill_id}))
        assert len(runs) == len(DAYS) // DAYS_PER_RUN == 4
        assert ranges_of(runs) == [
            ("2024-10-01", "2024-10-07"),
            ("2024-10-08", "2024-10-14"),
            ("2024-10-15", "2024-10-21"),
            ("2024-10-22", "2024-10-28"),
        ]
        assert {r.status for r in runs} == {DagsterRunStatus.QUEUED}
        for run in runs:  # the whole lineage in each run: raw → weather_data → MongoDB over its 7 days
            assert {k.to_user_string() for k in run.asset_selection} == {
                "raw/InfoClimat",
                "weather_data",
                "mongodb/weather_measurements",
            }

        coordinator = QueuedRunCoordinatorDaemon(interval_seconds=1)
        launched: dict[str, tuple[str, str]] = {}  # ECS task ARN -> partition range of its run
        peak = 0
        for _ in range(6):
            list(coordinator.run_iteration(workspace))
            in_flight = [
                r
                for r in instance.get_runs(RunsFilter(tags={"dagster/backfill": backfill_id}))
                if r.status in (DagsterRunStatus.STARTING, DagsterRunStatus.STARTED)
            ]
            peak = max(peak, len(in_flight))
            assert len(in_flight) <= BACKFILL_LIMIT  # the tag concurrency limit holds
            for run in in_flight:
                launched.setdefault(run.tags["ecs/task_arn"], ranges_of([run])[0])
            # The launched tasks finish (what their ECS tasks would report), freeing their slots.
            for run in in_flight:
                instance.report_dagster_event(
                    DagsterEvent(
                        event_type_value=DagsterEventType.RUN_SUCCESS.value,
                        job_name=run.job_name,
                        message="ECS task finished (played by the test)",
                    ),
                    run_id=run.run_id,
                )
            if len(launched) == 4:
                break
        assert peak == BACKFILL_LIMIT

        # What moto received: one ECS task per run, each the run task definition, each running its own run.
        task_arns = ecs.list_tasks(cluster=cluster)["taskArns"]
        assert sorted(task_arns) == sorted(launched)
        tasks = ecs.describe_tasks(cluster=cluster, tasks=task_arns, include=["TAGS"])["tasks"]
        by_run = {next(t["value"] for t in task["tags"] if t["key"] == "dagster/run_id"): task for task in tasks}
        runs = instance.get_runs(RunsFilter(tags={"dagster/backfill": backfill_id}))
        assert set(by_run) == {r.run_id for r in runs}
        for run in runs:
            task = by_run[run.run_id]
            assert task["taskDefinitionArn"] == ecs_deployment["task_definition"]["taskDefinitionArn"]
            [container] = task["overrides"]["containerOverrides"]
            assert container["command"][:3] == ["dagster", "api", "execute_run"]
            assert run.run_id in container["command"][3]
            assert launched[task["taskArn"]] == ranges_of([run])[0]
        assert sorted(launched.values()) == ranges_of(runs)
