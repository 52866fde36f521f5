"""Faults: concurrency — two runs of one partition at the same time, and the InfoClimat pool limit.

1. **Same partition, two runs at once.** Two OS processes (``multiprocessing``, from a fork
   server that imported the package once) each materialize the whole lineage (raw/* →
   weather_data → mongodb/weather_measurements) of 2024-10-05 from the sample data, released
   together by a barrier, into one staging zone (a local folder; a bucket on the moto S3 server)
   and one SecantusDB database. Both runs succeed, their run windows (event log) overlap, and the
   zone and the collection end exactly as after one clean run: same files, same records
   (``_ingested_at`` aside), no temporary file left, each ``(station_id, timestamp)`` once, the
   reconciliation checks passed. Between them the two loads insert each document exactly once.
   What the loader does under the race is then forced deterministically one level lower: a load
   that read an empty window before another load wrote it gets a duplicate-key error from the
   unique index for every insert, and ``sync_windows`` turns each into a keyed replace
   (counted as ``unchanged`` when the other writer stored the same values).

2. **The pool limit.** A real ``dagster-webserver`` + ``dagster-daemon`` on ``workspace.yaml``, with
   a DAGSTER_HOME holding the repo's ``deploy/local/dagster.yaml`` verbatim (QueuedRunCoordinator,
   ``max_concurrent_runs: 4``, ``pools: default_limit: 1``; no ``granularity`` key, which Dagster
   1.13 treats as op granularity) and the InfoClimat reader pointed at a local HTTP server that
   records how many requests are in flight. The server holds the first request until the test has
   seen every other run either held back by the pool (the "Step blocked by limit for pool" event)
   or calling the API itself, so an overlap cannot slip between two quick requests; after that,
   requests take a second. Three runs (raw/BE + raw/InfoClimat of three days) launched through
   GraphQL all succeed, the server never has two requests in flight, the raw/InfoClimat steps of
   different runs never overlap while all three runs do: the pool serialized the steps, not the
   run queue. Negative control: with the pool raised to 3 (``dagster instance concurrency set
   infoclimat_api 3``, no restart) the same runs and server see requests overlap.
   The runs use the in-process executor (the local default, also named in the run config) so three
   runs fit in the test's time on two cores; slots are claimed by the same step orchestration under
   the multiprocess executor (``dagster/_core/execution/plan/active.py``), which
   ``RUN_CONFIG = {"execution": {"config": {"multiprocess": {}}}}`` runs.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import yaml
from pymongo import MongoClient, monitoring

from forecast_assets.definitions import build_defs
from forecast_assets.feeds import INFOCLIMAT_POOL, station_window
from forecast_assets.mongo.collection_setup import MEASUREMENTS, ensure_collections
from forecast_assets.mongo.collection_setup import STATIONS as STATIONS_COLLECTION
from forecast_assets.mongo.resources import MongoResource
from forecast_assets.mongo.sync import sync_windows
from forecast_assets.raw.infoclimat import InfoClimatResponseFile
from forecast_assets.raw.wunderground import WundergroundSource
from forecast_assets.sample_data import BE_WORKBOOK, FR_WORKBOOK, INFOCLIMAT_RESPONSE
from forecast_assets.staging import LocalStagingZone, S3StagingZone
from forecast_assets.staging.layout import INGESTED_AT, dataset_key
from forecast_assets.stations import STATIONS
from forecast_assets.weather.dataset import from_jsonl
from forecast_assets_tests.mongo.conftest import mongo_server  # noqa: F401  (session fixture)
from forecast_assets_tests.ui.conftest import (
    HOST,
    LOCATION,
    REPOSITORY,
    UNSET,
    DagsterUI,
    _start,
    _stop,
    _wait_until_loaded,
    free_port,
)

REPO = Path(__file__).resolve().parents[2]
PARTITION = "2024-10-05"
DAY = "051024"
#: Known sizes of the sample data on 5 October 2024, as one clean run lands them.
EXPECTED_LINES = {
    f"raw/BE/{DAY}/IICHTE19.jsonl": 288,
    f"raw/FR/{DAY}/ILAMAD25.jsonl": 288,
    f"raw/InfoClimat/{DAY}/infoclimat.jsonl": 456,
    f"Transform/{DAY}/weather_data.jsonl": 1031,
}
WEATHER_DATA_ROWS = EXPECTED_LINES[f"Transform/{DAY}/weather_data.jsonl"]
RUN_TIMEOUT_S = 180
LOAD_NODE = "mongodb__weather_measurements"


# === shared helpers ================================================================================


def pipeline_resources(staging, mongo) -> dict[str, Any]:
    """The lineage's resources on the shipped sample data, whatever FORECAST_* the shell has set."""
    return {
        "staging": staging,
        "mongo": mongo,
        "wu_be": WundergroundSource(station_id="IICHTE19", location=str(BE_WORKBOOK)),
        "wu_fr": WundergroundSource(station_id="ILAMAD25", location=str(FR_WORKBOOK)),
        "infoclimat": InfoClimatResponseFile(path=str(INFOCLIMAT_RESPONSE)),
    }


def weather_job(staging, mongo):
    """The ``weather_pipeline`` job (whole lineage) bound to the given staging zone and database."""
    return build_defs(resource_overrides=pipeline_resources(staging, mongo), env="local").resolve_job_def(
        "weather_pipeline"
    )


def make_staging(spec: dict[str, str]):
    """A staging zone from a picklable description (child processes rebuild it from this)."""
    if spec["kind"] == "local":
        return LocalStagingZone(root=spec["root"])
    return S3StagingZone(bucket=spec["bucket"], endpoint_url=spec["endpoint_url"], region_name="us-east-1")


def run_summary(result, instance) -> dict[str, Any]:
    """What a finished run did, from its event log: windows, load counts, checks, errors."""
    entries = instance.all_logs(result.run_id)
    # An in-process run logs no RUN_START: its window is its first to its last event.
    windows: dict[str, list[float]] = {"run": [entries[0].timestamp, entries[-1].timestamp]}
    errors = []
    for entry in entries:
        event = entry.dagster_event
        if event is None:
            continue
        kind, key = event.event_type_value, entry.step_key or "run"
        if kind == "STEP_START":
            windows.setdefault(key, [0.0, 0.0])[0] = entry.timestamp
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE"):
            windows.setdefault(key, [0.0, 0.0])[1] = entry.timestamp
        if kind in ("STEP_FAILURE", "RUN_FAILURE"):
            error = getattr(event.event_specific_data, "error", None)
            errors.append(f"{key}: {event.message} {error.message if error else ''}".strip())
    [load] = result.asset_materializations_for_node(LOAD_NODE) or [None]
    counts = (
        {k: load.metadata[k].value for k in ("inserted", "updated", "unchanged", "deleted", "write_errors")}
        if load
        else {}
    )
    checks = {
        f"{e.asset_key.to_user_string()}:{e.check_name}": [e.passed, e.severity.value]
        for e in result.get_asset_check_evaluations()
    }
    return {"success": result.success, "windows": windows, "load": counts, "checks": checks, "errors": errors}


def failed_error_checks(summary: dict) -> list[str]:
    """The ERROR checks a run failed (WARN ones, such as read latency on a busy machine, aside)."""
    return [name for name, (passed, severity) in summary["checks"].items() if severity == "ERROR" and not passed]


def strip_ingested_at(value: Any) -> Any:
    """``value`` without any ``_ingested_at`` field: the one thing two runs of one day differ in."""
    if isinstance(value, dict):
        return {k: strip_ingested_at(v) for k, v in value.items() if k != INGESTED_AT}
    if isinstance(value, list):
        return [strip_ingested_at(v) for v in value]
    return value


def zone_contents(zone) -> dict[str, Any]:
    """Every object of a staging zone, parsed (JSONL as records, JSON as a document)."""
    return {
        key: strip_ingested_at(zone.read_jsonl(key) if key.endswith(".jsonl") else zone.read_json(key))
        for key in zone.list_keys()
    }


def measurement_documents(db) -> list[dict]:
    return list(db[MEASUREMENTS].find({}, projection={"_id": 0}).sort([("station_id", 1), ("timestamp", 1)]))


def duplicate_keys(collection) -> list[dict]:
    return list(
        collection.aggregate(
            [
                {"$group": {"_id": {"s": "$station_id", "t": "$timestamp"}, "n": {"$sum": 1}}},
                {"$match": {"n": {"$gt": 1}}},
            ]
        )
    )


def overlap(a: list[float], b: list[float]) -> bool:
    """Whether two [start, end] windows share an instant."""
    return max(a[0], b[0]) < min(a[1], b[1])


# === 1. two runs of the same partition at the same time ============================================


@dataclass
class CleanRun:
    """One run of the lineage alone: the reference the raced runs must match."""

    files: dict[str, Any]
    documents: list[dict]
    stations: list[dict]
    frame: Any


@pytest.fixture(scope="module")
def clean_run(mongo_server, tmp_path_factory) -> Iterator[CleanRun]:  # noqa: F811
    import dagster as dg

    staging = LocalStagingZone(root=str(tmp_path_factory.mktemp("clean") / "staging"))
    mongo = MongoResource(uri=mongo_server.uri, database=f"clean_{uuid.uuid4().hex[:8]}")
    with dg.DagsterInstance.ephemeral() as instance:
        result = weather_job(staging, mongo).execute_in_process(
            partition_key=PARTITION, instance=instance, raise_on_error=False
        )
        summary = run_summary(result, instance)
    assert summary["success"] and not failed_error_checks(summary), summary
    db = mongo.get_database()
    try:
        files = zone_contents(staging)
        assert {key: len(files[key]) for key in EXPECTED_LINES} == EXPECTED_LINES
        yield CleanRun(
            files=files,
            documents=measurement_documents(db),
            stations=list(db[STATIONS_COLLECTION].find({}).sort("_id", 1)),
            frame=from_jsonl(staging.read_bytes(dataset_key(PARTITION))),
        )
    finally:
        mongo.get_client().drop_database(mongo.database)
        mongo.close()


def _race_worker(spec: dict, mongo_uri: str, database: str, barrier, out: str) -> None:
    """One run of the whole lineage in this process, started when the other process is ready too."""
    import dagster as dg

    os.environ.update(spec.get("env", {}))  # the fork server's environment predates the test's
    job = weather_job(make_staging(spec), MongoResource(uri=mongo_uri, database=database))
    with dg.DagsterInstance.ephemeral() as instance:
        barrier.wait(timeout=120)  # both processes have imported and built everything: go together
        result = job.execute_in_process(partition_key=PARTITION, instance=instance, raise_on_error=False)
        Path(out).write_text(json.dumps({"pid": os.getpid(), **run_summary(result, instance)}))


def race(spec: dict, mongo_uri: str, database: str, folder: Path, processes: int = 2) -> list[dict]:
    """``processes`` runs of the partition in as many OS processes, released by one barrier."""
    # Fresh processes, not forks of pytest and its server threads; the fork server imports the
    # package once, so both runs are forked from it ready to go.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    barrier = context.Barrier(processes)
    outs = [folder / f"run_{i}.json" for i in range(processes)]
    workers = [
        context.Process(target=_race_worker, args=(spec, mongo_uri, database, barrier, str(out))) for out in outs
    ]
    for worker in workers:
        worker.start()
    try:
        for worker in workers:
            worker.join(timeout=RUN_TIMEOUT_S)
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
                worker.join(10)
    codes = [worker.exitcode for worker in workers]
    assert codes == [0] * processes and all(out.exists() for out in outs), f"worker exit codes {codes}"
    return [json.loads(out.read_text()) for out in outs]


@pytest.fixture(params=["local", "s3"])
def zone_spec(request, tmp_path) -> dict[str, str]:
    """The staging zone both runs share: a local folder, or a bucket on the moto S3 server."""
    if request.param == "local":
        return {"kind": "local", "root": str(tmp_path / "staging")}
    endpoint = request.getfixturevalue("moto_server")
    request.getfixturevalue("aws_test_credentials")
    bucket = f"race-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    aws_env = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}  # for the run processes
    return {"kind": "s3", "bucket": bucket, "endpoint_url": endpoint, "env": aws_env}


@pytest.mark.integration
def test_two_runs_of_one_partition_at_once_leave_exactly_one_clean_runs_data(
    zone_spec,
    clean_run,
    mongo_server,
    tmp_path,
    record_property,  # noqa: F811
):
    database = f"race_{uuid.uuid4().hex[:8]}"
    client = MongoClient(mongo_server.uri, tz_aware=True)
    try:
        runs = race(zone_spec, mongo_server.uri, database, tmp_path)
        for run in runs:
            assert run["success"], f"run in pid {run['pid']} failed: {run['errors']}"
            assert failed_error_checks(run) == [], run["checks"]
            assert run["checks"]["mongodb/weather_measurements:mongo_reconciliation"] == [True, "ERROR"]
            assert run["checks"]["weather_data:reconciliation"] == [True, "ERROR"]

        # They really ran at the same time: their run windows (event log timestamps) overlap.
        first, second = runs
        assert overlap(first["windows"]["run"], second["windows"]["run"]), [r["windows"]["run"] for r in runs]

        # The staging zone holds exactly the clean run's files and records; nothing half-written.
        zone = make_staging(zone_spec)
        if zone_spec["kind"] == "local":
            on_disk = sorted(
                p.relative_to(zone_spec["root"]).as_posix() for p in Path(zone_spec["root"]).rglob("*") if p.is_file()
            )
            assert on_disk == sorted(clean_run.files), "temporary or unexpected files left behind"
        contents = zone_contents(zone)
        assert sorted(contents) == sorted(clean_run.files)
        assert {key: len(contents[key]) for key in EXPECTED_LINES} == EXPECTED_LINES
        for key, records in clean_run.files.items():
            assert contents[key] == records, f"{key} differs from the clean run's"

        # MongoDB: exactly the clean run's documents, each key once; the stations once each.
        db = client[database]
        assert measurement_documents(db) == clean_run.documents
        assert db[MEASUREMENTS].count_documents({}) == WEATHER_DATA_ROWS
        assert duplicate_keys(db[MEASUREMENTS]) == []
        assert list(db[STATIONS_COLLECTION].find({}).sort("_id", 1)) == clean_run.stations

        # Between them the two loads inserted every document exactly once; whatever one inserted,
        # the other found unchanged (it read after) or replaced by key (it read before: a race).
        loads = [run["load"] for run in runs]
        assert sum(load["inserted"] for load in loads) == WEATHER_DATA_ROWS, loads
        for load in loads:
            assert load["inserted"] + load["updated"] + load["unchanged"] == WEATHER_DATA_ROWS, load
            assert (load["deleted"], load["write_errors"]) == (0, 0), load
        load_windows = [run["windows"][LOAD_NODE] for run in runs]
        record_property("loads", json.dumps(loads))
        record_property("load_steps_overlapped", overlap(*load_windows))
        print(
            f"[{zone_spec['kind']}] loads {loads}; load steps overlapped: {overlap(*load_windows)}; "
            f"run windows {[r['windows']['run'] for r in runs]}"
        )
    finally:
        client.drop_database(database)
        client.close()


class PauseInsertsUntil(monitoring.CommandListener):
    """Holds this client's first ``insert`` until ``go`` is set, after telling that it got there.

    A real client talking to the real server, only paused: by then it has read its windows.
    """

    def __init__(self, reached: threading.Event, go: threading.Event) -> None:
        self.reached, self.go = reached, go

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "insert" and not self.go.is_set():
            self.reached.set()
            self.go.wait(timeout=60)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.mark.integration
def test_a_load_that_read_before_another_wrote_turns_its_duplicate_inserts_into_keyed_replaces(
    clean_run,
    mongo_server,  # noqa: F811
):
    """The interleaving the race can produce, forced: B reads the empty window, A loads the whole
    day, then B inserts. B's inserts hit the unique index; ``sync_windows`` replaces them by key."""
    database = f"sync_race_{uuid.uuid4().hex[:8]}"
    reached, go = threading.Event(), threading.Event()
    client_a = MongoClient(mongo_server.uri, tz_aware=True)
    client_b = MongoClient(mongo_server.uri, tz_aware=True, event_listeners=[PauseInsertsUntil(reached, go)])
    windows = {s.station_id: station_window(s, PARTITION) for s in STATIONS.values()}
    frame = clean_run.frame
    try:
        ensure_collections(client_a[database])  # the unique (station_id, timestamp) index
        outcome: dict[str, Any] = {}

        def load_b() -> None:
            try:
                outcome["b"] = sync_windows(client_b[database][MEASUREMENTS], frame, windows)
            except BaseException as error:  # reported by the main thread
                outcome["b_error"] = error

        loader_b = threading.Thread(target=load_b)
        loader_b.start()
        assert reached.wait(timeout=60), "loader B never got to its insert"
        assert client_a[database][MEASUREMENTS].count_documents({}) == 0  # B saw an empty window
        outcome["a"] = sync_windows(client_a[database][MEASUREMENTS], frame, windows)
        go.set()
        loader_b.join(timeout=60)
        assert "b_error" not in outcome, outcome.get("b_error")

        rows = len(frame)
        assert rows == WEATHER_DATA_ROWS
        a, b = outcome["a"], outcome["b"]
        assert (a["inserted"], a["updated"], a["unchanged"], a["write_errors"]) == (rows, 0, 0, 0), a
        # B: every insert was a duplicate key, retried as a keyed replace with the same document,
        # which the server reports as not modified.
        assert (b["inserted"], b["updated"], b["unchanged"], b["write_errors"]) == (0, 0, rows, 0), b
        assert measurement_documents(client_a[database]) == clean_run.documents
        assert duplicate_keys(client_a[database][MEASUREMENTS]) == []
    finally:
        go.set()
        client_a.drop_database(database)
        client_a.close()
        client_b.close()


# === 2. the pool limit of the InfoClimat API =======================================================

TOKEN = "pool-test-token"
API_PATH = "/opendata/"
#: How long the API takes to answer once its gate is open (a slow API).
HOLD_SECONDS = 1.0
#: Longest a request is held while the gate is closed (a safety net: the test opens it).
GATE_CAP_SECONDS = 120.0
POOL_DAYS = ("2024-10-05", "2024-10-06", "2024-10-07")
POOL_STEP = "raw__InfoClimat"
POOL_SELECTION = [["raw", "BE"], ["raw", "InfoClimat"]]  # raw/BE: a root step outside any pool
RUN_CONFIG: dict = {"execution": {"config": {"in_process": {}}}}


@dataclass
class ApiRequest:
    day: str
    arrived: float
    answered: float = 0.0
    in_flight_on_arrival: int = 0


@dataclass
class SlowInfoClimatApi:
    """A local InfoClimat API answering the sample response to every valid request, slowly.

    A request is held until another request arrives (then the earlier one is answered), or, once
    the test has opened the gate, for ``hold_seconds``. With the gate closed, the first request
    stays in flight while the test makes sure every other run is ready to call: a second request
    in flight at the same time cannot go unseen. ``max_in_flight`` is the most requests held at once.
    """

    body: bytes
    hold_seconds: float
    requests: list[ApiRequest] = field(default_factory=list)
    max_in_flight: int = 0
    _gate_open: bool = False
    _in_flight: int = 0
    _arrivals: int = 0
    _lock: threading.Condition = field(default_factory=threading.Condition)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://{HOST}:{self._server.server_address[1]}{API_PATH}"

    def reset(self) -> None:
        """Forget the requests seen and close the gate."""
        with self._lock:
            self.requests.clear()
            self.max_in_flight, self._gate_open = 0, False

    def open_gate(self) -> None:
        with self._lock:
            self._gate_open = True
            self._lock.notify_all()

    def days_requested(self) -> set[str]:
        with self._lock:
            return {request.day for request in self.requests}

    def handle(self, day: str) -> None:
        with self._lock:
            request = ApiRequest(day=day, arrived=time.time(), in_flight_on_arrival=self._in_flight)
            self.requests.append(request)
            self._in_flight += 1
            self._arrivals += 1
            mine, held_since = self._arrivals, time.monotonic()
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            self._lock.notify_all()
            while self._arrivals == mine:
                held = time.monotonic() - held_since
                if held >= GATE_CAP_SECONDS or (self._gate_open and held >= self.hold_seconds):
                    break
                self._lock.wait(0.1)
            self._in_flight -= 1  # in flight until its answer starts
            request.answered = time.time()

    def start(self) -> SlowInfoClimatApi:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                if url.path != API_PATH or query.get("token") != [TOKEN]:
                    self.send_error(401 if url.path == API_PATH else 404)
                    return
                api.handle(query.get("start", ["?"])[0])
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(api.body)))
                self.end_headers()
                self.wfile.write(api.body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((HOST, 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self.open_gate()
            self._server.shutdown()
            self._server.server_close()


@dataclass
class PoolDeployment:
    ui: DagsterUI
    api: SlowInfoClimatApi
    env: dict[str, str]

    def instance(self):
        from dagster import DagsterInstance
        from dagster._core.instance.ref import InstanceRef

        return DagsterInstance.from_ref(InstanceRef.from_dir(str(self.ui.home)))


@pytest.fixture(scope="module")
def pool_deployment(tmp_path_factory) -> Iterator[PoolDeployment]:
    """dagster-webserver + dagster-daemon on workspace.yaml, instance = deploy/local/dagster.yaml,
    the InfoClimat reader on the slow local API."""
    api = SlowInfoClimatApi(body=INFOCLIMAT_RESPONSE.read_bytes(), hold_seconds=HOLD_SECONDS).start()
    root = tmp_path_factory.mktemp("pool")
    home, staging_dir, mongo_dir, logs = root / "dagster_home", root / "staging", root / "mongo", root / "logs"
    home.mkdir()
    logs.mkdir()
    # The repo's local instance file, verbatim: its storage defaults to SQLite under DAGSTER_HOME.
    (home / "dagster.yaml").write_text((REPO / "deploy" / "local" / "dagster.yaml").read_text())
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    no_proxy = ",".join(filter(None, [os.environ.get("NO_PROXY"), HOST, "localhost"]))
    env.update(
        DAGSTER_HOME=str(home),
        FORECAST_STAGING_DIR=str(staging_dir),
        FORECAST_MONGO_STATE_DIR=str(mongo_dir),
        FORECAST_ALERT_FILE=str(root / "alerts.jsonl"),
        FORECAST_INFOCLIMAT_SOURCE="api",
        INFOCLIMAT_BASE_URL=api.url,
        INFOCLIMAT_TOKEN=TOKEN,
        NO_PROXY=no_proxy,
        no_proxy=no_proxy,
        PYTHONUNBUFFERED="1",
    )
    port = free_port()
    ui = DagsterUI(url=f"http://{HOST}:{port}", home=home, staging_dir=staging_dir, mongo_state_dir=mongo_dir)
    ui.session.trust_env = False
    ui.logs = {"webserver": logs / "webserver.log", "daemon": logs / "daemon.log"}
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
        yield PoolDeployment(ui=ui, api=api, env=env)
    finally:
        api.open_gate()
        for process in reversed(list(processes.values())):
            _stop(process)
        for log in log_files.values():
            log.close()
        ui.session.close()
        api.stop()


LAUNCH_RUN = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on Error { message }
  }
}
"""


def launch_runs(deployment: PoolDeployment) -> dict[str, str]:
    """One weather_pipeline run per day (raw/BE + raw/InfoClimat), queued as the UI queues it;
    run id → day."""
    runs = {}
    for day in POOL_DAYS:
        launched = deployment.ui.graphql(
            LAUNCH_RUN,
            {
                "params": {
                    "selector": {
                        "repositoryLocationName": LOCATION,
                        "repositoryName": REPOSITORY,
                        "jobName": "weather_pipeline",
                        "assetSelection": [{"path": path} for path in POOL_SELECTION],
                    },
                    "runConfigData": RUN_CONFIG,
                    "executionMetadata": {"tags": [{"key": "dagster/partition", "value": day}]},
                }
            },
        )["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        runs[launched["run"]["runId"]] = day
    return runs


def blocked_by_pool(instance, run_id: str) -> list[float]:
    """When the run's raw/InfoClimat step logged that the pool's limit held it back."""
    from dagster import DagsterEventType

    return [
        entry.timestamp
        for entry in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT)
        if entry.step_key == POOL_STEP
        and f"blocked by limit for pool {INFOCLIMAT_POOL}" in (entry.dagster_event.message or "")
    ]


def contend_then_open_gate(deployment: PoolDeployment, runs: dict[str, str]) -> bool:
    """Keep the API's gate closed until every run is either held back by the pool or has made its
    request to the API (or a run failed, or time ran out), then open it. Whether all got there."""
    from dagster import DagsterRunStatus

    deadline = time.monotonic() + RUN_TIMEOUT_S
    ready = False
    with deployment.instance() as instance:
        while not ready and time.monotonic() < deadline:
            requested = deployment.api.days_requested()
            ready = all(day in requested or blocked_by_pool(instance, run_id) for run_id, day in runs.items())
            if any(
                instance.get_run_by_id(run_id).status in (DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)
                for run_id in runs
            ):
                break  # wait_for_runs reports it
            if not ready:
                time.sleep(0.5)
    deployment.api.open_gate()
    return ready


@dataclass
class PoolRun:
    run_id: str
    day: str
    status: str
    windows: dict[str, list[float]]
    blocked: list[float]


def wait_for_runs(deployment: PoolDeployment, runs: dict[str, str]) -> list[PoolRun]:
    """The runs once all have finished, with their run and step windows from the event log."""
    from dagster import DagsterEventType, DagsterRunStatus

    finished = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
    with deployment.instance() as instance:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while time.monotonic() < deadline:
            if all(instance.get_run_by_id(run_id).status in finished for run_id in runs):
                break
            time.sleep(1)
        results, errors = [], []
        for run_id, day in runs.items():
            windows: dict[str, list[float]] = {}
            for entry in instance.all_logs(run_id):
                event = entry.dagster_event
                if event is None:
                    continue
                key = entry.step_key or "run"
                if event.event_type in (DagsterEventType.RUN_START, DagsterEventType.STEP_START):
                    windows.setdefault(key, [0.0, 0.0])[0] = entry.timestamp
                elif event.event_type in (
                    DagsterEventType.RUN_SUCCESS,
                    DagsterEventType.RUN_FAILURE,
                    DagsterEventType.STEP_SUCCESS,
                    DagsterEventType.STEP_FAILURE,
                ):
                    windows.setdefault(key, [0.0, 0.0])[1] = entry.timestamp
                if event.event_type == DagsterEventType.STEP_FAILURE or entry.level >= 40:
                    errors.append(f"{run_id[:8]} {key}: {event.message or entry.user_message}"[:1500])
            status = instance.get_run_by_id(run_id).status.value
            results.append(PoolRun(run_id, day, status, windows, blocked_by_pool(instance, run_id)))
    assert all(run.status == "SUCCESS" for run in results), (
        f"runs {[(r.day, r.status) for r in results]}; errors {errors}\n{deployment.ui.log_tails()}"
    )
    return results


def max_overlapping(windows: list[list[float]]) -> int:
    """The most windows [start, end] that share one instant."""
    edges = sorted([(start, 1) for start, _ in windows] + [(end, -1) for _, end in windows])
    level = peak = 0
    for _, step in edges:
        level += step
        peak = max(peak, level)
    return peak


def pool_limits(deployment: PoolDeployment) -> dict[str, tuple[int, bool]]:
    """Each pool's limit in the instance, and whether it is the yaml's default."""
    with deployment.instance() as instance:
        return {p.name: (p.limit, p.from_default) for p in instance.event_log_storage.get_pool_limits()}


def timeline(runs: list[PoolRun], api: SlowInfoClimatApi) -> str:
    """Run and step windows, pool waits and API requests, in seconds from the first event."""
    origin = min(w[0] for run in runs for w in run.windows.values())
    lines = [
        f"{run.day} run {run.run_id[:8]}: "
        + ", ".join(f"{k} {w[0] - origin:.1f}-{w[1] - origin:.1f}" for k, w in sorted(run.windows.items()))
        + (f", first pool wait {run.blocked[0] - origin:.1f}" if run.blocked else ", no pool wait")
        for run in runs
    ]
    lines += [
        f"API {r.day}: {r.arrived - origin:.1f}-{r.answered - origin:.1f}, {r.in_flight_on_arrival} already in flight"
        for r in api.requests
    ]
    return "\n".join(lines)


def run_the_three_days(deployment: PoolDeployment) -> tuple[bool, list, str]:
    """Launch the pool runs, hold the first API request until the others contend, wait for all:
    (contended, the runs, their printed timeline)."""
    launched = launch_runs(deployment)
    contended = contend_then_open_gate(deployment, launched)
    runs = wait_for_runs(deployment, launched)
    story = timeline(runs, deployment.api)
    print(story)
    return contended, runs, story


@pytest.mark.integration
def test_pool_limit_lets_one_run_at_a_time_call_the_infoclimat_api(pool_deployment: PoolDeployment):
    instance_config = yaml.safe_load((pool_deployment.ui.home / "dagster.yaml").read_text())
    assert instance_config["concurrency"]["pools"] == {"default_limit": 1}  # no granularity: op-level
    assert instance_config["concurrency"]["runs"]["max_concurrent_runs"] == 4
    assert pool_limits(pool_deployment).get(INFOCLIMAT_POOL, (1, True)) == (1, True)  # none set by hand
    api = pool_deployment.api
    api.reset()

    contended, runs, story = run_the_three_days(pool_deployment)

    # While the first run's request was held at the API, the two other runs were held by the pool.
    assert contended, story
    assert sum(bool(run.blocked) for run in runs) == 2, story
    # The API: one request per run, never two at once.
    assert sorted(r.day for r in api.requests) == sorted(POOL_DAYS), story
    assert api.max_in_flight == 1, story
    # The event log: the raw/InfoClimat steps of different runs never overlapped in time...
    steps = [run.windows[POOL_STEP] for run in runs]
    for a, b in itertools.combinations(steps, 2):
        assert not overlap(a, b), story
    # ...while all three runs were in progress at once (max_concurrent_runs is 4): the pool
    # serialized the steps, not the run queue.
    assert max_overlapping([run.windows["run"] for run in runs]) == 3, story
    assert pool_limits(pool_deployment)[INFOCLIMAT_POOL] == (1, True)  # the yaml default, applied


@pytest.mark.integration
def test_negative_control_with_the_pool_raised_to_3_the_api_sees_requests_overlap(
    pool_deployment: PoolDeployment,
):
    """Proves the test above can fail: the same runs and server, with room for 3 in the pool."""
    raise_pool = subprocess.run(
        [sys.executable, "-m", "dagster", "instance", "concurrency", "set", INFOCLIMAT_POOL, "3"],
        cwd=REPO,
        env=pool_deployment.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert raise_pool.returncode == 0, raise_pool.stderr
    api = pool_deployment.api
    api.reset()
    try:
        assert pool_limits(pool_deployment)[INFOCLIMAT_POOL] == (3, False)
        contended, runs, story = run_the_three_days(pool_deployment)
        assert contended, story
        assert sorted(r.day for r in api.requests) == sorted(POOL_DAYS), story
        assert api.max_in_flight >= 2, story
        assert not any(run.blocked for run in runs), story
        assert max_overlapping([run.windows[POOL_STEP] for run in runs]) >= 2, story
    finally:
        with pool_deployment.instance() as instance:  # back to the yaml default for later runs
            instance.event_log_storage.delete_concurrency_limit(INFOCLIMAT_POOL)
