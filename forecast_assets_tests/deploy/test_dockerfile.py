"""The image, as far as it can be checked without a Docker engine.

The Dockerfile is parsed for the properties the deployment relies on; the commands the ECS task
definitions run in the image (docs/deploy_ecs.md) are run from this virtualenv, which is installed
from the same pyproject.toml; the code-location server is started for real and pinged.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/forecast-assets:test"


def dockerfile_instructions(path: Path = REPO / "Dockerfile") -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` pairs, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        pending += " " + line[:-1] if line.endswith("\\") else " " + line
        if not line.endswith("\\"):
            keyword, _, args = pending.strip().partition(" ")
            instructions.append((keyword.upper(), args.strip()))
            pending = ""
    return instructions


def pip_installs(instructions: list[tuple[str, str]]) -> list[tuple[int, list[str]]]:
    """``(instruction index, pip install arguments)`` of every ``pip install`` in a RUN."""
    found = []
    for index, (keyword, args) in enumerate(instructions):
        if keyword != "RUN":
            continue
        for command in re.split(r"&&|;", args):
            words = shlex.split(command)
            if words[:2] == ["pip", "install"] or words[1:3] == ["-m", "pip"] and "install" in words:
                found.append((index, [w for w in words[words.index("install") + 1 :]]))
    return found


def test_dockerfile_is_slim_non_root_cached_and_overridable():
    instructions = dockerfile_instructions()
    keywords = [k for k, _ in instructions]

    [base] = [args for k, args in instructions if k == "FROM"]
    assert re.fullmatch(r"python:3\.11-slim(@sha256:[0-9a-f]{64})?", base.split()[0]), base

    users = [args for k, args in instructions if k == "USER"]
    assert users and users[-1] not in {"root", "0", "0:0"}, "the image must end as a non-root user"

    # CMD, not ENTRYPOINT: the task definitions and the run launcher replace the command.
    assert "ENTRYPOINT" not in keywords
    [cmd] = [args for k, args in instructions if k == "CMD"]
    cmd = json.loads(cmd)  # exec form: no shell between ECS and the process (signals reach it)
    assert cmd[0] == "dagster-webserver" and cmd[-2:] == ["-w", "workspace.yaml"]

    # Dependencies first: only pyproject.toml and its lock are copied before the first pip install,
    # the source after it, so a code change does not reinstall dependencies.
    copies = [(i, args.split()) for i, (k, args) in enumerate(instructions) if k == "COPY"]
    installs = [(i, a) for i, a in pip_installs(instructions) if "." in a]
    first_install = installs[0][0]
    copied_before = [src for i, args in copies if i < first_install for src in args[:-1]]
    assert copied_before == ["pyproject.toml", "requirements.lock"]
    source_copy = next(i for i, args in copies if args[0] == "forecast_assets")
    assert first_install < source_copy < installs[-1][0]


def test_image_installs_the_package_as_the_makefile_does_without_test_or_local_extras():
    makefile = (REPO / "Makefile").read_text()
    [make_install] = re.findall(r"pip install [^\n]*-e \"\.\[([a-z,]+)\]\"", makefile)
    assert "test" in make_install.split(",")  # the Makefile installs extras for development...

    installs = [args for _, args in pip_installs(dockerfile_instructions())]
    package_installs = [a for a in installs if any(w == "." or w.startswith(".[") for w in a)]
    assert package_installs, "the image must pip install the package from its pyproject.toml"
    for args in package_installs:
        # ...the image installs the same package, plain: no test tools, no GPL embedded MongoDB.
        assert "." in args and not any(w.startswith(".[") for w in args), args
        assert "-e" not in args
    text = (REPO / "Dockerfile").read_text()
    assert "secantusdb" not in text.lower() and "[test" not in text and "[local" not in text


@pytest.mark.parametrize(
    "command",
    [
        ["dagster-webserver", "--help"],
        ["dagster-daemon", "--help"],
        ["dagster-daemon", "run", "--help"],
        ["dagster", "api", "grpc", "--help"],
        ["dagster", "api", "execute_run", "--help"],
    ],
    ids=lambda c: " ".join(c),
)
def test_image_commands_exist_and_start(command):
    executable = BIN / command[0]
    assert executable.is_file(), f"{command[0]} not installed next to {sys.executable}"
    result = subprocess.run([str(executable), *command[1:]], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Usage:" in result.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.integration
def test_code_location_server_serves_the_project_with_the_current_image(tmp_path):
    """`dagster api grpc -m forecast_assets.definitions` (the code-location task's command) serves."""
    from dagster._grpc.client import DagsterGrpcClient
    from dagster._grpc.types import ListRepositoriesResponse
    from dagster._serdes import deserialize_value

    port = _free_port()
    env = {
        **os.environ,
        "FORECAST_ENV": "production",  # as the image's ENV sets it
        "DAGSTER_CURRENT_IMAGE": IMAGE,
        "DAGSTER_HOME": str(tmp_path),
    }
    log = tmp_path / "code_server.log"
    server = subprocess.Popen(
        [str(BIN / "dagster"), "api", "grpc", "-m", "forecast_assets.definitions", "-h", "127.0.0.1", "-p", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            check = subprocess.run(
                [str(BIN / "dagster"), "api", "grpc-health-check", "-h", "127.0.0.1", "-p", str(port)],
                capture_output=True,
                text=True,
                timeout=30,
            )
            if check.returncode == 0:
                break
            assert server.poll() is None, f"code server exited: {log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"no health check answer: {check.stdout}{check.stderr}"
            time.sleep(0.5)

        # The code server reports the image runs must use: what EcsRunLauncher puts in the run origin.
        metadata = deserialize_value(
            DagsterGrpcClient(port=port, host="127.0.0.1").list_repositories(), ListRepositoriesResponse
        )
        assert metadata.container_image == IMAGE
        assert [symbol.repository_name for symbol in metadata.repository_symbols] == ["__repository__"]
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.mark.integration
def test_workspace_yaml_loads_the_code_location(tmp_path):
    """What the webserver and daemon load (`-w workspace.yaml`): one location, the pipeline job."""
    from dagster import DagsterInstance
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget

    # A local instance in a temporary folder (the ephemeral one cannot start a code server).
    with DagsterInstance.local_temp(tempdir=str(tmp_path)) as instance:
        with WorkspaceProcessContext(instance, WorkspaceFileTarget(paths=[str(REPO / "workspace.yaml")])) as ctx:
            request = ctx.create_request_context()
            entries = request.get_code_location_entries()
            assert list(entries) == ["forecast_assets"]
            assert entries["forecast_assets"].load_error is None, entries["forecast_assets"].load_error
            repository = request.get_code_location("forecast_assets").get_repository("__repository__")
            assert repository.has_job("weather_pipeline")
