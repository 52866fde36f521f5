"""The README's main command, as a user runs it: the sample week through the Dagster CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from forecast_assets.raw.assets import landed_key
from forecast_assets.staging import LocalStagingZone

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.integration
def test_main_command_materializes_the_sample_week_in_one_run(tmp_path):
    home, staging_dir = tmp_path / "dagster_home", tmp_path / "staging"
    home.mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(home), "FORECAST_STAGING_DIR": str(staging_dir)}
    env.pop("FORECAST_ENV", None)
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "forecast_assets.definitions",
         "--select", "*", "--partition-range", "2024-10-01...2024-10-07"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr.count("RUN_SUCCESS") == 1

    staging = LocalStagingZone(root=str(staging_dir))
    landed = [k for k in staging.list_keys("raw/") if not k.startswith("raw/_rejects/")]
    assert len(landed) == 21
    assert len(staging.read_jsonl(landed_key("FR", "2024-10-07"))) == 180
