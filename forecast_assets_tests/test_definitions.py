"""The code location loads and validates, in every environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from forecast_assets.definitions import build_defs
from forecast_assets.environment import get_env

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("env", ["local", "production"])
def test_definitions_resolve_in_each_environment(env):
    defs = build_defs(env=env)
    graph = defs.resolve_asset_graph()
    assert {key.to_user_string() for key in graph.get_all_asset_keys()} >= {
        "raw/BE",
        "raw/FR",
        "raw/InfoClimat",
    }
    defs.resolve_job_def("weather_pipeline")


def test_environment_names_are_checked(monkeypatch):
    monkeypatch.setenv("FORECAST_ENV", "staging-typo")
    with pytest.raises(ValueError, match="FORECAST_ENV='staging-typo' is not one of"):
        get_env()


def _dg_check_defs(home: Path, **env: str) -> subprocess.CompletedProcess:
    """``dg check defs`` in the repository (its ``[tool.dg]`` project), as a user runs it from the venv."""
    return subprocess.run(
        [str(Path(sys.executable).parent / "dg"), "check", "defs"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "DAGSTER_HOME": str(home), "VIRTUAL_ENV": sys.prefix, **env},
    )


def test_dg_check_defs_loads_the_code_location(tmp_path):
    result = _dg_check_defs(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All definitions loaded successfully" in result.stdout + result.stderr


def test_dg_check_defs_fails_naming_a_broken_setting(tmp_path):
    result = _dg_check_defs(tmp_path, FORECAST_ENV="staging-typo")
    assert result.returncode != 0
    assert "FORECAST_ENV='staging-typo' is not one of" in result.stdout + result.stderr


def test_every_asset_has_owners_code_links_and_the_data_assets_a_column_schema():
    graph = build_defs(env="local").resolve_asset_graph()
    for node in graph.asset_nodes:
        assert node.owners, node.key
        assert "dagster/code_references" in node.metadata, node.key
    for key in ("weather_data", "mongodb/weather_measurements"):
        schema = graph.get(dg.AssetKey.from_user_string(key)).metadata["dagster/column_schema"].schema
        columns = {c.name: c.description for c in schema.columns}
        assert "°C" in columns["temperature_c"] and "hPa" in columns["pressure_hpa"], key


def test_every_check_is_evaluated_per_day():
    graph = build_defs(env="local").resolve_asset_graph()
    for check_key in graph.asset_check_keys:
        spec = graph.get_check_spec(check_key)
        assert spec.partitions_def is not None, check_key
        assert not spec.blocking, check_key  # per-day gating is done by the MongoDB load, see partition_checks
