"""The code location loads and validates, in every environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from forecast_assets.definitions import build_defs
from forecast_assets.resources import get_env

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("env", ["local", "production"])
def test_definitions_resolve_in_each_environment(env):
    defs = build_defs(env=env)
    graph = defs.resolve_asset_graph()
    assert {key.to_user_string() for key in graph.get_all_asset_keys()} >= {
        "raw/BE", "raw/FR", "raw/InfoClimat",
    }
    defs.resolve_job_def("weather_pipeline")


def test_environment_names_are_checked(monkeypatch):
    monkeypatch.setenv("FORECAST_ENV", "staging-typo")
    with pytest.raises(ValueError, match="FORECAST_ENV='staging-typo' is not one of"):
        get_env()


def test_dagster_definitions_validate_cli(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, "DAGSTER_HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "forecast_assets" in result.stdout + result.stderr
