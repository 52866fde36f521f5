"""raw_accounting: every record read from a source is stored once, landed or rejected.

The raw asset evaluates the check itself, one partition (day) at a time (``account_partition``,
counting what the staging zone actually holds), and records each day's evaluation as that day's
(``log_accounting``, see :mod:`forecast_assets.partition_checks`).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import dagster as dg

from forecast_assets.partition_checks import DayEvaluation, day_check_spec, log_day_evaluations
from forecast_assets.staging import StagingZone
from forecast_assets.staging.layout import SOURCE_POSITION, SOURCE_URI

RAW_ACCOUNTING = "raw_accounting"
RAW_ACCOUNTING_DESCRIPTION = (
    "Per day: records read from the source = lines stored in the landed file "
    "+ lines stored in the rejects file, and no record stored twice."
)


def raw_check_specs(asset_key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    """The check specs to declare on a raw asset (``check_specs=``)."""
    return [day_check_spec(RAW_ACCOUNTING, asset_key, RAW_ACCOUNTING_DESCRIPTION, blocks_day=True)]


def _stored(staging: StagingZone, key: str) -> tuple[list[dict[str, Any]], int] | None:
    """The JSON records stored at ``key`` and how many lines are not one; None if nothing is stored."""
    try:
        stored = staging.read_bytes(key)
    except FileNotFoundError:
        return None
    records, unreadable = [], 0
    for line in stored.decode("utf-8").split("\n"):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            unreadable += 1
            continue
        if isinstance(record, dict):
            records.append(record)
        else:
            unreadable += 1
    return records, unreadable


def account_partition(
    staging: StagingZone, partition_key: str, read: int, landed_at: str, rejected_at: str
) -> dict[str, Any]:
    """One partition's accounting: records read vs. what is stored at ``landed_at`` and ``rejected_at``."""
    problems = []
    landed = _stored(staging, landed_at)
    if landed is None:
        problems.append(f"no landed file at {landed_at}")
        landed = ([], 0)
    rejected = _stored(staging, rejected_at) or ([], 0)
    records, unreadable = landed[0] + rejected[0], landed[1] + rejected[1]
    if unreadable:
        problems.append(f"{unreadable} stored line(s) are not JSON records")
    lineage = Counter((r.get(SOURCE_URI), r.get(SOURCE_POSITION)) for r in records)
    repeated = sorted(str(position) for (_, position), n in lineage.items() if n > 1)
    if repeated:
        problems.append(f"stored more than once: {', '.join(repeated[:5])}" + (" …" if len(repeated) > 5 else ""))
    balanced = read == len(records)
    return {
        "partition": partition_key,
        "read": int(read),
        "landed": len(landed[0]),
        "rejected": len(rejected[0]),
        "balanced": balanced,
        "problems": "; ".join(problems),
        "passed": balanced and not problems,
    }


def log_accounting(context: dg.AssetExecutionContext, asset_key: dg.AssetKey, row: dict[str, Any]) -> None:
    """Record one day's ``raw_accounting`` evaluation (a row of :func:`account_partition`)."""
    log_day_evaluations(
        context,
        asset_key,
        row["partition"],
        [
            DayEvaluation(
                RAW_ACCOUNTING,
                row["passed"],
                dg.AssetCheckSeverity.ERROR,
                description=(
                    f"{row['partition']}: {row['read']} record(s) read = {row['landed']} landed + "
                    f"{row['rejected']} rejected"
                    if row["passed"]
                    else f"{row['partition']}: {row['read']} record(s) read, {row['landed']} landed + "
                    f"{row['rejected']} rejected stored; {row['problems'] or 'unbalanced'}"
                ),
                metadata={key: dg.MetadataValue.int(row[key]) for key in ("read", "landed", "rejected")}
                | {"problems": dg.MetadataValue.text(row["problems"] or "none")},
            )
        ],
    )
