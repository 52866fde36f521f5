"""Faults: setup that runs in two processes at once — collections and indexes, the embedded server.

1. **Collections and indexes.** Two OS processes (``multiprocessing`` from a fork server that
   imported this module once), each with a connected client, are released together by a barrier
   and run ``ensure_collections`` on the same brand-new database of a real SecantusDB server; 40
   databases in a row. Before the fix about a quarter of them failed with ``IndexKeySpecsConflict``
   (86) / ``IndexOptionsConflict`` (85) on ``location_2dsphere``: the server compares a concurrent
   request with the stored spec. Now both succeed every time and the database ends with one
   validator, the indexes and the six stations. (A same-name index that really differs still
   raises: ``mongo/test_collection_setup.py``.)
2. **The embedded server.** Four processes behind a barrier call ``start_background`` on one empty
   state folder (what local runs with ``MONGO_URI`` unset do). Before the fix each started its own
   ``secantusd-py`` on the same WiredTiger folder and all but one failed (``WiredTiger.lock``); now
   a file lock lets one start it and the others reuse it: one URI, one server process, which
   ``stop_background`` stops.
3. **The embedded server crashed** (SIGKILL): the error names the embedded server, its state
   folder and log and says what to do, not "is MONGO_URI set"; a new resource (the next run)
   starts a fresh server on the stale state and works.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from forecast_assets.mongo import embedded_server
from forecast_assets.mongo.collection_setup import MEASUREMENTS, STATIONS, ensure_collections
from forecast_assets.mongo.embedded_resource import EmbeddedMongoResource
from forecast_assets.mongo.embedded_server import LocalMongoServer
from forecast_assets.mongo.resources import MongoUnavailableError
from forecast_assets.stations import STATIONS as STATION_LIST
from forecast_assets_tests.mongo.conftest import mongo_server  # noqa: F401  (session fixture)

INDEX_TRIALS = 40
STARTERS = 4
START_TRIALS = 3
TIMEOUT_S = 120


@pytest.fixture(scope="module")
def fork_context() -> Any:
    """A fork-server context whose server imported this module (and the package) once."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


def _run_workers(context: Any, target: Any, processes: int, *args: Any) -> list[Any]:
    """Run ``target(barrier, results, index, *args)`` in ``processes`` processes; every result."""
    barrier = context.Barrier(processes)
    results = context.Queue()
    workers = [context.Process(target=target, args=(barrier, results, i, *args)) for i in range(processes)]
    for worker in workers:
        worker.start()
    collected = [results.get(timeout=TIMEOUT_S) for _ in workers]
    for worker in workers:
        worker.join(TIMEOUT_S)
        assert worker.exitcode == 0, f"worker exited with {worker.exitcode}"
    return collected


# === 1. collections and indexes ====================================================================


def _ensure_many(barrier: Any, results: Any, index: int, uri: str, databases: list[str]) -> None:
    """For each database: wait for the other worker, then ``ensure_collections``; the outcomes."""
    client: MongoClient = MongoClient(uri, serverSelectionTimeoutMS=10_000)
    client.admin.command("ping")  # connected before the first barrier
    outcomes = []
    try:
        for name in databases:
            barrier.wait(TIMEOUT_S)
            try:
                ensure_collections(client[name])
                outcomes.append("ok")
            except Exception as exc:  # noqa: BLE001  (reported to the test)
                outcomes.append(f"{name}: {type(exc).__name__} {getattr(exc, 'code', '')}: {exc}"[:300])
    finally:
        client.close()
        results.put((index, outcomes))


def test_two_processes_setting_up_one_new_database_both_succeed(
    fork_context: Any,
    mongo_server: LocalMongoServer,  # noqa: F811
) -> None:
    databases = [f"race_{uuid.uuid4().hex[:10]}" for _ in range(INDEX_TRIALS)]
    client: MongoClient = MongoClient(mongo_server.uri)
    try:
        outcomes = _run_workers(fork_context, _ensure_many, 2, mongo_server.uri, databases)

        failures = [o for _, worker in outcomes for o in worker if o != "ok"]
        assert failures == [], f"{len(failures)} of {2 * INDEX_TRIALS} setups failed: {failures[:5]}"
        for name in databases:
            db = client[name]
            indexes = db[MEASUREMENTS].index_information()
            assert indexes["station_id_timestamp"]["unique"] is True
            assert "timestamp_station_id" in indexes
            assert db[STATIONS].index_information()["location_2dsphere"]["key"] == [("location", "2dsphere")]
            assert db[STATIONS].count_documents({}) == len(STATION_LIST)
            [options] = db.command("listCollections", filter={"name": MEASUREMENTS})["cursor"]["firstBatch"]
            assert options["options"]["validationLevel"] == "strict"
    finally:
        for name in databases:
            client.drop_database(name)
        client.close()


# === 2. the embedded server, started by several processes at once =================================


def _start(barrier: Any, results: Any, index: int, state_dir: str) -> None:
    barrier.wait(TIMEOUT_S)
    try:
        uri, started = embedded_server.start_background(state_dir)
        results.put((index, uri, started))
    except Exception as exc:  # noqa: BLE001  (reported to the test)
        results.put((index, f"{type(exc).__name__}: {exc}"[:400], None))


def _server_processes(state_dir: Path) -> list[int]:
    """Pids of the ``secantusd-py`` processes serving ``state_dir`` (from /proc)."""
    data = str(state_dir / embedded_server.DATA_DIR).encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if embedded_server.COMMAND.encode() in cmdline and data in cmdline.split(b"\0"):
                pids.append(int(entry.name))
    return pids


@pytest.mark.parametrize("trial", range(START_TRIALS))
def test_processes_starting_the_embedded_server_at_once_share_one(
    fork_context: Any, tmp_path: Path, trial: int
) -> None:
    state = tmp_path / "mongo"
    try:
        started = _run_workers(fork_context, _start, STARTERS, str(state))

        uris = {uri for _, uri, _ in started}
        assert len(uris) == 1, f"expected one URI, got {sorted(uris)}"
        assert sorted(flag for _, _, flag in started) == [False] * (STARTERS - 1) + [True]
        [pid] = _server_processes(state)
        assert embedded_server.running_pid(state) == pid
        assert embedded_server.ping(uris.pop())
    finally:
        stopped = embedded_server.stop_background(state)
    assert stopped and _server_processes(state) == []


# === 3. the embedded server crashed =================================================================


@pytest.fixture
def embedded_state(tmp_path: Path) -> Iterator[Path]:
    state = tmp_path / "mongo"
    try:
        yield state
    finally:
        embedded_server.stop_background(state)


def _embedded(state: Path) -> EmbeddedMongoResource:
    return EmbeddedMongoResource(
        state_dir=str(state), database="crash", server_selection_timeout_ms=300, max_attempts=2, backoff_seconds=0.01
    )


def test_after_an_embedded_server_crash_the_error_names_it_and_the_next_run_restarts_it(
    embedded_state: Path,
) -> None:
    first = _embedded(embedded_state)
    first.get_database()["c"].insert_one({"_id": 1})
    pid = embedded_server.running_pid(embedded_state)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    try:
        os.waitpid(pid, 0)  # started by this process (in its own session): reap it, so it is gone
    except ChildProcessError:
        pass  # already reaped by subprocess's own clean-up
    assert embedded_server.running_pid(embedded_state) is None

    with pytest.raises(MongoUnavailableError) as excinfo:
        first.with_retries(lambda: first.get_database()["c"].count_documents({}), "counting")
    message = str(excinfo.value)
    first.close()
    assert "MONGO_URI is set" not in message and "is MONGO_URI set" not in message
    assert "embedded" in message
    assert str(embedded_state) in message
    assert str(embedded_state / embedded_server.LOG_FILE) in message
    assert "make mongo-stop" in message and "rerun" in message

    second = _embedded(embedded_state)  # the next run
    try:
        assert second.ping() > 0
        assert embedded_server.running_pid(embedded_state) not in (None, pid)
        second.get_database()["c"].insert_one({"_id": 2})
    finally:
        second.close()


def test_with_an_explicit_uri_the_error_still_points_at_mongo_uri() -> None:
    resource = EmbeddedMongoResource(
        uri=f"mongodb://127.0.0.1:{embedded_server.free_port()}/", server_selection_timeout_ms=200, max_attempts=1
    )
    with pytest.raises(MongoUnavailableError, match="MONGO_URI"):
        resource.ping()
