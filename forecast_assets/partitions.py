"""Partition definitions shared by every asset: raw sources and days."""

from __future__ import annotations

import os
from datetime import date, datetime

import dagster as dg

#: The raw sources, each landed as its own daily-partitioned asset.
RAW_SOURCES: tuple[str, ...] = ("BE", "FR", "InfoClimat")

#: First day of observations the platform knows about.
START_DATE = "2024-10-01"

#: Last day (exclusive) of the partitions, when set: ``make ui`` sets it just after the sample data,
#: so the UI's partition pickers open on the sample days instead of the last 90 (empty) days.
#: Unset (production, schedules): the partitions grow by one every day.
END_DATE_VARIABLE = "FORECAST_PARTITIONS_END_DATE"

#: One partition per day. The key is a calendar date label: the WU sheet of *local* day D and the
#: InfoClimat observations of *UTC* day D both belong to partition D.
daily_partitions = dg.DailyPartitionsDefinition(
    start_date=START_DATE, end_date=os.getenv(END_DATE_VARIABLE) or None, timezone="UTC"
)


def partition_day(partition_key: str) -> date:
    """The calendar day of a daily partition key (``YYYY-MM-DD``)."""
    if len(partition_key) == 10 and partition_key[4] == partition_key[7] == "-":  # strptime is slow
        try:
            return date.fromisoformat(partition_key)
        except ValueError:
            pass
    return datetime.strptime(partition_key, "%Y-%m-%d").date()


def ddmmyy(day: date) -> str:
    """A day as the sources name it: ``DDMMYY`` (``011024`` is 1 October 2024)."""
    return day.strftime("%d%m%y")
