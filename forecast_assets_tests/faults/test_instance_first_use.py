"""Faults: the local Dagster instance's first use by several processes at once.

A brand-new DAGSTER_HOME holding ``deploy/local/dagster.yaml`` verbatim; N OS processes (from a fork
server that imported Dagster once) are released together by a barrier, and each opens the instance
and runs a one-op job in it. With Dagster's plain SQLite storage some of them die creating the
schema (``table runs already exists``, ``table event_logs already exists``, alembic "more than one
head"); with the file-locked storage every process of every trial succeeds and every run is
recorded. ``FORECAST_FIRST_USE_TRIALS`` sets the number of trials (default 8).
"""

from __future__ import annotations

import multiprocessing
import os
import re
import shutil
import traceback
from pathlib import Path

import dagster as dg
import pytest

REPO = Path(__file__).resolve().parents[2]
LOCAL_YAML = REPO / "deploy" / "local" / "dagster.yaml"
PROCESSES = 4
TRIALS = int(os.getenv("FORECAST_FIRST_USE_TRIALS", "8"))


@dg.op
def _hello() -> int:
    return 1


@dg.job
def _one_op_job():
    _hello()


def _first_use(home: str, barrier, results) -> None:
    """Child process: wait for the others, then open the instance and run a job in it."""
    try:
        os.environ.pop("DAGSTER_HOME", None)  # the instance is the folder given, whatever the shell says
        barrier.wait(timeout=120)
        with dg.DagsterInstance.from_config(home) as instance:
            result = _one_op_job.execute_in_process(instance=instance)
            results.put(("ok", result.run_id) if result.success else ("failed run", result.run_id))
    except BaseException:  # noqa: BLE001  (reported to the parent, which fails the test)
        results.put(("error", traceback.format_exc()))


def _last_error_line(detail: str) -> str:
    """The exception line of a traceback (not SQLAlchemy's trailing "Background on this error")."""
    lines = [line for line in detail.strip().splitlines() if re.match(r"[\w.]+(Error|Exception)\b", line)]
    return lines[-1] if lines else detail.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def fork_server():
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["dagster", "forecast_assets.instance", __name__])
    return context


@pytest.mark.integration
def test_processes_opening_a_brand_new_dagster_home_at_once_all_succeed(tmp_path, fork_server):
    failures = []
    for trial in range(TRIALS):
        home = tmp_path / f"home{trial}"
        home.mkdir()
        shutil.copy(LOCAL_YAML, home / "dagster.yaml")
        barrier, results = fork_server.Barrier(PROCESSES), fork_server.Queue()
        workers = [fork_server.Process(target=_first_use, args=(str(home), barrier, results)) for _ in range(PROCESSES)]
        for worker in workers:
            worker.start()
        outcomes = [results.get(timeout=180) for _ in workers]
        for worker in workers:
            worker.join(timeout=60)
        errors = [_last_error_line(detail) for kind, detail in outcomes if kind != "ok"]
        if errors:
            failures.append(f"trial {trial}: {errors}")
            continue
        with dg.DagsterInstance.from_config(str(home)) as instance:
            recorded = {run.run_id for run in instance.get_runs()}
        assert {run_id for _, run_id in outcomes} <= recorded, f"trial {trial}: runs missing from {home}"
    assert not failures, f"{len(failures)} of {TRIALS} trials failed:\n" + "\n".join(failures)
