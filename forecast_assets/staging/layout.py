"""The staging zone's layout: every key a stage reads or writes, and the lineage fields of landed rows.

    raw/<feed>/<DDMMYY>/<landed_file>.jsonl            a feed's day, landed unchanged (+ lineage)
    raw/_rejects/<feed>/<DDMMYY>/<landed_file>.jsonl   records the raw stage could not land, with reasons
    raw/_history/<feed>/<DDMMYY>/<landed_file>.<version>[.rejects].jsonl   previous landings
    Transform/<DDMMYY>/weather_data.jsonl               a day of the contract's rows
    Transform/<DDMMYY>/weather_data.quality.json        its quality report
    Transform/<DDMMYY>/weather_data.rejects.jsonl       raw rows the transform rejected, with reasons

The layout mirrors the original bucket; keys are relative to the zone's root (folder or S3 prefix).
"""

from __future__ import annotations

from forecast_assets.feeds import FEEDS
from forecast_assets.partitions import ddmmyy, partition_day
from forecast_assets.staging.landing import Landing

#: Lineage fields added to every landed row; everything else in a row is the source's own.
SOURCE_URI = "_source_uri"
SOURCE_POSITION = "_source_position"
INGESTED_AT = "_ingested_at"
LINEAGE_FIELDS = (SOURCE_URI, SOURCE_POSITION, INGESTED_AT)

RAW_FOLDER = "raw"
RAW_REJECTS_FOLDER = "raw/_rejects"
TRANSFORM_FOLDER = "Transform"


def _day_folder(partition_key: str) -> str:
    return ddmmyy(partition_day(partition_key))


def raw_landed_key(feed: str, partition_key: str) -> str:
    """A feed's landed day: ``raw/<feed>/<DDMMYY>/<landed_file>.jsonl``."""
    return f"{RAW_FOLDER}/{feed}/{_day_folder(partition_key)}/{FEEDS[feed].landed_file}.jsonl"


def raw_rejects_key(feed: str, partition_key: str) -> str:
    """A feed's rejected records of a day: ``raw/_rejects/<feed>/<DDMMYY>/<landed_file>.jsonl``."""
    return f"{RAW_REJECTS_FOLDER}/{feed}/{_day_folder(partition_key)}/{FEEDS[feed].landed_file}.jsonl"


def raw_landing(feed: str, partition_key: str) -> Landing:
    """The landing of a feed's day: its landed and rejects keys (history is kept beside them)."""
    return Landing(
        raw_landed_key(feed, partition_key),
        raw_rejects_key(feed, partition_key),
        INGESTED_AT,
        label=f"{feed} {partition_key}",
    )


def dataset_key(partition_key: str) -> str:
    """A day of weather_data: ``Transform/<DDMMYY>/weather_data.jsonl``."""
    return f"{TRANSFORM_FOLDER}/{_day_folder(partition_key)}/weather_data.jsonl"


def quality_key(partition_key: str) -> str:
    """A day's quality report: ``Transform/<DDMMYY>/weather_data.quality.json``."""
    return f"{TRANSFORM_FOLDER}/{_day_folder(partition_key)}/weather_data.quality.json"


def transform_rejects_key(partition_key: str) -> str:
    """The raw rows a day's transform rejected, with their reasons: ``Transform/<DDMMYY>/weather_data.rejects.jsonl``."""
    return f"{TRANSFORM_FOLDER}/{_day_folder(partition_key)}/weather_data.rejects.jsonl"
