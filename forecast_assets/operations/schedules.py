"""The weekly schedule: every Wednesday 22:00 Paris time, the past week through the whole lineage, in one run.

"The past week" of a tick is the 7 complete days ending the day before the tick, counted in the
tick's Europe/Paris local date: the tick of Wednesday 2024-10-09 22:00 materializes the partitions
2024-10-02 (a Wednesday) … 2024-10-08 (the Tuesday).

Why those days: a partition key is a calendar-date label (the Weather Underground sheet of local
day D, InfoClimat's UTC day D). At 22:00 Paris (20:00 UTC in summer, 21:00 UTC in winter) the
tick's own day is not over, in either calendar, so it is excluded; the day before is complete in
both. Paris and UTC give the same date at 22:00 Paris all year, so the choice of calendar never
shifts the week, including across the DST changes. Successive ticks cover adjacent weeks with
neither gap nor overlap. The week is clipped to the first partition (``START_DATE``).

The run request names the range with the ``dagster/asset_partition_range_start``/``_end`` tags, so
raw → weather_data → MongoDB run once over the 7 days, whatever the assets' backfill policy
(``FORECAST_BACKFILL_DAYS_PER_RUN`` splits backfills only). ``build_schedule_from_partitioned_job`` is not used: it would take its timezone from the
(UTC) partitions definition and request a single partition.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from forecast_assets.dagster_internals import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from forecast_assets.environment import is_production
from forecast_assets.jobs import weather_pipeline_job
from forecast_assets.partitions import START_DATE, partition_day

EXECUTION_TIMEZONE = "Europe/Paris"
#: Minute, hour, day of month, month, day of week: Wednesdays (3) at 22:00.
WEEKLY_CRON = "0 22 * * 3"
WEEK_DAYS = 7


def week_before(tick: datetime) -> tuple[str, str]:
    """First and last partition keys of the 7 days ending the day before ``tick``'s Paris date.

    ``tick`` must be timezone-aware (any zone; it is converted to Europe/Paris).
    """
    if tick.tzinfo is None:
        raise ValueError(f"tick must be timezone-aware, got {tick!r}")
    last: date = tick.astimezone(ZoneInfo(EXECUTION_TIMEZONE)).date() - timedelta(days=1)
    first = last - timedelta(days=WEEK_DAYS - 1)
    return first.isoformat(), last.isoformat()


def range_tags(first_key: str, last_key: str) -> dict[str, str]:
    """Run tags asking for one run over the partition range ``first_key`` … ``last_key``."""
    return {ASSET_PARTITION_RANGE_START_TAG: first_key, ASSET_PARTITION_RANGE_END_TAG: last_key}


@dg.schedule(
    name="weekly_weather_pipeline",
    cron_schedule=WEEKLY_CRON,
    execution_timezone=EXECUTION_TIMEZONE,
    job=weather_pipeline_job,
    # On by itself in production; locally the sample data has no recent days, so turn it on by hand.
    default_status=(dg.DefaultScheduleStatus.RUNNING if is_production() else dg.DefaultScheduleStatus.STOPPED),
    description="Wednesdays 22:00 Europe/Paris: the 7 days Wednesday … Tuesday before the tick, "
    "raw sources through weather_data to MongoDB, as one run over the partition range.",
)
def weekly_weather_pipeline(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    """One run over the past week's partitions; the run key makes each tick's request idempotent."""
    first, last = week_before(context.scheduled_execution_time)
    if partition_day(last) < partition_day(START_DATE):
        return dg.SkipReason(f"the week {first} … {last} ends before the first partition {START_DATE}")
    first = max(first, START_DATE)
    return dg.RunRequest(
        run_key=f"weekly:{first}..{last}",
        tags={**range_tags(first, last), "forecast/trigger": "weekly_schedule"},
    )
