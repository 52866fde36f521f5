"""A real Dagster deployment for the UI tests: ``dagster-webserver`` and ``dagster-daemon`` as
subprocesses on ``workspace.yaml``, with a throwaway instance (SQLite storage, queued runs dequeued
by the daemon), staging folder and embedded MongoDB state dir, all under pytest's tmp dirs.

The module shares one deployment (``dagster_ui``); its logs go to ``test-artifacts/ui/``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
LOGS = ARTIFACTS / "ui"
HOST = "127.0.0.1"
BIN = Path(sys.executable).parent
LOCATION = "forecast_assets"
REPOSITORY = "__repository__"

#: The instance of the test deployment: SQLite storage in DAGSTER_HOME; runs are queued and the
#: daemon launches them (as in production's dagster.yaml), with the InfoClimat pool limited to 1.
DAGSTER_YAML = """\
telemetry:
  enabled: false
storage:
  sqlite:
    base_dir: {home}/storage
run_coordinator:
  module: dagster._core.run_coordinator
  class: QueuedRunCoordinator
concurrency:
  runs:
    max_concurrent_runs: 4
  pools:
    default_limit: 1
"""

#: Variables that would point the local environment away from the sample data / embedded MongoDB.
UNSET = (
    "FORECAST_ENV",
    "MONGO_URI",
    "MONGO_DATABASE",
    "MONGO_USERNAME",
    "MONGO_PASSWORD",
    "MONGO_TLS_CA_FILE",
    "FORECAST_BE_SOURCE",
    "FORECAST_FR_SOURCE",
    "FORECAST_INFOCLIMAT_SOURCE",
    "INFOCLIMAT_TOKEN",
    "INFOCLIMAT_BASE_URL",
    "FORECAST_S3_BUCKET",
    "FORECAST_S3_PREFIX",
    "FORECAST_S3_ENDPOINT_URL",
)

STARTUP_TIMEOUT_S = 180


class GraphQLError(AssertionError):
    """The GraphQL endpoint answered with errors."""


@dataclass
class DagsterUI:
    """The running deployment: its URL, a GraphQL client and where its state lives."""

    url: str
    home: Path
    staging_dir: Path
    mongo_state_dir: Path
    logs: dict[str, Path] = field(default_factory=dict)
    session: requests.Session = field(default_factory=requests.Session)

    def graphql(self, query: str, variables: dict[str, Any] | None = None, timeout: float = 60) -> dict:
        """``data`` of a GraphQL query; raises with the server's messages when it reports errors."""
        response = self.session.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, timeout=timeout
        )
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise GraphQLError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def log_tails(self, chars: int = 4000) -> str:
        """The end of each process's log, for assertion messages."""
        return "\n".join(
            f"--- {name} ({path}) ---\n{path.read_text(errors='replace')[-chars:]}"
            for name, path in self.logs.items()
            if path.exists()
        )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _start(name: str, args: list[str], env: dict[str, str], log: IO[bytes]) -> subprocess.Popen:
    """A Dagster process in its own session (so its code server children can be stopped with it)."""
    command = BIN / args[0]
    if not command.exists():
        found = shutil.which(args[0])
        if not found:
            raise RuntimeError(f"{args[0]} not found next to {sys.executable} or on PATH")
        command = Path(found)
    return subprocess.Popen(
        [str(command), *args[1:]],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


def _stop(process: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM the process, wait, then SIGKILL it; then end what is left of its process group
    (the gRPC code server and any run worker it started)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)
    pgid = process.pid  # start_new_session: the process group id is the leader's pid
    for sig, pause in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 0.0)):
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + pause
        os.killpg(pgid, sig)
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except (ProcessLookupError, PermissionError):
                return
            time.sleep(0.2)


LOCATION_QUERY = """
{ workspaceOrError { __typename
    ... on Workspace { locationEntries { name loadStatus
        locationOrLoadError { __typename ... on PythonError { message } } } }
    ... on PythonError { message } } }
"""


def _wait_until_loaded(ui: DagsterUI, processes: dict[str, subprocess.Popen]) -> None:
    """Wait for ``/server_info`` to answer and the code location to be loaded."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    last = "no answer yet"
    while time.monotonic() < deadline:
        for name, process in processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with code {process.returncode} while starting\n{ui.log_tails()}")
        try:
            ui.session.get(f"{ui.url}/server_info", timeout=5).raise_for_status()
            workspace = ui.graphql(LOCATION_QUERY, timeout=10)["workspaceOrError"]
            entries = {e["name"]: e for e in workspace.get("locationEntries") or []}
            entry = entries.get(LOCATION)
            if entry and entry["loadStatus"] == "LOADED":
                loaded = entry["locationOrLoadError"] or {}
                if loaded.get("__typename") == "PythonError":
                    raise RuntimeError(f"code location {LOCATION} failed to load: {loaded['message']}")
                if loaded.get("__typename") == "RepositoryLocation":
                    return
            last = str(workspace)
        except (requests.RequestException, GraphQLError, ValueError) as error:
            last = repr(error)
        time.sleep(1)
    raise RuntimeError(f"the webserver did not load {LOCATION} within {STARTUP_TIMEOUT_S}s ({last})\n{ui.log_tails()}")


def _stop_embedded_mongo(env: dict[str, str], state_dir: Path) -> None:
    """Stop the SecantusDB server a run started (a no-op when none runs)."""
    subprocess.run(
        [sys.executable, "-m", "forecast_assets.mongo.embedded_server", "stop", "--state-dir", str(state_dir)],
        cwd=REPO,
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def dagster_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DagsterUI]:
    """``dagster-webserver`` + ``dagster-daemon`` on ``workspace.yaml``, shared by a test module."""
    root = tmp_path_factory.mktemp("dagster_ui")
    home, staging_dir, mongo_state_dir = root / "dagster_home", root / "staging", root / "mongo"
    home.mkdir()
    (home / "dagster.yaml").write_text(DAGSTER_YAML.format(home=home))
    LOGS.mkdir(parents=True, exist_ok=True)

    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env.update(
        DAGSTER_HOME=str(home),
        FORECAST_STAGING_DIR=str(staging_dir),
        FORECAST_MONGO_STATE_DIR=str(mongo_state_dir),
        PYTHONUNBUFFERED="1",
    )
    port = free_port()
    ui = DagsterUI(url=f"http://{HOST}:{port}", home=home, staging_dir=staging_dir, mongo_state_dir=mongo_state_dir)
    ui.session.trust_env = False  # never send 127.0.0.1 traffic through an HTTP(S)_PROXY
    ui.logs = {"webserver": LOGS / "webserver.log", "daemon": LOGS / "daemon.log"}

    # Create the SQLite storage once, before two processes would race to create its tables.
    migrate = subprocess.run(
        [sys.executable, "-m", "dagster", "instance", "migrate"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert migrate.returncode == 0, f"dagster instance migrate failed:\n{migrate.stdout}\n{migrate.stderr}"

    processes: dict[str, subprocess.Popen] = {}
    log_files = {name: path.open("wb") for name, path in ui.logs.items()}
    try:
        processes["webserver"] = _start(
            "webserver",
            ["dagster-webserver", "-w", "workspace.yaml", "-h", HOST, "-p", str(port)],
            env,
            log_files["webserver"],
        )
        processes["daemon"] = _start(
            "daemon", ["dagster-daemon", "run", "-w", "workspace.yaml"], env, log_files["daemon"]
        )
        _wait_until_loaded(ui, processes)
        yield ui
    finally:
        for name, process in reversed(list(processes.items())):
            started = time.monotonic()
            _stop(process)
            log_files[name].write(
                f"\n[ui test fixture] {name} stopped: exit code {process.returncode} after "
                f"{time.monotonic() - started:.1f}s\n".encode()
            )
        for log in log_files.values():
            log.close()
        _stop_embedded_mongo(env, mongo_state_dir)
        ui.session.close()
