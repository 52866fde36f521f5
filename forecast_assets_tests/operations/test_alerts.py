"""Alert sinks on their own: message shape, limits, errors that never leak the webhook URL."""

import json
import logging
import socket
import uuid

import pytest
from pytest_httpserver import HTTPServer

from forecast_assets.operations.alerts import (
    SNS_SUBJECT_MAX,
    Alert,
    AlertDeliveryError,
    AlertSink,
    LocalAlertSink,
    SnsAlertSink,
    WebhookAlertSink,
    run_url,
)

REGION = "us-east-1"
SECRET_PATH = "/services/T000/B000/not-a-real-token"


def make_alert(**changes) -> Alert:
    fields = dict(
        kind="check_failed",
        severity="ERROR",
        summary="failed on 2 of 7 partition(s): 2024-10-03, 2024-10-05",
        run_id="abc-123",
        run_url=run_url("http://127.0.0.1:3000/", "abc-123"),
        asset="weather_data",
        check="schema_conformance",
        job="weather_pipeline",
        partitions=[f"2024-10-0{d}" for d in range(2, 9)],
        metadata={"failed_partition_count": 2, "failure_cases": 14, "failed_partitions": ["2024-10-03", "2024-10-05"]},
    )
    return Alert(**{**fields, **changes})


def test_text_names_everything_an_operator_needs():
    text = make_alert().text()
    assert text.splitlines()[0] == (
        "[Forecast 2.0] ERROR check failed: weather_data / schema_conformance [2024-10-02 … 2024-10-08 (7 days)]"
    )
    for expected in (
        "Asset: weather_data",
        "Check: schema_conformance (severity ERROR)",
        "Job: weather_pipeline",
        "failure_cases: 14",
        'failed_partitions: ["2024-10-03", "2024-10-05"]',
        "Run: http://127.0.0.1:3000/runs/abc-123",
    ):
        assert expected in text


def test_run_failure_text():
    alert = make_alert(
        kind="run_failed",
        asset=None,
        check=None,
        partitions=["2024-10-02"],
        summary='Execution of run for "weather_pipeline" failed.',
        metadata={"failed_steps": ["x"]},
    )
    assert alert.title() == "ERROR run failed: weather_pipeline [2024-10-02]"
    assert "Check:" not in alert.text()


def test_subject_fits_sns_limits():
    subject = make_alert(asset="mongodb/" + "very_long_collection_name_" * 5, check="round_trip").subject()
    assert len(subject) <= SNS_SUBJECT_MAX
    assert subject.isascii() and "\n" not in subject
    assert subject.endswith("...")
    assert make_alert(partitions=[]).subject() == (
        "[Forecast 2.0] ERROR check failed: weather_data / schema_conformance [-]"
    )


def test_base_sink_cannot_send():
    with pytest.raises(NotImplementedError):
        AlertSink().send(make_alert())


def test_local_sink_creates_its_folder_and_appends(tmp_path, caplog):
    sink = LocalAlertSink(path=str(tmp_path / "nested" / "alerts.jsonl"))
    with caplog.at_level(logging.WARNING):
        sink.send(make_alert())
        sink.send(make_alert(severity="WARN", check="completeness"))
    lines = [json.loads(line) for line in (tmp_path / "nested" / "alerts.jsonl").read_text().splitlines()]
    assert [line["check"] for line in lines] == ["schema_conformance", "completeness"]
    assert lines[0]["metadata"]["failure_cases"] == 14
    assert "weather_data / schema_conformance" in caplog.text


def test_sns_sink_publishes_subject_message_and_attributes(moto_server, sns_topic_with_queue):
    topic_arn, sqs, queue_url = sns_topic_with_queue

    SnsAlertSink(topic_arn=topic_arn, region_name=REGION, endpoint_url=moto_server).send(make_alert())

    [message] = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=2)["Messages"]
    body = json.loads(message["Body"])
    assert body["Subject"] == make_alert().subject()
    assert body["Message"] == make_alert().text()
    assert {k: v["Value"] for k, v in body["MessageAttributes"].items()} == {
        "kind": "check_failed",
        "severity": "ERROR",
        "asset": "weather_data",
        "check": "schema_conformance",
        "job": "weather_pipeline",
    }


def test_sns_sink_reports_an_unknown_topic(moto_server, aws_test_credentials):
    sink = SnsAlertSink(
        topic_arn=f"arn:aws:sns:{REGION}:123456789012:missing-{uuid.uuid4().hex[:8]}",
        region_name=REGION,
        endpoint_url=moto_server,
    )
    with pytest.raises(AlertDeliveryError, match="SNS publish failed"):
        sink.send(make_alert())


def test_webhook_posts_slack_compatible_json(httpserver: HTTPServer):
    httpserver.expect_oneshot_request(SECRET_PATH, method="POST").respond_with_data("ok")
    WebhookAlertSink(url=httpserver.url_for(SECRET_PATH)).send(make_alert())
    httpserver.check_assertions()
    [(request, _)] = httpserver.log
    body = request.get_json()
    assert body["text"] == make_alert().text()
    assert body["alert"]["check"] == "schema_conformance"
    assert body["alert"]["metadata"]["failed_partition_count"] == 2


def client_side_log(caplog) -> str:
    """What the sending side logged (the local test server's own access log is the receiver's)."""
    return "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("werkzeug"))


def test_webhook_refusal_does_not_reveal_the_url(httpserver: HTTPServer, caplog):
    httpserver.expect_request(SECRET_PATH, method="POST").respond_with_data("gone", status=404)
    with caplog.at_level(logging.INFO), pytest.raises(AlertDeliveryError) as raised:
        WebhookAlertSink(url=httpserver.url_for(SECRET_PATH)).send(make_alert())
    assert str(raised.value) == "webhook POST refused: HTTP 404"
    assert "not-a-real-token" not in client_side_log(caplog)


def test_unreachable_webhook_does_not_reveal_the_url(caplog):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = WebhookAlertSink(url=f"http://127.0.0.1:{port}{SECRET_PATH}", timeout_seconds=2)
    with caplog.at_level(logging.INFO), pytest.raises(AlertDeliveryError) as raised:
        sink.send(make_alert())
    assert str(raised.value) == "webhook POST failed: ConnectionError"
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert "not-a-real-token" not in client_side_log(caplog)
