"""Benchmark: multi-partitioned raw asset (A) vs one daily asset per source (B) under backfills.

Self-contained (own toy assets, no project imports). Run:

    python bench/partition_backfill_experiment.py            # all scenarios + CLI checks
    python bench/partition_backfill_experiment.py --no-cli   # skip the `dagster asset materialize` checks

Each scenario gets a fresh temporary DAGSTER_HOME (sqlite storage, DefaultRunCoordinator,
DefaultRunLauncher). The backfill is created exactly as the UI does it, through the GraphQL
`launchPartitionBackfill` mutation, and is then driven by the backfill daemon's own
`execute_backfill_iteration` (called in a loop here instead of every 30 s by `dagster-daemon`).
The runs are launched by the DefaultRunLauncher: one `dagster api execute_run` subprocess each,
started by the code-location gRPC server that the workspace spawns for this very file.

Inside every toy asset we log what the run really saw (`context.partition_keys`,
`context.partition_key_range`, `context.partition_time_window`) to a JSON-lines file in the
instance's root directory; work is `sleep(0.05)` per partition key so timings reflect
orchestration.

This module is also the code location: `defs_a` and `defs_b` are the two designs.
"""

import json
import os
import time
from pathlib import Path

import dagster as dg

START_DATE = "2024-10-01"
SOURCES = ["BE", "FR", "InfoClimat"]
WEEK = [f"2024-10-0{d}" for d in range(1, 8)]
SLEEP_PER_PARTITION = 0.05

# ----------------------------------------------------------------------------------------------
# Toy assets
# ----------------------------------------------------------------------------------------------


def _record(context: dg.AssetExecutionContext) -> int:
    """Write what the asset saw to <instance root>/bench_log.jsonl, sleep per key, return #keys."""
    entry: dict = {"run_id": context.run.run_id, "asset": context.asset_key.to_user_string()}
    for attr in ("partition_keys", "partition_key_range", "partition_time_window"):
        try:
            value = getattr(context, attr)
            if attr == "partition_key_range":
                value = f"{value.start}...{value.end}"
            elif attr == "partition_time_window":
                value = f"{value.start.date()}..{value.end.date()}"
            entry[attr] = value
        except Exception as e:  # the error itself is a result worth reporting
            entry[attr] = f"ERROR {type(e).__name__}: {str(e).splitlines()[0][:160]}"
    keys = entry["partition_keys"] if isinstance(entry["partition_keys"], list) else []
    root = context.instance.root_directory
    with open(os.path.join(root, "bench_log.jsonl"), "a") as f:
        f.write(json.dumps(entry) + "\n")
    time.sleep(SLEEP_PER_PARTITION * max(1, len(keys)))
    return len(keys)


daily = dg.DailyPartitionsDefinition(start_date=START_DATE)


def _downstream_assets(raw_deps: list[dg.AssetDep]) -> list[dg.AssetsDefinition]:
    @dg.asset(
        name="weather_data",
        partitions_def=daily,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=raw_deps,
    )
    def weather_data(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        n = _record(context)
        return dg.MaterializeResult(metadata={"n_keys_in_run": n})

    @dg.asset(
        name="mongo_weather",
        partitions_def=daily,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[weather_data],
    )
    def mongo_weather(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        n = _record(context)
        return dg.MaterializeResult(metadata={"n_keys_in_run": n})

    return [weather_data, mongo_weather]


# Design A: one raw asset, source x date.
raw_multi_partitions = dg.MultiPartitionsDefinition({"source": dg.StaticPartitionsDefinition(SOURCES), "date": daily})


@dg.asset(partitions_def=raw_multi_partitions, backfill_policy=dg.BackfillPolicy.single_run())
def raw_weather(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    n = _record(context)
    return dg.MaterializeResult(metadata={"n_keys_in_run": n})


defs_a = dg.Definitions(
    assets=[
        raw_weather,
        *_downstream_assets(
            [
                dg.AssetDep(
                    raw_weather,
                    partition_mapping=dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="date"),
                )
            ]
        ),
    ]
)


# Design B: one daily asset per source, from a factory, sharing the same partitions object.
def build_raw_source_asset(source: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"raw_{source.lower()}",
        partitions_def=daily,
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def _raw(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        n = _record(context)
        return dg.MaterializeResult(metadata={"n_keys_in_run": n})

    return _raw


raw_source_assets = [build_raw_source_asset(s) for s in SOURCES]
defs_b = dg.Definitions(assets=[*raw_source_assets, *_downstream_assets([dg.AssetDep(a) for a in raw_source_assets])])


# ----------------------------------------------------------------------------------------------
# Harness (only runs as a script)
# ----------------------------------------------------------------------------------------------

LAUNCH_BACKFILL = """
mutation LaunchPartitionBackfill($backfillParams: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $backfillParams) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
    ... on Error { message }
  }
}
"""

PARTITION_STATS = """
query Stats {
  assetNodes { assetKey { path } partitionStats { numMaterialized numPartitions } }
}
"""

DAGSTER_YAML = """
run_coordinator:
  module: dagster._core.run_coordinator
  class: DefaultRunCoordinator
telemetry:
  enabled: false
"""

RAW_B = [f"raw_{s.lower()}" for s in SOURCES]

# (design, scenario id, description, assetSelection, partitionNames)
SCENARIOS = [
    ("A", 1, "raw, week, all sources", ["raw_weather"], [f"{d}|{s}" for d in WEEK for s in SOURCES]),
    ("B", 1, "raw, week, all sources", RAW_B, WEEK),
    ("A", "1b", "raw, 2 days, all sources", ["raw_weather"], [f"{d}|{s}" for d in WEEK[:2] for s in SOURCES]),
    ("B", "1b", "raw, 2 days, all sources", RAW_B, WEEK[:2]),
    ("A", 2, "raw, week, BE only", ["raw_weather"], [f"{d}|BE" for d in WEEK]),
    ("B", 2, "raw, week, BE only", ["raw_be"], WEEK),
    (
        "A",
        3,
        "raw->weather_data->mongo, week",
        ["raw_weather", "weather_data", "mongo_weather"],
        [f"{d}|{s}" for d in WEEK for s in SOURCES],
    ),
    ("B", 3, "raw->weather_data->mongo, week", [*RAW_B, "weather_data", "mongo_weather"], WEEK),
]


def run_scenario(design: str, selection: list[str], partition_names: list[str]) -> dict:
    import logging
    import tempfile

    from dagster._core.execution.backfill import BulkActionStatus
    from dagster._core.storage.dagster_run import RunsFilter
    from dagster._core.storage.tags import (
        ASSET_PARTITION_RANGE_END_TAG,
        ASSET_PARTITION_RANGE_START_TAG,
        PARTITION_NAME_TAG,
    )
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import PythonFileTarget
    from dagster._daemon.backfill import execute_backfill_iteration
    from dagster_graphql.test.utils import execute_dagster_graphql

    logger = logging.getLogger("bench")
    with tempfile.TemporaryDirectory() as home:
        Path(home, "dagster.yaml").write_text(DAGSTER_YAML)
        instance = dg.DagsterInstance.from_config(home)
        target = PythonFileTarget(
            python_file=os.path.abspath(__file__),
            attribute=f"defs_{design.lower()}",
            working_directory=os.path.dirname(os.path.abspath(__file__)),
            location_name=f"bench_{design.lower()}",
        )
        with WorkspaceProcessContext(instance, target) as process_ctx:
            request_ctx = process_ctx.create_request_context()
            t0 = time.perf_counter()
            res = execute_dagster_graphql(
                request_ctx,
                LAUNCH_BACKFILL,
                {
                    "backfillParams": {
                        "assetSelection": [{"path": [k]} for k in selection],
                        "partitionNames": partition_names,
                    }
                },
            )
            payload = res.data["launchPartitionBackfill"]
            if payload["__typename"] != "LaunchBackfillSuccess":
                return {"error": f"{payload['__typename']}: {payload.get('message')}"}
            backfill_id = payload["backfillId"]
            iterations = 0
            errors: list[str] = []
            while True:
                iterations += 1
                for out in execute_backfill_iteration(process_ctx, logger):
                    if out is not None:
                        errors.append(out.message.splitlines()[0])
                # wait for the runs this iteration launched
                deadline = time.time() + 120
                while time.time() < deadline:
                    runs = instance.get_runs(filters=RunsFilter.for_backfill(backfill_id))
                    if all(r.is_finished for r in runs):
                        break
                    time.sleep(0.05)
                status = instance.get_backfill(backfill_id).status
                if status != BulkActionStatus.REQUESTED or iterations >= 30:
                    break
            wall = time.perf_counter() - t0

            runs = sorted(
                instance.get_runs(filters=RunsFilter.for_backfill(backfill_id)),
                key=lambda r: instance.get_run_record_by_id(r.run_id).create_timestamp,
            )
            log_path = Path(home, "bench_log.jsonl")
            seen = [json.loads(line) for line in log_path.read_text().splitlines()] if log_path.exists() else []
            run_rows = []
            for r in runs:
                if ASSET_PARTITION_RANGE_START_TAG in r.tags:
                    req = f"{r.tags[ASSET_PARTITION_RANGE_START_TAG]}...{r.tags[ASSET_PARTITION_RANGE_END_TAG]}"
                else:
                    req = r.tags.get(PARTITION_NAME_TAG, "-")
                run_rows.append(
                    {
                        "run_id": r.run_id[:8],
                        "status": r.status.value,
                        "assets": sorted(k.to_user_string() for k in (r.asset_selection or [])),
                        "requested": req,
                        "seen": [e for e in seen if e["run_id"] == r.run_id],
                    }
                )
            stats = execute_dagster_graphql(request_ctx, PARTITION_STATS).data["assetNodes"]
            return {
                "backfill_status": instance.get_backfill(backfill_id).status.value,
                "iterations": iterations,
                "wall_s": wall,
                "runs": run_rows,
                "errors": errors,
                "partition_stats": {"/".join(n["assetKey"]["path"]): n["partitionStats"] for n in stats},
            }


def run_cli_checks() -> list[tuple[str, str, str]]:
    """`dagster asset materialize --partition-range` for both designs, sqlite DAGSTER_HOME."""
    import subprocess
    import sys
    import tempfile

    this = os.path.abspath(__file__)
    cases = [
        ("A", "raw_weather", "2024-10-01|BE...2024-10-07|InfoClimat"),
        ("A", "raw_weather", "2024-10-01|BE...2024-10-07|BE"),
        ("A", "raw_weather,weather_data", "2024-10-01...2024-10-07"),
        ("A", "weather_data,mongo_weather", "2024-10-01...2024-10-07"),
        ("B", ",".join(RAW_B), "2024-10-01...2024-10-07"),
        ("B", ",".join([*RAW_B, "weather_data", "mongo_weather"]), "2024-10-01...2024-10-07"),
    ]
    out = []
    for design, select, prange in cases:
        with tempfile.TemporaryDirectory() as home:
            Path(home, "dagster.yaml").write_text(DAGSTER_YAML)
            env = {**os.environ, "DAGSTER_HOME": home}
            cmd = [
                sys.executable,
                "-m",
                "dagster",
                "asset",
                "materialize",
                "-f",
                this,
                "-a",
                f"defs_{design.lower()}",
                "--select",
                select,
                "--partition-range",
                prange,
            ]
            t0 = time.perf_counter()
            p = subprocess.run(cmd, env=env, capture_output=True, text=True)
            wall = time.perf_counter() - t0
            log = Path(home, "bench_log.jsonl")
            if p.returncode == 0:
                seen = [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []
                summary = "; ".join(
                    f"{e['asset']}: {len(e['partition_keys'])} keys, range {e['partition_key_range']}"
                    + (f", keys {e['partition_keys']}" if len(e["partition_keys"]) <= 7 else "")
                    for e in seen
                )
                res = f"OK in 1 run, {wall:.1f}s — {summary}"
            else:
                errs = [ln for ln in p.stderr.splitlines() if "Error" in ln or "error" in ln.lower()]
                res = f"FAILED rc={p.returncode}: {(errs[-1] if errs else p.stderr[-300:]).strip()}"
            out.append((design, f"--select {select} --partition-range {prange}", res))
    return out


def main() -> None:
    import argparse
    import statistics
    import warnings

    parser = argparse.ArgumentParser()
    parser.add_argument("--no-cli", action="store_true")
    parser.add_argument("--repeat", type=int, default=1, help="repeat each scenario N times")
    parser.add_argument("--json", help="also dump raw results to this path")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    # The code server and run subprocesses inherit fds 1/2 and are chatty: send them to a log
    # file while the scenarios run, keep our own stdout for the tables.
    import sys
    import tempfile

    log_fd, log_path = tempfile.mkstemp(prefix="partition_backfill_", suffix=".log")
    real_stdout = os.fdopen(os.dup(1), "w", buffering=1)
    real_stderr = os.fdopen(os.dup(2), "w", buffering=1)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    sys.stdout = real_stdout
    print(f"(subprocess output goes to {log_path})", file=real_stderr)

    results = []
    for design, sid, desc, selection, pnames in SCENARIOS:
        reps = [run_scenario(design, selection, pnames) for _ in range(args.repeat)]
        r = reps[0]  # per-run details from the first repetition
        walls = sorted(x["wall_s"] for x in reps if "wall_s" in x)
        if walls:
            r["wall_s"] = statistics.median(walls)
            r["wall_min"], r["wall_max"] = walls[0], walls[-1]
            r["runs_per_rep"] = [len(x["runs"]) for x in reps]
        results.append({"design": design, "scenario": sid, "desc": desc, **r})
        print(f"... done {design}{sid} ({desc})", file=real_stderr)

    print("\n## Summary (DefaultRunLauncher, backfill driven by execute_backfill_iteration)\n")
    print(f"(wall s = median of {args.repeat} repetition(s), [min-max]; keys = partition keys materialized)\n")
    print("| scen | design | description | backfill status | daemon iterations | runs | keys per run | wall s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        if "error" in r:
            print(f"| {r['scenario']} | {r['design']} | {r['desc']} | ERROR {r['error']} | | | |")
            continue
        print(
            f"| {r['scenario']} | {r['design']} | {r['desc']} | {r['backfill_status']} | "
            f"{r['iterations']} | {len(r['runs'])} | "
            + " + ".join(
                "(" + ", ".join(f"{e['asset']}:{len(e['partition_keys'])}" for e in run["seen"]) + ")"
                for run in r["runs"]
            )
            + f" | {r['wall_s']:.1f} [{r['wall_min']:.1f}-{r['wall_max']:.1f}] |"
        )

    print("\n## Per run: requested range (run tags) vs what the asset saw\n")
    print(
        "| scen | design | run | status | assets | requested (tags) | asset: #keys / partition_key_range / time_window / keys |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in results:
        for run in r.get("runs", []):
            seen = "<br>".join(
                f"{e['asset']}: {len(e['partition_keys']) if isinstance(e['partition_keys'], list) else e['partition_keys']}"
                f" / {e['partition_key_range']} / {e['partition_time_window']}"
                + (
                    f" / {','.join(e['partition_keys'])}"
                    if isinstance(e["partition_keys"], list) and len(e["partition_keys"]) <= 7
                    else ""
                )
                for e in run["seen"]
            )
            print(
                f"| {r['scenario']} | {r['design']} | {run['run_id']} | {run['status']} | "
                f"{','.join(run['assets'])} | {run['requested']} | {seen} |"
            )

    print("\n## Partition stats after each scenario (what the UI asset page shows)\n")
    for r in results:
        if "partition_stats" in r:
            stats = ", ".join(
                f"{k} {v['numMaterialized']}/{v['numPartitions']}" for k, v in r["partition_stats"].items() if v
            )
            print(f"- {r['design']}{r['scenario']}: {stats}")
        if r.get("errors"):
            print(f"  daemon errors: {r['errors']}")

    if not args.no_cli:
        print("\n## CLI: dagster asset materialize --partition-range (sqlite DAGSTER_HOME)\n")
        print("| design | command | result |")
        print("|---|---|---|")
        for design, cmd, res in run_cli_checks():
            print(f"| {design} | `{cmd}` | {res} |")

    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
