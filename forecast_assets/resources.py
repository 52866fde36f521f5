"""Resources per environment: which staging zone and source readers each deployment binds.

``FORECAST_ENV`` picks the set (``local``, the default, or ``production``); within a set every
location, endpoint and secret comes from an environment variable when it is set, so a user points
the platform at their own files without editing code. Asset code never branches on environment.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import dagster as dg

from forecast_assets.environment import flag, get_env, setting
from forecast_assets.feeds import Feed, feeds_of
from forecast_assets.mongo.embedded_resource import EmbeddedMongoResource
from forecast_assets.mongo.resources import MongoResource
from forecast_assets.mongo.write_concern import DEFAULT_WRITE_CONCERN
from forecast_assets.operations.alerts import (
    DEFAULT_UI_BASE_URL,
    AlertPolicy,
    LocalAlertSink,
    SnsAlertSink,
    WebhookAlertSink,
)
from forecast_assets.raw.infoclimat import InfoClimatApi, InfoClimatResponseFile
from forecast_assets.raw.wunderground import WundergroundSource
from forecast_assets.sample_data import SAMPLE_DIR
from forecast_assets.staging import LocalStagingZone, S3StagingZone
from forecast_assets.stations import INFOCLIMAT, WEATHER_UNDERGROUND

#: ``FORECAST_INFOCLIMAT_SOURCE`` value that reads the live API instead of a saved response.
INFOCLIMAT_API = "api"
ALERT_SINKS = ("local", "sns", "webhook")


def _sample(feed: Feed) -> str:
    return str(SAMPLE_DIR / feed.sample_file) if feed.sample_file else ""


def _infoclimat(use_api: bool) -> dict[str, dg.ConfigurableResource]:
    """Each InfoClimat feed's reader, named by its source setting: ``api`` or a saved response.

    Unset, production reads the API and the local set the shipped sample response.
    """
    readers = {}
    for feed in feeds_of(INFOCLIMAT):
        source = os.getenv(feed.source_setting, INFOCLIMAT_API if use_api else _sample(feed))
        if source == INFOCLIMAT_API:
            readers[feed.reader_key] = InfoClimatApi(
                base_url=setting("INFOCLIMAT_BASE_URL", "https://www.infoclimat.fr/opendata/"),
                token=setting("INFOCLIMAT_TOKEN", None),
                stations=list(feed.station_ids),
            )
        else:
            readers[feed.reader_key] = InfoClimatResponseFile(
                path=setting(feed.source_setting, source), stations=list(feed.station_ids)
            )
    return readers


def _alerts(default_sink: str) -> dict[str, dg.ConfigurableResource]:
    """``alert_sink`` named by ``FORECAST_ALERT_SINK`` (local | sns | webhook), and the ``alert_policy``."""
    sink = os.getenv("FORECAST_ALERT_SINK", default_sink)
    if sink == "sns":
        alert_sink = SnsAlertSink(
            topic_arn=dg.EnvVar("FORECAST_ALERT_SNS_TOPIC_ARN"),
            region_name=setting("AWS_REGION", None),
            endpoint_url=setting("FORECAST_ALERT_SNS_ENDPOINT_URL", None),
        )
    elif sink == "webhook":
        alert_sink = WebhookAlertSink(url=dg.EnvVar("FORECAST_ALERT_WEBHOOK_URL"))
    elif sink == "local":
        alert_sink = LocalAlertSink(path=setting("FORECAST_ALERT_FILE", ".forecast/alerts.jsonl"))
    else:
        raise ValueError(f"FORECAST_ALERT_SINK={sink!r} is not one of {list(ALERT_SINKS)}")
    return {
        "alert_sink": alert_sink,
        "alert_policy": AlertPolicy(
            alert_on_error=flag("FORECAST_ALERT_ON_ERROR", True),
            alert_on_warn=flag("FORECAST_ALERT_ON_WARN", True),
            ui_base_url=setting("FORECAST_UI_BASE_URL", DEFAULT_UI_BASE_URL),
        ),
    }


def _wunderground() -> dict[str, dg.ConfigurableResource]:
    """Each Weather Underground feed's reader: its station's workbook named by the feed's source setting."""
    return {
        feed.reader_key: WundergroundSource(
            station_id=feed.station_ids[0],
            location=setting(feed.source_setting, _sample(feed))
            if feed.sample_file
            else dg.EnvVar(feed.source_setting),
        )
        for feed in feeds_of(WEATHER_UNDERGROUND)
    }


def local_resources() -> dict[str, Any]:
    """The embedded default: shipped sample data, a local staging folder, a local MongoDB-wire server.

    With ``MONGO_URI`` unset, MongoDB is SecantusDB started on demand under ``.forecast/mongo``.
    """
    return {
        "staging": LocalStagingZone(root=setting("FORECAST_STAGING_DIR", ".forecast/staging")),
        "mongo": EmbeddedMongoResource(
            uri=setting("MONGO_URI", ""),
            database=setting("MONGO_DATABASE", "weather_db"),
            state_dir=setting("FORECAST_MONGO_STATE_DIR", ".forecast/mongo"),
            write_concern=setting("MONGO_WRITE_CONCERN", DEFAULT_WRITE_CONCERN),
        ),
        **_infoclimat(use_api=False),
        **_wunderground(),
        **_alerts("local"),
    }


def production_resources() -> dict[str, Any]:
    """AWS: an S3 staging zone, MongoDB at ``MONGO_URI`` and the live InfoClimat API."""
    return {
        "mongo": MongoResource(
            uri=dg.EnvVar("MONGO_URI"),
            database=setting("MONGO_DATABASE", "weather_db"),
            username=setting("MONGO_USERNAME", None),
            password=setting("MONGO_PASSWORD", None),
            tls_ca_file=setting("MONGO_TLS_CA_FILE", None),
            write_concern=setting("MONGO_WRITE_CONCERN", DEFAULT_WRITE_CONCERN),
        ),
        "staging": S3StagingZone(
            bucket=dg.EnvVar("FORECAST_S3_BUCKET"),
            prefix=setting("FORECAST_S3_PREFIX", ""),
            region_name=setting("AWS_REGION", None),
            endpoint_url=setting("FORECAST_S3_ENDPOINT_URL", None),
        ),
        **_infoclimat(use_api=True),
        **_wunderground(),
        **_alerts("sns"),
    }


#: The resource set of each environment of ``forecast_assets.environment.ENVIRONMENTS``.
RESOURCES_BY_ENV: dict[str, Callable[[], dict[str, Any]]] = {
    "local": local_resources,
    "production": production_resources,
}


def resources_for(env: str | None = None) -> dict[str, Any]:
    """The resource set of an environment (default: ``get_env()``)."""
    return RESOURCES_BY_ENV[env or get_env()]()
