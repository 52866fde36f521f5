"""Alert sensors: failed asset checks and failed runs, read from the instance's event log, sent once.

Open-source Dagster does not alert on failed asset checks, and a failed non-blocking (WARN) check
does not fail its run, so run-failure sensors never see it. ``check_alert_sensor`` reads, after its
cursor, the runs that ended (success, failure or cancellation) and sends one alert per failed
``ASSET_CHECK_EVALUATION`` of each; ``run_failure_alert_sensor`` sends one per failed run.

Why runs and not the check-evaluation events directly: the cursor must be a storage id that
orders events across runs. Run-status events are indexed across runs by every event-log storage,
including the run-sharded SQLite storage of ``dagster dev``, where a cross-run query of
check-evaluation events after a storage id is refused. The cost: a check is alerted when its run
ends, not the moment it is evaluated.

Cursor: ``"<storage id>"`` (every run-status event up to it is handled) or ``"<storage id>:<n>"``
(also, the first ``n`` alerts of the next run were delivered). Delivery is at-least-once without
repeats: the cursor only moves past an alert once it is delivered. A delivery error on the first
alert of a tick fails the tick (retried next tick); after some alerts were delivered, the tick
stops there and keeps their progress.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import dagster as dg
from dagster import DagsterEventType

from forecast_assets.dagster_internals import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)
from forecast_assets.operations.alerts import (
    CHECK_FAILED,
    RUN_FAILED,
    SUMMARY_MAX,
    Alert,
    AlertDeliveryError,
    AlertPolicy,
    AlertSink,
    run_url,
)
from forecast_assets.partitions import partition_day

#: The events that end a run, after which its check evaluations are all in the event log.
RUN_END_EVENTS = (DagsterEventType.RUN_SUCCESS, DagsterEventType.RUN_FAILURE, DagsterEventType.RUN_CANCELED)
#: Most run-status events read per event type and tick; the rest are read by the next ticks.
BATCH_SIZE = 50
#: Longest JSON or text metadata value copied into an alert (bigger ones stay in the Dagster UI).
MAX_VALUE_CHARS = 1_000
#: Most metadata entries copied into an alert.
MAX_METADATA_ENTRIES = 20
SENSOR_INTERVAL_SECONDS = 60


# --- what the event log says -------------------------------------------------------------------


def run_partitions(tags: dict[str, str]) -> list[str]:
    """The partition keys a run covered, from its tags: one key, every day of a range, or none."""
    if PARTITION_NAME_TAG in tags:
        return [tags[PARTITION_NAME_TAG]]
    start, end = tags.get(ASSET_PARTITION_RANGE_START_TAG), tags.get(ASSET_PARTITION_RANGE_END_TAG)
    if not (start and end):
        return []
    try:
        first, last = partition_day(start), partition_day(end)
    except ValueError:  # not daily keys: report the bounds
        return [start, end]
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def key_metadata(metadata: dict[str, dg.MetadataValue]) -> dict[str, Any]:
    """The evaluation metadata worth putting in an alert: numbers, short texts, small JSON.

    Markdown tables, plots and paths stay in the Dagster UI, one click away through the run link.
    """
    kept: dict[str, Any] = {}
    for name, entry in metadata.items():
        value = entry.value
        if isinstance(entry, (dg.IntMetadataValue, dg.FloatMetadataValue, dg.BoolMetadataValue)):
            kept[name] = value
        elif isinstance(entry, dg.TextMetadataValue) and len(value) <= MAX_VALUE_CHARS:
            kept[name] = value
        elif isinstance(entry, dg.JsonMetadataValue) and len(json.dumps(value, default=str)) <= MAX_VALUE_CHARS:
            kept[name] = value
        if len(kept) >= MAX_METADATA_ENTRIES:
            break
    return kept


def _truncate(text: str) -> str:
    return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1] + "…"


def check_alerts(instance: dg.DagsterInstance, record: dg.EventLogRecord, policy: AlertPolicy) -> list[Alert]:
    """One alert per failed, alerted-severity check evaluation of the run that ``record`` ended."""
    run = instance.get_run_by_id(record.run_id)
    tags = dict(run.tags) if run else {}
    alerts = []
    for entry in instance.all_logs(record.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = entry.dagster_event.event_specific_data
        if evaluation.passed or not policy.alerts_on(evaluation.severity):
            continue
        alerts.append(
            Alert(
                kind=CHECK_FAILED,
                severity=evaluation.severity.value,
                summary=_truncate(evaluation.description or f"check {evaluation.check_name} did not pass"),
                run_id=record.run_id,
                run_url=run_url(policy.ui_base_url, record.run_id),
                asset=evaluation.asset_key.to_user_string(),
                check=evaluation.check_name,
                job=run.job_name if run else None,
                partitions=[evaluation.partition] if evaluation.partition else run_partitions(tags),
                metadata=key_metadata(dict(evaluation.metadata)),
            )
        )
    return alerts


def _error_text(error: Any) -> str:
    """The user's error, not Dagster's wrapper: the innermost cause of a serialised error."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return _truncate(f"{error.cls_name}: {error.message.strip()}")


def run_failure_alert(instance: dg.DagsterInstance, record: dg.EventLogRecord, policy: AlertPolicy) -> Alert:
    """The alert for one run-failure event: the job, its partitions, the failed steps and first error."""
    run = instance.get_run_by_id(record.run_id)
    entry = record.event_log_entry
    steps = [
        e.dagster_event
        for e in instance.all_logs(record.run_id, of_type=DagsterEventType.STEP_FAILURE)
        if e.dagster_event
    ]
    metadata: dict[str, Any] = {}
    if steps:
        metadata["failed_steps"] = [step.step_key for step in steps]
        if steps[0].event_specific_data.error:
            metadata["first_error"] = _error_text(steps[0].event_specific_data.error)
    failure = entry.dagster_event.event_specific_data if entry.dagster_event else None
    if getattr(failure, "failure_reason", None):
        metadata["failure_reason"] = failure.failure_reason.value
    if getattr(failure, "error", None) and "first_error" not in metadata:
        metadata["first_error"] = _error_text(failure.error)
    return Alert(
        kind=RUN_FAILED,
        severity="ERROR",
        summary=_truncate(entry.message or entry.user_message or "run failed"),
        run_id=record.run_id,
        run_url=run_url(policy.ui_base_url, record.run_id),
        job=run.job_name if run else None,
        partitions=run_partitions(dict(run.tags)) if run else [],
        metadata=metadata,
    )


# --- cursor and delivery -----------------------------------------------------------------------


def parse_cursor(cursor: str | None) -> tuple[int | None, int]:
    """``(storage id handled up to, alerts of the next run already sent)``; ``(None, 0)`` without cursor."""
    if not cursor:
        return None, 0
    storage_id, _, sent = cursor.partition(":")
    return int(storage_id), int(sent or 0)


def run_status_records(
    instance: dg.DagsterInstance,
    event_types: Sequence[DagsterEventType],
    after_id: int | None,
    after_time: float | None,
) -> list[dg.EventLogRecord]:
    """Run-status events of these types after ``after_id`` (or ``after_time``), in storage order.

    When a type has more than a batch, the result stops at that batch's last event, so no event of
    another type before it is skipped.
    """
    records, horizon = [], None
    for event_type in event_types:
        result = instance.fetch_run_status_changes(
            dg.RunStatusChangeRecordsFilter(
                event_type=event_type,
                after_storage_id=after_id,
                after_timestamp=None if after_id is not None else after_time,
            ),
            limit=BATCH_SIZE,
            ascending=True,
        )
        records.extend(result.records)
        if result.has_more:
            last = result.records[-1].storage_id
            horizon = last if horizon is None else min(horizon, last)
    records.sort(key=lambda r: r.storage_id)
    return [r for r in records if horizon is None or r.storage_id <= horizon]


def deliver(
    context: dg.SensorEvaluationContext,
    records: list[dg.EventLogRecord],
    build: Callable[[dg.EventLogRecord], list[Alert]],
    sink: AlertSink,
    what: str,
) -> dg.SensorResult:
    """Send the alerts of each record, in order; the cursor ends after the last alert delivered."""
    _, already_sent = parse_cursor(context.cursor)
    cursor, sent = context.cursor, []
    for index, record in enumerate(records):
        alerts = build(record)
        start = already_sent if index == 0 else 0
        for position in range(start, len(alerts)):
            try:
                sink.send(alerts[position])
            except AlertDeliveryError as error:
                if not sent:
                    raise  # nothing delivered this tick: fail it, the next tick retries
                context.log.error(f"alert delivery failed, retried next tick: {error}")
                return _result(cursor, sent, records, what)
            sent.append(alerts[position])
            context.log.info(f"alert sent: {alerts[position].title()}")
            cursor = f"{record.storage_id - 1}:{position + 1}"  # this run is next, with its first alerts sent
        cursor = str(record.storage_id)
    return _result(cursor, sent, records, what)


def _result(cursor: str | None, sent: list[Alert], records: list, what: str) -> dg.SensorResult:
    message = (
        (f"sent {len(sent)} alert(s): " + "; ".join(a.title() for a in sent[:5]))
        if sent
        else f"no {what} to alert on in {len(records)} run(s) that ended"
    )
    return dg.SensorResult(skip_reason=dg.SkipReason(message), cursor=cursor)


def _after(context: dg.SensorEvaluationContext, policy: AlertPolicy) -> tuple[int | None, float]:
    after_id, _ = parse_cursor(context.cursor)
    return after_id, time.time() - policy.initial_lookback_hours * 3600


@dg.sensor(
    name="check_alert_sensor",
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Sends an alert through `alert_sink` for every failed asset check (ERROR and/or WARN, "
    "per `alert_policy`), once, when its run ends.",
)
def check_alert_sensor(
    context: dg.SensorEvaluationContext, alert_sink: AlertSink, alert_policy: AlertPolicy
) -> dg.SensorResult | dg.SkipReason:
    """Failed asset-check evaluations of the runs that ended since the cursor, each sent once."""
    records = run_status_records(context.instance, RUN_END_EVENTS, *_after(context, alert_policy))
    if not records:
        return dg.SkipReason("no run ended since the last tick")
    return deliver(
        context, records, lambda r: check_alerts(context.instance, r, alert_policy), alert_sink, "failed checks"
    )


@dg.sensor(
    name="run_failure_alert_sensor",
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Sends an alert through `alert_sink` for every failed run of the instance, once.",
)
def run_failure_alert_sensor(
    context: dg.SensorEvaluationContext, alert_sink: AlertSink, alert_policy: AlertPolicy
) -> dg.SensorResult | dg.SkipReason:
    """Run-failure events since the cursor, each sent once (the cursor moves even with alerts off)."""
    records = run_status_records(context.instance, [DagsterEventType.RUN_FAILURE], *_after(context, alert_policy))
    if not records:
        return dg.SkipReason("no run failed since the last tick")
    return deliver(
        context,
        records,
        lambda r: [run_failure_alert(context.instance, r, alert_policy)] if alert_policy.alert_on_run_failure else [],
        alert_sink,
        "failed runs",
    )


alert_sensors = [check_alert_sensor, run_failure_alert_sensor]
