"""Where a weather_data day's raw rows went (``Accounting``), and the checks that add it up.

``reconciliation``: per station, raw = output + rejected + duplicates dropped, and output = rows in
the frame. ``station_day_rejects``: no station-day mostly rejected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from forecast_assets.weather.check_specs import (
    MAX_REJECTED_SHARE,
    RECONCILIATION,
    STATION_DAY_REJECTS,
    CheckOutcome,
    outcome,
)

#: Accounting key of raw rows that could not be attributed to a known station.
UNKNOWN_STATION = "unknown"


@dataclass
class Accounting:
    """Where a partition's raw rows went, per station id (``UNKNOWN_STATION`` when none is known)."""

    raw_rows: dict[str, int] = field(default_factory=dict)
    output_rows: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    duplicates_dropped: dict[str, int] = field(default_factory=dict)
    #: Records the raw stage already rejected (never landed), per station: part of what was delivered.
    raw_rejected: dict[str, int] = field(default_factory=dict)


def reconciliation_rows(frame: pd.DataFrame, accounting: Accounting) -> list[dict[str, Any]]:
    """Per station: raw, output, rejected, duplicates dropped, rows in the frame, and whether they add up."""
    # rows per station id in the frame, as a dict (a Series looked up per station costs far more)
    in_frame = (
        {k: int(v) for k, v in frame["station_id"].value_counts(dropna=True).items()} if "station_id" in frame else {}
    )
    stations = sorted(
        set(accounting.raw_rows)
        | set(accounting.output_rows)
        | set(accounting.rejected)
        | set(accounting.duplicates_dropped)
        | {str(s) for s in in_frame}
    )
    rows = []
    for sid in stations:
        raw, out = int(accounting.raw_rows.get(sid, 0)), int(accounting.output_rows.get(sid, 0))
        rej, dup = int(accounting.rejected.get(sid, 0)), int(accounting.duplicates_dropped.get(sid, 0))
        frame_rows = int(in_frame.get(sid, 0))
        rows.append(
            {
                "station_id": sid,
                "raw_rows": raw,
                "output_rows": out,
                "rejected": rej,
                "duplicates_dropped": dup,
                "frame_rows": frame_rows,
                "balanced": raw == out + rej + dup,
                "matches_frame": out == frame_rows,
            }
        )
    return rows


def reconciliation(frame: pd.DataFrame, accounting: Accounting) -> CheckOutcome:
    """Every station's rows add up (see the module docstring), naming each station that does not."""
    table = reconciliation_rows(frame, accounting)
    bad = [r for r in table if not (r["balanced"] and r["matches_frame"])]
    problems = []
    for r in bad:
        if not r["balanced"]:
            problems.append(
                f"{r['station_id']}: raw {r['raw_rows']} != output {r['output_rows']} + rejected "
                f"{r['rejected']} + duplicates {r['duplicates_dropped']}"
            )
        if not r["matches_frame"]:
            problems.append(f"{r['station_id']}: output {r['output_rows']} != {r['frame_rows']} rows in frame")
    summary = "; ".join(problems) if problems else f"{len(table)} station(s) reconciled"
    return outcome(
        RECONCILIATION,
        not bad,
        summary,
        {"unreconciled_stations": len(bad)},
        table,
        unreconciled_stations=[r["station_id"] for r in bad],
    )


def station_day_rejects(accounting: Accounting) -> CheckOutcome:
    """No known station has more than ``MAX_REJECTED_SHARE`` of its delivered records rejected."""
    stations = sorted((set(accounting.raw_rows) | set(accounting.raw_rejected)) - {UNKNOWN_STATION})
    table, failing = [], []
    for sid in stations:
        raw_rejected = int(accounting.raw_rejected.get(sid, 0))
        delivered = int(accounting.raw_rows.get(sid, 0)) + raw_rejected
        rejected = raw_rejected + int(accounting.rejected.get(sid, 0))
        share = rejected / delivered if delivered else 0.0
        passed = share <= MAX_REJECTED_SHARE
        table.append(
            {
                "station_id": sid,
                "delivered": delivered,
                "raw_rejected": raw_rejected,
                "transform_rejected": rejected - raw_rejected,
                "rejected_share": round(share, 4),
                "passed": passed,
            }
        )
        if not passed:
            failing.append(f"{sid} {rejected}/{delivered} ({share:.0%})")
    summary = (
        f"rejected share above {MAX_REJECTED_SHARE:.0%}: " + ", ".join(failing)
        if failing
        else f"{len(table)} station(s) at most {MAX_REJECTED_SHARE:.0%} rejected"
    )
    return outcome(
        STATION_DAY_REJECTS,
        not failing,
        summary,
        {"stations_mostly_rejected": len(failing)},
        table,
        max_rejected_share=MAX_REJECTED_SHARE,
        stations_mostly_rejected=[f.split(" ")[0] for f in failing],
    )
