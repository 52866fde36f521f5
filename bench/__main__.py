"""``python -m bench [--days 7,30,365] [--quick] [--out bench/RESULTS.md]``: run the six sections.

Writes the report (``--out``) and the raw numbers next to it (``results.json``, or ``--json``).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
import warnings
from pathlib import Path

STATION_HELP = "comma-separated station ids (default: the 6 stations of stations.py)"

PROFILE_NOTES = {
    "transform": (
        "Transform missed. Profile (pyinstrument, 14 partitions x 5 repeats): a partition is a few hundred rows per "
        "call (288-row WU day, ~450-row InfoClimat day, 3 calls a day), so time splits between per-call pandas costs "
        "(`build_frame` ~20 %) and per-value Python work (`units.parse_measure` once per *distinct* value ~45 %: the "
        "generated values are nearly all distinct; `strptime`/`clock_text` per distinct time ~15 %). Two fixes were "
        "built and measured A/B in one process on the same rows, then reverted because neither helped at this grain: "
        "(a) Arrow-vectorised number/unit split (`pc.extract_regex` + cast, converted per distinct unit): 0.6-1.1 ms "
        "per 288-value column against 0.13 ms for a plain `float(text.partition())` loop - RE2 compiles on every call "
        "and Arrow's string kernels cost 50-150 ns per value (`pa.array` alone ~130 ns), as much as CPython's whole "
        "per-value parse; per-day transform 10-20 % slower. (b) `pd.to_datetime(format=...)` for `dh_utc` and "
        "`to_timedelta` for WU times: faster on one 13,676-row call (57-90 vs 87-144 ms) but within noise per day. "
        "(c) A process-wide memo of converted texts (values recur across days): ratio 1.12-1.30x with the memo "
        "empty at the start of each repeat, ~1.5x warm, against 1.0-1.09x without - not worth a process-wide cache; "
        "once it was gone `build_frame` (~1.2 ms per call, 3 calls a day) was the largest single cost. "
        "What bounds the ratio is that both sides start from Python dicts (`json.loads` of the landed JSONL): on one "
        "288-row WU day, merely pulling the 10 measure fields out of the dicts took 0.18-0.25 ms against 2.5 ms for "
        "the reference's whole parse loop of the same values (same session), i.e. ~10-14x before any parsing, "
        "conversion or frame building - so >= 20x is out of reach without changing the landed format (JSONL, fixed "
        "by the brief). "
        "The ratio grows with rows per call (see the one-call InfoClimat row). And the transform is not where a day's "
        "time goes: ~20 ms of ~0.8 s end to end (section 4: `build_day` with Pandera checks and quality report "
        "~0.13 s/day, MongoDB load ~0.67 s/day), so even 20x would save ~2-3 %."
    ),
    "load": (
        "Load missed: the project's path is `sync_windows` (one `find` per station window, one insert stream and one "
        "bulk replace per day). On SecantusDB its ceiling is the server's own validation and index maintenance "
        "(insert_many into the validated, indexed collection ~3k docs/s at any batch size, ~14k docs/s without "
        "validator and indexes), so the ratio to `insert_one` depends on the server's per-round-trip cost. Profile "
        "of `load_day` over the 7 days (pyinstrument): 80 % of the time is the client waiting on SecantusDB's "
        "`insert_many` (`socket.recv_into`), 14 % frame -> document conversion, 2 % window reads. The ratio sits at the "
        "target: 5.30x, 5.34x and 4.85x in three full runs on this machine."
    ),
    "dagster": (
        "Dagster: since issue 14 local runs use the in-process executor, so a per-partition run no longer pays "
        "a Python process per step: the 7 per-day runs fell from 233.6 s (2026-11-22) to ~65 s and the ratio to the "
        "one run with them (3b shows the executor's share). The single run (~22 s) is now ~7 s of CLI start-up "
        "(`import forecast_assets.definitions` alone 4.9 s: dagster, pandas, pandera, polars, matplotlib), ~3 s "
        "of raw steps (openpyxl reading the two workbooks), ~2 s of weather_data for the 7 days, and ~8 s of the "
        "MongoDB step: loading ~5,000 documents into SecantusDB (a Python server, ~2,300 docs/s in section 2) "
        "and each day's post-load checks, of which the read-latency check's 30 timed reads a day cost ~0.6 s. "
        "The weather path issue 14 rebuilt is ~10 % of that run, so 3b's >= 2x against a process per step "
        "rests on start-up and MongoDB, not on it."
    ),
}


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def notes_for(results: dict) -> list[str]:
    """The notes a run's figures call for: a missed section's profile note, SecantusDB's plan."""
    notes = []
    for section in ("transform", "load", "dagster"):
        if results.get(section) and not results[section]["met"]:
            if section == "dagster" and results[section]["mode"] != "cli":
                notes.append(
                    "Dagster (in-process mode): no process start-up on either side, so the ratio is the "
                    "per-run orchestration overhead (~1 s per run) against the work."
                )
            else:
                notes.append(PROFILE_NOTES[section])
    if results.get("latency"):
        plan = results["latency"]["with_indexes"]["winning_plan"]
        if plan and plan[0] == "SORT":
            notes.append(
                "Latency: SecantusDB's winning plan puts a blocking SORT above the `station_id_timestamp` "
                "IXSCAN even though the index already yields timestamp order (mongod would not); the index "
                "still removes the collection scan."
            )
    return notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--days", default="7,30,365", help="scaling sizes in days (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="scaling at 3,7 days")
    parser.add_argument("--out", default=str(Path(__file__).parent / "RESULTS.md"))
    parser.add_argument("--json", default=None, help="raw numbers (default: results.json next to --out)")
    parser.add_argument("--stations", default=None, help=STATION_HELP)
    parser.add_argument("--section-days", type=int, default=7, help="days for sections 1, 2, 5 (default: 7)")
    parser.add_argument("--dagster-days", type=int, default=7, help="days of the sample week for section 3")
    parser.add_argument("--dagster-mode", choices=["cli", "inprocess"], default="cli")
    parser.add_argument("--latency-samples", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3, help="transform timing repeats (best of)")
    parser.add_argument(
        "--work-dir",
        default=None,
        help="where generated data is cached and runs write (default: a folder in the temp dir)",
    )
    parser.add_argument(
        "--skip", default="", help="comma-separated sections to skip: transform,load,dagster,scaling,latency,scale"
    )
    parser.add_argument(
        "--scale-sizes",
        default=None,
        help="section 6 sizes, STATIONSxDAYS (default: 162x365,6x365; --quick: 162x7,6x30)",
    )
    parser.add_argument(
        "--scale-pipeline",
        default=None,
        help="section 6 pipeline, module:function (default: bench.pipelines:chunked; contract in bench/pipelines.py)",
    )
    parser.add_argument(
        "--scale-reference", default=None, help="today's code for the ratio (default: bench.pipelines:reference_v1)"
    )
    parser.add_argument(
        "--scale-transform",
        default=None,
        help="transform-only pipeline compared with the row-by-row reference "
        "(default: bench.pipelines:transform_columnar)",
    )
    parser.add_argument(
        "--scale-chunk-days",
        type=int,
        default=0,
        help="days per pipeline call (0: whole range; the pipeline chunks it)",
    )
    parser.add_argument(
        "--scale-reference-days",
        type=int,
        default=None,
        help="days of the ratio vs today's code, 162 stations (default: 14; --quick: 2)",
    )
    parser.add_argument(
        "--scale-transform-size",
        default=None,
        help="transform ratio size, STATIONSxDAYS (default: 6x365; --quick: 6x30)",
    )
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    logging.getLogger("dagster").setLevel(logging.WARNING)

    from bench import dagster_runs, landed_data, latency, load, mongo, report, scaling, throughput, transform

    days = [3, 7] if args.quick else _ints(args.days)
    stations = args.stations.split(",") if args.stations else list(landed_data.ALL_STATIONS)
    skip = set(filter(None, args.skip.split(",")))
    work = Path(args.work_dir or Path(tempfile.gettempdir()) / "forecast_bench")
    work.mkdir(parents=True, exist_ok=True)
    out_md = Path(args.out)
    out_json = Path(args.json) if args.json else out_md.with_name("results.json")
    section_days = min(args.section_days, max(days))

    def say(msg: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    raw_root = work / "raw_{}_{}".format("-".join(sorted(stations)), "mess")
    say(f"generating + landing {len(stations)} stations × {max(days)} days under {raw_root}")
    started = time.perf_counter()
    landed = landed_data.generate_and_land(raw_root, stations, max(max(days), section_days))
    results: dict = {
        "args": " ".join(argv if argv is not None else sys.argv[1:]),
        "data": {
            "stations": len(landed.stations),
            "station_ids": landed.stations,
            "days": max(days),
            "raw_rows": landed.raw_rows,
            "generate_and_land_s": time.perf_counter() - started,
        },
    }
    notes: list[str] = []
    with mongo.bench_server(work) as uri:
        results["machine"] = report.machine_facts(mongo.server_version(uri))
        if "transform" not in skip:
            say(f"1. transform over {section_days} days")
            results["transform"] = transform.run(landed, section_days, repeats=args.repeats)
        if "load" not in skip:
            say(f"2. mongo load over {section_days} days")
            results["load"] = load.run(landed, uri, section_days)
        if "latency" not in skip and results.get("load"):
            say("5. read latency")
            results["latency"] = latency.run(
                uri, results["load"]["project_database"], landed.partition_keys[:section_days], args.latency_samples
            )
        if "dagster" not in skip:
            say(f"3. dagster ({args.dagster_mode}), {args.dagster_days} days")
            results["dagster"] = dagster_runs.run(uri, work / "dagster", args.dagster_days, args.dagster_mode)
        if "scaling" not in skip:
            say(f"4. scaling {days}")
            results["scaling"] = scaling.run(landed, uri, work, days)
    if "scale" not in skip:
        say("6. scale")
        results["scale"] = throughput.run(
            work / "scale",
            sizes=throughput.parse_sizes(args.scale_sizes or ("162x7,6x30" if args.quick else "162x365,6x365")),
            pipeline=args.scale_pipeline or throughput.PIPELINE,
            reference=args.scale_reference or throughput.REFERENCE,
            transform=args.scale_transform or throughput.TRANSFORM,
            chunk_days=args.scale_chunk_days,
            reference_days=args.scale_reference_days or (2 if args.quick else 14),
            transform_size=throughput.parse_sizes(args.scale_transform_size or ("6x30" if args.quick else "6x365"))[0],
            say=say,
        )
    results["notes"] = notes + notes_for(results)
    report.write(results, out_md, out_json)
    say(f"wrote {out_md} and {out_json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
