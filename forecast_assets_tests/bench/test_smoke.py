"""The benchmark runs end to end at tiny size, so it cannot rot. No timing is asserted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.__main__ import main

SECTIONS = (
    "## 1. Transform",
    "## 2. MongoDB load",
    "## 3. End-to-end Dagster",
    "## 4. Scaling",
    "## 5. Read latency",
    "## 6. Scale",
)
KEYS = {
    "transform": {"project_rows_per_s", "reference_rows_per_s", "ratio", "met", "rows_compared_equal"},
    "load": {"project_docs_per_s", "reference_docs_per_s", "ratio", "met", "documents"},
    "dagster": {"single_run_s", "per_partition_total_s", "ratio", "met"},
    "scaling": {"runs", "rss_ratio_last_first", "s_per_day_spread", "met"},
    "latency": {"with_indexes", "without_indexes", "met"},
    "scale": {"runs", "vs_today", "transform", "wall_met", "rows_per_s_met", "rss_met", "met"},
}


@pytest.mark.integration
def test_bench_runs_at_tiny_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MONGO_URI", raising=False)  # a dedicated local server in tmp_path
    out = tmp_path / "RESULTS.md"
    code = main(
        [
            "--days",
            "1,2",
            "--stations",
            "IICHTE19,07015",
            "--section-days",
            "2",
            "--dagster-days",
            "2",
            "--dagster-mode",
            "inprocess",
            "--latency-samples",
            "5",
            "--repeats",
            "1",
            "--scale-sizes",
            "8x2",
            "--scale-reference-days",
            "1",
            "--scale-transform-size",
            "8x2",
            "--work-dir",
            str(tmp_path / "work"),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    text = out.read_text(encoding="utf-8")
    for heading in SECTIONS:
        assert heading in text, heading
    assert "nproc" in text and "Python / pandas" in text
    assert text.count("**met**") + text.count("**missed**") >= 6  # every target marked
    results = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert {"machine", "data", *KEYS} <= set(results)
    for section, keys in KEYS.items():
        assert keys <= set(results[section]), section
    assert results["transform"]["rows_compared_equal"] > 0
    assert [run["days"] for run in results["scaling"]["runs"]] == [1, 2]
    assert results["latency"]["with_indexes"]["winning_plan"]
    assert [(run["stations"], run["days"]) for run in results["scale"]["runs"]] == [(8, 2)]
