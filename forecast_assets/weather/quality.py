"""weather_data quality report: one partition's numbers as JSON, as markdown, and as a temperature plot.

Every number comes from counting or grouping the day's frame (no pass per station); the plot draws
at most ``PLOTTED_STATIONS`` stations and sums up the others in a line, so it costs one picture.
"""

from __future__ import annotations

import base64
import io
from collections import Counter
from dataclasses import fields
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import dates as mdates
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from forecast_assets.markdown import markdown_table
from forecast_assets.stations import STATIONS
from forecast_assets.weather.accounting import Accounting, reconciliation_rows
from forecast_assets.weather.check_specs import CheckOutcome, records
from forecast_assets.weather.completeness import station_coverage
from forecast_assets.weather.schema import KEY_COLUMNS, MEASURE_COLUMNS, RANGE_BOUNDS, below_and_above

#: Most rejects / duplicates kept as a sample in the report.
REPORT_SAMPLE_SIZE = 10
#: Line colours of the plot (matplotlib's default cycle), kept exact in the PNG's palette.
PLOT_COLOURS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
#: Longest text kept of a rejected record as found.
RECORD_TEXT_LIMIT = 200
#: Most stations drawn in the temperature plot (the most readings first); the others are summed up in a line.
PLOTTED_STATIONS = 6


def range_violations(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per column with any value outside its contract bounds: how many below / above, and the extremes."""
    violations = {}
    for column, b in RANGE_BOUNDS.items():
        if column not in frame or not pd.api.types.is_numeric_dtype(frame[column]):
            continue
        series = frame[column]
        # NaN: neither below nor above (a float64 column holds its nulls as NaN already: no copy)
        values = series.to_numpy() if series.dtype == np.float64 else series.to_numpy(np.float64, na_value=np.nan)
        below, above = (int(np.count_nonzero(mask)) for mask in below_and_above(values, b))
        if below or above:
            violations[column] = {
                "min_bound": b.get("min"),
                "max_bound": b.get("max"),
                "below": below,
                "above": above,
                "observed_min": float(np.nanmin(values)),
                "observed_max": float(np.nanmax(values)),
            }
    return violations


def null_rates(frame: pd.DataFrame) -> dict[str, float]:
    """Share of nulls of each measure column (rounded to 4 places), from one null mask of them all."""
    present = [c for c in MEASURE_COLUMNS if c in frame]
    if not present or not len(frame):
        return {}
    shares = frame[present].isna().to_numpy().mean(axis=0)  # sums of 0/1 are exact: Series.mean's values
    return {c: round(float(share), 4) for c, share in zip(present, shares)}


def _reject_sample(reject: dict) -> dict[str, Any]:
    kept = {k: reject[k] for k in ("reason", "station_id", "_source_uri", "_source_position") if k in reject}
    if "record" in reject:
        text = str(reject["record"])
        kept["record"] = text if len(text) <= RECORD_TEXT_LIMIT else text[:RECORD_TEXT_LIMIT] + "…"
    return kept


def build_quality_report(
    partition_key: str,
    frame: pd.DataFrame,
    accounting: Accounting,
    rejects: list[dict],
    duplicates: pd.DataFrame,
    outcomes: list[CheckOutcome],
    coverage: list[dict[str, Any]] | None = None,
    rows_per_station: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The quality report of one partition, JSON-serialisable (``coverage``: the frame's
    ``station_coverage``, ``rows_per_station``: its ``reconciliation_rows``, when already counted)."""
    stamps = frame["timestamp"].dropna() if "timestamp" in frame else pd.Series(dtype="datetime64[us, UTC]")
    dup_stations = duplicates.groupby("station_id").size() if "station_id" in duplicates and len(duplicates) else {}
    sample_columns = [c for c in [*KEY_COLUMNS, "source"] if c in duplicates] if len(duplicates) else []
    return {
        "partition": partition_key,
        "totals": {
            "raw_rows": int(sum(accounting.raw_rows.values())),
            "output_rows": int(sum(accounting.output_rows.values())),
            "rejected": int(sum(accounting.rejected.values())),
            "duplicates_dropped": int(sum(accounting.duplicates_dropped.values())),
            "frame_rows": int(len(frame)),
        },
        "rows_per_source": (
            {str(k): int(v) for k, v in frame.groupby("source").size().items()} if "source" in frame else {}
        ),
        "rows_per_station": reconciliation_rows(frame, accounting) if rows_per_station is None else rows_per_station,
        "coverage": station_coverage(partition_key, frame) if coverage is None else coverage,
        "time_range": {
            "min": stamps.min().isoformat() if len(stamps) else None,
            "max": stamps.max().isoformat() if len(stamps) else None,
        },
        "null_rate": null_rates(frame),
        "duplicates": {
            "count": int(len(duplicates)),
            "per_station": {str(k): int(v) for k, v in dup_stations.items()},
            "sample": records(duplicates[sample_columns], REPORT_SAMPLE_SIZE) if sample_columns else [],
        },
        "rejects": {
            "count": len(rejects),
            "by_reason": dict(Counter(str(r.get("reason", "unknown")) for r in rejects).most_common()),
            "sample": [_reject_sample(r) for r in rejects[:REPORT_SAMPLE_SIZE]],
        },
        "range_violations": range_violations(frame),
        # the outcomes' fields as they are (``asdict`` would deep-copy every table: the report only reads them)
        "checks": [{f.name: getattr(o, f.name) for f in fields(o)} for o in outcomes],
    }


def _table(rows: list[dict] | dict, headers: tuple[str, str] | None = None) -> str:
    if isinstance(rows, dict):
        rows = [{headers[0]: k, headers[1]: v} for k, v in rows.items()]
    return markdown_table(rows)


def report_markdown(report: dict[str, Any]) -> str:
    """The quality report as markdown tables, for the Dagster UI."""
    time_range = report["time_range"]
    coverage = [
        {
            k: r[k]
            for k in ("station_id", "source", "rows", "expected_slots", "filled_slots", "coverage", "outside_window")
        }
        for r in report["coverage"]
    ]
    checks = [
        {"check": c["name"], "severity": c["severity"], "passed": c["passed"], "summary": c["summary"]}
        for c in report["checks"]
    ]
    violations = [{"column": c, **v} for c, v in report["range_violations"].items()]
    sections = [
        f"## weather_data quality — {report['partition']}",
        _table([report["totals"]]),
        "### Checks",
        _table(checks),
        "### Rows per station",
        _table(report["rows_per_station"]),
        "### Rows per source",
        _table(report["rows_per_source"], ("source", "rows")),
        "### Coverage per station",
        _table(coverage),
        "### Time range (UTC)",
        _table([time_range]) if time_range["min"] else "_no rows_",
        "### Null rate per column",
        _table(report["null_rate"], ("column", "null_rate")),
        f"### Duplicates dropped: {report['duplicates']['count']}",
        _table(report["duplicates"]["sample"]),
        f"### Rejects: {report['rejects']['count']}",
        _table(report["rejects"]["by_reason"], ("reason", "rows")),
        _table(report["rejects"]["sample"]) if report["rejects"]["sample"] else "",
        "### Values outside the contract's bounds",
        _table(violations),
    ]
    return "\n\n".join(s for s in sections if s)


def _palette() -> Image.Image:
    """A PNG palette: the line colours, their half-tints over white (anti-aliasing) and 16 greys."""
    colours = [tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in PLOT_COLOURS]
    colours += [tuple((v + 255) // 2 for v in c) for c in colours]
    colours += [(g, g, g) for g in range(0, 256, 17)]
    palette = Image.new("P", (1, 1))
    palette.putpalette([v for c in colours for v in c])
    return palette


def plotted_stations(frame: pd.DataFrame) -> list:
    """The stations the plot draws, sorted: all, or the ``PLOTTED_STATIONS`` with the most readings
    (ties: station table order, then stations the table lacks)."""
    readings = frame.groupby("station_id").size()  # sorted by station id
    if len(readings) > PLOTTED_STATIONS:
        order = {station_id: i for i, station_id in enumerate(STATIONS)}
        ranked = sorted(readings.index, key=lambda s: (-readings[s], order.get(s, len(order))))
        readings = readings[sorted(ranked[:PLOTTED_STATIONS])]
    return list(readings.index)


def _others_line(data: pd.DataFrame, drawn: list[str]) -> str:
    others = data[data["station_id"].notna() & ~data["station_id"].isin(drawn)]
    if others.empty:
        return ""
    values = others["temperature_c"]
    return (
        f"\n\n_Drawn: {len(drawn)} of {len(drawn) + others['station_id'].nunique()} stations (most readings); "
        f"the other {others['station_id'].nunique()}: {len(others)} readings, "
        f"{values.min():.1f} to {values.max():.1f} °C (median {values.median():.1f} °C)._"
    )


def temperature_plot_markdown(frame: pd.DataFrame) -> str:
    """Temperature per station across the partition, as a small PNG embedded in markdown."""
    needed = {"station_id", "timestamp", "temperature_c"}
    data = frame.dropna(subset=["temperature_c"]) if needed <= set(frame.columns) else frame.iloc[0:0]
    if data.empty:
        return "_No temperature observations to plot._"
    drawn = plotted_stations(data)
    fig = Figure(figsize=(9, 3.2), dpi=80)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_prop_cycle(color=PLOT_COLOURS)
    shown = data[data["station_id"].isin(drawn)].sort_values("timestamp")
    for station_id, rows in shown.groupby("station_id", sort=True):
        station = STATIONS.get(str(station_id))
        label = f"{station_id} {station.name}" if station else str(station_id)
        ax.plot(
            rows["timestamp"].dt.tz_convert("UTC").dt.tz_localize(None), rows["temperature_c"], label=label, linewidth=1
        )
    ax.set_ylabel("°C")
    ax.set_xlabel("UTC")
    ax.set_title("Temperature per station")
    ax.grid(alpha=0.3)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b %H:%M"))
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.autofmt_xdate()
    fig.tight_layout()
    canvas.draw()  # the rendered pixels, without a PNG written and read back
    rendered = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba())
    # a palette of a few colours keeps even a noisy day well under ~60 KB (Pillow comes with matplotlib)
    buffer = io.BytesIO()
    rendered.convert("RGB").quantize(palette=_palette(), dither=Image.Dither.NONE).save(
        buffer, format="PNG", optimize=True
    )
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"![Temperature per station (°C, UTC)](data:image/png;base64,{encoded})" + _others_line(data, drawn)
