"""The deployment as a user meets it: the Dagster webserver and daemon on ``workspace.yaml``.

Through the webserver's GraphQL API (what the UI itself calls) the asset graph, its lineage and its
checks are the documented ones, and a run launched for one day of the whole lineage is dequeued by
the daemon, succeeds and records passing checks; in a headless Chromium the global lineage page
draws the three groups and their five assets (screenshot: ``test-artifacts/asset_graph.png``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from forecast_assets_tests.ui.conftest import ARTIFACTS, LOCATION, REPOSITORY, DagsterUI

pytestmark = pytest.mark.integration

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
    MONGO: {"mongo_reconciliation", "mongo_round_trip", "mongo_no_silent_shrink"},
}
WARN_CHECKS = {WEATHER_DATA: {"completeness"}, MONGO: {"mongo_read_latency"}}
BLOCKING = {"raw_accounting", "schema_conformance", "unique_station_timestamp", "reconciliation", "mongo_reconciliation"}

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOT = ARTIFACTS / "asset_graph.png"
#: The UI route of the global asset lineage graph in Dagster 1.13 ("Lineage" in the navigation).
LINEAGE_ROUTE = "/asset-groups"


def _key(path: tuple[str, ...]) -> dict:
    return {"path": list(path)}


ASSET_GRAPH_QUERY = """
{ assetNodes {
    assetKey { path } groupName isPartitioned jobNames
    dependencyKeys { path } dependedByKeys { path }
    assetChecksOrError { __typename ... on AssetChecks { checks { name blocking } } }
} }
"""


def test_asset_graph_lineage_and_checks(dagster_ui: DagsterUI):
    nodes = {tuple(n["assetKey"]["path"]): n for n in dagster_ui.graphql(ASSET_GRAPH_QUERY)["assetNodes"]}

    assert set(nodes) == ASSETS
    assert {k: nodes[k]["groupName"] for k in nodes} == {
        **{k: "raw" for k in RAW}, WEATHER_DATA: "weather", MONGO: "mongodb"
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
        checks[key] = {c["name"]: c["blocking"] for c in node["assetChecksOrError"]["checks"]}
    assert checks == {
        **{k: {"raw_accounting": True} for k in RAW},
        WEATHER_DATA: {"schema_conformance": True, "unique_station_timestamp": True,
                       "reconciliation": True, "completeness": False},
        MONGO: {"mongo_reconciliation": True, "mongo_round_trip": False, "mongo_read_latency": False},
    }


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
  assetCheckExecutions(assetKey: $key, checkName: $check, limit: 20) {
    runId status partition evaluation { success severity }
  }
}
"""

MATERIALIZATIONS = """
query Materializations($key: AssetKeyInput!, $partition: String!) {
  assetOrError(assetKey: $key) {
    __typename
    ... on Asset {
      assetMaterializations(partitions: [$partition]) {
        runId partition
        metadataEntries { label __typename ... on IntMetadataEntry { intValue } }
      }
    }
  }
}
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
            for e in _run_events(ui, run_id) if e.get("level") in ("ERROR", "CRITICAL")
        ]
        daemons = ui.graphql(
            "{ instance { daemonHealth { allDaemonStatuses { daemonType healthy required } } } }"
        )
        pytest.fail(
            f"run {run_id} is {run and run['status']} after {RUN_TIMEOUT_S}s (expected SUCCESS)\n"
            f"errors: {json.dumps(errors, indent=1)[:6000]}\ndaemons: {daemons}\n{ui.log_tails()}"
        )
    return run


def test_one_day_of_the_whole_lineage_runs_and_passes_its_checks(dagster_ui: DagsterUI):
    # What the Launchpad of the weather_pipeline job does for one partition: launch a run of the
    # job tagged with the partition; the run is queued, and the daemon dequeues and launches it.
    launched = dagster_ui.graphql(LAUNCH_RUN, {"params": {
        "selector": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY,
                     "jobName": "weather_pipeline"},
        "runConfigData": {},
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": PARTITION}]},
    }})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]

    run = _wait_for_run(dagster_ui, run_id)
    assert run["jobName"] == "weather_pipeline"
    assert {t["key"]: t["value"] for t in run["tags"]}["dagster/partition"] == PARTITION

    events = _run_events(dagster_ui, run_id)

    # Every asset of the lineage was materialized for that day, and only that day.
    materialized = {(tuple(e["assetKey"]["path"]), e["partition"])
                    for e in events if e["__typename"] == "MaterializationEvent"}
    assert materialized == {(key, PARTITION) for key in ASSETS}

    # The run's check results: each check evaluated, every ERROR check passed.
    evaluations: dict[tuple, dict[str, list[dict]]] = {}
    for e in events:
        if e["__typename"] == "AssetCheckEvaluationEvent":
            ev = e["evaluation"]
            evaluations.setdefault(tuple(ev["assetKey"]["path"]), {}).setdefault(ev["checkName"], []).append(ev)
    assert {k: set(v) for k, v in evaluations.items()} == {
        k: ERROR_CHECKS[k] | WARN_CHECKS.get(k, set()) for k in ERROR_CHECKS
    }
    for key, names in ERROR_CHECKS.items():
        for name in names:
            for ev in evaluations[key][name]:
                assert ev["severity"] == "ERROR", ev
                assert ev["success"], f"ERROR check {name} on {'/'.join(key)} failed: {ev}"
                assert ev["partition"] in (None, PARTITION), ev
    for key, names in WARN_CHECKS.items():
        for name in names:
            assert all(ev["severity"] == "WARN" for ev in evaluations[key][name])

    # The same results as the asset's check history shows them.
    for key, names in ERROR_CHECKS.items():
        for name in names:
            executions = [x for x in dagster_ui.graphql(CHECK_EXECUTIONS, {"key": _key(key), "check": name})
                          ["assetCheckExecutions"] if x["runId"] == run_id]
            statuses = {x["status"] for x in executions}
            assert "SUCCEEDED" in statuses, (name, executions)
            assert not statuses & {"FAILED", "EXECUTION_FAILED"}, (name, executions)

    # weather_data's row count for the day, from its materialization metadata.
    asset = dagster_ui.graphql(MATERIALIZATIONS, {"key": _key(WEATHER_DATA), "partition": PARTITION})["assetOrError"]
    assert asset["__typename"] == "Asset", asset
    ours = [m for m in asset["assetMaterializations"] if m["runId"] == run_id]
    assert len(ours) == 1, asset["assetMaterializations"]
    metadata = {m["label"]: m for m in ours[0]["metadataEntries"]}
    assert metadata["dagster/row_count"]["intValue"] == WEATHER_DATA_ROWS_20241005


def _chromium() -> str:
    """Debian's Chromium; without it the test fails on CI and is skipped elsewhere."""
    found = CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium")
    if not found:
        message = (f"Chromium not found at {CHROMIUM}: install Debian's chromium "
                   "(apt-get install chromium); Playwright cannot download browsers here")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def test_global_asset_lineage_page_draws_the_graph(dagster_ui: DagsterUI, tmp_path: Path):
    executable = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:  # the test extra installs it
        if os.environ.get("CI"):
            pytest.fail(f"playwright is not installed: {error}")
        pytest.skip(f"playwright is not installed: {error}")

    # The first visit of a new instance opens a "Join the Dagster community" dialog over the graph;
    # record it as seen (what its "Skip" button does).
    dagster_ui.graphql("mutation { setNuxSeen }")
    ARTIFACTS.mkdir(exist_ok=True)
    failure_shot = ARTIFACTS / "asset_graph_failure.png"
    failure_shot.unlink(missing_ok=True)

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tempfile.mkdtemp(dir=tmp_path, prefix="chromium-profile-")),  # new, empty profile
            executable_path=executable, args=CHROMIUM_FLAGS, headless=True,
            viewport={"width": 1600, "height": 1000},
        )
        try:
            page = context.new_page()
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
        finally:
            context.close()

    assert SCREENSHOT.stat().st_size > 10_000
