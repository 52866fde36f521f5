"""Alert sensors against a real Dagster instance and real sinks: moto SNS→SQS, a local webhook, a file."""

import json
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from pytest_httpserver import HTTPServer

from forecast_assets.operations.alerts import (
    AlertDeliveryError,
    AlertPolicy,
    LocalAlertSink,
    SnsAlertSink,
    WebhookAlertSink,
)
from forecast_assets.operations.sensors import check_alert_sensor, run_failure_alert_sensor

#: Real Dagster runs on real instances, twice (two event-log layouts): ~1 min.
pytestmark = pytest.mark.integration

REGION = "us-east-1"
UI = "http://dagster.example.test:3000"
DAY = "2024-10-02"
days = dg.DailyPartitionsDefinition(start_date="2024-10-01", timezone="UTC")


class ProbeConfig(dg.Config):
    passed: bool = False
    severity: str = "ERROR"
    gaps: bool = False  # also fail the second check, "no_gaps" (WARN)


@dg.asset(
    key=["probe", "readings"],
    partitions_def=days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[
        dg.AssetCheckSpec("plausible_values", asset=["probe", "readings"]),
        dg.AssetCheckSpec("no_gaps", asset=["probe", "readings"]),
    ],
)
def probe(context: dg.AssetExecutionContext, config: ProbeConfig) -> dg.MaterializeResult:
    """A tiny partitioned asset whose checks pass or fail (ERROR or WARN) as configured."""
    keys = list(context.partition_keys)
    failed = [] if config.passed else keys[:1]
    gaps = dg.AssetCheckResult(
        check_name="no_gaps",
        passed=not config.gaps,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"missing_slots": 5 if config.gaps else 0},
    )
    return dg.MaterializeResult(
        check_results=[
            gaps,
            dg.AssetCheckResult(
                check_name="plausible_values",
                passed=config.passed,
                severity=dg.AssetCheckSeverity(config.severity),
                description="passed" if config.passed else f"failed on {len(failed)} of {len(keys)} partition(s)",
                metadata={
                    "out_of_range_rows": 0 if config.passed else 7,
                    "null_rows": 0 if config.passed else 2,
                    "failed_partitions": dg.MetadataValue.json(failed),
                    "preview": dg.MetadataValue.md("| a |\n|---|\n| 1 |"),  # UI-only, kept out of alerts
                },
            ),
        ]
    )


@dg.asset(partitions_def=days)
def broken(context: dg.AssetExecutionContext) -> None:
    raise RuntimeError("station feed unreachable")


def materialize_probe(
    instance: dg.DagsterInstance,
    passed: bool = False,
    severity: str = "ERROR",
    partition_key: str = DAY,
    gaps: bool = False,
) -> str:
    result = dg.materialize(
        [probe],
        instance=instance,
        partition_key=partition_key,
        run_config=dg.RunConfig(ops={"probe__readings": ProbeConfig(passed=passed, severity=severity, gaps=gaps)}),
    )
    assert result.success
    return result.run_id


def evaluate(sensor: dg.SensorDefinition, instance: dg.DagsterInstance, sink, cursor: str | None = None, **policy):
    context = dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"alert_sink": sink, "alert_policy": AlertPolicy(ui_base_url=UI, **policy)},
    )
    return sensor(context)


#: ``dagster dev``'s default run-sharded SQLite event log, and a single-index one (as Postgres is).
EVENT_LOG_STORAGES = {
    "run_sharded_sqlite": None,
    "consolidated_sqlite": "ConsolidatedSqliteEventLogStorage",
}


@pytest.fixture(params=sorted(EVENT_LOG_STORAGES))
def instance(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    """A real SQLite instance in a temporary directory, fresh per test, for each event-log layout."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    storage_class = EVENT_LOG_STORAGES[request.param]
    overrides = (
        {
            "event_log_storage": {
                "module": "dagster._core.storage.event_log",
                "class": storage_class,
                "config": {"base_dir": str(home / "event_log")},
            }
        }
        if storage_class
        else None
    )
    with dg.instance_for_test(overrides=overrides, temp_dir=str(home)) as dagster_instance:
        yield dagster_instance


@pytest.fixture
def local_sink(tmp_path: Path) -> LocalAlertSink:
    return LocalAlertSink(path=str(tmp_path / "alerts" / "alerts.jsonl"))


def read_lines(sink: LocalAlertSink) -> list[dict]:
    path = Path(sink.path)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# --- (1) SNS, through a real moto server, to an SQS queue subscribed to the topic ---------------


def receive(sqs, queue_url: str) -> list[dict]:
    """Every SNS notification waiting in the queue (the SNS envelope, parsed)."""
    messages = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        if not batch:
            return messages
        for message in batch:
            messages.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def test_failed_error_check_is_published_to_sns_once(instance, moto_server, sns_topic_with_queue):
    topic_arn, sqs, queue_url = sns_topic_with_queue
    sink = SnsAlertSink(topic_arn=topic_arn, region_name=REGION, endpoint_url=moto_server)
    run_id = materialize_probe(instance, passed=False, severity="ERROR")

    result = evaluate(check_alert_sensor, instance, sink)

    [notification] = receive(sqs, queue_url)
    subject, message = notification["Subject"], notification["Message"]
    assert len(subject) <= 100
    assert "ERROR check failed" in subject and "probe/readings" in subject
    for expected in (
        "Asset: probe/readings",
        "Check: plausible_values (severity ERROR)",
        f"Partitions: {DAY}",
        "out_of_range_rows: 7",
        "null_rows: 2",
        f'failed_partitions: ["{DAY}"]',
        "failed on 1 of 1 partition(s)",
        f"Run: {UI}/runs/{run_id}",
    ):
        assert expected in message, expected
    assert "preview" not in message
    assert notification["MessageAttributes"]["severity"]["Value"] == "ERROR"
    assert "sent 1 alert(s)" in result.skip_reason.skip_message
    # (5) Same events, the returned cursor: nothing is published again.
    again = evaluate(check_alert_sensor, instance, sink, cursor=result.cursor)
    assert isinstance(again, dg.SkipReason)
    assert receive(sqs, queue_url) == []


# --- (2) a Slack-compatible webhook on a local HTTP server -------------------------------------


def test_failed_warn_check_posts_one_webhook(instance, httpserver: HTTPServer):
    httpserver.expect_oneshot_request("/hooks/forecast", method="POST").respond_with_data("ok")
    sink = WebhookAlertSink(url=httpserver.url_for("/hooks/forecast"), timeout_seconds=5)
    run_id = materialize_probe(instance, passed=False, severity="WARN")

    result = evaluate(check_alert_sensor, instance, sink)

    httpserver.check_assertions()
    [(request, _)] = httpserver.log
    assert request.headers["Content-Type"] == "application/json"
    body = request.get_json()
    assert body["text"].startswith("[Forecast 2.0] WARN check failed: probe/readings / plausible_values")
    assert f"{UI}/runs/{run_id}" in body["text"]
    alert = body["alert"]
    assert {k: alert[k] for k in ("kind", "asset", "check", "severity", "partitions", "run_id", "run_url")} == {
        "kind": "check_failed",
        "asset": "probe/readings",
        "check": "plausible_values",
        "severity": "WARN",
        "partitions": [DAY],
        "run_id": run_id,
        "run_url": f"{UI}/runs/{run_id}",
    }
    assert alert["metadata"] == {"out_of_range_rows": 7, "null_rows": 2, "failed_partitions": [DAY]}
    # (5) Re-run with the returned cursor: no second POST.
    evaluate(check_alert_sensor, instance, sink, cursor=result.cursor)
    assert len(httpserver.log) == 1


# --- (3) the local sink -------------------------------------------------------------------------


def test_local_sink_appends_one_json_line_per_failure(instance, local_sink):
    materialize_probe(instance, passed=False, severity="ERROR", partition_key="2024-10-02")
    materialize_probe(instance, passed=False, severity="WARN", partition_key="2024-10-03")

    result = evaluate(check_alert_sensor, instance, local_sink)

    lines = read_lines(local_sink)
    assert [(line["severity"], line["partitions"]) for line in lines] == [
        ("ERROR", ["2024-10-02"]),
        ("WARN", ["2024-10-03"]),
    ]
    assert all(line["text"].startswith("[Forecast 2.0]") for line in lines)
    assert "sent 2 alert(s)" in result.skip_reason.skip_message


def test_single_run_range_names_every_day(instance, local_sink):
    result = dg.materialize(
        [probe],
        instance=instance,
        tags={"dagster/asset_partition_range_start": "2024-10-02", "dagster/asset_partition_range_end": "2024-10-08"},
    )
    evaluate(check_alert_sensor, instance, local_sink)
    [line] = read_lines(local_sink)
    assert line["partitions"] == [f"2024-10-0{d}" for d in range(2, 9)]
    assert line["run_id"] == result.run_id
    assert "Partitions: 2024-10-02 … 2024-10-08 (7 days)" in line["text"]


# --- (4) passing checks, (5) no repeats, (6) severities off -------------------------------------


def test_passing_checks_send_nothing_but_move_the_cursor(instance, local_sink):
    materialize_probe(instance, passed=True)
    result = evaluate(check_alert_sensor, instance, local_sink)
    assert read_lines(local_sink) == []
    assert "no failed checks to alert on in 1 run(s)" in result.skip_reason.skip_message
    assert result.cursor is not None
    # No new events at all: a plain SkipReason, the cursor untouched.
    again = evaluate(check_alert_sensor, instance, local_sink, cursor=result.cursor)
    assert isinstance(again, dg.SkipReason)


def test_only_new_failures_are_alerted(instance, local_sink):
    materialize_probe(instance, partition_key="2024-10-02")
    first = evaluate(check_alert_sensor, instance, local_sink)
    assert len(read_lines(local_sink)) == 1
    materialize_probe(instance, partition_key="2024-10-03")
    second = evaluate(check_alert_sensor, instance, local_sink, cursor=first.cursor)
    assert [line["partitions"] for line in read_lines(local_sink)] == [["2024-10-02"], ["2024-10-03"]]
    assert int(second.cursor) > int(first.cursor)


def test_warn_alerts_off_sends_nothing_for_a_warn_failure(instance, local_sink):
    materialize_probe(instance, passed=False, severity="WARN")
    result = evaluate(check_alert_sensor, instance, local_sink, alert_on_warn=False)
    assert read_lines(local_sink) == []
    assert "no failed checks" in result.skip_reason.skip_message


def test_error_alerts_off_still_sends_warn_failures(instance, local_sink):
    materialize_probe(instance, passed=False, severity="ERROR", partition_key="2024-10-02")
    materialize_probe(instance, passed=False, severity="WARN", partition_key="2024-10-03")
    evaluate(check_alert_sensor, instance, local_sink, alert_on_error=False)
    assert [line["severity"] for line in read_lines(local_sink)] == ["WARN"]


def test_first_tick_does_not_replay_old_history(instance, local_sink):
    materialize_probe(instance)
    result = evaluate(check_alert_sensor, instance, local_sink, initial_lookback_hours=0)
    assert isinstance(result, dg.SkipReason)
    assert read_lines(local_sink) == []


# --- delivery failures: retried, never duplicated -----------------------------------------------


def test_undelivered_alert_fails_the_tick_and_is_retried(instance, httpserver: HTTPServer):
    """Two failed checks in one run; the webhook refuses some POSTs: each alert is delivered exactly once."""
    sink = WebhookAlertSink(url=httpserver.url_for("/hooks/forecast"), timeout_seconds=5)
    materialize_probe(instance, passed=False, gaps=True)
    # First tick: the webhook refuses the first alert -> the tick fails, nothing is lost.
    httpserver.expect_ordered_request("/hooks/forecast", method="POST").respond_with_data("no", status=503)
    with pytest.raises(AlertDeliveryError, match="HTTP 503"):
        evaluate(check_alert_sensor, instance, sink)
    # Second tick (still no cursor): the first alert goes through, the second is refused -> kept for later.
    httpserver.expect_ordered_request("/hooks/forecast", method="POST").respond_with_data("ok")
    httpserver.expect_ordered_request("/hooks/forecast", method="POST").respond_with_data("no", status=503)
    partial = evaluate(check_alert_sensor, instance, sink)
    assert "sent 1 alert(s)" in partial.skip_reason.skip_message
    assert partial.cursor.endswith(":1")  # the run is still next, with its first alert delivered
    # Third tick: only the second alert is sent; a fourth finds nothing new.
    httpserver.expect_ordered_request("/hooks/forecast", method="POST").respond_with_data("ok")
    done = evaluate(check_alert_sensor, instance, sink, cursor=partial.cursor)
    assert isinstance(evaluate(check_alert_sensor, instance, sink, cursor=done.cursor), dg.SkipReason)
    httpserver.check_assertions()
    delivered = [
        request.get_json()["alert"]["check"] for request, response in httpserver.log if response.status_code == 200
    ]
    assert sorted(delivered) == ["no_gaps", "plausible_values"]


# --- (7) failed runs ----------------------------------------------------------------------------


def test_failed_run_is_alerted_once(instance, local_sink):
    result = dg.materialize([broken], instance=instance, partition_key=DAY, raise_on_error=False)
    assert not result.success

    first = evaluate(run_failure_alert_sensor, instance, local_sink)

    [line] = read_lines(local_sink)
    assert line["kind"] == "run_failed" and line["severity"] == "ERROR"
    assert line["run_id"] == result.run_id
    assert line["run_url"] == f"{UI}/runs/{result.run_id}"
    assert line["partitions"] == [DAY]
    assert line["metadata"]["failed_steps"] == ["broken"]
    assert "station feed unreachable" in line["metadata"]["first_error"]
    assert "run failed" in line["text"]
    # No repeat on the next tick; a successful run is no failure.
    materialize_probe(instance, passed=True)
    again = evaluate(run_failure_alert_sensor, instance, local_sink, cursor=first.cursor)
    assert isinstance(again, dg.SkipReason)
    assert len(read_lines(local_sink)) == 1


def test_run_failure_alerts_off_moves_the_cursor_without_sending(instance, local_sink):
    dg.materialize([broken], instance=instance, partition_key=DAY, raise_on_error=False)
    result = evaluate(run_failure_alert_sensor, instance, local_sink, alert_on_run_failure=False)
    assert read_lines(local_sink) == []
    assert result.cursor is not None


def test_check_failures_do_not_trigger_the_run_failure_sensor(instance, local_sink):
    """A failed non-blocking check leaves the run successful: only the check sensor can see it."""
    materialize_probe(instance, passed=False, severity="WARN")
    assert isinstance(evaluate(run_failure_alert_sensor, instance, local_sink), dg.SkipReason)
    evaluate(check_alert_sensor, instance, local_sink)
    assert [line["kind"] for line in read_lines(local_sink)] == ["check_failed"]
