"""The S3 staging zone under server faults, through a real faulty HTTP server in front of moto.

``FaultyS3Proxy`` is a socket server on 127.0.0.1 that answers the first N requests (or all of them,
while "down") with ``503 ServiceUnavailable`` in S3's XML error format and forwards every other request
to the moto S3 server: the boto3 client under test is not patched, it sees real 5xx responses.

An unreachable endpoint (nothing listening) is already covered by
``forecast_assets_tests/staging/test_resources.py::test_s3_unreachable_endpoint_raises_clear_error_quickly``.
"""

from __future__ import annotations

import http.client
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import boto3
import dagster as dg
import pytest

from forecast_assets.definitions import build_defs
from forecast_assets.feeds import raw_asset_key
from forecast_assets.sample_data import INFOCLIMAT_RESPONSE
from forecast_assets.staging import S3StagingZone, StagingZoneError
from forecast_assets.staging.layout import raw_landed_key

PREFIX = "forecast/staging"
KEY = "raw/BE/051024/IICHTE19.jsonl"
DAY = "2024-10-05"
SOURCES = ("BE", "FR", "InfoClimat")
#: Rows of the sample IICHTE19 sheet of 5 October 2024 (every 5 minutes).
BE_ROWS_ON_DAY = 288

SERVICE_UNAVAILABLE = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>ServiceUnavailable</Code>'
    b"<Message>Injected fault: please reduce your request rate.</Message></Error>"
)
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "expect", "content-length", "proxy-connection"}


class FaultyS3Proxy:
    """An HTTP server that fails some requests with 503 and forwards the others to ``upstream``."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname, parts.port)
        self.fail_next = 0  # fail this many more requests
        self.lose_next = 0  # forward this many more requests, then answer 503 anyway (response lost)
        self.down = False  # fail every request
        self.log: list[tuple[str, str, int]] = []  # (method, path, status) of every request served
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep pytest output clean
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""  # always drain the request
                with proxy._lock:
                    fail = proxy.down or proxy.fail_next > 0
                    if proxy.fail_next > 0:
                        proxy.fail_next -= 1
                    lose = not fail and proxy.lose_next > 0
                    if lose:
                        proxy.lose_next -= 1
                if fail:
                    status, headers, payload = 503, [("Content-Type", "application/xml")], SERVICE_UNAVAILABLE
                else:
                    status, headers, payload = proxy._forward(self.command, self.path, self.headers, body)
                    if lose:  # the upstream did the work; the client never hears of it
                        status, headers, payload = 503, [("Content-Type", "application/xml")], SERVICE_UNAVAILABLE
                with proxy._lock:
                    proxy.log.append((self.command, self.path, status))
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _forward(self, method: str, path: str, headers, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(*self.upstream, timeout=30)
        try:
            forwarded = {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}
            connection.request(
                method, path, body=body if body or method in ("PUT", "POST") else None, headers=forwarded
            )
            response = connection.getresponse()
            payload = response.read()
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
            return response.status, kept, payload
        finally:
            connection.close()

    def requests(self, method: str) -> list[int]:
        """Statuses answered to the requests of ``method``, in order."""
        with self._lock:
            return [status for m, _, status in self.log if m == method]

    def __enter__(self) -> FaultyS3Proxy:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(moto_server: str) -> Iterator[FaultyS3Proxy]:
    with FaultyS3Proxy(moto_server) as running:
        yield running


@pytest.fixture
def bucket(moto_server: str, aws_test_credentials: None) -> str:
    name = f"faults-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", region_name="us-east-1", endpoint_url=moto_server).create_bucket(Bucket=name)
    return name


def keys_on_moto(moto_server: str, bucket: str) -> list[str]:
    """The bucket's keys, listed on moto directly (not through the proxy)."""
    listed = boto3.client("s3", region_name="us-east-1", endpoint_url=moto_server).list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listed.get("Contents", []))


def zone(bucket: str, proxy: FaultyS3Proxy, max_attempts: int = 5) -> S3StagingZone:
    return S3StagingZone(
        bucket=bucket,
        prefix=PREFIX,
        endpoint_url=proxy.endpoint,
        max_attempts=max_attempts,
        connect_timeout_seconds=1,
        read_timeout_seconds=5,
    )


def test_proxy_forwards_to_moto_when_healthy(bucket: str, proxy: FaultyS3Proxy, moto_server: str) -> None:
    staging = zone(bucket, proxy)
    staging.write_bytes(KEY, b"through the proxy")
    assert staging.read_bytes(KEY) == b"through the proxy"
    assert keys_on_moto(moto_server, bucket) == [f"{PREFIX}/{KEY}"]
    assert proxy.requests("PUT") == [200]


def test_write_succeeds_after_transient_5xx(bucket: str, proxy: FaultyS3Proxy, moto_server: str) -> None:
    proxy.fail_next = 2
    staging = zone(bucket, proxy, max_attempts=5)
    data = "".join(f'{{"n": {i}, "t": "56.8\u00a0°F"}}\n' for i in range(500)).encode("utf-8")

    uri = staging.write_bytes(KEY, data)

    assert uri == f"s3://{bucket}/{PREFIX}/{KEY}"
    assert proxy.requests("PUT") == [503, 503, 200]  # retried by botocore, not by hand
    body = (
        boto3.client("s3", region_name="us-east-1", endpoint_url=moto_server)
        .get_object(Bucket=bucket, Key=f"{PREFIX}/{KEY}")["Body"]
        .read()
    )
    assert body == data  # the whole payload, byte for byte


def test_a_lost_response_after_the_object_was_stored_is_retried_harmlessly(
    bucket: str, proxy: FaultyS3Proxy, moto_server: str
) -> None:
    staging = zone(bucket, proxy, max_attempts=5)
    staging.write_bytes(KEY, b'{"version": 1}\n')
    proxy.lose_next = 1  # S3 stores the new version, then the client gets a 503
    new = "".join(f'{{"version": 2, "n": {i}}}\n' for i in range(300)).encode("utf-8")

    staging.write_bytes(KEY, new)

    assert proxy.requests("PUT") == [200, 503, 200]  # the same PUT sent again by botocore
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=moto_server)
    assert s3.get_object(Bucket=bucket, Key=f"{PREFIX}/{KEY}")["Body"].read() == new  # whole, once
    assert keys_on_moto(moto_server, bucket) == [f"{PREFIX}/{KEY}"]  # no second object, no temp key
    assert staging.read_jsonl(KEY)[-1] == {"version": 2, "n": 299}


def test_persistent_5xx_fails_clearly_and_leaves_no_object(bucket: str, proxy: FaultyS3Proxy, moto_server: str) -> None:
    proxy.down = True
    staging = zone(bucket, proxy, max_attempts=3)

    with pytest.raises(StagingZoneError) as excinfo:
        staging.write_bytes(KEY, b'{"n": 1}\n')

    message = str(excinfo.value)
    assert f"bucket {bucket!r}" in message
    assert f"key '{PREFIX}/{KEY}'" in message
    assert f"endpoint {proxy.endpoint}" in message
    assert "ServiceUnavailable" in message and "max_attempts=3" in message
    assert "testing" not in message  # no credentials
    assert proxy.requests("PUT") == [503, 503, 503]  # max_attempts counts the first call
    assert keys_on_moto(moto_server, bucket) == []  # nothing, not even a partial object


@pytest.mark.integration
def test_raw_run_fails_while_staging_is_down_and_the_next_run_lands_the_day(
    bucket: str, proxy: FaultyS3Proxy, moto_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.setenv("FORECAST_INFOCLIMAT_SOURCE", str(INFOCLIMAT_RESPONSE))
    monkeypatch.setenv("FORECAST_ALERT_FILE", str(tmp_path / "alerts.jsonl"))
    staging = zone(bucket, proxy, max_attempts=2)
    defs = build_defs(resource_overrides={"staging": staging, "mongo": None}, env="local")
    job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection={raw_asset_key(s) for s in SOURCES})

    proxy.down = True
    with dg.DagsterInstance.ephemeral() as instance:
        failed = job.execute_in_process(partition_key=DAY, instance=instance, raise_on_error=False)
    assert not failed.success
    failures = [e for e in failed.all_events if e.is_step_failure]
    assert {e.step_key for e in failures} == {f"raw__{s}" for s in SOURCES}
    be_error = next(e for e in failures if e.step_key == "raw__BE").step_failure_data.error
    assert be_error.cause.cls_name == "StagingZoneError"  # Dagster's step error wraps the resource's error
    message = be_error.cause.message
    assert f"bucket {bucket!r}" in message and f"{PREFIX}/{KEY}" in message
    assert proxy.endpoint in message and "ServiceUnavailable" in message
    assert not failed.get_asset_materialization_events()
    assert keys_on_moto(moto_server, bucket) == []

    proxy.down = False  # staging is back: the same job, same partition
    with dg.DagsterInstance.ephemeral() as instance:
        landed = job.execute_in_process(partition_key=DAY, instance=instance)
    assert landed.success
    assert keys_on_moto(moto_server, bucket) == sorted(f"{PREFIX}/{raw_landed_key(s, DAY)}" for s in SOURCES)
    for source in SOURCES:
        [materialization] = landed.asset_materializations_for_node(f"raw__{source}")
        rows = staging.read_jsonl(raw_landed_key(source, DAY))
        assert materialization.metadata["dagster/row_count"].value == len(rows) > 0
        assert len({r["_source_position"] for r in rows}) == len(rows)  # each source row exactly once
    assert len(staging.read_jsonl(KEY)) == BE_ROWS_ON_DAY
