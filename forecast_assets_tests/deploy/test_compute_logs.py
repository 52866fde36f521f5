"""The production instance's compute log manager uploads a run's stdout/stderr to S3 (moto server).

The instance is the repo's dagster.yaml with its ``compute_logs`` section verbatim; only ``storage``
(SQLite, no Postgres here) and ``run_launcher`` (the default one: no ECS needed to execute a job in
a subprocess) are swapped. The boto3 client the manager builds finds moto through
``AWS_ENDPOINT_URL`` (botocore's documented variable): nothing is patched. A job whose op prints to
stdout and stderr runs in a ``dagster job execute`` subprocess, as the run task runs a job; the
objects are then read back from S3 and through the manager, as the webserver shows them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
REGION = "us-east-1"

JOB = """
import sys
import dagster as dg

@dg.op
def talk():
    print("stdout marker {marker}")
    print("stderr marker {marker}", file=sys.stderr)

@dg.job
def talking_job():
    talk()
"""


@pytest.fixture
def logs_home(moto_server, aws_test_credentials, monkeypatch, tmp_path):
    """DAGSTER_HOME with the production compute_logs section, and a fresh bucket on moto."""
    bucket, prefix = f"forecast-logs-{uuid.uuid4().hex[:8]}", "dagster/compute-logs"
    for name, value in {
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_REGION": REGION,
        "DAGSTER_COMPUTE_LOGS_BUCKET": bucket,
        "DAGSTER_COMPUTE_LOGS_PREFIX": prefix,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=bucket)
    production = yaml.safe_load((REPO / "dagster.yaml").read_text())
    home = tmp_path / "home"
    home.mkdir()
    config = {key: value for key, value in production.items() if key not in ("storage", "run_launcher")}
    config["storage"] = {"sqlite": {"base_dir": str(home)}}
    assert config["compute_logs"]["class"] == "S3ComputeLogManager"
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return {"home": home, "bucket": bucket, "prefix": prefix, "s3": s3, "compute_logs": production["compute_logs"]}


@pytest.mark.integration
def test_a_runs_stdout_and_stderr_land_in_s3_encrypted_and_read_back(logs_home, tmp_path) -> None:
    from dagster import DagsterInstance, DagsterRunStatus
    from dagster_aws.s3.compute_log_manager import S3ComputeLogManager

    marker = uuid.uuid4().hex
    job_file = tmp_path / "talking_job.py"
    job_file.write_text(JOB.format(marker=marker))
    bin_dir = Path(sys.executable).parent
    result = subprocess.run(
        [shutil.which("dagster", path=str(bin_dir)), "job", "execute", "-f", str(job_file), "-j", "talking_job"],
        cwd=tmp_path,
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]

    s3, bucket, prefix = logs_home["s3"], logs_home["bucket"], logs_home["prefix"]
    with DagsterInstance.get() as instance:
        manager = instance.compute_log_manager
        assert isinstance(manager, S3ComputeLogManager)
        assert manager._s3_session.meta.endpoint_url == os.environ["AWS_ENDPOINT_URL"]  # moto, via botocore's env
        [run] = instance.get_runs()
        assert run.status == DagsterRunStatus.SUCCESS

        objects = s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/storage/{run.run_id}/")["Contents"]
        keys = [o["Key"] for o in objects]
        [out_key] = [k for k in keys if k.endswith(".out")]
        [err_key] = [k for k in keys if k.endswith(".err")]
        assert not [k for k in keys if k.endswith(".partial")]  # the complete files replaced them
        stdout = s3.get_object(Bucket=bucket, Key=out_key)
        stderr = s3.get_object(Bucket=bucket, Key=err_key)
        assert f"stdout marker {marker}" in stdout["Body"].read().decode()
        assert f"stderr marker {marker}" in stderr["Body"].read().decode()
        # upload_extra_args of dagster.yaml reached the PutObject: encrypted as the bucket policy demands.
        assert stdout["ServerSideEncryption"] == stderr["ServerSideEncryption"] == "AES256"

    # What the webserver shows, from another task (an empty local dir): read back from S3.
    webserver = S3ComputeLogManager(bucket=bucket, prefix=prefix, region=REGION, local_dir=str(tmp_path / "web"))
    log_key = out_key[len(f"{prefix}/storage/") :].rsplit(".", 1)[0].split("/")
    assert webserver.is_capture_complete(log_key)
    data = webserver.get_log_data(log_key)
    assert f"stdout marker {marker}" in data.stdout.decode()
    assert f"stderr marker {marker}" in data.stderr.decode()
