"""Weekly freshness on a real Dagster instance: evaluated at chosen times, alerted once through real sinks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._utils.schedules import schedule_execution_time_iterator
from pytest_httpserver import HTTPServer

from forecast_assets.operations.alerts import AlertDeliveryError, AlertPolicy, LocalAlertSink, WebhookAlertSink
from forecast_assets.operations.freshness import (
    FRESHNESS_ASSETS,
    FRESHNESS_CHECK,
    build_freshness_sensor,
    due_week,
    evaluate_freshness,
    freshness_sensor,
    latest_deadline,
)
from forecast_assets.operations.schedules import weekly_weather_pipeline
from forecast_assets.resources import resources_for

PARIS = ZoneInfo("Europe/Paris")
UI = "http://dagster.example.test:3000"
MONGO = dg.AssetKey(["mongodb", "weather_measurements"])
WEATHER = dg.AssetKey("weather_data")
#: The week of the weekly run of Wednesday 2024-10-09 22:00, due Thursday 2024-10-10 06:00 Paris.
WEEK = [f"2024-10-0{d}" for d in range(2, 9)]
DEADLINE = datetime(2024, 10, 10, 6, 0, tzinfo=PARIS)
NEXT_WEEK = [(datetime(2024, 10, 9) + timedelta(days=n)).date().isoformat() for n in range(7)]


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)


def load(instance: dg.DagsterInstance, key: dg.AssetKey, days: list[str]) -> None:
    for day in days:
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=key, partition=day))


@pytest.fixture
def instance():
    with dg.DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


# --- the deadline and the week due ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (paris(2024, 10, 10, 5, 59), paris(2024, 10, 3, 6, 0)),
        (paris(2024, 10, 10, 6, 0), paris(2024, 10, 10, 6, 0)),  # the deadline itself is past due
        (paris(2024, 10, 16, 23, 0), paris(2024, 10, 10, 6, 0)),  # Wednesday after the weekly run
        # Winter time (CET, UTC+1) since 2024-10-27: 06:00 Paris is 05:00 UTC.
        (datetime(2024, 10, 31, 4, 59, tzinfo=UTC), paris(2024, 10, 24, 6, 0)),
        (datetime(2024, 10, 31, 5, 0, tzinfo=UTC), paris(2024, 10, 31, 6, 0)),
    ],
)
def test_latest_deadline_is_thursday_six_paris_time(at, expected):
    deadline = latest_deadline(at)
    assert deadline == expected
    assert (deadline.weekday(), deadline.hour, deadline.minute) == (3, 6, 0)


def test_naive_evaluation_time_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        latest_deadline(datetime(2024, 10, 10, 6, 0))


def test_week_due_is_the_range_the_weekly_schedule_ran_the_evening_before():
    """A year of the schedule's own ticks (across both DST changes): the next deadline, 8 hours after
    the tick, asks for exactly the partition range that tick's run request names."""
    ticks = schedule_execution_time_iterator(
        paris(2024, 10, 1).timestamp(),
        weekly_weather_pipeline.cron_schedule,
        weekly_weather_pipeline.execution_timezone,
    )
    for _, tick in zip(range(53), ticks):
        deadline = latest_deadline(tick + timedelta(days=7))  # the first deadline after the tick
        assert deadline - tick == timedelta(hours=8)
        [request] = weekly_weather_pipeline.evaluate_tick(
            dg.build_schedule_context(scheduled_execution_time=tick)
        ).run_requests
        assert request.partition_key_range == dg.PartitionKeyRange(*due_week(deadline))
    assert due_week(DEADLINE) == (WEEK[0], WEEK[-1])
    # Clipped to the first partition like the schedule; nothing due before it.
    assert due_week(paris(2024, 10, 3, 6, 0)) == ("2024-10-01", "2024-10-01")
    assert due_week(paris(2024, 9, 26, 6, 0)) is None


# --- evaluations at chosen times -----------------------------------------------------------------


def test_before_the_deadline_the_new_week_is_not_yet_due(instance):
    load(instance, MONGO, ["2024-10-01"])  # the (clipped) week due on 2024-10-03
    result = evaluate_freshness(instance, MONGO, paris(2024, 10, 10, 5, 59))
    assert result.passed
    assert result.week == ("2024-10-01", "2024-10-01")
    assert "is fresh" in result.description()
    assert "Next deadline: Thursday 2024-10-10 06:00 Europe/Paris" in result.description()


def test_nothing_due_before_the_first_deadline(instance):
    result = evaluate_freshness(instance, MONGO, paris(2024, 10, 1, 12, 0))
    assert result.passed and result.week is None
    assert "nothing due yet" in result.description()


def test_after_the_deadline_missing_days_fail_and_are_named(instance):
    load(instance, MONGO, [day for day in WEEK if day not in ("2024-10-04", "2024-10-08")])
    load(instance, dg.AssetKey("unrelated"), WEEK)  # another asset's days do not count

    mongo = evaluate_freshness(instance, MONGO, DEADLINE)
    assert not mongo.passed
    assert mongo.missing == ("2024-10-04", "2024-10-08")
    text = mongo.description()
    for part in (
        "mongodb/weather_measurements is stale",
        "2 of the 7 day(s) 2024-10-02 … 2024-10-08",
        "Thursday 2024-10-10 06:00 Europe/Paris",
        "2024-10-04, 2024-10-08",
        "weather_pipeline",
    ):
        assert part in text

    weather = evaluate_freshness(instance, WEATHER, DEADLINE + timedelta(days=3))
    assert weather.missing == tuple(WEEK)
    evaluation = weather.check_evaluation()
    assert (evaluation.asset_key, evaluation.check_name, evaluation.passed) == (WEATHER, FRESHNESS_CHECK, False)
    assert evaluation.metadata["missing_days"].value == WEEK
    assert evaluation.metadata["deadline"].value == "Thursday 2024-10-10 06:00 Europe/Paris"


def test_after_the_deadline_a_loaded_week_passes(instance):
    load(instance, MONGO, WEEK)
    result = evaluate_freshness(instance, MONGO, DEADLINE + timedelta(minutes=1))
    assert result.passed and result.missing == ()
    assert "all 7 day(s) 2024-10-02 … 2024-10-08" in result.description()


# --- the sensor: alerts once, again after recovery ------------------------------------------------


class Ticker:
    """Ticks a freshness sensor at chosen times, persisting its cursor and asset events like the daemon."""

    def __init__(self, instance: dg.DagsterInstance, sink, when: datetime):
        self.instance, self.sink, self.when, self.cursor = instance, sink, when, None
        self.sensor = build_freshness_sensor(now=lambda: self.when)

    def tick(self, when: datetime | None = None) -> dg.SensorResult:
        self.when = when or self.when
        context = dg.build_sensor_context(
            instance=self.instance,
            cursor=self.cursor,
            resources={"alert_sink": self.sink, "alert_policy": AlertPolicy(ui_base_url=UI)},
        )
        result = self.sensor(context)
        for event in result.asset_events:
            self.instance.report_runless_asset_event(event)
        self.cursor = result.cursor
        return result


def alerts(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def statuses(instance: dg.DagsterInstance, key: dg.AssetKey) -> list[str]:
    history = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(key, FRESHNESS_CHECK), limit=20
    )
    return [record.status.value for record in reversed(history)]


def test_a_stale_asset_is_alerted_once_and_again_after_recovery(instance, tmp_path):
    path = tmp_path / "alerts.jsonl"
    load(instance, MONGO, ["2024-10-01"])
    load(instance, WEATHER, ["2024-10-01"])
    ticker = Ticker(instance, LocalAlertSink(path=str(path)), paris(2024, 10, 10, 5, 59))

    ticker.tick()  # before the deadline: the week due on 2024-10-03 is loaded
    assert alerts(path) == []

    for when in (DEADLINE, DEADLINE + timedelta(minutes=5), DEADLINE + timedelta(hours=6)):
        ticker.tick(when)  # stale from the deadline on: one alert per asset, however many ticks
    sent = alerts(path)
    assert sorted(a["asset"] for a in sent) == ["mongodb/weather_measurements", "weather_data"]
    mongo_alert = next(a for a in sent if a["asset"] == "mongodb/weather_measurements")
    assert (mongo_alert["check"], mongo_alert["partitions"]) == (FRESHNESS_CHECK, WEEK)
    assert mongo_alert["metadata"]["deadline"] == "Thursday 2024-10-10 06:00 Europe/Paris"
    assert mongo_alert["run_url"] == f"{UI}/assets/mongodb/weather_measurements?view=checks"
    assert "2024-10-02, 2024-10-03" in mongo_alert["text"]

    load(instance, MONGO, WEEK)  # MongoDB recovers; weather_data stays stale
    ticker.tick(DEADLINE + timedelta(hours=7))
    ticker.tick(DEADLINE + timedelta(hours=8))
    assert len(alerts(path)) == 2
    # The check's status is recorded when it changes, not on every tick.
    assert statuses(instance, MONGO) == ["SUCCEEDED", "FAILED", "SUCCEEDED"]

    instance.wipe_assets([MONGO])  # recovered, then stale again for the same deadline: alerted again
    ticker.tick(DEADLINE + timedelta(hours=9))
    ticker.tick(DEADLINE + timedelta(hours=10))
    sent = alerts(path)
    assert len(sent) == 3 and (sent[2]["asset"], sent[2]["partitions"]) == ("mongodb/weather_measurements", WEEK)

    load(instance, MONGO, WEEK + NEXT_WEEK)
    ticker.tick(paris(2024, 10, 17, 6, 30))  # next deadline: MongoDB fresh, weather_data misses another week
    sent = alerts(path)
    assert len(sent) == 4 and (sent[3]["asset"], sent[3]["partitions"]) == ("weather_data", NEXT_WEEK)

    assert statuses(instance, MONGO) == ["FAILED", "SUCCEEDED"]  # the wipe also wiped the check's history
    assert statuses(instance, WEATHER) == ["SUCCEEDED", "FAILED", "FAILED"]
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(WEATHER, FRESHNESS_CHECK)]
    )[dg.AssetCheckKey(WEATHER, FRESHNESS_CHECK)]
    assert latest.status == AssetCheckExecutionRecordStatus.FAILED
    assert "2024-10-09 … 2024-10-15" in latest.event.dagster_event.event_specific_data.description


def test_an_undelivered_alert_is_retried_until_delivered_then_not_repeated(instance, httpserver: HTTPServer):
    load(instance, WEATHER, WEEK)  # only MongoDB is stale
    httpserver.expect_oneshot_request("/hooks/forecast", method="POST").respond_with_data("down", status=503)
    ticker = Ticker(instance, WebhookAlertSink(url=httpserver.url_for("/hooks/forecast"), timeout_seconds=5), DEADLINE)
    with pytest.raises(AlertDeliveryError, match="HTTP 503"):
        ticker.tick()
    assert ticker.cursor is None  # the failed tick moved nothing

    httpserver.expect_oneshot_request("/hooks/forecast", method="POST").respond_with_data("ok")
    ticker.tick(DEADLINE + timedelta(minutes=5))
    ticker.tick(DEADLINE + timedelta(minutes=10))  # delivered: not sent again (no request expected)
    httpserver.check_assertions()
    [_, delivered] = [request for request, _ in httpserver.log]
    assert delivered.get_json()["alert"]["asset"] == "mongodb/weather_measurements"
    assert len(httpserver.log) == 2


def test_freshness_sensor_loads_with_the_environment_resources():
    defs = dg.Definitions(sensors=[freshness_sensor], resources=resources_for("local"))
    dg.Definitions.validate_loadable(defs)
    assert defs.resolve_sensor_def("freshness_sensor").default_status == dg.DefaultSensorStatus.STOPPED
    assert set(FRESHNESS_ASSETS) == {MONGO, WEATHER}
