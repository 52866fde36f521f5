"""Stress loop: the concurrency and fault tests, many rounds, while another load runs on the machine.

``make stress`` (``python -m bench.stress``) runs ``pytest -m stress`` ``--rounds`` times in a row
while ``--load`` busy processes keep cores occupied, and writes one line per round plus a summary to
``--out`` (``bench/STRESS.md`` by default). A round that fails once is a defect to fix at its cause:
the exit code is non-zero when any round failed. Tests opt in with ``@pytest.mark.stress`` (the
concurrency, race and kill modules of ``forecast_assets_tests/faults/`` are marked by its conftest).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SUMMARY = re.compile(r"^=*\s*(\d+ (?:passed|failed|error).*?) in [\d.]+s", re.MULTILINE)


def _burn(stop: multiprocessing.Event) -> None:
    """Keep one core busy until ``stop`` is set: the 'other load' of the stress loop."""
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x = (x * 31 + 7) % 1_000_003


def run_round(number: int, pytest_args: list[str], log_dir: Path) -> dict:
    """One ``pytest -m stress`` run; its outcome, summary line and duration."""
    started = time.monotonic()
    log = log_dir / f"round-{number:02d}.log"
    with log.open("w") as handle:
        code = subprocess.call(
            [sys.executable, "-m", "pytest", "-m", "stress", "-q", "-p", "no:cacheprovider", *pytest_args],
            cwd=REPO,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    text = log.read_text(errors="replace")
    summaries = SUMMARY.findall(text)
    return {
        "round": number,
        "exit": code,
        "seconds": round(time.monotonic() - started, 1),
        "summary": summaries[-1] if summaries else "(no summary line)",
        "log": str(log),
    }


def write_report(args: argparse.Namespace, started: datetime, rounds: list[dict]) -> None:
    """``--out``: one line per round so far, and how many passed of how many asked."""
    passed = sum(1 for r in rounds if r["exit"] == 0)
    lines = [
        "# Stress loop: concurrency and fault tests (`make stress`)",
        "",
        f"{started:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{args.load} busy process(es) alongside, `pytest -m stress {' '.join(args.pytest_args)}`.",
        "",
        f"**{passed} of {len(rounds)} rounds passed** ({args.rounds} asked"
        + ("" if len(rounds) == args.rounds else f"; stopped after {len(rounds)}")
        + ").",
        "",
        "| round | exit | pytest summary | seconds |",
        "|---|---|---|---|",
        *(f"| {r['round']} | {r['exit']} | {r['summary']} | {r['seconds']} |" for r in rounds),
        "",
    ]
    args.out.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--load", type=int, default=1, help="busy processes running alongside (default 1)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "STRESS.md")
    parser.add_argument("--log-dir", type=Path, default=REPO / ".forecast" / "stress")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args(argv)
    args.log_dir.mkdir(parents=True, exist_ok=True)

    stop = multiprocessing.Event()
    burners = [multiprocessing.Process(target=_burn, args=(stop,), daemon=True) for _ in range(args.load)]
    for burner in burners:
        burner.start()
    started = datetime.now(UTC)
    rounds: list[dict] = []
    try:
        for number in range(1, args.rounds + 1):
            outcome = run_round(number, args.pytest_args, args.log_dir)
            rounds.append(outcome)
            print(
                f"round {number}/{args.rounds}: exit {outcome['exit']}, {outcome['summary']}, {outcome['seconds']} s",
                flush=True,
            )
            write_report(args, started, rounds)  # after every round: an interrupted loop keeps its record
    finally:
        stop.set()
        for burner in burners:
            burner.join(timeout=5)
    passed = sum(1 for r in rounds if r["exit"] == 0)
    print(f"{passed} of {len(rounds)} rounds passed; written to {args.out}")
    return 0 if passed == len(rounds) else 1


if __name__ == "__main__":
    raise SystemExit(main())
