"""Section 4: wall time and peak RSS of transform + load for 6 stations x D days, one subprocess per D.

The parent lands the raw partitions once (the longest D; shorter ones use its first days). Each D
then runs in a fresh child process that does, per partition, what the assets do: ``build_day``
(transform, de-duplicate, checks, quality report), ``write_day`` into its own staging output, and
``load_day`` into its own fresh MongoDB database. The child reports its wall time and
peak RSS (``VmHWM``) as JSON on stdout, plus the RSS right after imports.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

TARGET_RSS_RATIO = 1.5
REPO = Path(__file__).resolve().parents[1]


def _rss_mb() -> float:
    from bench.throughput import peak_rss_mb  # VmHWM: ru_maxrss carries the parent's RSS across fork + exec

    return peak_rss_mb()


def child(raw_root: str, out_root: str, n_days: int, uri: str, database: str) -> dict:
    import warnings

    warnings.filterwarnings("ignore")
    from bench.landed_data import day_range
    from forecast_assets.mongo.assets import load_day
    from forecast_assets.mongo.collection_setup import ensure_collections
    from forecast_assets.mongo.resources import MongoResource
    from forecast_assets.mongo.sync import DEFAULT_BATCH_SIZE, ShrinkPolicy
    from forecast_assets.staging import LocalStagingZone
    from forecast_assets.weather.assets import build_day, write_day

    rss_after_imports = _rss_mb()
    raw = LocalStagingZone(root=raw_root)
    out = LocalStagingZone(root=out_root)
    mongo = MongoResource(uri=uri, database=database)
    ensure_collections(mongo.get_database())
    transform_s = load_s = 0.0
    rows = docs = 0
    started = time.perf_counter()
    for day in day_range(n_days):
        key = day.isoformat()
        t0 = time.perf_counter()
        built = build_day(raw, key)
        write_day(out, key, built)
        t1 = time.perf_counter()
        counts = load_day(mongo, built.frame, key, DEFAULT_BATCH_SIZE, ShrinkPolicy())
        t2 = time.perf_counter()
        transform_s += t1 - t0
        load_s += t2 - t1
        rows += sum(built.accounting.raw_rows.values())
        docs += counts["inserted"] + counts["updated"] + counts["unchanged"]
        del built
    wall = time.perf_counter() - started
    mongo.close()
    return {
        "days": n_days,
        "wall_s": wall,
        "transform_s": transform_s,
        "load_s": load_s,
        "raw_rows": rows,
        "documents": docs,
        "peak_rss_mb": _rss_mb(),
        "rss_after_imports_mb": rss_after_imports,
    }


def run(landed, uri: str, work: Path, days: list[int]) -> dict:
    """One child per D in ``days`` (each D <= the landed days)."""
    work = Path(work)
    runs = []
    for n_days in days:
        database = f"bench_scaling_{n_days}_{uuid.uuid4().hex[:6]}"
        out_root = work / f"scaling_out_{n_days}"
        command = [
            sys.executable,
            "-m",
            "bench.scaling",
            "--child",
            "--raw",
            str(landed.root / "staging"),
            "--out",
            str(out_root),
            "--days",
            str(n_days),
            "--uri",
            uri,
            "--database",
            database,
        ]
        started = time.perf_counter()
        result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
        process_s = time.perf_counter() - started
        if result.returncode != 0:
            raise RuntimeError(f"scaling child for {n_days} days failed:\n{result.stderr[-3000:]}")
        measured = json.loads(result.stdout.strip().splitlines()[-1])
        measured["process_s"] = process_s
        measured["s_per_day"] = measured["wall_s"] / n_days
        runs.append(measured)
    first, last = runs[0], runs[-1]
    rss_ratio = last["peak_rss_mb"] / first["peak_rss_mb"]
    per_day = [r["s_per_day"] for r in runs]
    linearity = max(per_day) / min(per_day)  # 1.0 = perfectly linear in days
    return {
        "stations": len(landed.stations),
        "runs": runs,
        "rss_ratio_last_first": rss_ratio,
        "target_rss_ratio": TARGET_RSS_RATIO,
        "rss_met": rss_ratio <= TARGET_RSS_RATIO,
        "s_per_day_spread": linearity,
        "linear_met": linearity <= 1.5,
        "met": rss_ratio <= TARGET_RSS_RATIO and linearity <= 1.5,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", action="store_true", required=True)
    parser.add_argument("--raw", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--days", type=int, required=True)
    parser.add_argument("--uri", required=True)
    parser.add_argument("--database", required=True)
    args = parser.parse_args()
    print(json.dumps(child(args.raw, args.out, args.days, args.uri, args.database)))


if __name__ == "__main__":
    main()
