"""Faults: a CLI run killed while it holds the InfoClimat pool slot, and a slot held by a live run.

Real ``dagster asset materialize`` processes on a DAGSTER_HOME holding ``deploy/local/dagster.yaml``
verbatim (pool ``infoclimat_api``, limit 1; no daemon), the InfoClimat reader pointed at a local HTTP
server that holds every request until the test opens its gate: run A's raw/InfoClimat step sits in
its API call, holding the slot, for as long as the test wants. The test waits until the instance
shows A holding the slot and the server has A's request (polling both, no sleep-and-hope).

1. **Killed holder.** A's process group is killed (SIGKILL; SIGHUP, as when its terminal closes),
   leaving A STARTED with the slot. Run B of the same command must succeed: it finds A's process
   gone, reports A failed with a message saying why, and frees the slot. Both executors
   (multiprocess by run config; in-process, the local default). Before the fix B waited forever
   ("Step blocked by limit for pool infoclimat_api"): the subprocess timeout fails the test.
2. **Live holder.** A stays alive, blocked at the server. B, with ``FORECAST_POOL_WAIT_SECONDS=5``,
   must fail within a bounded time, naming A's run id, its status, and the command that frees the
   slot, with no step run; A then finishes normally once the gate opens.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import pytest

from forecast_assets.feeds import INFOCLIMAT_POOL
from forecast_assets.sample_data import INFOCLIMAT_RESPONSE

REPO = Path(__file__).resolve().parents[2]
LOCAL_YAML = REPO / "deploy" / "local" / "dagster.yaml"
DAY = "2024-10-05"
COMMAND = [
    str(Path(sys.executable).parent / "dagster"),
    "asset",
    "materialize",
    "-m",
    "forecast_assets.definitions",
    "--select",
    "raw/InfoClimat",
    "--partition",
    DAY,
]
MULTIPROCESS = ["--config-json", json.dumps({"execution": {"config": {"multiprocess": {}}}})]
#: A CLI run of one raw day takes ~20 s on this machine; a run still going after this has hung.
RUN_TIMEOUT_S = 150
HOLD_TIMEOUT_S = 120
GATE_CAP_S = 600


class GatedInfoClimatApi:
    """A local InfoClimat API answering the shipped sample response, once the test opens its gate."""

    def __init__(self) -> None:
        self.arrivals = 0
        self._gate_open = False
        self._lock = threading.Condition()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                api._hold()
                body = INFOCLIMAT_RESPONSE.read_bytes()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client was killed while it waited

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/opendata/"

    def _hold(self) -> None:
        with self._lock:
            self.arrivals += 1
            self._lock.notify_all()
            self._lock.wait_for(lambda: self._gate_open, timeout=GATE_CAP_S)

    def open_gate(self) -> None:
        with self._lock:
            self._gate_open = True
            self._lock.notify_all()

    def __enter__(self) -> GatedInfoClimatApi:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.open_gate()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def api() -> Iterator[GatedInfoClimatApi]:
    with GatedInfoClimatApi() as server:
        yield server


@pytest.fixture
def home(tmp_path) -> Path:
    """A fresh DAGSTER_HOME with the local instance config, verbatim."""
    path = tmp_path / "dagster_home"
    path.mkdir()
    (path / "dagster.yaml").write_text(LOCAL_YAML.read_text())
    return path


@contextmanager
def open_instance(home: Path) -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        yield instance


def cli_env(home: Path, api: GatedInfoClimatApi, **extra: str) -> dict[str, str]:
    """The shell of a user running the CLI: this test's instance, staging folder and API, nothing else."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FORECAST_", "INFOCLIMAT_", "DAGSTER_", "MONGO_"))}
    state = home.parent
    env.update(
        DAGSTER_HOME=str(home),
        FORECAST_ENV="local",
        FORECAST_STAGING_DIR=str(state / "staging"),
        FORECAST_ALERT_FILE=str(state / "alerts.jsonl"),
        FORECAST_MONGO_STATE_DIR=str(state / "mongo"),
        FORECAST_INFOCLIMAT_SOURCE="api",
        INFOCLIMAT_BASE_URL=api.url,
        INFOCLIMAT_TOKEN="test",
        **extra,
    )
    return env


def _as_in_a_terminal() -> None:
    """SIGHUP back to its default (terminate), as in a user's terminal: the test may itself run under
    ``nohup`` (as ``make stress`` in the background did), whose ignored SIGHUP every child inherits."""
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


class CliRun:
    """One ``dagster asset materialize`` process, in its own process group, its output in a file."""

    def __init__(self, env: dict[str, str], log: Path, *args: str) -> None:
        self.log = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [*COMMAND, *args],
                cwd=log.parent,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_as_in_a_terminal,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=60)

    def finish(self, timeout: float = RUN_TIMEOUT_S) -> int:
        """The exit code; fails the test (and kills the run) if it is still running after ``timeout``."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"run still going after {timeout} s, i.e. hung; its output ends:\n{self.output()[-3000:]}")


def wait_until_holding(home: Path, run: CliRun, api: GatedInfoClimatApi) -> str:
    """The run id of ``run`` once the instance shows it holding the pool slot and its request is at the API."""
    deadline = time.monotonic() + HOLD_TIMEOUT_S
    with open_instance(home) as instance:
        while time.monotonic() < deadline:
            if run.proc.poll() is not None:
                pytest.fail(f"run exited ({run.proc.returncode}) before holding the slot:\n{run.output()[-3000:]}")
            claimed = instance.event_log_storage.get_concurrency_info(INFOCLIMAT_POOL).claimed_slots
            if claimed and api.arrivals:
                return claimed[0].run_id
            time.sleep(0.2)
    run.kill()
    pytest.fail(f"run never held the {INFOCLIMAT_POOL} slot within {HOLD_TIMEOUT_S} s:\n{run.output()[-3000:]}")


def failure_text(instance: dg.DagsterInstance, run_id: str) -> str:
    """The RUN_FAILURE message of a run, with its error if any."""
    [entry] = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    error = getattr(entry.dagster_event.event_specific_data, "error", None)
    return f"{entry.dagster_event.message}\n{error.message if error else ''}"


def engine_messages(instance: dg.DagsterInstance, run_id: str) -> str:
    return "\n".join(
        entry.dagster_event.message or ""
        for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
    )


def assert_pool_empty(instance: dg.DagsterInstance) -> None:
    info = instance.event_log_storage.get_concurrency_info(INFOCLIMAT_POOL)
    assert not info.claimed_slots and not info.pending_steps, info


@pytest.mark.integration
@pytest.mark.parametrize(
    ("sig", "executor_args"),
    [(signal.SIGKILL, MULTIPROCESS), (signal.SIGHUP, [])],  # [] : the local default, in-process
    ids=["sigkill-multiprocess", "sighup-in_process"],
)
def test_after_a_run_killed_holding_the_pool_slot_the_next_run_finishes(tmp_path, home, api, sig, executor_args):
    holder = CliRun(cli_env(home, api), tmp_path / "holder.log", *executor_args)
    dead_id = wait_until_holding(home, holder, api)
    holder.kill(sig)
    with open_instance(home) as instance:
        assert instance.get_run_by_id(dead_id).status == dg.DagsterRunStatus.STARTED  # what the kill leaves
    api.open_gate()

    rerun = CliRun(cli_env(home, api), tmp_path / "rerun.log", *executor_args)
    assert rerun.finish() == 0, rerun.output()[-3000:]

    with open_instance(home) as instance:
        [rerun_record] = [r for r in instance.get_runs() if r.run_id != dead_id]
        assert rerun_record.status == dg.DagsterRunStatus.SUCCESS
        assert instance.get_run_by_id(dead_id).status == dg.DagsterRunStatus.FAILURE
        why = failure_text(instance, dead_id)
        print(f"killed run {dead_id}: {why}")
        assert "process is gone" in why and "no longer exists" in why and f"pid {holder.proc.pid}" in why, why
        assert rerun_record.run_id in why, why
        assert f"Run {dead_id}" in engine_messages(instance, rerun_record.run_id)  # the rerun says what it did
        assert_pool_empty(instance)


@pytest.mark.integration
def test_a_slot_held_by_a_live_run_fails_the_next_run_in_bounded_time_naming_the_holder(tmp_path, home, api):
    holder = CliRun(cli_env(home, api), tmp_path / "holder.log")
    try:
        holder_id = wait_until_holding(home, holder, api)
        waiter = CliRun(cli_env(home, api, FORECAST_POOL_WAIT_SECONDS="5"), tmp_path / "waiter.log")
        assert waiter.finish() != 0, waiter.output()[-3000:]

        with open_instance(home) as instance:
            [waiter_record] = [r for r in instance.get_runs() if r.run_id != holder_id]
            assert waiter_record.status == dg.DagsterRunStatus.FAILURE
            assert not instance.all_logs(waiter_record.run_id, of_type=dg.DagsterEventType.STEP_START)  # no step ran
            why = failure_text(instance, waiter_record.run_id)
            print(f"waiting run {waiter_record.run_id}: {why}")
            for expected in (
                holder_id,
                "STARTED",
                f"pid {holder.proc.pid}",
                "is running",
                INFOCLIMAT_POOL,
                f"dagster run delete -f {holder_id}",
                "FORECAST_POOL_WAIT_SECONDS",
                DAY,
            ):
                assert expected in why, (expected, why)
            assert f"dagster run delete -f {holder_id}" in waiter.output()  # the user sees it in the terminal
            assert instance.get_run_by_id(holder_id).status == dg.DagsterRunStatus.STARTED  # left alone

        api.open_gate()
        assert holder.finish() == 0, holder.output()[-3000:]
        with open_instance(home) as instance:
            assert instance.get_run_by_id(holder_id).status == dg.DagsterRunStatus.SUCCESS
            assert_pool_empty(instance)
    finally:
        if holder.proc.poll() is None:
            holder.kill()
