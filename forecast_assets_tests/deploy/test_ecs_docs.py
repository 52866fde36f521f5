"""The ECS JSON of docs/deploy_ecs.md is valid: registered and created against moto's ECS API.

Every block tagged ``<!-- ecs:register_task_definition -->`` / ``<!-- ecs:create_service -->`` is
parsed, its placeholders filled with moto resources, and sent through boto3 (whose parameter
validation is the AWS API model's: an unknown key or a wrong type fails) to the moto server; what ECS
stores is read back. The documented gRPC health-check command is run against a real code server.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ParamValidationError

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "deploy_ecs.md"
ACCOUNT, REGION = "123456789012", "us-east-1"
BLOCK = re.compile(r"<!-- ecs:(?P<kind>[a-z_]+)(?: (?P<name>[\w-]+))? -->\n```json\n(?P<body>.*?)\n```", re.S)


def documented(kind: str) -> list[tuple[str | None, str]]:
    """(name, JSON text) of the doc's blocks of one kind."""
    return [(m["name"], m["body"]) for m in BLOCK.finditer(DOC.read_text()) if m["kind"] == kind]


@pytest.fixture
def ecs_env(moto_server, aws_test_credentials, monkeypatch):
    """A cluster, VPC, subnets and security groups on moto; the doc's placeholders mapped onto them."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    ec2, ecs = boto3.client("ec2", region_name=REGION), boto3.client("ecs", region_name=REGION)
    suffix = uuid.uuid4().hex[:8]
    vpc = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=c)["Subnet"]["SubnetId"] for c in ("10.30.1.0/24", "10.30.2.0/24")
    ]
    groups = {
        name: ec2.create_security_group(GroupName=f"{name}-{suffix}", Description=name, VpcId=vpc)["GroupId"]
        for name in ("sg-code", "sg-daemon", "sg-webserver")
    }
    cluster = f"forecast-{suffix}"
    ecs.create_cluster(clusterName=cluster)
    values = {
        "<account-id>": ACCOUNT,
        "<region>": REGION,
        "<git-sha>": "test",
        "<bucket>": f"staging-{suffix}",
        "<prefix>": "forecast",
        "<logs-bucket>": f"logs-{suffix}",
        "<id>": suffix,
        "<subnet-a>": subnets[0],
        "<subnet-b>": subnets[1],
        **{f'"{k}"': f'"{v}"' for k, v in groups.items()},
        '"cluster": "forecast"': f'"cluster": "{cluster}"',
    }

    def fill(text: str) -> dict:
        for placeholder, value in values.items():
            text = text.replace(placeholder, value)
        assert "<" not in text, f"unfilled placeholder in {text[:200]}"
        return json.loads(text)

    return {"ecs": ecs, "cluster": cluster, "fill": fill}


def test_documented_task_definitions_register_with_their_health_checks(ecs_env) -> None:
    ecs, fill = ecs_env["ecs"], ecs_env["fill"]
    blocks = {fill(body)["family"]: fill(body) for _, body in documented("register_task_definition")}
    assert set(blocks) == {"forecast-code", "forecast-run"}
    # The webserver's documented container check, on a webserver container of the code definition's shape.
    [(name, check_text)] = documented("container_health_check")
    assert name == "forecast-webserver"
    webserver = json.loads(json.dumps(blocks["forecast-code"]))
    webserver["family"] = "forecast-webserver"
    container = webserver["containerDefinitions"][0]
    container.update(
        name="webserver",
        portMappings=[{"containerPort": 3000, "protocol": "tcp"}],
        command=["dagster-webserver", "-h", "0.0.0.0", "-p", "3000", "-w", "workspace.yaml"],
        **fill("{" + check_text + "}"),
    )
    blocks["forecast-webserver"] = webserver
    for family, block in blocks.items():
        arn = ecs.register_task_definition(**block)["taskDefinition"]["taskDefinitionArn"]
        stored = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
        assert stored["family"] == family and stored["requiresCompatibilities"] == ["FARGATE"]
        assert stored["containerDefinitions"][0].get("healthCheck") == block["containerDefinitions"][0].get(
            "healthCheck"
        )
    code_check = blocks["forecast-code"]["containerDefinitions"][0]["healthCheck"]["command"]
    assert code_check == ["CMD", "dagster", "api", "grpc-health-check", "-p", "4000"]
    assert "/server_info" in " ".join(container["healthCheck"]["command"])
    # Every task that loads the instance has the compute-log variables dagster.yaml reads.
    for family in ("forecast-code", "forecast-run"):
        names = {e["name"] for e in blocks[family]["containerDefinitions"][0]["environment"]}
        assert {"DAGSTER_COMPUTE_LOGS_BUCKET", "DAGSTER_COMPUTE_LOGS_PREFIX"} <= names, family


def test_documented_services_are_created_with_their_rolling_settings(ecs_env) -> None:
    """moto 5.2 stores no deploymentConfiguration: what is checked is that the AWS API model (botocore's
    validation, shown to be active below) accepts the documented one, and its values."""
    ecs, fill = ecs_env["ecs"], ecs_env["fill"]
    code = next(fill(body) for _, body in documented("register_task_definition") if '"forecast-code"' in body)
    ecs.register_task_definition(**code)
    ecs.register_task_definition(**{**code, "family": "forecast-daemon"})
    blocks = {fill(body)["serviceName"]: fill(body) for _, body in documented("create_service")}
    assert set(blocks) == {"forecast-code", "forecast-daemon"}
    for name, block in blocks.items():
        created = ecs.create_service(**block)["service"]
        assert created["serviceName"] == name and created["desiredCount"] == 1
        assert created["taskDefinition"].split("/")[-1].startswith(f"{block['taskDefinition']}:")
    described = ecs.describe_services(cluster=ecs_env["cluster"], services=list(blocks))["services"]
    assert sorted(s["serviceName"] for s in described) == sorted(blocks)
    code_deploy = blocks["forecast-code"]["deploymentConfiguration"]
    assert (code_deploy["minimumHealthyPercent"], code_deploy["maximumPercent"]) == (100, 200)  # rolls
    assert code_deploy["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    daemon_deploy = blocks["forecast-daemon"]["deploymentConfiguration"]
    assert (daemon_deploy["minimumHealthyPercent"], daemon_deploy["maximumPercent"]) == (0, 100)  # never two
    # The validation is real: a misspelled circuit-breaker key is refused before any request.
    broken = json.loads(json.dumps(blocks["forecast-code"]))
    broken["serviceName"] = "forecast-code-broken"
    broken["deploymentConfiguration"]["deploymentCircuitBreaker"] = {"enabled": True, "rollback": True}
    with pytest.raises(ParamValidationError, match="enabled"):
        ecs.create_service(**broken)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.integration
def test_the_documented_grpc_health_check_passes_on_a_live_code_server_and_fails_without_one(tmp_path) -> None:
    text = next(body for _, body in documented("register_task_definition") if '"forecast-code"' in body)
    code = json.loads(text.replace("<", "").replace(">", ""))
    [container] = code["containerDefinitions"]
    port = str(_free_port())
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "FORECAST_ENV": "local",
        "DAGSTER_HOME": str(tmp_path),
    }
    server_cmd = [port if part == "4000" else part for part in container["command"]]
    check_cmd = [port if part == "4000" else part for part in container["healthCheck"]["command"][1:]]
    check_cmd[0] = shutil.which(check_cmd[0], path=env["PATH"])
    # Nothing listening yet: the check fails (ECS counts it as unhealthy).
    assert subprocess.run(check_cmd, env=env, capture_output=True, timeout=60).returncode != 0
    # the server's stderr goes to a file: a pipe nobody reads fills up and blocks the server mid-write
    server_log = tmp_path / "code-server.log"
    with server_log.open("wb") as log:
        server = subprocess.Popen(
            [shutil.which(server_cmd[0], path=env["PATH"]), *server_cmd[1:]],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        deadline = time.monotonic() + 120  # the documented startPeriod
        while True:
            result = subprocess.run(check_cmd, env=env, capture_output=True, text=True, timeout=60)
            if result.returncode == 0:
                break
            assert server.poll() is None, server_log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, (
                f"code server not healthy within startPeriod: {result.stderr[-2000:]}\n"
                f"server log: {server_log.read_text(errors='replace')[-2000:]}"
            )
            time.sleep(1)  # polling an external process's readiness, as ECS's interval does
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()  # never leave a code server behind
            server.wait(timeout=30)
