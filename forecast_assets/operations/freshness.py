"""Freshness: the week before each Wednesday must be materialized by Thursday 06:00 Europe/Paris.

The weekly schedule (``operations/schedules.py``) runs Wednesdays 22:00 Paris over the 7 days
Wednesday … Tuesday before its tick. The deadline of that week is the next morning, Thursday 06:00
Paris: from then on, every one of those 7 daily partitions must be materialized, for
``mongodb/weather_measurements`` (what the data scientists read) and ``weather_data``.

Why not Dagster's built-in freshness: ``build_time_partition_freshness_checks`` (superseded)
checks the single latest partition at the deadline, and ``FreshnessPolicy.cron`` the time of the
last materialization of any partition; neither says "all 7 days of that week". And a freshness
``@asset_check`` would be pulled into every run that materializes the assets (``AssetSelection.all()``
and the UI's Materialize include the checks of the selected assets), where, on the 2024 sample
days, it would fail every demo and test run. So ``freshness_sensor`` evaluates the rule itself,
records the result as a runless ``AssetCheckEvaluation`` (check ``weekly_freshness``) when it
changes, and sends one alert through ``alert_sink`` per asset and stale episode.

Cursor: JSON ``{asset: {"seen": <deadline>:<pass|missing days>, "alerted": <deadline> | null}}``.
An asset is alerted once per missed deadline; passing again clears ``alerted``, so a later
staleness (the next week's deadline, or the same one after a wipe) alerts again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg

from forecast_assets.environment import is_production
from forecast_assets.mongo.assets import WEATHER_MEASUREMENTS
from forecast_assets.operations.alerts import CHECK_FAILED, Alert, AlertDeliveryError, AlertPolicy, AlertSink
from forecast_assets.operations.schedules import EXECUTION_TIMEZONE, week_before
from forecast_assets.partitions import START_DATE, partition_day
from forecast_assets.weather.assets import WEATHER_DATA

FRESHNESS_CHECK = "weekly_freshness"
FRESHNESS_SEVERITY = dg.AssetCheckSeverity.ERROR
#: The assets whose week must be loaded by the deadline.
FRESHNESS_ASSETS: tuple[dg.AssetKey, ...] = (WEATHER_MEASUREMENTS, WEATHER_DATA)
DEADLINE_TIMEZONE = EXECUTION_TIMEZONE  # Europe/Paris, the schedule's zone
DEADLINE_WEEKDAY = 3  # Thursday (Monday is 0)
DEADLINE_TIME = time(6, 0)
SENSOR_INTERVAL_SECONDS = 300


def latest_deadline(at: datetime) -> datetime:
    """The last Thursday 06:00 Europe/Paris at or before ``at`` (timezone-aware, any zone)."""
    if at.tzinfo is None:
        raise ValueError(f"freshness evaluation time must be timezone-aware, got {at!r}")
    paris = ZoneInfo(DEADLINE_TIMEZONE)
    local = at.astimezone(paris)
    day = local.date() - timedelta(days=(local.weekday() - DEADLINE_WEEKDAY) % 7)
    deadline = datetime.combine(day, DEADLINE_TIME, tzinfo=paris)
    if deadline > local:
        deadline = datetime.combine(day - timedelta(days=7), DEADLINE_TIME, tzinfo=paris)
    return deadline


def due_week(deadline: datetime) -> tuple[str, str] | None:
    """First and last partition keys due at ``deadline``: the weekly run of the Wednesday before.

    Clipped to the first partition like the schedule; ``None`` when the week ends before it.
    """
    first, last = week_before(deadline - timedelta(days=1))  # the Wednesday's tick
    if partition_day(last) < partition_day(START_DATE):
        return None
    return max(first, START_DATE), last


def _days(first: str, last: str) -> list[str]:
    start: date = partition_day(first)
    return [(start + timedelta(days=n)).isoformat() for n in range((partition_day(last) - start).days + 1)]


def _label(moment: datetime) -> str:
    return f"{moment.strftime('%A %Y-%m-%d %H:%M')} {DEADLINE_TIMEZONE}"


@dataclass(frozen=True)
class WeekFreshness:
    """One evaluation: which week was due at which deadline, and which of its days are missing."""

    asset_key: dg.AssetKey
    evaluated_at: datetime
    deadline: datetime
    week: tuple[str, str] | None  # None: nothing due yet
    missing: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.missing

    @property
    def next_deadline(self) -> datetime:
        return datetime.combine(self.deadline.date() + timedelta(days=7), DEADLINE_TIME, tzinfo=self.deadline.tzinfo)

    def signature(self) -> str:
        """What changes when the result changes: the deadline and the missing days."""
        return f"{self.deadline.isoformat()}:{','.join(self.missing) or 'pass'}"

    def description(self) -> str:
        """The asset, the week, the deadline, and for a stale asset the missing days and what to do."""
        asset = self.asset_key.to_user_string()
        if self.week is None:
            return (
                f"{asset}: nothing due yet; the first week ({START_DATE} onwards) is due {_label(self.next_deadline)}."
            )
        first, last = self.week
        total = len(_days(first, last))
        if self.passed:
            return (
                f"{asset} is fresh: all {total} day(s) {first} … {last} due {_label(self.deadline)} "
                f"are materialized. Next deadline: {_label(self.next_deadline)}."
            )
        return (
            f"{asset} is stale: {len(self.missing)} of the {total} day(s) {first} … {last} were not "
            f"materialized by {_label(self.deadline)}: {', '.join(self.missing)}. Fix what kept them "
            f"out (the failed runs and checks of those days), then run weather_pipeline over "
            f"{self.missing[0]} … {self.missing[-1]} (a backfill in the Dagster UI)."
        )

    def metadata(self) -> dict[str, Any]:
        """Deadline, week and missing days, for the check evaluation and the alert."""
        return {
            "deadline": _label(self.deadline),
            "week": f"{self.week[0]} … {self.week[1]}" if self.week else "-",
            "missing_days": list(self.missing),
            "evaluated_at": self.evaluated_at.isoformat(),
        }

    def check_evaluation(self) -> dg.AssetCheckEvaluation:
        """The result as the ``weekly_freshness`` check evaluation of the asset."""
        return dg.AssetCheckEvaluation(
            asset_key=self.asset_key,
            check_name=FRESHNESS_CHECK,
            passed=self.passed,
            severity=FRESHNESS_SEVERITY,
            description=self.description(),
            metadata={**self.metadata(), "missing_days": dg.MetadataValue.json(list(self.missing))},
        )


def evaluate_freshness(instance: dg.DagsterInstance, asset_key: dg.AssetKey, at: datetime) -> WeekFreshness:
    """Whether every day of the week due at the last deadline before ``at`` is materialized."""
    deadline = latest_deadline(at)
    week = due_week(deadline)
    missing: tuple[str, ...] = ()
    if week is not None:
        materialized = instance.get_materialized_partitions(asset_key)
        missing = tuple(day for day in _days(*week) if day not in materialized)
    return WeekFreshness(asset_key=asset_key, evaluated_at=at, deadline=deadline, week=week, missing=missing)


def asset_url(base_url: str, asset_key: dg.AssetKey) -> str:
    """The Dagster UI page of an asset's checks."""
    return f"{base_url.rstrip('/')}/assets/{'/'.join(asset_key.path)}?view=checks"


def freshness_alert(result: WeekFreshness, policy: AlertPolicy) -> Alert:
    """The alert for a stale asset: no run is involved, so the link is the asset's checks page."""
    return Alert(
        kind=CHECK_FAILED,
        severity=FRESHNESS_SEVERITY.value,
        summary=result.description(),
        run_id="",
        run_url=asset_url(policy.ui_base_url, result.asset_key),
        asset=result.asset_key.to_user_string(),
        check=FRESHNESS_CHECK,
        partitions=list(result.missing),
        metadata=result.metadata(),
    )


def _read_cursor(cursor: str | None, name: str) -> dict[str, dict[str, Any]]:
    if not cursor:
        return {}
    try:
        state = json.loads(cursor)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"sensor {name}: cursor {cursor[:80]!r} is not JSON ({error}); reset the sensor's "
            f"cursor in the Dagster UI (Sensors → {name}); stale assets are then alerted again"
        ) from None
    return state if isinstance(state, dict) else {}


def _utc_now() -> datetime:
    return datetime.now(UTC)


def build_freshness_sensor(
    assets: Sequence[dg.AssetKey] = FRESHNESS_ASSETS,
    now: Callable[[], datetime] = _utc_now,
    name: str = "freshness_sensor",
) -> dg.SensorDefinition:
    """The sensor evaluating the weekly freshness of ``assets`` at ``now()``; tests pass their clock."""

    @dg.sensor(
        name=name,
        minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
        # Like the weekly schedule: locally the sample days are from 2024, every week would be stale.
        default_status=(dg.DefaultSensorStatus.RUNNING if is_production() else dg.DefaultSensorStatus.STOPPED),
        description="Every 5 minutes: are the 7 days of the last weekly run (Wednesday … Tuesday) "
        "materialized since Thursday 06:00 Europe/Paris? Records the `weekly_freshness` check and "
        "alerts through `alert_sink` once per stale asset.",
    )
    def _freshness_sensor(
        context: dg.SensorEvaluationContext, alert_sink: AlertSink, alert_policy: AlertPolicy
    ) -> dg.SensorResult:
        state = _read_cursor(context.cursor, name)
        at = now()
        events, sent, errors = [], [], []
        for asset_key in assets:
            result = evaluate_freshness(context.instance, asset_key, at)
            asset = asset_key.to_user_string()
            previous = state.get(asset, {})
            entry = {"seen": result.signature(), "alerted": previous.get("alerted")}
            if previous.get("seen") != entry["seen"]:
                events.append(result.check_evaluation())
            if result.passed:
                entry["alerted"] = None
            elif entry["alerted"] != result.deadline.isoformat() and alert_policy.alerts_on(FRESHNESS_SEVERITY):
                alert = freshness_alert(result, alert_policy)
                try:
                    alert_sink.send(alert)
                except AlertDeliveryError as error:  # stays un-alerted: retried next tick
                    errors.append(error)
                    context.log.error(f"freshness alert for {asset} not delivered, retried next tick: {error}")
                else:
                    entry["alerted"] = result.deadline.isoformat()
                    sent.append(alert)
                    context.log.info(f"alert sent: {alert.title()}")
            state[asset] = entry
        if errors and not sent:
            raise errors[0]  # nothing delivered: fail the tick so it shows, the next tick retries
        message = (
            (f"sent {len(sent)} freshness alert(s): " + "; ".join(a.title() for a in sent))
            if sent
            else f"no new staleness at {at.isoformat()} (last deadline {_label(latest_deadline(at))})"
        )
        return dg.SensorResult(skip_reason=message, cursor=json.dumps(state, sort_keys=True), asset_events=events)

    return _freshness_sensor


freshness_sensor = build_freshness_sensor()
