"""Adding a Weather Underground station is one registry line, one station line and its source setting.

The test copies the package, adds exactly those two lines (nothing else), points the new feed's source
setting at a workbook, and in a fresh interpreter checks what the definitions derive from the
registry — a raw asset with its reader, weather_data depending on it — then materializes a day of
the whole lineage up to weather_data and finds the new station's rows in the dataset.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from forecast_assets.sample_data import BE_WORKBOOK

PACKAGE = Path(__file__).resolve().parents[1] / "forecast_assets"

STATION_LINE = (
    '    Station("IROUBA12", "Roubaix Centre", "Roubaix", "FR", 50.690, 3.181, 30,\n'
    '            "Europe/Paris", WEATHER_UNDERGROUND, "RBX", timedelta(minutes=5)),\n'
)
FEED_LINE = '    Feed("RBX", WEATHER_UNDERGROUND, "wu_rbx", "IROUBA12", "FORECAST_RBX_SOURCE"),\n'

CHECK = r"""
import json, warnings
warnings.filterwarnings("ignore")
import dagster as dg
from forecast_assets.definitions import build_defs
from forecast_assets.staging import LocalStagingZone
from forecast_assets.staging.layout import dataset_key, raw_landed_key
from forecast_assets.weather.dataset import from_jsonl

defs = build_defs()
graph = defs.resolve_asset_graph()
raw = dg.AssetKey(["raw", "RBX"])
weather = dg.AssetKey("weather_data")
spec = graph.get(raw)
staging = LocalStagingZone(root="staging")
selection = [k for k in graph.get_all_asset_keys() if k.path[0] == "raw" or k == weather]
result = dg.materialize(
    [defs.get_assets_def(k) for k in selection],
    resources={k: v for k, v in defs.resources.items() if k not in ("mongo",)} | {"staging": staging},
    partition_key="2024-10-01",
    raise_on_error=False,
)
frame = from_jsonl(staging.read_bytes(dataset_key("2024-10-01")))
print(json.dumps({
    "raw_assets": sorted(k.to_user_string() for k in graph.get_all_asset_keys() if k.path[0] == "raw"),
    "weather_deps": sorted(k.to_user_string() for k in graph.get(weather).parent_keys),
    "reader": type(defs.resources["wu_rbx"]).__name__,
    "reader_station": defs.resources["wu_rbx"].station_id,
    "success": result.success,
    "landed": len(staging.read_jsonl(raw_landed_key("RBX", "2024-10-01"))),
    "rows": frame["station_id"].value_counts().to_dict(),
    "source_column": sorted(frame.loc[frame["station_id"] == "IROUBA12", "source"].unique()),
}))
"""


def _insert_after(path: Path, anchor: str, line: str) -> None:
    text = path.read_text()
    assert anchor in text, f"{path.name} no longer has {anchor!r}: update this test"
    path.write_text(text.replace(anchor, anchor + line, 1))


@pytest.mark.integration
def test_a_new_weather_underground_station_is_two_lines_and_a_setting(tmp_path):
    copy = tmp_path / "forecast_assets"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    _insert_after(copy / "stations.py", "_STATION_TABLE: tuple[Station, ...] = (\n", STATION_LINE)
    _insert_after(copy / "feeds.py", "_FEED_TABLE: tuple[Feed, ...] = (\n", FEED_LINE)
    workbook = tmp_path / "IROUBA12.xlsx"
    shutil.copy(BE_WORKBOOK, workbook)  # a WU workbook: its sheets are named by local day, like any station's

    env = {k: v for k, v in os.environ.items() if not k.startswith(("FORECAST_", "MONGO_", "DAGSTER_"))}
    env.update(PYTHONPATH=str(tmp_path), DAGSTER_HOME=str(tmp_path / "home"), FORECAST_RBX_SOURCE=str(workbook))
    (tmp_path / "home").mkdir()
    result = subprocess.run(
        [sys.executable, "-c", CHECK], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])

    assert seen["raw_assets"] == ["raw/BE", "raw/FR", "raw/InfoClimat", "raw/RBX"]
    assert "raw/RBX" in seen["weather_deps"]
    assert (seen["reader"], seen["reader_station"]) == ("WundergroundSource", "IROUBA12")
    assert seen["success"]
    assert seen["landed"] > 0
    assert seen["rows"]["IROUBA12"] == seen["rows"]["IICHTE19"]  # the same workbook, the same day's rows
    assert seen["source_column"] == ["weather_underground"]


@pytest.mark.integration
def test_a_station_of_an_unknown_feed_fails_at_import_naming_the_line(tmp_path):
    copy = tmp_path / "forecast_assets"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    _insert_after(copy / "stations.py", "_STATION_TABLE: tuple[Station, ...] = (\n", STATION_LINE)  # no feed line
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", "import forecast_assets.feeds"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "station IROUBA12 arrives through feed 'RBX', which is not in forecast_assets.feeds" in result.stderr
