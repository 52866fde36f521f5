"""Partition definitions shared by every asset: raw sources and days."""

from __future__ import annotations

from datetime import date, datetime

import dagster as dg

#: The raw sources, each landed as its own daily-partitioned asset.
RAW_SOURCES: tuple[str, ...] = ("BE", "FR", "InfoClimat")

#: First day of observations the platform knows about.
START_DATE = "2024-10-01"

#: One partition per day. The key is a calendar date label: the WU sheet of *local* day D and the
#: InfoClimat observations of *UTC* day D both belong to partition D.
daily_partitions = dg.DailyPartitionsDefinition(start_date=START_DATE, timezone="UTC")


def partition_day(partition_key: str) -> date:
    """The calendar day of a daily partition key (``YYYY-MM-DD``)."""
    return datetime.strptime(partition_key, "%Y-%m-%d").date()


def ddmmyy(day: date) -> str:
    """A day as the sources name it: ``DDMMYY`` (``011024`` is 1 October 2024)."""
    return day.strftime("%d%m%y")
