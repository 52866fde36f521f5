"""The embedded default MongoDB for local runs and tests: SecantusDB run as a separate process.

SecantusDB (GPL-2.0, beta) speaks MongoDB's wire protocol on top of WiredTiger. It is only ever
started here, through its ``secantusd-py`` command (``pip install -e '.[local]'``); nothing imports
it, and production resources never import this module.

Two ways to use it:

* in Python (tests, tools): ``with LocalMongoServer(tmp_dir) as server: MongoClient(server.uri)``;
  ``kill()`` simulates a crash, ``restart()`` reopens the same storage on the same port;
* in the background for ``make`` targets::

      python -m forecast_assets.mongo.embedded_server start|stop|status|uri --state-dir .forecast/mongo

  ``start`` is idempotent; the state dir holds ``data/``, ``secantusd.log``, ``secantusd.pid`` and
  ``secantusd.port``, so the port (and ``MONGO_URI``) stays the same across restarts. Start and
  stop hold an OS lock on ``secantusd.lock``: processes starting it at once (two local runs) get
  one server, started by the first, reused by the others; a stale pid file (crash) starts anew.

Durability note: SecantusDB flushes its log in the background (like mongod's ``j: false``); writes
acknowledged within about a second of a SIGKILL can be lost unless written with ``j: true``.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from pymongo import MongoClient
from pymongo.errors import PyMongoError

COMMAND = "secantusd-py"
HOST = "127.0.0.1"
PID_FILE = "secantusd.pid"
PORT_FILE = "secantusd.port"
LOG_FILE = "secantusd.log"
LOCK_FILE = "secantusd.lock"
DATA_DIR = "data"
#: How long a running server may take to answer before it counts as hung (it is then replaced).
ALIVE_PING_MS = 5000


class LocalServerError(RuntimeError):
    """The local server could not be found, started or stopped."""


def find_command() -> str:
    """Path of ``secantusd-py``: next to the running interpreter, else on PATH."""
    beside = Path(sys.executable).parent / COMMAND
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(COMMAND)
    if found:
        return found
    raise LocalServerError(
        f"{COMMAND} not found next to {sys.executable} or on PATH: the embedded MongoDB server is an "
        "optional dependency. Install it with: pip install -e '.[local]' (or point MONGO_URI at a "
        "MongoDB server)."
    )


def free_port(host: str = HOST) -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def uri_for(port: int, host: str = HOST) -> str:
    return f"mongodb://{host}:{port}/"


def server_pid(uri: str, timeout_ms: int = 500) -> int | None:
    """The pid a MongoDB-wire server at ``uri`` reports (``serverStatus.pid``), ``0`` if it reports
    none, ``None`` if nothing answers."""
    client: MongoClient = MongoClient(uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms)
    try:
        client.admin.command("ping")
        try:
            return int(client.admin.command("serverStatus").get("pid", 0))
        except PyMongoError:
            return 0
    except PyMongoError:
        return None
    finally:
        client.close()


def ping(uri: str, timeout_ms: int = 500) -> bool:
    """Whether a MongoDB-wire server at ``uri`` answers ``ping``."""
    return server_pid(uri, timeout_ms) is not None


def port_in_use(port: int, host: str = HOST) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class LocalMongoServer:
    """A ``secantusd-py`` subprocess on ``host:port`` storing its data in ``storage_dir``.

    ``port=0`` picks a free port once; :meth:`restart` reuses it, so ``uri`` never changes.
    ``tls_cert_file``/``tls_key_file`` serve TLS (``tls_ca_file``: the CA clients verify it with).
    ``detach=True`` starts the server in its own session, so it outlives this Python process.
    """

    def __init__(
        self,
        storage_dir: str | os.PathLike[str],
        port: int = 0,
        host: str = HOST,
        startup_timeout: float = 30.0,
        log_path: str | os.PathLike[str] | None = None,
        detach: bool = False,
        tls_cert_file: str | os.PathLike[str] | None = None,
        tls_key_file: str | os.PathLike[str] | None = None,
        tls_ca_file: str | os.PathLike[str] | None = None,
    ) -> None:
        self.storage_dir = Path(storage_dir)
        self.host = host
        self.port = port or free_port(host)
        self.startup_timeout = startup_timeout
        default_log = self.storage_dir.with_name(self.storage_dir.name + ".log")
        self.log_path = Path(log_path) if log_path else default_log
        self.detach = detach
        self.tls_cert_file, self.tls_key_file, self.tls_ca_file = tls_cert_file, tls_key_file, tls_ca_file
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def uri(self) -> str:
        """``mongodb://host:port/``, with ``tls=true&tlsCAFile=…`` when serving TLS."""
        uri = uri_for(self.port, self.host)
        if self.tls_cert_file:
            uri += "?tls=true" + (f"&tlsCAFile={self.tls_ca_file}" if self.tls_ca_file else "")
        return uri

    def _command(self) -> list[str]:
        command = [
            find_command(),
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--storage-path",
            str(self.storage_dir),
            "--log-level",
            "WARNING",
        ]
        if self.tls_cert_file:
            command += ["--tls-cert-file", str(self.tls_cert_file), "--tls-key-file", str(self.tls_key_file)]
        return command

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> LocalMongoServer:
        """Start the server and wait until it answers ``ping``; LocalServerError on failure."""
        if self.is_running():
            return self
        command = self._command()
        if port_in_use(self.port, self.host):
            raise LocalServerError(f"Port {self.host}:{self.port} is already in use: pick another port")
        self.storage_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=self.detach,
        )
        self._wait_until_ready()
        return self

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                code = self._process.returncode
                self._cleanup()
                raise LocalServerError(
                    f"{COMMAND} exited with code {code} on {self.host}:{self.port}. Log tail:\n{_tail(self.log_path)}"
                )
            pid = server_pid(self.uri, timeout_ms=250)
            if pid is not None and pid in (0, self.pid):  # ours answers (0: the server hides its pid)
                return
            time.sleep(0.05)
        self.kill()
        raise LocalServerError(
            f"{COMMAND} did not answer on {self.host}:{self.port} within {self.startup_timeout}s. "
            f"Log tail:\n{_tail(self.log_path)}"
        )

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._cleanup()

    def kill(self) -> None:
        """SIGKILL, no shutdown: simulates a crash (unflushed writes may be lost, see module doc)."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._cleanup()

    def restart(self) -> LocalMongoServer:
        """Stop (if running) and start again on the same port and storage."""
        self.stop()
        return self.start()

    def _cleanup(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> LocalMongoServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# --- background control for make targets ----------------------------------------------------------


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _is_server_process(pid: int, data_dir: Path | None = None) -> bool:
    """Whether ``pid`` is alive and (where /proc tells) really a secantusd process, not a reused pid;
    with ``data_dir``, one serving that folder (so another state folder's server is never taken)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path(f"/proc/{pid}")
    try:
        args = (proc / "cmdline").read_bytes().split(b"\0")
    except FileNotFoundError:
        return True  # no /proc here: trust the pid
    except OSError:
        return False
    if COMMAND.encode() not in b" ".join(args):
        return False  # a zombie (empty cmdline) or another program
    if data_dir is None or b"--storage-path" not in args:
        return True
    storage = os.fsdecode(args[args.index(b"--storage-path") + 1])
    try:
        return ((proc / "cwd").resolve() / storage).resolve() == data_dir.resolve()
    except OSError:
        return True


def running_pid(state_dir: str | os.PathLike[str]) -> int | None:
    """The pid of the background server of ``state_dir`` if it is running."""
    state = Path(state_dir)
    pid = _read_int(state / PID_FILE)
    return pid if pid is not None and _is_server_process(pid, state / DATA_DIR) else None


def state_uri(state_dir: str | os.PathLike[str]) -> str | None:
    """The URI of the background server of ``state_dir`` (from its port file), if it has one."""
    port = _read_int(Path(state_dir) / PORT_FILE)
    return uri_for(port) if port else None


@contextmanager
def _state_lock(state: Path, timeout: float) -> Iterator[None]:
    """Hold the OS lock of ``state`` (``flock`` on its lock file; released if the holder dies)."""
    state.mkdir(parents=True, exist_ok=True)
    with open(state / LOCK_FILE, "a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LocalServerError(
                        f"Another process has held {state / LOCK_FILE} for over {timeout:.0f}s while "
                        f"starting or stopping the embedded MongoDB server of {state}. If it hangs, "
                        "stop it (`make mongo-stop`, or `python -m forecast_assets.mongo.embedded_server "
                        f"stop --state-dir {state}`) and rerun."
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def start_background(state_dir: str | os.PathLike[str], port: int = 0, timeout: float = 30.0) -> tuple[str, bool]:
    """Start the background server of ``state_dir`` unless it runs; returns ``(uri, started)``.

    Safe to call from several processes at once: under the state folder's lock, the first starts
    the server and writes its pid and port, the others then find it answering and reuse it. A pid
    file naming a dead process (a crash) is ignored and a fresh server started on the same data.
    """
    state = Path(state_dir)
    with _state_lock(state, timeout + 30.0):
        pid = running_pid(state)
        uri = state_uri(state)
        if pid is not None and uri and ping(uri, timeout_ms=ALIVE_PING_MS):
            return uri, False
        if pid is not None:  # alive but not answering: replace it
            _stop(state, pid, 10.0)
        if not port:  # the previous port keeps MONGO_URI stable, unless something else took it
            previous = _read_int(state / PORT_FILE)
            port = previous if previous and not port_in_use(previous) else 0
        server = LocalMongoServer(
            state / DATA_DIR, port=port, startup_timeout=timeout, log_path=state / LOG_FILE, detach=True
        )
        server.start()
        (state / PORT_FILE).write_text(f"{server.port}\n")
        (state / PID_FILE).write_text(f"{server.pid}\n")
        server._cleanup()  # close our log handle; the detached server keeps its own
        return server.uri, True


def _stop(state: Path, pid: int | None, timeout: float) -> bool:
    """Stop ``pid`` (or the server answering on the state's port) and forget it; caller holds the lock."""
    uri = state_uri(state)
    if pid is None and uri and ping(uri):  # pid file lost: ask the server on our port who it is
        answered = server_pid(uri)
        pid = answered if answered is not None and _is_server_process(answered, state / DATA_DIR) else None
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        if not _wait_gone(pid, timeout):
            os.kill(pid, signal.SIGKILL)
            # SIGKILL is delivered asynchronously: "stopped" must mean gone, or the next start races it
            if not _wait_gone(pid, timeout):
                raise LocalServerError(f"{COMMAND} (pid {pid}, state {state}) survived SIGKILL for {timeout}s")
    (state / PID_FILE).unlink(missing_ok=True)
    return pid is not None


def _wait_gone(pid: int, timeout: float) -> bool:
    """Wait until ``pid`` is no longer a running server process; whether it went within ``timeout``."""
    deadline = time.monotonic() + timeout
    while _is_server_process(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def stop_background(state_dir: str | os.PathLike[str], timeout: float = 10.0) -> bool:
    """Stop the background server of ``state_dir`` (SIGTERM, then SIGKILL); whether one was running."""
    state = Path(state_dir)
    if not state.is_dir():
        return False
    with _state_lock(state, timeout + 30.0):
        return _stop(state, running_pid(state), timeout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m forecast_assets.mongo.embedded_server", description=__doc__.splitlines()[0]
    )
    parser.add_argument("action", choices=["start", "stop", "status", "uri"])
    parser.add_argument(
        "--state-dir", default=".forecast/mongo", help="data, log, pid and port files (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=0, help="port for start (default: the previous one, else a free one)"
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for start/stop")
    args = parser.parse_args(argv)
    state = Path(args.state_dir)
    try:
        if args.action == "start":
            uri, started = start_background(state, port=args.port, timeout=args.timeout)
            print(f"{'started' if started else 'already running'}: {uri} (pid {running_pid(state)}, state {state})")
        elif args.action == "stop":
            print("stopped" if stop_background(state, timeout=args.timeout) else "not running")
        elif args.action == "status":
            pid, uri = running_pid(state), state_uri(state)
            if pid is None:
                print(f"not running (state {state})")
                return 1
            port = uri.rsplit(":", 1)[1].strip("/") if uri else "?"
            print(f"running: pid {pid} port {port} {uri} answering={ping(uri) if uri else False}")
        else:
            uri = state_uri(state)
            if uri is None:
                print(f"no server state in {state}", file=sys.stderr)
                return 1
            print(uri)
    except LocalServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
