"""The production instance (dagster.yaml) launches a run as an ECS task, and that task's command runs it.

Everything AWS is moto, served over HTTP by the session's ``moto_server``: ECS (cluster, the
``forecast-run`` task definition, RunTask), EC2 (subnets, the run tasks' security group), Secrets
Manager (the run task's secrets) and S3 (the staging zone). The launcher's boto3 clients find it
through the ``AWS_ENDPOINT_URL`` environment variable, as botocore documents it; nothing is patched.

The instance is the repo's dagster.yaml, rendered as the daemon's container renders it (``${…}`` in
the network configuration expanded) with one change: its ``storage`` section is replaced by SQLite
in the temporary DAGSTER_HOME, as no Postgres server runs here. The launcher, run coordinator, pools
and run monitoring sections are used verbatim.

The run is created the way the webserver creates it (GraphQL ``launchPipelineExecution`` against the
code location of workspace.yaml, served by a real gRPC code server), queued, then dequeued by one
iteration of the daemon's queued-run coordinator, which calls EcsRunLauncher. moto does not run
containers, so the test plays the ECS agent: it takes the task definition's environment, resolves its
secrets from Secrets Manager, and runs the container override's command in a subprocess.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pytest
import yaml
from pymongo import MongoClient

from forecast_assets.mongo.embedded_server import LocalMongoServer
from forecast_assets.sample_data import INFOCLIMAT_RESPONSE

REPO = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"  # moto's fake account
REGION = "us-east-1"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/forecast-assets:test"
PARTITION = "2024-10-05"
DAY = "051024"
LOGS_PREFIX = "dagster/compute-logs"
#: ECS limits a RunTask request's overrides to 8192 characters.
ECS_OVERRIDES_LIMIT = 8192

LAUNCH = """
mutation($executionParams: ExecutionParams!) {
  launchPipelineExecution(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on PythonError { message stack }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
  }
}
"""


def render_instance_yaml(text: str) -> str:
    """What the webserver / daemon containers do at start: expand ``${NAME}`` from the environment."""
    return os.path.expandvars(text)


@pytest.fixture
def aws(moto_server, aws_test_credentials, monkeypatch):
    """boto3 clients of the test, and every boto3 client the code creates, talk to moto."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ENDPOINT_URL_ECS", moto_server)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # no session cached before the env was set
    return {name: boto3.client(name, region_name=REGION) for name in ("ecs", "ec2", "s3", "secretsmanager")}


@pytest.fixture
def ecs_deployment(aws, monkeypatch, tmp_path):
    """What the deployment creates before Dagster starts: network, cluster, secrets, run task definition."""
    ec2, ecs, secrets = aws["ec2"], aws["ecs"], aws["secretsmanager"]
    suffix = uuid.uuid4().hex[:8]
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    # DNS hostnames on, as the deployment needs them (EFS and RDS names); moto's awsvpc tasks need
    # them too (their ENI has a private DNS name only then).
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=az)["Subnet"]["SubnetId"]
        for cidr, az in (("10.20.1.0/24", "us-east-1a"), ("10.20.2.0/24", "us-east-1b"))
    ]
    run_sg = ec2.create_security_group(GroupName=f"forecast-runs-{suffix}", Description="Dagster run tasks", VpcId=vpc)[
        "GroupId"
    ]
    cluster = f"forecast-{suffix}"
    ecs.create_cluster(clusterName=cluster)

    bucket = f"forecast-staging-{suffix}"
    aws["s3"].create_bucket(Bucket=bucket)
    logs_bucket = f"forecast-logs-{suffix}"  # dagster.yaml's compute_logs (S3ComputeLogManager)
    aws["s3"].create_bucket(Bucket=logs_bucket)
    mongo = LocalMongoServer(tmp_path / "mongo").start()

    def secret(name: str, value: str) -> str:
        return secrets.create_secret(Name=f"forecast/{suffix}/{name}", SecretString=value)["ARN"]

    # The run task definition of docs/deploy_ecs.md. MONGO_USERNAME/MONGO_PASSWORD are left out: the
    # test's SecantusDB has no users; everything else is as in production.
    family = "forecast-run"
    task_definition = ecs.register_task_definition(
        family=family,
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="1024",
        memory="2048",
        taskRoleArn=f"arn:aws:iam::{ACCOUNT}:role/forecast-run-task",
        executionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/forecast-run-execution",
        containerDefinitions=[
            {
                "name": "run",
                "image": IMAGE,
                "essential": True,
                "memory": 2048,  # container-level too: moto's RunTask cannot size a task without it
                "environment": [
                    {"name": "FORECAST_ENV", "value": "production"},
                    {"name": "FORECAST_S3_BUCKET", "value": bucket},
                    {"name": "FORECAST_S3_PREFIX", "value": "forecast"},
                    {"name": "FORECAST_INFOCLIMAT_SOURCE", "value": "api"},
                    {"name": "DAGSTER_HOME", "value": "/opt/dagster/home"},
                    {"name": "DAGSTER_PG_HOST", "value": "forecast-dagster.example.invalid"},
                    {"name": "DAGSTER_COMPUTE_LOGS_BUCKET", "value": logs_bucket},
                    {"name": "DAGSTER_COMPUTE_LOGS_PREFIX", "value": LOGS_PREFIX},
                ],
                "secrets": [
                    {"name": "MONGO_URI", "valueFrom": secret("mongo-uri", mongo.uri)},
                    {"name": "INFOCLIMAT_TOKEN", "valueFrom": secret("infoclimat-token", "token-for-tests")},
                    {"name": "DAGSTER_PG_PASSWORD", "valueFrom": secret("dagster-pg-password", "pw-for-tests")},
                ],
            }
        ],
    )["taskDefinition"]

    # The daemon's environment (its task definition in docs/deploy_ecs.md).
    for name, value in {
        "DAGSTER_ECS_CLUSTER": cluster,
        "DAGSTER_ECS_RUN_TASK_DEFINITION": family,
        "DAGSTER_ECS_RUN_CONTAINER": "run",
        "DAGSTER_ECS_RUN_SUBNET_A": subnets[0],
        "DAGSTER_ECS_RUN_SUBNET_B": subnets[1],
        "DAGSTER_ECS_RUN_SECURITY_GROUP": run_sg,
        "DAGSTER_CURRENT_IMAGE": IMAGE,  # set on the code-location service: runs use its image
        # The code location loads the production resource set; no live API in tests.
        "FORECAST_ENV": "production",
        "FORECAST_S3_BUCKET": bucket,
        "FORECAST_INFOCLIMAT_SOURCE": str(INFOCLIMAT_RESPONSE),
        "MONGO_URI": mongo.uri,
        "DAGSTER_COMPUTE_LOGS_BUCKET": logs_bucket,
        "DAGSTER_COMPUTE_LOGS_PREFIX": LOGS_PREFIX,
    }.items():
        monkeypatch.setenv(name, value)
    try:
        yield {
            "cluster": cluster,
            "subnets": subnets,
            "security_group": run_sg,
            "bucket": bucket,
            "logs_bucket": logs_bucket,
            "task_definition": task_definition,
            "mongo": mongo,
        }
    finally:
        mongo.stop()


@pytest.fixture
def dagster_home(ecs_deployment, tmp_path, monkeypatch):
    """A DAGSTER_HOME holding the repo's production dagster.yaml, rendered, storage swapped for SQLite."""
    production = yaml.safe_load((REPO / "dagster.yaml").read_text())
    config = yaml.safe_load(render_instance_yaml((REPO / "dagster.yaml").read_text()))
    assert "${" not in json.dumps(config["run_launcher"]), "a ${VAR} of the network config was not rendered"
    assert set(config["storage"]) == {"postgres"}
    home = tmp_path / "dagster_home"
    home.mkdir()
    config["storage"] = {"sqlite": {"base_dir": str(home / "storage")}}
    (home / "dagster.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    for section in ("run_coordinator", "concurrency", "run_monitoring", "run_retries", "scheduler", "compute_logs"):
        assert config[section] == production[section]
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def run_task_container_env(aws, task_definition: dict, container: str) -> dict[str, str]:
    """The environment ECS gives the container: the task definition's env plus its resolved secrets."""
    [definition] = [c for c in task_definition["containerDefinitions"] if c["name"] == container]
    env = {e["name"]: e["value"] for e in definition.get("environment", [])}
    for item in definition.get("secrets", []):
        env[item["name"]] = aws["secretsmanager"].get_secret_value(SecretId=item["valueFrom"])["SecretString"]
    return env


@pytest.mark.integration
def test_production_instance_launches_a_partition_run_as_an_ecs_task_that_materializes_it(
    aws, ecs_deployment, dagster_home, moto_server, tmp_path
):
    from dagster import DagsterInstance, DagsterRunStatus
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget
    from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon
    from dagster_aws.ecs import EcsRunLauncher
    from dagster_graphql.test.utils import execute_dagster_graphql

    deployment = ecs_deployment
    with DagsterInstance.get() as instance:
        launcher = instance.run_launcher
        assert isinstance(launcher, EcsRunLauncher)
        # botocore honours AWS_ENDPOINT_URL(_ECS): the launcher's own clients talk to moto.
        assert launcher.ecs.meta.endpoint_url == moto_server
        assert launcher.secrets_manager.meta.endpoint_url == moto_server
        # The family was resolved to its revision when the instance loaded (the documented pitfall).
        assert launcher.task_definition == deployment["task_definition"]["taskDefinitionArn"]

        with WorkspaceProcessContext(instance, WorkspaceFileTarget(paths=[str(REPO / "workspace.yaml")])) as workspace:
            # Submitted as the webserver submits it: queued, not launched.
            result = execute_dagster_graphql(
                workspace.create_request_context(),
                LAUNCH,
                variables={
                    "executionParams": {
                        "selector": {
                            "repositoryLocationName": "forecast_assets",
                            "repositoryName": "__repository__",
                            "jobName": "weather_pipeline",
                        },
                        "runConfigData": {},
                        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": PARTITION}]},
                    }
                },
            )
            payload = result.data["launchPipelineExecution"]
            assert payload["__typename"] == "LaunchRunSuccess", payload
            run_id = payload["run"]["runId"]
            assert instance.get_run_by_id(run_id).status == DagsterRunStatus.QUEUED

            # One iteration of the daemon's queued-run coordinator: dequeue, EcsRunLauncher.launch_run.
            list(QueuedRunCoordinatorDaemon(interval_seconds=1).run_iteration(workspace))

        run = instance.get_run_by_id(run_id)
        assert run.status == DagsterRunStatus.STARTING, run.status
        assert run.job_code_origin.repository_origin.container_image == IMAGE

        # What moto received, read back through the ECS API.
        ecs = aws["ecs"]
        task_arns = ecs.list_tasks(cluster=deployment["cluster"])["taskArns"]
        assert task_arns == [run.tags["ecs/task_arn"]]
        [task] = ecs.describe_tasks(cluster=deployment["cluster"], tasks=task_arns, include=["TAGS"])["tasks"]
        assert task["taskDefinitionArn"] == deployment["task_definition"]["taskDefinitionArn"]
        assert task["clusterArn"].endswith(f":cluster/{deployment['cluster']}")
        assert run.tags["ecs/cluster"] == task["clusterArn"]
        assert task["launchType"] == "FARGATE"
        assert {"key": "dagster/run_id", "value": run_id} in task["tags"]
        assert {"key": "project", "value": "forecast"} in task["tags"]
        # awsvpc: moto attaches one ENI in the first subnet, with the run tasks' security group.
        [attachment] = task["attachments"]
        details = {d["name"]: d["value"] for d in attachment["details"]}
        assert details["subnetId"] == deployment["subnets"][0]
        [eni] = aws["ec2"].describe_network_interfaces(NetworkInterfaceIds=[details["networkInterfaceId"]])[
            "NetworkInterfaces"
        ]
        assert [g["GroupId"] for g in eni["Groups"]] == [deployment["security_group"]]

        overrides = task["overrides"]
        assert len(json.dumps(overrides)) < ECS_OVERRIDES_LIMIT
        [container] = overrides["containerOverrides"]
        assert container["name"] == "run"
        command = container["command"]
        assert command[:3] == ["dagster", "api", "execute_run"]
        # No environment or secrets in the override (ECS cannot take secrets there): they come from
        # the task definition. The instance ref in the command keeps `env:` markers, not values.
        assert "environment" not in container and "secrets" not in container
        assert "DAGSTER_ECS_CLUSTER" in command[3] and deployment["cluster"] not in command[3]
        assert "pw-for-tests" not in json.dumps(overrides)

        # Play the ECS agent: the task definition's environment and secrets, then the command.
        env = {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            **run_task_container_env(aws, deployment["task_definition"], "run"),
            # This machine, not the container: its DAGSTER_HOME, moto as S3, the sample response as the
            # API, dummy credentials standing for the task role.
            "DAGSTER_HOME": str(dagster_home),
            "FORECAST_S3_ENDPOINT_URL": moto_server,
            "FORECAST_INFOCLIMAT_SOURCE": str(INFOCLIMAT_RESPONSE),
            **{k: v for k, v in os.environ.items() if k.startswith("AWS_")},
        }
        assert env["MONGO_URI"] == deployment["mongo"].uri  # came from Secrets Manager
        worker = subprocess.run(
            [shutil.which(command[0], path=env["PATH"]), *command[1:]],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert worker.returncode == 0, worker.stderr[-4000:]

        run = instance.get_run_by_id(run_id)
        assert run.status == DagsterRunStatus.SUCCESS, worker.stderr[-4000:]

    keys = {o["Key"] for o in aws["s3"].list_objects_v2(Bucket=deployment["bucket"])["Contents"]}
    assert {
        f"forecast/raw/BE/{DAY}/IICHTE19.jsonl",
        f"forecast/raw/FR/{DAY}/ILAMAD25.jsonl",
        f"forecast/raw/InfoClimat/{DAY}/infoclimat.jsonl",
        f"forecast/Transform/{DAY}/weather_data.jsonl",
        f"forecast/Transform/{DAY}/weather_data.quality.json",
    } <= keys
    # The run task uploaded its steps' stdout/stderr (dagster.yaml's S3 compute logs) to the logs bucket.
    log_keys = [
        o["Key"]
        for o in aws["s3"].list_objects_v2(Bucket=deployment["logs_bucket"], Prefix=f"{LOGS_PREFIX}/storage/{run_id}/")[
            "Contents"
        ]
    ]
    # (Steps log to stderr; stdout is empty and skip_empty_files leaves it out.)
    err_keys = [k for k in log_keys if k.endswith(".err")]
    assert err_keys and not [k for k in log_keys if k.endswith(".partial")], log_keys
    logged = "".join(
        aws["s3"].get_object(Bucket=deployment["logs_bucket"], Key=k)["Body"].read().decode() for k in err_keys
    )
    assert "weather_data" in logged, logged[:2000]
    with MongoClient(deployment["mongo"].uri) as client:
        stations = client.weather_db.weather_measurements.distinct("station_id")
        assert client.weather_db.weather_measurements.count_documents({}) > 0
    assert {"IICHTE19", "ILAMAD25"} <= set(stations)
