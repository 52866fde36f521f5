"""The README's main command, as a user runs it: the sample week through the Dagster CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pymongo import MongoClient

from forecast_assets.mongo.embedded_server import state_uri, stop_background
from forecast_assets.staging import LocalStagingZone
from forecast_assets.staging.layout import raw_landed_key

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.integration
def test_main_command_materializes_the_sample_week_into_mongodb_in_one_run(tmp_path):
    home, staging_dir, mongo_dir = tmp_path / "dagster_home", tmp_path / "staging", tmp_path / "mongo"
    home.mkdir()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "FORECAST_STAGING_DIR": str(staging_dir),
        "FORECAST_MONGO_STATE_DIR": str(mongo_dir),
    }
    for name in ("FORECAST_ENV", "MONGO_URI"):
        env.pop(name, None)
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "dagster",
                "asset",
                "materialize",
                "-m",
                "forecast_assets.definitions",
                "--select",
                "*",
                "--partition-range",
                "2024-10-01...2024-10-07",
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert result.stderr.count("RUN_SUCCESS") == 1
        uri = state_uri(mongo_dir)  # the embedded MongoDB the run started
        with MongoClient(uri, serverSelectionTimeoutMS=5000) as client:
            assert client["weather_db"]["weather_measurements"].count_documents({}) == 4948
    finally:
        assert stop_background(mongo_dir) is True

    staging = LocalStagingZone(root=str(staging_dir))
    landed = [k for k in staging.list_keys("raw/") if not k.startswith("raw/_rejects/")]
    assert len(landed) == 21
    assert len(staging.read_jsonl(raw_landed_key("FR", "2024-10-07"))) == 180
