"""The least-privilege IAM policies of docs/deploy_ecs.md, enforced by moto's IAM access control.

A ``moto_server`` subprocess (a real HTTP server on 127.0.0.1) is started with
``INITIAL_NO_AUTH_ACTION_COUNT=<n>``: the first n requests of the module's setup (buckets, topics, a
VPC, the ECS cluster and ``forecast-run`` task definition, one IAM user per policy with the docs'
JSON rendered with this module's names as inline policy, access keys) are not authenticated. Every
later request is signature-checked against the IAM user's secret key and authorised by moto against
that user's policies. The policies are read from the docs on every run, never copied here.

What moto 5.2 enforces, read in ``moto/core/authorization.py`` and ``moto/iam/access_control.py``,
and confirmed by the tests below:

* Authentication: unknown access key -> ``InvalidAccessKeyId`` / ``InvalidClientTokenId``; wrong
  secret -> ``SignatureDoesNotMatch``.
* Allow / explicit Deny / implicit deny over the **Action** element (``*`` wildcards) for every
  service served through ``BaseResponse.call_action`` (SNS, ECS, IAM, STS, ...) and for S3.
* The **Resource** element only where moto computes the request's resource: S3 (bucket ARN, or
  ``bucket/key`` ARN for object requests), SQS (queue ARN), IAM (role ARN). For SNS and ECS the
  resource is always ``"*"``, which no statement scoped to an ARN matches: moto denies
  ``sns:Publish`` to the alerts topic (code-location task role) and ``ecs:RunTask`` of
  ``forecast-run`` (webserver/daemon role) even though the docs' policies allow them (:func:`test_moto_server_cannot_scope_sns_and_ecs_resources`). Those resource
  scopes are checked with moto's policy engine (``IAMPolicy``) given the ARN AWS would evaluate, and
  the Action part of those statements on the server with the statement's Resource widened to ``*``.
* **Conditions are not evaluated** for identity policies: no request context is passed, so every
  condition counts as met (``StringEquals`` with no value, and any unsupported operator such as
  ``StringLike``, ``StringNotEquals``, ``ArnEquals``). Only ``sts:ExternalId`` in role trust policies is.
* Bucket policies: only for object requests, only Action/Resource/``Principal: "*"``, conditions
  ignored as above, so the docs' ``DenyUnencryptedPuts`` is an *unconditional* deny in moto
  (:func:`test_moto_cannot_evaluate_the_bucket_policy_sse_condition`).
* ``iam:PassRole`` is never checked implicitly (moto's RunTask does not ask IAM), nor is any other
  action a request implies (``ecs:TagResource`` for RunTask tags).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.iam.access_control import IAMPolicy, PermissionResult

from forecast_assets.operations.alerts import CHECK_FAILED, Alert, AlertDeliveryError, SnsAlertSink
from forecast_assets.resources import production_resources
from forecast_assets.staging import S3StagingZone, StagingZoneError

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "deploy_ecs.md"
ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
SUFFIX = uuid.uuid4().hex[:8]
BUCKET = f"forecast-staging-{SUFFIX}"
OTHER_BUCKET = f"other-team-{SUFFIX}"
PROBE_BUCKET = f"forecast-sse-probe-{SUFFIX}"  # carries the docs' bucket policy
PREFIX = "forecast/staging"
LOGS_BUCKET = f"forecast-dagster-logs-{SUFFIX}"  # S3 compute logs (docs: `<logs-bucket>`)
ALERTS_TOPIC = "forecast-alerts"  # a literal name in the docs, not a placeholder
OTHER_TOPIC = f"other-topic-{SUFFIX}"
CLUSTER = "forecast"  # literal in the docs' ARNs
RUN_FAMILY = "forecast-run"
ALERTS_TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:{ALERTS_TOPIC}"
OTHER_TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:{OTHER_TOPIC}"

#: Actions that support no resource-level permission, the only ones allowed ``"Resource": "*"``.
UNSCOPABLE_ACTIONS = {"ecr:GetAuthorizationToken", "ecs:DescribeTaskDefinition"}

#: What EcsRunLauncher (dagster-aws, configured as in dagster.yaml) calls or implies, per source
#: (:func:`test_the_launcher_calls_no_other_ecs_api`).
LAUNCHER_CALLS = {
    "ecs:DescribeTaskDefinition",  # once, when the instance loads
    "ecs:RunTask",
    "ecs:TagResource",  # run_ecs_tags / run tags on RunTask
    "iam:PassRole",  # the run task definition's task and execution roles
    "ecs:DescribeTasks",  # run worker health, debug info
    "ecs:StopTask",  # terminate (webserver)
    "logs:GetLogEvents",  # failed run's task logs
}


# --------------------------------------------------------------------------------------------------
# The docs' JSON blocks
# --------------------------------------------------------------------------------------------------

JSON_BLOCK = re.compile(r"```json\n(.*?)\n```", re.S)


def _placeholders(bucket: str = BUCKET) -> dict[str, str]:
    return {
        "<region>": REGION,
        "<account-id>": ACCOUNT,
        "<bucket>": bucket,
        "<prefix>": PREFIX,
        "<logs-bucket>": LOGS_BUCKET,
    }


def _render(raw: str, bucket: str = BUCKET) -> str:
    for placeholder, value in _placeholders(bucket).items():
        raw = raw.replace(placeholder, value)
    return raw


def _iam_section() -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("\n## IAM (least privilege)")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def _block(text: str, marker: str) -> tuple[str, str]:
    """(the paragraph before it, the raw JSON) of the single ```json block containing ``marker``."""
    found = [
        (" ".join(text[: m.start()].rstrip().rsplit("\n\n", 1)[-1].split()), m.group(1))
        for m in JSON_BLOCK.finditer(text)
        if marker in m.group(1)
    ]
    assert len(found) == 1, f"expected one JSON block with {marker!r} in {DOC.name}, found {len(found)}"
    return found[0]


def _policy(marker: str, heading: str, bucket: str = BUCKET) -> dict[str, Any]:
    before, raw = _block(_iam_section(), marker)
    assert heading in before, f"the block with {marker!r} is not introduced by {heading!r}: {before!r}"
    rendered = _render(raw, bucket)
    assert not re.search(r"<[a-z-]+>", rendered), f"placeholder left in the {heading} policy"
    return json.loads(rendered)


def dagster_role_policy() -> dict[str, Any]:
    """Task role ``forecast-dagster`` of the webserver and daemon (launches, watches, stops runs)."""
    return _policy('"Sid": "RunForecastTasks"', "`forecast-dagster`")


def run_execution_policy() -> dict[str, Any]:
    return _policy('"ecr:GetAuthorizationToken"', "`forecast-run-execution`")


def run_task_policy(bucket: str = BUCKET) -> dict[str, Any]:
    """Task role ``forecast-run-task``: the staging bucket, nothing else."""
    return _policy('"Sid": "StagingObjectsEncrypted"', "`forecast-run-task`", bucket)


def code_task_policy() -> dict[str, Any]:
    """Task role ``forecast-code-task`` of the code location: the alert sensors publish to the topic."""
    return _policy('"Sid": "Alerts"', "`forecast-code-task`")


def bucket_policy(bucket: str = BUCKET) -> dict[str, Any]:
    """The docs give one statement; as a bucket policy it is the only statement of the document."""
    before, raw = _block(_iam_section(), '"Sid": "DenyUnencryptedPuts"')
    assert "bucket policy" in before
    return {"Version": "2012-10-17", "Statement": [json.loads(_render(raw, bucket))]}


def run_task_definition() -> dict[str, Any]:
    _, raw = _block(DOC.read_text(encoding="utf-8"), f'"family": "{RUN_FAMILY}"')
    return json.loads(_render(raw))


def environment_listing() -> dict[str, tuple[set[str], list[str]]]:
    """The docs' variable table: each variable -> (the tasks that set it, the example cell's values)."""
    text = DOC.read_text(encoding="utf-8")
    start = text.index("\n## Instance variables")
    listing: dict[str, tuple[set[str], list[str]]] = {}
    for line in text[start : text.index("\n## ", start + 1)].splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[0].startswith("`"):
            continue
        for name in re.findall(r"`([A-Z0-9_]+)`", cells[0]):
            listing[name] = ({task.strip() for task in cells[1].split(",")}, re.findall(r"`([^`]+)`", cells[2]))
    return listing


def task_definition_row(family: str) -> str:
    """The row of ``family`` in the docs' task definition table."""
    (row,) = [line for line in DOC.read_text(encoding="utf-8").splitlines() if line.startswith(f"| `{family}` |")]
    return row


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statement(policy: dict[str, Any], sid: str) -> dict[str, Any]:
    return next(s for s in policy["Statement"] if s.get("Sid") == sid)


def widened(policy: dict[str, Any], services: set[str] | None = None) -> dict[str, Any]:
    """``policy`` with ``Resource: "*"`` in the statements whose actions belong to ``services`` (all if None).

    Only to exercise the Action element on the server for services moto cannot scope by resource.
    """
    policy = copy.deepcopy(policy)
    for stmt in policy["Statement"]:
        if services is None or {action.split(":")[0] for action in _as_list(stmt["Action"])} <= services:
            stmt["Resource"] = "*"
    return policy


def engine(policy: dict[str, Any], action: str, resource: str) -> PermissionResult:
    """moto's own policy evaluator on a resource ARN (conditions count as met: no request context)."""
    return IAMPolicy(json.dumps(policy)).is_action_permitted(action, resource)


# --------------------------------------------------------------------------------------------------
# The moto server and the module's AWS world
# --------------------------------------------------------------------------------------------------


@dataclass
class World:
    endpoint: str
    keys: dict[str, dict[str, str]] = field(default_factory=dict)  # user -> boto3 credential kwargs
    subnet: str = ""
    security_group: str = ""

    def client(self, service: str, user: str, **overrides: str) -> Any:
        creds = {**self.keys[user], **overrides}
        return boto3.session.Session(region_name=REGION, **creds).client(
            service, endpoint_url=self.endpoint, config=Config(retries={"total_max_attempts": 1})
        )


#: One IAM user per policy under test (inline policy = the docs' JSON, rendered).
USERS: dict[str, Callable[[], dict[str, Any]]] = {
    "run-task": run_task_policy,
    # Every statement's Resource widened to "*": an action it lacks, it lacks on any resource.
    "run-task-any-resource": lambda: widened(run_task_policy()),
    "code-task": code_task_policy,
    "code-task-sns-any-resource": lambda: widened(code_task_policy(), {"sns"}),
    "dagster": dagster_role_policy,
    "dagster-ecs-any-resource": lambda: widened(dagster_role_policy(), {"ecs"}),
    "sse-probe": lambda: run_task_policy(PROBE_BUCKET),
    # Test-only, to look behind the other users (did a denied write leave an object?).
    "admin": lambda: {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
}


def _setup_steps() -> list[Callable[[dict[str, Any], World], None]]:
    """Every setup request, one request per step, so the server knows n before it starts."""
    encrypted = {"ServerSideEncryption": "AES256"}
    td = run_task_definition()
    steps: list[Callable[[dict[str, Any], World], None]] = [
        lambda c, w: c["s3"].create_bucket(Bucket=BUCKET),
        lambda c, w: c["s3"].create_bucket(Bucket=OTHER_BUCKET),
        lambda c, w: c["s3"].put_object(Bucket=OTHER_BUCKET, Key=f"{PREFIX}/secret.jsonl", Body=b"{}\n", **encrypted),
        lambda c, w: c["s3"].put_object(Bucket=BUCKET, Key="outside/notes.txt", Body=b"not staging", **encrypted),
        lambda c, w: c["s3"].create_bucket(Bucket=PROBE_BUCKET),
        lambda c, w: c["s3"].put_bucket_policy(Bucket=PROBE_BUCKET, Policy=json.dumps(bucket_policy(PROBE_BUCKET))),
        lambda c, w: c["sns"].create_topic(Name=ALERTS_TOPIC),
        lambda c, w: c["sns"].create_topic(Name=OTHER_TOPIC),
        lambda c, w: c.__setitem__("vpc", c["ec2"].create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]),
        # moto's awsvpc tasks need DNS hostnames on (their ENI gets a private DNS name only then).
        lambda c, w: c["ec2"].modify_vpc_attribute(VpcId=c["vpc"], EnableDnsHostnames={"Value": True}),
        lambda c, w: setattr(
            w,
            "subnet",
            c["ec2"].create_subnet(VpcId=c["vpc"], CidrBlock="10.30.1.0/24", AvailabilityZone=f"{REGION}a")["Subnet"][
                "SubnetId"
            ],
        ),
        lambda c, w: setattr(
            w,
            "security_group",
            c["ec2"].create_security_group(
                GroupName=f"forecast-runs-{SUFFIX}", Description="run tasks", VpcId=c["vpc"]
            )["GroupId"],
        ),
        lambda c, w: c["ecs"].create_cluster(clusterName=CLUSTER),
        lambda c, w: c["ecs"].register_task_definition(
            family=td["family"],
            networkMode=td["networkMode"],
            requiresCompatibilities=td["requiresCompatibilities"],
            cpu=td["cpu"],
            memory=td["memory"],
            taskRoleArn=td["taskRoleArn"],
            executionRoleArn=td["executionRoleArn"],
            # container-level memory too: moto's RunTask cannot size a task without it
            containerDefinitions=[{"name": "run", "image": "forecast-assets:test", "memory": 2048}],
        ),
    ]
    for user, policy in USERS.items():
        steps += [
            lambda c, w, user=user: c["iam"].create_user(UserName=user),
            lambda c, w, user=user, policy=policy: c["iam"].put_user_policy(
                UserName=user, PolicyName="docs-policy", PolicyDocument=json.dumps(policy())
            ),
            lambda c, w, user=user: w.keys.__setitem__(
                user, _key_kwargs(c["iam"].create_access_key(UserName=user)["AccessKey"])
            ),
        ]
    return steps


def _key_kwargs(key: dict[str, str]) -> dict[str, str]:
    return {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A moto server that authenticates and authorises every request after the module's setup."""
    with pytest.MonkeyPatch.context() as mp:
        # Dummy credentials only, isolated from ~/.aws and from other tests' endpoints.
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        mp.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
        for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")] + [
            "AWS_SESSION_TOKEN",
            "AWS_SECURITY_TOKEN",
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
        ]:
            mp.delenv(name, raising=False)
        mp.setattr(boto3, "DEFAULT_SESSION", None)

        steps = _setup_steps()
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("MOTO_")}
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(len(steps))
        log = tmp_path_factory.mktemp("moto-iam") / "moto_server.log"
        with log.open("wb") as out:
            server = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        endpoint = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):  # /moto-api/ is not an AWS action: it does not use the no-auth budget
                assert server.poll() is None, log.read_text(errors="replace")
                try:
                    urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            else:
                raise AssertionError(f"moto_server did not start: {log.read_text(errors='replace')}")

            w = World(
                endpoint=endpoint, keys={"root": {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}}
            )
            sent: list[str] = []
            clients = {name: w.client(name, "root") for name in ("s3", "sns", "ec2", "ecs", "iam")}
            for client in clients.values():
                client.meta.events.register("before-send", lambda request, **_: sent.append(request.url))
            for step in steps:
                step(clients, w)
            assert len(sent) == len(steps), f"setup sent {len(sent)} requests, the no-auth budget is {len(steps)}"

            # The budget is spent: the dummy root credentials are now refused.
            with pytest.raises(ClientError) as refused:
                w.client("s3", "root").list_buckets()
            assert refused.value.response["Error"]["Code"] == "InvalidAccessKeyId"
            yield w
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


@pytest.fixture
def as_user(world: World, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Make boto3's default chain (used by S3StagingZone and SnsAlertSink) resolve to a user's keys."""

    def use(user: str) -> None:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", world.keys[user]["aws_access_key_id"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", world.keys[user]["aws_secret_access_key"])
        monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
        monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
        for name in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)

    return use


def zone(world: World, bucket: str = BUCKET) -> S3StagingZone:
    """The production staging zone (SSE AES256 default), pointed at the moto server."""
    return S3StagingZone(bucket=bucket, prefix=PREFIX, region_name=REGION, endpoint_url=world.endpoint)


def assert_access_denied(call: Callable[..., Any], *args: Any, **kwargs: Any) -> ClientError:
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    response = info.value.response
    # ECS (JSON protocol) gets moto's XML error body, which botocore leaves in Message.
    text = f"{response['Error'].get('Code', '')} {response['Error'].get('Message', '')}"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403, response
    assert "AccessDenied" in text, response
    return info.value


def assert_zone_denied(call: Callable[..., Any], *args: Any) -> None:
    with pytest.raises(StagingZoneError) as info:
        call(*args)
    cause = info.value.__cause__
    assert isinstance(cause, ClientError), info.value
    assert cause.response["ResponseMetadata"]["HTTPStatusCode"] == 403, info.value
    # A HEAD response has no body, hence no error code: botocore reports the status instead.
    assert cause.response["Error"]["Code"] in ("AccessDenied", "403"), info.value


def unique_key(name: str) -> str:
    return f"iam-{uuid.uuid4().hex[:8]}/{name}"


# --------------------------------------------------------------------------------------------------
# 1. The documents themselves
# --------------------------------------------------------------------------------------------------


def test_docs_policies_parse_and_grant_no_wildcard_actions() -> None:
    identity = {
        "forecast-dagster": dagster_role_policy(),
        "forecast-run-execution": run_execution_policy(),
        "forecast-run-task": run_task_policy(),
        "forecast-code-task": code_task_policy(),
    }
    star_resource_actions = set()
    for role, policy in identity.items():
        assert policy["Version"] == "2012-10-17", role
        for stmt in policy["Statement"]:
            assert stmt["Effect"] == "Allow", (role, stmt)
            assert not {"NotAction", "NotResource", "Principal"} & stmt.keys(), (role, stmt)
            actions, resources = _as_list(stmt["Action"]), _as_list(stmt["Resource"])
            for action in actions:
                # No "*", "s3:*", "sns:*", "ecs:*", nor any partial wildcard such as "s3:Get*".
                assert re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9]+", action), (role, action)
            if "*" in resources:
                assert resources == ["*"], (role, stmt)
                star_resource_actions |= set(actions)
                continue
            for action, resource in ((a, r) for a in actions for r in resources):
                service = action.split(":")[0]
                assert resource.startswith(f"arn:aws:{service}:"), (role, action, resource)
                if service != "s3":  # S3 ARNs carry neither region nor account
                    assert resource.startswith(f"arn:aws:{service}:{'' if service == 'iam' else REGION}:{ACCOUNT}:")
    # Resource "*" only where AWS offers no resource-level permission, and exactly these.
    assert star_resource_actions == UNSCOPABLE_ACTIONS

    # The bucket policy: one explicit deny of PutObject without SSE-S3, for every principal.
    (deny,) = bucket_policy()["Statement"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*" and deny["Action"] == "s3:PutObject"
    assert deny["Resource"] == f"arn:aws:s3:::{BUCKET}/*"
    assert deny["Condition"] == {"StringNotEquals": {"s3:x-amz-server-side-encryption": "AES256"}}


def test_run_task_policy_matches_the_staging_zone_and_the_run_task_definition() -> None:
    policy = run_task_policy()
    put = statement(policy, "StagingObjectsEncrypted")
    # The value the policy requires is the one the staging zone sends by default.
    assert put["Condition"] == {"StringEquals": {"s3:x-amz-server-side-encryption": "AES256"}}
    assert S3StagingZone.model_fields["server_side_encryption"].default == "AES256"
    object_statements = [s for s in policy["Statement"] if s["Sid"].startswith("StagingObjects")]
    for stmt in object_statements:
        assert _as_list(stmt["Resource"]) == [f"arn:aws:s3:::{BUCKET}/{PREFIX}/*"]
    # ListBucket on the staging bucket without condition: HeadObject/GetObject carry no s3:prefix, and
    # only a caller allowed to list gets 404 (not 403) for a missing key, i.e. exists() -> False.
    listing = statement(policy, "StagingList")
    assert listing["Resource"] == f"arn:aws:s3:::{BUCKET}"
    assert "Condition" not in listing
    # The run task publishes nothing: the alert sensors run in the code location.
    actions = {action for stmt in policy["Statement"] for action in _as_list(stmt["Action"])}
    assert {action.split(":")[0] for action in actions} == {"s3"}, actions

    # The launcher may pass exactly the two roles of the run task definition, to ECS tasks only.
    td = run_task_definition()
    pass_role = statement(dagster_role_policy(), "PassOnlyTheRunRoles")
    assert sorted(pass_role["Resource"]) == sorted([td["taskRoleArn"], td["executionRoleArn"]])
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}
    # The run task's staging environment is the bucket/prefix the policy is rendered for.
    env = {e["name"]: e["value"] for e in td["containerDefinitions"][0]["environment"]}
    assert (env["FORECAST_S3_BUCKET"], env["FORECAST_S3_PREFIX"]) == (BUCKET, PREFIX)


def test_code_task_policy_matches_the_alert_sink_and_the_code_location_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``forecast-code-task`` may publish to exactly the topic the code location's environment names."""
    (alerts,) = code_task_policy()["Statement"]
    assert alerts == {"Sid": "Alerts", "Effect": "Allow", "Action": "sns:Publish", "Resource": ALERTS_TOPIC_ARN}
    # The production resource set (FORECAST_ALERT_SINK unset: sns) reads the topic from this variable.
    monkeypatch.delenv("FORECAST_ALERT_SINK", raising=False)
    sink = production_resources()["alert_sink"]
    assert isinstance(sink, SnsAlertSink) and sink.topic_arn == "FORECAST_ALERT_SNS_TOPIC_ARN"
    # The docs set it on the code location, to the topic of the role's statement, and nowhere else.
    tasks, examples = environment_listing()["FORECAST_ALERT_SNS_TOPIC_ARN"]
    assert tasks == {"code location"}
    assert [_render(example) for example in examples] == [alerts["Resource"]]
    assert "`FORECAST_ALERT_SNS_TOPIC_ARN`" in task_definition_row("forecast-code")
    run_env = {e["name"] for e in run_task_definition()["containerDefinitions"][0]["environment"]}
    assert "FORECAST_ALERT_SNS_TOPIC_ARN" not in run_env


def test_execution_role_resolves_every_secret_of_the_run_task_definition() -> None:
    """Every ``valueFrom`` of ``forecast-run`` is readable with ``forecast-run-execution`` (moto's engine).

    Secrets Manager authorises the full secret ARN, which ends with ``-`` and 6 random characters.
    """
    policy = run_execution_policy()
    td = run_task_definition()
    for secret in td["containerDefinitions"][0]["secrets"]:
        arn = secret["valueFrom"]
        if ":secretsmanager:" in arn:
            action, resource = "secretsmanager:GetSecretValue", arn + "-AbC123"
        else:
            action, resource = "ssm:GetParameters", arn
        assert engine(policy, action, resource) == PermissionResult.PERMITTED, secret["name"]
    assert (
        engine(
            policy,
            "secretsmanager:GetSecretValue",
            f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:forecast/other-AbC123",
        )
        == PermissionResult.NEUTRAL
    )
    image_repo = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/forecast-assets"
    log_stream = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/forecast/dagster:log-stream:forecast-run/run/abc"
    for action, resource in (
        ("ecr:GetAuthorizationToken", "*"),
        ("ecr:BatchGetImage", image_repo),
        ("ecr:GetDownloadUrlForLayer", image_repo),
        ("logs:CreateLogStream", log_stream),
        ("logs:PutLogEvents", log_stream),
    ):
        assert engine(policy, action, resource) == PermissionResult.PERMITTED, action
    other_repo = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/other"
    assert engine(policy, "ecr:BatchGetImage", other_repo) == PermissionResult.NEUTRAL


# --------------------------------------------------------------------------------------------------
# 2. Run task role, on the server
# --------------------------------------------------------------------------------------------------


def test_server_authenticates_as_the_iam_user(world: World) -> None:
    identity = world.client("sts", "run-task").get_caller_identity()  # moto always allows this call
    assert identity["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/run-task"
    bad_secret = world.client("s3", "run-task", aws_secret_access_key="not-the-secret")
    with pytest.raises(ClientError) as info:
        bad_secret.get_object(Bucket=BUCKET, Key=f"{PREFIX}/anything")
    assert info.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


def test_run_task_role_reads_and_writes_the_staging_prefix(world: World, as_user) -> None:
    as_user("run-task")
    staging = zone(world)
    base = unique_key("")
    records = [{"station": "IICHTE19", "t": 12.5}, {"station": "ILAMAD25", "t": 9.0}]
    assert staging.write_jsonl(f"{base}raw.jsonl", records) == f"s3://{BUCKET}/{PREFIX}/{base}raw.jsonl"
    staging.write_json(f"{base}summary.json", {"rows": 2})
    assert staging.read_jsonl(f"{base}raw.jsonl") == records  # GetObject
    assert staging.exists(f"{base}summary.json")  # HeadObject = s3:GetObject
    assert staging.list_keys(base) == [f"{base}raw.jsonl", f"{base}summary.json"]  # ListBucket
    staging.delete(f"{base}summary.json")  # DeleteObject
    assert staging.list_keys(base) == [f"{base}raw.jsonl"]
    # A missing key: 404, hence False / FileNotFoundError (on AWS because the role may ListBucket).
    assert not staging.exists(f"{base}summary.json")
    assert not staging.exists(unique_key("rejects.jsonl"))
    with pytest.raises(FileNotFoundError):
        staging.read_bytes(f"{base}summary.json")
    # ListBucket is the whole staging bucket's: key names outside the prefix, not their contents.
    s3 = world.client("s3", "run-task")
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="outside/")
    assert [o["Key"] for o in listed["Contents"]] == ["outside/notes.txt"]
    assert_access_denied(s3.get_object, Bucket=BUCKET, Key="outside/notes.txt")


def test_run_task_role_is_denied_outside_the_staging_prefix(world: World, as_user) -> None:
    as_user("run-task")
    other = zone(world, OTHER_BUCKET)  # same prefix, another bucket
    key = unique_key("x.jsonl")
    assert_zone_denied(other.write_bytes, key, b"{}\n")
    assert_zone_denied(other.read_bytes, "secret.jsonl")  # exists there: denied, not "not found"
    assert_zone_denied(other.exists, "secret.jsonl")
    assert_zone_denied(other.delete, "secret.jsonl")
    assert_zone_denied(other.list_keys)

    s3 = world.client("s3", "run-task")
    sse = {"ServerSideEncryption": "AES256"}
    assert_access_denied(s3.put_object, Bucket=OTHER_BUCKET, Key=f"{PREFIX}/{key}", Body=b"x", **sse)
    assert_access_denied(s3.get_object, Bucket=OTHER_BUCKET, Key=f"{PREFIX}/secret.jsonl")
    # The staging bucket, outside the prefix.
    assert_access_denied(s3.put_object, Bucket=BUCKET, Key=f"outside/{key}", Body=b"x", **sse)
    assert_access_denied(s3.get_object, Bucket=BUCKET, Key="outside/notes.txt")
    assert_access_denied(s3.delete_object, Bucket=BUCKET, Key="outside/notes.txt")
    assert_access_denied(s3.put_object, Bucket=BUCKET, Key=f"{PREFIX}-evil/{key}", Body=b"x", **sse)
    # Actions the policy does not grant, on the staging bucket itself.
    assert_access_denied(s3.delete_bucket, Bucket=BUCKET)
    assert_access_denied(s3.put_bucket_policy, Bucket=BUCKET, Policy=json.dumps(bucket_policy()))
    assert_access_denied(s3.get_bucket_policy, Bucket=BUCKET)
    assert_access_denied(s3.put_object_acl, Bucket=BUCKET, Key="outside/notes.txt", ACL="public-read")
    assert_access_denied(s3.list_buckets)
    assert_access_denied(s3.create_bucket, Bucket=f"new-{SUFFIX}")
    assert_access_denied(world.client("iam", "run-task").create_user, UserName=f"intruder-{SUFFIX}")
    assert_access_denied(world.client("iam", "run-task").list_users)
    sns = world.client("sns", "run-task")
    assert_access_denied(sns.delete_topic, TopicArn=ALERTS_TOPIC_ARN)
    assert_access_denied(sns.subscribe, TopicArn=ALERTS_TOPIC_ARN, Protocol="email", Endpoint="x@example.com")
    assert_access_denied(world.client("ecs", "run-task").list_clusters)

    # Nothing the denied calls targeted was written or removed.
    admin = world.client("s3", "admin")
    assert admin.list_objects_v2(Bucket=OTHER_BUCKET)["KeyCount"] == 1
    assert [o["Key"] for o in admin.list_objects_v2(Bucket=BUCKET, Prefix="outside/")["Contents"]] == [
        "outside/notes.txt"
    ]
    assert admin.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}-evil/")["KeyCount"] == 0
    admin.head_bucket(Bucket=BUCKET)


def test_run_task_role_may_not_publish_alerts(world: World, as_user) -> None:
    """Server: no SNS action, whatever the resource (the policy's Resources widened to ``*`` too).

    Engine: the docs' policy as written does not permit Publish to the alerts topic.
    """
    for user in ("run-task", "run-task-any-resource"):
        sns = world.client("sns", user)
        assert_access_denied(sns.publish, TopicArn=ALERTS_TOPIC_ARN, Message="x")
        assert_access_denied(sns.publish, TopicArn=OTHER_TOPIC_ARN, Message="x")
        assert_access_denied(sns.list_topics)
    as_user("run-task-any-resource")
    with pytest.raises(AlertDeliveryError) as refused:  # the product's sink
        SnsAlertSink(
            topic_arn=ALERTS_TOPIC_ARN,
            region_name=REGION,
            endpoint_url=world.endpoint,
        ).send(Alert(kind=CHECK_FAILED, severity="ERROR", summary="x", run_id="r", run_url="u"))
    assert "AccessDenied" in str(refused.value) and "user/run-task-any-resource" in str(refused.value)
    assert engine(run_task_policy(), "sns:Publish", ALERTS_TOPIC_ARN) == PermissionResult.NEUTRAL


# --------------------------------------------------------------------------------------------------
# 3. Code-location task role (alert sensors)
# --------------------------------------------------------------------------------------------------


def test_code_task_role_publishes_alerts_and_nothing_else(world: World, as_user) -> None:
    """Server: the Action element (Publish only), with the Alerts statement's Resource widened to ``*``.

    Engine: the Resource element (the alerts topic only) of the docs' statement as written.
    """
    admin_sqs, admin_sns = world.client("sqs", "admin"), world.client("sns", "admin")
    queue = admin_sqs.create_queue(QueueName=f"alerts-inbox-{SUFFIX}")["QueueUrl"]
    queue_arn = admin_sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    admin_sns.subscribe(
        TopicArn=ALERTS_TOPIC_ARN, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"}
    )

    as_user("code-task-sns-any-resource")
    alert = Alert(
        kind=CHECK_FAILED,
        severity="ERROR",
        summary=f"IAM test {SUFFIX}",
        run_id="run-1",
        run_url="http://127.0.0.1:3000/runs/run-1",
        asset="raw/BE",
        check="no_rejects",
    )
    SnsAlertSink(topic_arn=ALERTS_TOPIC_ARN, region_name=REGION, endpoint_url=world.endpoint).send(alert)
    messages = admin_sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in messages] == [alert.text()]

    # Every other SNS action.
    sns = world.client("sns", "code-task-sns-any-resource")
    assert_access_denied(sns.delete_topic, TopicArn=ALERTS_TOPIC_ARN)
    assert_access_denied(sns.subscribe, TopicArn=ALERTS_TOPIC_ARN, Protocol="email", Endpoint="x@example.com")
    assert_access_denied(sns.create_topic, Name=f"new-{SUFFIX}")
    assert_access_denied(
        sns.set_topic_attributes, TopicArn=ALERTS_TOPIC_ARN, AttributeName="Policy", AttributeValue="{}"
    )
    assert_access_denied(sns.list_topics)
    # No S3: not the staging zone, not the bucket.
    staging = zone(world)
    assert_zone_denied(staging.write_bytes, unique_key("x.jsonl"), b"{}\n")
    assert_zone_denied(staging.read_bytes, "secret.jsonl")
    assert_zone_denied(staging.exists, "secret.jsonl")
    assert_zone_denied(staging.list_keys)
    s3 = world.client("s3", "code-task-sns-any-resource")
    assert_access_denied(s3.get_object, Bucket=BUCKET, Key="outside/notes.txt")
    assert_access_denied(s3.list_objects_v2, Bucket=BUCKET)
    assert_access_denied(s3.list_buckets)
    # No ECS (the daemon launches runs, not the code location), no IAM.
    ecs = world.client("ecs", "code-task-sns-any-resource")
    assert_access_denied(ecs.describe_task_definition, taskDefinition=RUN_FAMILY)
    assert_access_denied(
        ecs.run_task,
        cluster=CLUSTER,
        taskDefinition=RUN_FAMILY,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": [world.subnet]}},
    )
    assert_access_denied(ecs.list_tasks, cluster=CLUSTER)
    assert_access_denied(ecs.list_clusters)
    assert_access_denied(world.client("iam", "code-task-sns-any-resource").list_users)

    policy = code_task_policy()
    assert engine(policy, "sns:Publish", ALERTS_TOPIC_ARN) == PermissionResult.PERMITTED
    for arn in (
        OTHER_TOPIC_ARN,
        f"arn:aws:sns:{REGION}:{ACCOUNT}:{ALERTS_TOPIC}-archive",
        f"arn:aws:sns:eu-west-1:{ACCOUNT}:{ALERTS_TOPIC}",
        f"arn:aws:sns:{REGION}:210987654321:{ALERTS_TOPIC}",
    ):
        assert engine(policy, "sns:Publish", arn) == PermissionResult.NEUTRAL, arn  # implicit deny
    for action, resource in (
        ("sns:Subscribe", ALERTS_TOPIC_ARN),
        ("sns:SetTopicAttributes", ALERTS_TOPIC_ARN),
        ("s3:GetObject", f"arn:aws:s3:::{BUCKET}/{PREFIX}/x"),
        ("ecs:RunTask", f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{RUN_FAMILY}:1"),
    ):
        assert engine(policy, action, resource) == PermissionResult.NEUTRAL, action


# --------------------------------------------------------------------------------------------------
# 4. Webserver / daemon role (EcsRunLauncher)
# --------------------------------------------------------------------------------------------------


def test_dagster_role_on_the_server(world: World) -> None:
    ecs = world.client("ecs", "dagster")
    # The one unscoped statement works as written: what the launcher does when the instance loads.
    described = ecs.describe_task_definition(taskDefinition=RUN_FAMILY)["taskDefinition"]
    td = run_task_definition()
    assert (described["taskRoleArn"], described["executionRoleArn"]) == (td["taskRoleArn"], td["executionRoleArn"])
    for call, kwargs in (
        (
            ecs.register_task_definition,
            {"family": f"evil-{SUFFIX}", "containerDefinitions": [{"name": "x", "image": "x", "memory": 128}]},
        ),
        (ecs.create_cluster, {"clusterName": f"evil-{SUFFIX}"}),
        (ecs.delete_cluster, {"cluster": CLUSTER}),
        (ecs.list_clusters, {}),
        (ecs.create_service, {"cluster": CLUSTER, "serviceName": "x", "taskDefinition": RUN_FAMILY}),
        (ecs.deregister_task_definition, {"taskDefinition": f"{RUN_FAMILY}:1"}),
    ):
        assert_access_denied(call, **kwargs)
    iam = world.client("iam", "dagster")
    assert_access_denied(iam.create_role, RoleName=f"evil-{SUFFIX}", AssumeRolePolicyDocument="{}")
    assert_access_denied(iam.list_roles)
    assert_access_denied(world.client("s3", "dagster").get_object, Bucket=BUCKET, Key="outside/notes.txt")
    assert_access_denied(world.client("sns", "dagster").publish, TopicArn=ALERTS_TOPIC_ARN, Message="x")

    # Action element of the ECS statements, their Resource widened to "*": the launcher's calls work,
    # nothing else does.
    ecs = world.client("ecs", "dagster-ecs-any-resource")
    task = ecs.run_task(
        cluster=CLUSTER,
        taskDefinition=RUN_FAMILY,
        launchType="FARGATE",
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": [world.subnet],
                "securityGroups": [world.security_group],
                "assignPublicIp": "DISABLED",
            }
        },
        overrides={"containerOverrides": [{"name": "run", "command": ["dagster", "api", "execute_run", "{}"]}]},
        tags=[{"key": "project", "value": "forecast"}],
    )["tasks"][0]["taskArn"]
    assert task.startswith(f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{CLUSTER}/")
    assert ecs.describe_tasks(cluster=CLUSTER, tasks=[task])["tasks"][0]["taskArn"] == task
    ecs.stop_task(cluster=CLUSTER, task=task)
    assert_access_denied(ecs.list_tasks, cluster=CLUSTER)  # the launcher does not list tasks
    assert_access_denied(
        ecs.register_task_definition,
        family=f"evil-{SUFFIX}",
        containerDefinitions=[{"name": "x", "image": "x", "memory": 128}],
    )
    assert_access_denied(ecs.update_service, cluster=CLUSTER, service="forecast-daemon", desiredCount=0)
    assert_access_denied(ecs.list_clusters)


def test_dagster_role_resource_scopes(world: World) -> None:
    """moto's engine on the ARNs AWS evaluates (server mode gives ECS and PassRole no resource)."""
    policy = dagster_role_policy()
    td = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition"
    task = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{CLUSTER}/0123456789abcdef"
    role = f"arn:aws:iam::{ACCOUNT}:role"
    stream = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/forecast/dagster:log-stream"
    allowed = [
        ("ecs:RunTask", f"{td}/{RUN_FAMILY}:7"),
        ("ecs:TagResource", task),
        ("ecs:DescribeTasks", task),
        ("ecs:StopTask", task),
        ("ecs:DescribeTaskDefinition", "*"),
        ("iam:PassRole", f"{role}/forecast-run-task"),
        ("iam:PassRole", f"{role}/forecast-run-execution"),
        ("logs:GetLogEvents", f"{stream}:forecast-run/run/0123456789abcdef"),
    ]
    assert {action for action, _ in allowed} == LAUNCHER_CALLS
    for action, resource in allowed:
        assert engine(policy, action, resource) == PermissionResult.PERMITTED, (action, resource)
    denied = [
        ("ecs:RunTask", f"{td}/forecast-code:3"),
        ("ecs:RunTask", f"{td}/{RUN_FAMILY}-admin:1"),
        ("ecs:RunTask", f"arn:aws:ecs:{REGION}:210987654321:task-definition/{RUN_FAMILY}:1"),
        ("ecs:StopTask", f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/other-cluster/0123456789abcdef"),
        ("ecs:DescribeTasks", f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{CLUSTER}-prod/0123456789abcdef"),
        ("iam:PassRole", f"{role}/forecast-dagster"),
        ("iam:PassRole", f"{role}/OrganizationAccountAccessRole"),
        ("iam:PassRole", f"{role}/forecast-run-task-admin"),
        ("ecs:ListTasks", f"arn:aws:ecs:{REGION}:{ACCOUNT}:container-instance/{CLUSTER}/0123456789abcdef"),
        ("logs:GetLogEvents", f"{stream}:forecast-daemon/daemon/0123"),
        ("ecs:RegisterTaskDefinition", "*"),
        ("ecs:UpdateService", f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{CLUSTER}/forecast-daemon"),
        ("secretsmanager:ListSecrets", "*"),
        ("iam:CreateRole", f"{role}/x"),
    ]
    for action, resource in denied:
        assert engine(policy, action, resource) == PermissionResult.NEUTRAL, (action, resource)


def test_the_launcher_calls_no_other_ecs_api() -> None:
    """The installed dagster_aws.ecs source: the ECS calls LAUNCHER_CALLS lists, and never ListTasks."""
    package = Path(importlib.util.find_spec("dagster_aws.ecs").origin).parent
    sources = {path.name: path.read_text(encoding="utf-8") for path in package.glob("*.py")}
    called = {m for src in sources.values() for m in re.findall(r"\becs\.([a-z_]+)\(", src)}
    as_actions = {"ecs:" + "".join(word.capitalize() for word in method.split("_")) for method in called}
    # RegisterTaskDefinition only when the launcher registers task definitions of its own: not with
    # the fixed task_definition of dagster.yaml, hence not granted.
    assert as_actions - {"ecs:RegisterTaskDefinition"} <= LAUNCHER_CALLS, as_actions
    assert "ecs:RunTask" in as_actions and "ecs:StopTask" in as_actions  # the scan sees the calls
    for name, src in sources.items():
        assert not re.search(r"list_tasks|ListTasks", src), name


# --------------------------------------------------------------------------------------------------
# 5. Server-side encryption
# --------------------------------------------------------------------------------------------------


def test_every_object_the_staging_zone_writes_is_sse_aes256(world: World, as_user) -> None:
    as_user("run-task")
    staging = zone(world)
    base = unique_key("")
    staging.write_bytes(f"{base}a.bin", b"\x00\x01")
    staging.write_json(f"{base}b.json", {"k": "v"})
    staging.write_jsonl(f"{base}c.jsonl", [{"k": 1}])
    staging.write_bytes(f"{base}a.bin", b"overwritten")  # a rewrite is encrypted too
    s3 = world.client("s3", "run-task")
    keys = staging.list_keys(base)
    assert keys == [f"{base}a.bin", f"{base}b.json", f"{base}c.jsonl"]
    for key in keys:
        head = s3.head_object(Bucket=BUCKET, Key=f"{PREFIX}/{key}")
        assert head["ServerSideEncryption"] == "AES256", key
    # Control: the same check sees an object put without the header (moto lets this put through,
    # see test_moto_ignores_identity_policy_conditions).
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/{base}plain.txt", Body=b"plain")
    assert "ServerSideEncryption" not in s3.head_object(Bucket=BUCKET, Key=f"{PREFIX}/{base}plain.txt")


# --------------------------------------------------------------------------------------------------
# What moto does not enforce (tripwires: if one fails, moto learned it; turn it into a real check)
# --------------------------------------------------------------------------------------------------


def test_moto_server_cannot_scope_sns_and_ecs_resources(world: World, as_user) -> None:
    """moto authorises SNS and ECS requests against Resource "*": the docs' scoped grants are refused."""
    assert_access_denied(world.client("sns", "code-task").publish, TopicArn=ALERTS_TOPIC_ARN, Message="x")
    assert_access_denied(
        world.client("ecs", "dagster").run_task,
        cluster=CLUSTER,
        taskDefinition=RUN_FAMILY,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": [world.subnet]}},
    )
    as_user("code-task")
    with pytest.raises(AlertDeliveryError) as refused:  # the product's sink with the docs' policy, under moto
        SnsAlertSink(
            topic_arn=ALERTS_TOPIC_ARN,
            region_name=REGION,
            endpoint_url=world.endpoint,
        ).send(Alert(kind=CHECK_FAILED, severity="WARN", summary="x", run_id="r", run_url="u"))
    assert "AccessDenied" in str(refused.value) and "user/code-task" in str(refused.value)


def test_moto_ignores_identity_policy_conditions(world: World) -> None:
    """AWS would refuse this put (condition not met); moto treats every condition as met."""
    s3 = world.client("s3", "run-task")
    key = f"{PREFIX}/{unique_key('unencrypted.txt')}"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"no SSE header")  # StringEquals AES256 not checked
    assert "ServerSideEncryption" not in s3.head_object(Bucket=BUCKET, Key=key)


def test_moto_cannot_evaluate_the_bucket_policy_sse_condition(world: World, as_user) -> None:
    """With the docs' bucket policy, moto refuses encrypted and unencrypted puts alike (403).

    moto skips the unsupported ``StringNotEquals`` operator, so ``DenyUnencryptedPuts`` denies every
    PutObject: that this policy lets the staging zone's encrypted puts through is not provable here.
    The ``sse-probe`` user has the run task policy rendered for this bucket.
    """
    as_user("sse-probe")
    with pytest.raises(StagingZoneError) as encrypted:
        zone(world, PROBE_BUCKET).write_bytes(unique_key("enc.txt"), b"encrypted")
    assert encrypted.value.__cause__.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError) as plain:
        world.client("s3", "sse-probe").put_object(
            Bucket=PROBE_BUCKET, Key=f"{PREFIX}/{unique_key('plain.txt')}", Body=b"plain"
        )
    assert plain.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert world.client("s3", "admin").list_objects_v2(Bucket=PROBE_BUCKET)["KeyCount"] == 0
