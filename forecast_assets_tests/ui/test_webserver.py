"""The deployment as a user meets it: the Dagster webserver and daemon on ``workspace.yaml``.

Through the webserver's GraphQL API (what the UI itself calls) the asset graph, its lineage, its
per-day checks and its column schema are the documented ones. ONE run launched over several days of
the whole lineage is dequeued by the daemon and succeeds, and every day then tells its own truth:
each partition of each asset carries that day's row count and files, each check one evaluation per
day. In a headless Chromium the global lineage page draws the three groups and their five assets
(``test-artifacts/asset_graph.png``), and one partition of weather_data shows that day's row count
and the column schema (``test-artifacts/weather_data_partition.png``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from forecast_assets.staging.layout import dataset_key, raw_landed_key
from forecast_assets.weather.schema import COLUMNS
from forecast_assets_tests.ui.conftest import ARTIFACTS, LOCATION, REPOSITORY, DagsterUI

pytestmark = pytest.mark.integration

#: The days of the one run: 4 Oct has no InfoClimat data (completeness fails, a WARN), 5 and 6 do.
DAYS = ["2024-10-04", "2024-10-05", "2024-10-06"]
PARTITION = "2024-10-05"
#: weather_data rows of the sample data on 5 October 2024 (BE + FR + InfoClimat, after the transform).
WEATHER_DATA_ROWS_20241005 = 1031
RUN_TIMEOUT_S = 180

RAW = [("raw", "BE"), ("raw", "FR"), ("raw", "InfoClimat")]
WEATHER_DATA = ("weather_data",)
MONGO = ("mongodb", "weather_measurements")
ASSETS = {*RAW, WEATHER_DATA, MONGO}
ERROR_CHECKS = {
    **{k: {"raw_accounting"} for k in RAW},
    WEATHER_DATA: {"schema_conformance", "unique_station_timestamp", "reconciliation", "station_day_rejects"},
    MONGO: {"weather_data_passed", "mongo_no_silent_shrink", "mongo_reconciliation", "mongo_round_trip"},
}
WARN_CHECKS = {WEATHER_DATA: {"completeness"}, MONGO: {"mongo_read_latency"}}
#: No check is Dagster-blocking (evaluations are logged per day, Dagster cannot gate on them); these
#: keep their failed day out of MongoDB (``blocks_day``, said in the description).
BLOCKS_DAY = {
    *((k, "raw_accounting") for k in RAW),
    *((WEATHER_DATA, name) for name in ("schema_conformance", "unique_station_timestamp", "reconciliation")),
}
BLOCKS_DAY_TEXT = "Blocks its day: a failed day is not loaded into MongoDB."

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = ARTIFACTS / "asset_graph.png"
PARTITION_SCREENSHOT = ARTIFACTS / "weather_data_partition.png"
#: The UI route of the global asset lineage graph in Dagster 1.13 ("Lineage" in the navigation).
LINEAGE_ROUTE = "/asset-groups"


def _key(path: tuple[str, ...]) -> dict:
    return {"path": list(path)}


def _ddmmyy(day: str) -> str:
    return f"{day[8:10]}{day[5:7]}{day[2:4]}"


ASSET_GRAPH_QUERY = """
{ assetNodes {
    assetKey { path } groupName isPartitioned jobNames
    dependencyKeys { path } dependedByKeys { path }
    assetChecksOrError { __typename ... on AssetChecks { checks {
      name blocking description partitionDefinition { type } } } }
} }
"""


def test_asset_graph_lineage_and_checks(dagster_ui: DagsterUI):
    nodes = {tuple(n["assetKey"]["path"]): n for n in dagster_ui.graphql(ASSET_GRAPH_QUERY)["assetNodes"]}

    assert set(nodes) == ASSETS
    assert {k: nodes[k]["groupName"] for k in nodes} == {
        **{k: "raw" for k in RAW},
        WEATHER_DATA: "weather",
        MONGO: "mongodb",
    }
    assert all(n["isPartitioned"] for n in nodes.values())
    assert all("weather_pipeline" in n["jobNames"] for n in nodes.values())

    def deps(key, field="dependencyKeys"):
        return {tuple(d["path"]) for d in nodes[key][field]}

    for raw in RAW:
        assert deps(raw) == set()
        assert deps(raw, "dependedByKeys") == {WEATHER_DATA}
    assert deps(WEATHER_DATA) == set(RAW)
    assert deps(WEATHER_DATA, "dependedByKeys") == {MONGO}
    assert deps(MONGO) == {WEATHER_DATA}
    assert deps(MONGO, "dependedByKeys") == set()

    checks = {}
    for key, node in nodes.items():
        assert node["assetChecksOrError"]["__typename"] == "AssetChecks", node["assetChecksOrError"]
        checks[key] = {c["name"]: c for c in node["assetChecksOrError"]["checks"]}
    assert {k: set(v) for k, v in checks.items()} == {
        k: ERROR_CHECKS[k] | WARN_CHECKS.get(k, set()) for k in ERROR_CHECKS
    }
    for key, named in checks.items():
        for name, spec in named.items():
            assert spec["blocking"] is False, (key, name)  # logged per day: Dagster cannot gate on them
            assert spec["partitionDefinition"] == {"type": "TIME_WINDOW"}, (key, name)  # one status per day
            assert (BLOCKS_DAY_TEXT in spec["description"]) is ((key, name) in BLOCKS_DAY), (key, name)


COLUMN_SCHEMA_QUERY = """
query Schema($keys: [AssetKeyInput!]) { assetNodes(assetKeys: $keys) {
  assetKey { path }
  metadataEntries { label __typename
    ... on TableSchemaMetadataEntry { schema { columns { name type description } } } }
} }
"""


def test_column_schema_of_the_contract_is_shown(dagster_ui: DagsterUI):
    nodes = dagster_ui.graphql(COLUMN_SCHEMA_QUERY, {"keys": [_key(WEATHER_DATA), _key(MONGO)]})["assetNodes"]
    assert {tuple(n["assetKey"]["path"]) for n in nodes} == {WEATHER_DATA, MONGO}
    for node in nodes:
        key = tuple(node["assetKey"]["path"])
        [entry] = [e for e in node["metadataEntries"] if e["label"] == "dagster/column_schema"]
        assert entry["__typename"] == "TableSchemaMetadataEntry", entry
        columns = {c["name"]: c for c in entry["schema"]["columns"]}
        assert all(c["description"] and c["type"] for c in columns.values()), (key, columns)
        assert "Unit: °C" in columns["temperature_c"]["description"], (key, columns["temperature_c"])
        # derived from the Pandera model: every column, in its order (MongoDB adds its _id)
        assert [c for c in columns if c != "_id"] == COLUMNS, (key, list(columns))
        assert key == MONGO or "_id" not in columns


LAUNCH_RUN = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on PythonError { message stack }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on Error { message }
  }
}
"""

RUN_QUERY = """
query Run($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { runId status jobName tags { key value } }
  }
}
"""

EVENTS_QUERY = """
query Events($runId: ID!, $cursor: String) {
  logsForRun(runId: $runId, afterCursor: $cursor, limit: 1000) {
    __typename
    ... on EventConnection {
      cursor hasMore
      events {
        __typename
        ... on MessageEvent { message level stepKey }
        ... on AssetCheckEvaluationEvent {
          evaluation { checkName assetKey { path } success severity partition description }
        }
        ... on MaterializationEvent { assetKey { path } partition }
      }
    }
    ... on PythonError { message }
  }
}
"""

CHECK_EXECUTIONS = """
query Checks($key: AssetKeyInput!, $check: String!) {
  assetCheckExecutions(assetKey: $key, checkName: $check, limit: 50) {
    runId status partition evaluation { success severity partition description }
  }
}
"""

MATERIALIZATIONS = """
query Materializations($key: AssetKeyInput!, $partitions: [String!]) {
  assetOrError(assetKey: $key) {
    __typename
    ... on Asset {
      assetMaterializations(partitions: $partitions) {
        runId partition
        metadataEntries { label __typename
          ... on IntMetadataEntry { intValue }
          ... on PathMetadataEntry { path }
          ... on TextMetadataEntry { text } }
      }
    }
  }
}
"""

CHECK_PARTITION_STATUSES = """
query Statuses($key: AssetKeyInput!) { assetNodes(assetKeys: [$key]) {
  assetChecksOrError { ... on AssetChecks { checks { name
    partitionStatuses { __typename ... on AssetCheckTimePartitionStatuses { ranges { startKey endKey status } } }
  } } }
} }
"""


def _run_events(ui: DagsterUI, run_id: str) -> list[dict]:
    events, cursor = [], None
    while True:
        page = ui.graphql(EVENTS_QUERY, {"runId": run_id, "cursor": cursor})["logsForRun"]
        assert page["__typename"] == "EventConnection", page
        events += page["events"]
        cursor = page["cursor"]
        if not page["hasMore"]:
            return events


def _wait_for_run(ui: DagsterUI, run_id: str) -> dict:
    """The run once it has finished; fails with its errors and the logs on failure or timeout."""
    deadline, run = time.monotonic() + RUN_TIMEOUT_S, None
    while time.monotonic() < deadline:
        run = ui.graphql(RUN_QUERY, {"runId": run_id})["runOrError"]
        assert run["__typename"] == "Run", run
        if run["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(1)
    if run is None or run["status"] != "SUCCESS":
        errors = [
            f"{e.get('stepKey')}: {e.get('message')}"
            for e in _run_events(ui, run_id)
            if e.get("level") in ("ERROR", "CRITICAL")
        ]
        daemons = ui.graphql("{ instance { daemonHealth { allDaemonStatuses { daemonType healthy required } } } }")
        pytest.fail(
            f"run {run_id} is {run and run['status']} after {RUN_TIMEOUT_S}s (expected SUCCESS)\n"
            f"errors: {json.dumps(errors, indent=1)[:6000]}\ndaemons: {daemons}\n{ui.log_tails()}"
        )
    return run


def _lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


@pytest.fixture(scope="module")
def days_run(dagster_ui: DagsterUI) -> dict:
    """ONE run of the weather_pipeline job over DAYS, launched as the Launchpad does for a range of
    partitions; the run is queued, and the daemon dequeues and launches it. Its id and events."""
    launched = dagster_ui.graphql(
        LAUNCH_RUN,
        {
            "params": {
                "selector": {
                    "repositoryLocationName": LOCATION,
                    "repositoryName": REPOSITORY,
                    "jobName": "weather_pipeline",
                },
                "runConfigData": {},
                "executionMetadata": {
                    "tags": [
                        {"key": "dagster/asset_partition_range_start", "value": DAYS[0]},
                        {"key": "dagster/asset_partition_range_end", "value": DAYS[-1]},
                    ]
                },
            }
        },
    )["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    run = _wait_for_run(dagster_ui, run_id)
    assert run["jobName"] == "weather_pipeline"
    tags = {t["key"]: t["value"] for t in run["tags"]}
    assert (tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"]) == (
        DAYS[0],
        DAYS[-1],
    )
    return {"run_id": run_id, "events": _run_events(dagster_ui, run_id)}


def _materializations(ui: DagsterUI, key: tuple[str, ...], run_id: str) -> dict[str, dict[str, dict]]:
    """The run's materializations of ``key``, one per day, as {day: {label: entry}}."""
    asset = ui.graphql(MATERIALIZATIONS, {"key": _key(key), "partitions": DAYS})["assetOrError"]
    assert asset["__typename"] == "Asset", asset
    found: dict[str, dict[str, dict]] = {}
    for m in asset["assetMaterializations"]:
        if m["runId"] == run_id:
            assert m["partition"] not in found, (key, m["partition"], asset)
            found[m["partition"]] = {e["label"]: e for e in m["metadataEntries"]}
    assert set(found) == set(DAYS), (key, sorted(found))
    return found


def test_one_run_over_several_days_records_each_days_own_figures(dagster_ui: DagsterUI, days_run: dict):
    run_id, events = days_run["run_id"], days_run["events"]

    # Every asset of the lineage was materialized once for each day of the run, and only those days.
    materialized = [
        (tuple(e["assetKey"]["path"]), e["partition"]) for e in events if e["__typename"] == "MaterializationEvent"
    ]
    assert sorted(materialized) == sorted((key, day) for key in ASSETS for day in DAYS)

    staging = dagster_ui.staging_dir
    weather_rows = {day: _lines(staging / dataset_key(day)) for day in DAYS}
    assert weather_rows[PARTITION] == WEATHER_DATA_ROWS_20241005
    assert len(set(weather_rows.values())) > 1  # the days differ, so a run-wide figure cannot pass

    # weather_data: each partition has its day's row count and its day's file.
    for day, metadata in _materializations(dagster_ui, WEATHER_DATA, run_id).items():
        assert metadata["dagster/row_count"]["intValue"] == weather_rows[day], day
        path = metadata["path"]["path"]
        assert path.endswith(f"/Transform/{_ddmmyy(day)}/weather_data.jsonl"), (day, path)
        assert metadata["quality_report"]["path"].endswith(f"/Transform/{_ddmmyy(day)}/weather_data.quality.json")

    # raw/*: each partition has the lines landed for that day, and that day's landed file.
    for source in ("BE", "FR", "InfoClimat"):
        for day, metadata in _materializations(dagster_ui, ("raw", source), run_id).items():
            landed = staging / raw_landed_key(source, day)
            assert f"/raw/{source}/{_ddmmyy(day)}/" in metadata["path"]["path"], (source, day)
            assert metadata["path"]["path"].endswith(str(landed)), (source, day, metadata["path"])
            assert metadata["dagster/row_count"]["intValue"] == _lines(landed), (source, day)

    # mongodb/weather_measurements: each day loaded is that day's weather_data, all of it new.
    for day, metadata in _materializations(dagster_ui, MONGO, run_id).items():
        assert metadata["dagster/row_count"]["intValue"] == weather_rows[day], day
        assert metadata["inserted"]["intValue"] == weather_rows[day], day
        assert metadata["updated"]["intValue"] == metadata["deleted"]["intValue"] == 0, day
        assert metadata["database"]["text"].endswith(" / weather_db"), metadata["database"]

    # The run's check evaluations: one per check and day, each carrying its day.
    evaluations: dict[tuple, dict[str, dict[str, dict]]] = {}
    for e in events:
        if e["__typename"] == "AssetCheckEvaluationEvent":
            ev = e["evaluation"]
            by_day = evaluations.setdefault(tuple(ev["assetKey"]["path"]), {}).setdefault(ev["checkName"], {})
            assert ev["partition"] not in by_day, ("two evaluations", ev)
            by_day[ev["partition"]] = ev
    assert {k: {name: set(by_day) for name, by_day in v.items()} for k, v in evaluations.items()} == {
        k: {name: set(DAYS) for name in ERROR_CHECKS[k] | WARN_CHECKS.get(k, set())} for k in ERROR_CHECKS
    }
    for key, names in evaluations.items():
        for name, by_day in names.items():
            for day, ev in by_day.items():
                assert ev["description"].startswith(f"{day}: "), ev
                severity = "WARN" if name in WARN_CHECKS.get(key, set()) else "ERROR"
                assert ev["severity"] == severity, ev
                if severity == "ERROR":
                    assert ev["success"], f"ERROR check {name} on {'/'.join(key)} failed for {day}: {ev}"
    # completeness is per day: 4 Oct has no InfoClimat data, 5 and 6 Oct are complete
    assert {d: ev["success"] for d, ev in evaluations[WEATHER_DATA]["completeness"].items()} == {
        "2024-10-04": False,
        "2024-10-05": True,
        "2024-10-06": True,
    }

    # The same, as each check's execution history shows it: one execution per day, with its partition.
    for key in ERROR_CHECKS:
        for name in ERROR_CHECKS[key] | WARN_CHECKS.get(key, set()):
            executions = [
                x
                for x in dagster_ui.graphql(CHECK_EXECUTIONS, {"key": _key(key), "check": name})["assetCheckExecutions"]
                if x["runId"] == run_id
            ]
            assert sorted(x["partition"] for x in executions) == DAYS, (key, name, executions)
            for x in executions:
                assert x["evaluation"]["partition"] == x["partition"], x
                expected = "SUCCEEDED" if evaluations[key][name][x["partition"]]["success"] else "FAILED"
                assert x["status"] == expected, (key, name, x)


def _status_by_day(ranges: list[dict]) -> dict[str, str]:
    """{day: status} over DAYS from a check's time-partition status ranges."""
    statuses = {}
    for r in ranges:
        for day in DAYS:
            if r["startKey"] <= day <= r["endKey"]:
                statuses[day] = r["status"]
    return statuses


def test_check_status_per_day_as_the_checks_tab_shows_it(dagster_ui: DagsterUI, days_run: dict):
    """The per-partition status the UI draws for a check (its Partitions view and the lineage's
    'N/M passed'): completeness failed on 4 Oct only, every ERROR check succeeded on every day."""
    for key in ERROR_CHECKS:
        [node] = dagster_ui.graphql(CHECK_PARTITION_STATUSES, {"key": _key(key)})["assetNodes"]
        statuses = {
            c["name"]: _status_by_day(c["partitionStatuses"]["ranges"]) for c in node["assetChecksOrError"]["checks"]
        }
        for name in ERROR_CHECKS[key]:
            assert statuses[name] == dict.fromkeys(DAYS, "SUCCEEDED"), (key, name, statuses[name])
        if key == WEATHER_DATA:
            assert statuses["completeness"] == {
                "2024-10-04": "FAILED",
                "2024-10-05": "SUCCEEDED",
                "2024-10-06": "SUCCEEDED",
            }


def _chromium() -> str:
    """Debian's Chromium; without it the test fails on CI and is skipped elsewhere."""
    found = CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium")
    if not found:
        message = (
            f"Chromium not found at {CHROMIUM}: install Debian's chromium "
            "(apt-get install chromium); Playwright cannot download browsers here"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


@contextmanager
def _browser_page(ui: DagsterUI, tmp_path: Path) -> Iterator:
    """A page of a headless Chromium with a new, empty profile (skipped without Chromium/Playwright)."""
    executable = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:  # the test extra installs it
        if os.environ.get("CI"):
            pytest.fail(f"playwright is not installed: {error}")
        pytest.skip(f"playwright is not installed: {error}")

    # The first visit of a new instance opens a "Join the Dagster community" dialog over the page;
    # record it as seen (what its "Skip" button does).
    ui.graphql("mutation { setNuxSeen }")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tempfile.mkdtemp(dir=tmp_path, prefix="chromium-profile-")),
            executable_path=executable,
            args=CHROMIUM_FLAGS,
            headless=True,
            viewport={"width": 1600, "height": 1000},
        )
        try:
            yield context.new_page()
        finally:
            context.close()


def test_global_asset_lineage_page_draws_the_graph(dagster_ui: DagsterUI, tmp_path: Path):
    failure_shot = ARTIFACTS / "asset_graph_failure.png"
    failure_shot.unlink(missing_ok=True)

    with _browser_page(dagster_ui, tmp_path) as page:
        page.goto(f"{dagster_ui.url}{LINEAGE_ROUTE}", wait_until="domcontentloaded")
        try:
            page.get_by_text("Global asset lineage").first.wait_for(timeout=60_000)
            graph = page.locator("svg foreignObject")  # graph nodes are HTML inside the SVG
            for group in ("raw", "weather", "mongodb"):
                graph.get_by_text(group, exact=True).first.wait_for(timeout=60_000)

            # Several groups: the graph starts with them collapsed. "Expand all groups" (⌥E,
            # or the graph's context menu) shows the assets inside.
            asset_names = ("BE", "FR", "InfoClimat", "weather_data", "weather_measurements")
            page.keyboard.press("Alt+e")
            try:
                graph.get_by_text("weather_data", exact=True).first.wait_for(timeout=10_000)
            except Exception:
                box = page.locator("svg").filter(has=page.locator("foreignObject")).first.bounding_box()
                page.mouse.click(box["x"] + 20, box["y"] + box["height"] - 20, button="right")
                page.get_by_role("menuitem", name=re.compile("Expand all groups")).click()
            for name in asset_names:
                graph.get_by_text(name, exact=True).first.wait_for(timeout=30_000)
            # Let the status fetches finish before the picture.
            page.get_by_text("fetching statuses").first.wait_for(state="detached", timeout=30_000)
            page.wait_for_load_state("networkidle", timeout=30_000)
        except Exception:
            page.screenshot(path=str(failure_shot), full_page=True)
            raise
        page.screenshot(path=str(SCREENSHOT))

        node_texts = " | ".join(t or "" for t in graph.all_text_contents())
        for group in ("raw", "weather", "mongodb"):
            assert graph.get_by_text(group, exact=True).count() >= 1, node_texts
        for name in asset_names:
            assert graph.get_by_text(name, exact=True).count() == 1, node_texts
        assert "Join the Dagster community" not in page.inner_text("body")

    assert SCREENSHOT.stat().st_size > 10_000


def _metadata_row(page, label: str) -> str:
    """The text of the metadata table row whose label is ``label`` (label, tab, value)."""
    row = page.locator("tr", has=page.get_by_text(label, exact=True)).first
    row.wait_for(timeout=60_000)
    return row.inner_text()


def test_a_partition_of_weather_data_shows_its_day_and_the_column_schema(
    dagster_ui: DagsterUI, days_run: dict, tmp_path: Path
):
    staging = dagster_ui.staging_dir
    failure_shot = ARTIFACTS / "weather_data_partition_failure.png"
    failure_shot.unlink(missing_ok=True)

    with _browser_page(dagster_ui, tmp_path) as page:
        try:
            # The asset's Partitions tab, one day selected: that day's materialization and metadata.
            for day in (PARTITION, DAYS[0]):
                page.goto(
                    f"{dagster_ui.url}/assets/weather_data?view=partitions&partition={day}",
                    wait_until="domcontentloaded",
                )
                rows = _lines(staging / dataset_key(day))
                count = _metadata_row(page, "dagster/row_count")
                assert re.search(rf"\b({rows}|{rows:,})\b", count), (day, rows, count)
                assert f"/Transform/{_ddmmyy(day)}/weather_data.jsonl" in _metadata_row(page, "path"), day
                if day == PARTITION:
                    assert re.search(r"\b(1031|1,031)\b", count), count
                    page.screenshot(path=str(PARTITION_SCREENSHOT))

            # The asset's Overview tab: the column schema, each column with its type and unit.
            page.goto(f"{dagster_ui.url}/assets/weather_data?view=overview", wait_until="domcontentloaded")
            page.get_by_text("Columns", exact=True).first.wait_for(timeout=60_000)
            temperature = page.locator("tr", has=page.get_by_text("temperature_c", exact=True)).first
            temperature.wait_for(timeout=60_000)
            assert "Air temperature" in temperature.inner_text() and "°C" in temperature.inner_text()
            for column in ("station_id", "timestamp", "humidity_pct"):
                assert page.get_by_text(column, exact=True).count() >= 1, column
        except Exception:
            page.screenshot(path=str(failure_shot), full_page=True)
            raise

    assert PARTITION_SCREENSHOT.stat().st_size > 10_000
