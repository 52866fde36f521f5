"""Section 3: the sample week across the whole lineage, one single-run backfill vs one run per partition.

Mode ``cli`` (the default, what ``make demo`` does): ``dagster asset materialize -m
forecast_assets.definitions --select '*'`` as a subprocess, (a) once with ``--partition-range
first...last`` (every asset has ``BackfillPolicy.single_run()``, so this is ONE run over the range)
and (b) once per day with ``--partition``. Each mode gets its own DAGSTER_HOME (the local
``deploy/local/dagster.yaml``), staging folder and MongoDB database on the bench server.

Mode ``inprocess`` (the smoke test): the same two shapes with ``dg.materialize`` in this process
(range tags vs one call per partition), so the comparison is without process start-up at all.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

from bench.landed_data import day_range
from forecast_assets.partitions import START_DATE

TARGET_RATIO = 5.0
#: Issue 14: the local (in-process) executor against a process per step, on the same one-run week.
TARGET_EXECUTOR_RATIO = 2.0
MULTIPROCESS = ["--config-json", '{"execution": {"config": {"multiprocess": {}}}}']
REPO = Path(__file__).resolve().parents[1]


def _env(work: Path, name: str, uri: str, database: str) -> dict[str, str]:
    home = work / name / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "deploy" / "local" / "dagster.yaml", home / "dagster.yaml")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "FORECAST_STAGING_DIR": str(work / name / "staging"),
        "MONGO_URI": uri,
        "MONGO_DATABASE": database,
        "FORECAST_ENV": "local",
        "FORECAST_ALERT_FILE": str(work / name / "alerts.jsonl"),
        "FORECAST_MONGO_STATE_DIR": str(work / name / "mongo_unused"),
        "PYTHONWARNINGS": "ignore",
    }
    for name_ in ("FORECAST_BE_SOURCE", "FORECAST_FR_SOURCE", "FORECAST_INFOCLIMAT_SOURCE"):
        env.pop(name_, None)  # the shipped sample week
    return env


def _cli(env: dict[str, str], partition_args: list[str], log: Path) -> float:
    command = [
        str(Path(sys.executable).parent / "dagster"),
        "asset",
        "materialize",
        "-m",
        "forecast_assets.definitions",
        "--select",
        "*",
        *partition_args,
    ]
    started = time.perf_counter()
    with open(log, "ab") as out:
        result = subprocess.run(command, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}); see {log}")
    return seconds


def _inprocess(work: Path, name: str, uri: str, database: str, keys: list[list[str]]) -> list[float]:
    import dagster as dg

    from forecast_assets.definitions import build_defs
    from forecast_assets.mongo.resources import MongoResource
    from forecast_assets.staging import LocalStagingZone

    defs = build_defs(
        resource_overrides={
            "staging": LocalStagingZone(root=str(work / name / "staging")),
            "mongo": MongoResource(uri=uri, database=database),
        },
        env="local",
    )
    assets = list(defs.assets)
    resources = dict(defs.resources)
    timings = []
    with dg.DagsterInstance.ephemeral() as instance:
        for group in keys:
            tags = {"dagster/asset_partition_range_start": group[0], "dagster/asset_partition_range_end": group[-1]}
            started = time.perf_counter()
            result = dg.materialize(assets, resources=resources, instance=instance, tags=tags, selection="*")
            timings.append(time.perf_counter() - started)
            assert result.success
    return timings


def _count(uri: str, database: str) -> int:
    from bench import mongo

    client = mongo.client(uri)
    try:
        return client[database]["weather_measurements"].count_documents({})
    finally:
        client.close()


def run(uri: str, work: Path, n_days: int = 7, mode: str = "cli") -> dict:
    days = [d.isoformat() for d in day_range(n_days)]
    assert days[0] == START_DATE
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:6]
    db_single, db_per = f"bench_dagster_single_{tag}", f"bench_dagster_per_partition_{tag}"
    log = work / "dagster_runs.log"
    executor = {}
    if mode == "cli":
        week = ["--partition-range", f"{days[0]}...{days[-1]}"]
        single = _cli(_env(work, "single", uri, db_single), week, log)
        db_multi = f"bench_dagster_multiprocess_{tag}"
        multiprocess = _cli(_env(work, "multiprocess", uri, db_multi), [*week, *MULTIPROCESS], log)
        assert _count(uri, db_multi) == _count(uri, db_single)
        executor = {
            "single_run_multiprocess_s": multiprocess,
            "executor_ratio": multiprocess / single,
            "target_executor_ratio": TARGET_EXECUTOR_RATIO,
            "executor_met": multiprocess / single >= TARGET_EXECUTOR_RATIO,
        }
        env = _env(work, "per_partition", uri, db_per)
        per_runs = [_cli(env, ["--partition", day], log) for day in days]
    else:
        [single] = _inprocess(work, "single", uri, db_single, [days])
        per_runs = _inprocess(work, "per_partition", uri, db_per, [[d] for d in days])
    docs_single, docs_per = _count(uri, db_single), _count(uri, db_per)
    assert docs_single == docs_per and docs_single > 0, (docs_single, docs_per)
    per = sum(per_runs)
    ratio = per / single
    return {
        "mode": mode,
        "partitions": len(days),
        "range": f"{days[0]}...{days[-1]}",
        "single_run_s": single,
        "runs_per_partition": len(per_runs),
        "per_partition_total_s": per,
        "per_partition_run_s": per_runs,
        "documents": docs_single,
        "ratio": ratio,
        "target_ratio": TARGET_RATIO,
        "met": ratio >= TARGET_RATIO,
        **executor,
        "log": str(log),
    }
