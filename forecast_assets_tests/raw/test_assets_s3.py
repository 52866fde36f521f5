"""The production resource set lands raw partitions in S3 (a moto server over HTTP)."""

from __future__ import annotations

import uuid

import boto3
import pytest

from forecast_assets.definitions import build_defs
from forecast_assets.feeds import raw_asset_key
from forecast_assets.sample_data import INFOCLIMAT_RESPONSE


@pytest.mark.integration
def test_production_resources_land_raw_partitions_in_s3(moto_server, aws_test_credentials, monkeypatch):
    bucket = f"forecast-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", endpoint_url=moto_server)
    s3.create_bucket(Bucket=bucket)
    monkeypatch.setenv("FORECAST_S3_BUCKET", bucket)
    monkeypatch.setenv("FORECAST_S3_PREFIX", "staging")
    monkeypatch.setenv("FORECAST_S3_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("FORECAST_INFOCLIMAT_SOURCE", str(INFOCLIMAT_RESPONSE))  # no live API in tests

    defs = build_defs(env="production")
    job = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection={raw_asset_key(s) for s in ("BE", "FR", "InfoClimat")}
    )
    result = job.execute_in_process(partition_key="2024-10-05")

    assert result.success
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == [
        "staging/raw/BE/051024/IICHTE19.jsonl",
        "staging/raw/FR/051024/ILAMAD25.jsonl",
        "staging/raw/InfoClimat/051024/infoclimat.jsonl",
    ]
    body = s3.get_object(Bucket=bucket, Key="staging/raw/BE/051024/IICHTE19.jsonl")
    assert body["ServerSideEncryption"] == "AES256"
    assert len(body["Body"].read().decode("utf-8").splitlines()) == 288
    [materialization] = result.asset_materializations_for_node("raw__BE")
    assert materialization.metadata["path"].value == f"s3://{bucket}/staging/raw/BE/051024/IICHTE19.jsonl"
