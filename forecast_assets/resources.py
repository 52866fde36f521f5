"""Resources per environment: which staging zone and source readers each deployment binds.

``FORECAST_ENV`` picks the set (``local``, the default, or ``production``); within a set every
location, endpoint and secret comes from an environment variable when it is set, so a user points
the platform at their own files without editing code. Asset code never branches on environment.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import dagster as dg

from forecast_assets.mongo.embedded import EmbeddedMongoResource
from forecast_assets.mongo.resources import MongoResource
from forecast_assets.operations.alerts import DEFAULT_UI_BASE_URL, LocalAlertSink, SnsAlertSink, WebhookAlertSink
from forecast_assets.operations.sensors import AlertPolicy
from forecast_assets.raw.infoclimat import InfoClimatApi, InfoClimatResponseFile
from forecast_assets.raw.wunderground import WundergroundSource
from forecast_assets.sample_data import BE_WORKBOOK, FR_WORKBOOK, INFOCLIMAT_RESPONSE
from forecast_assets.staging import LocalStagingZone, S3StagingZone

ENV_VAR = "FORECAST_ENV"
INFOCLIMAT_API = "api"
ALERT_SINKS = ("local", "sns", "webhook")


def get_env() -> str:
    """The deployment environment named by ``FORECAST_ENV`` (default ``local``)."""
    env = os.getenv(ENV_VAR, "local")
    if env not in RESOURCES_BY_ENV:
        raise ValueError(f"{ENV_VAR}={env!r} is not one of {sorted(RESOURCES_BY_ENV)}")
    return env


def setting(name: str, default: Any) -> Any:
    """``EnvVar(name)`` (resolved at run time) when the variable is set, else ``default``."""
    return dg.EnvVar(name) if os.getenv(name) else default


def _infoclimat(default: str) -> dg.ConfigurableResource:
    """The InfoClimat reader named by ``FORECAST_INFOCLIMAT_SOURCE``: ``api`` or a saved response."""
    source = os.getenv("FORECAST_INFOCLIMAT_SOURCE", default)
    if source == INFOCLIMAT_API:
        return InfoClimatApi(
            base_url=setting("INFOCLIMAT_BASE_URL", "https://www.infoclimat.fr/opendata/"),
            token=setting("INFOCLIMAT_TOKEN", None),
        )
    return InfoClimatResponseFile(path=setting("FORECAST_INFOCLIMAT_SOURCE", source))


def _flag(name: str, default: bool) -> bool:
    return os.getenv(name, str(default)).strip().lower() not in ("0", "false", "no", "off")


def _alerts(default_sink: str) -> dict[str, dg.ConfigurableResource]:
    """``alert_sink`` named by ``FORECAST_ALERT_SINK`` (local | sns | webhook), and the ``alert_policy``."""
    sink = os.getenv("FORECAST_ALERT_SINK", default_sink)
    if sink == "sns":
        alert_sink = SnsAlertSink(topic_arn=dg.EnvVar("FORECAST_ALERT_SNS_TOPIC_ARN"),
                                  region_name=setting("AWS_REGION", None),
                                  endpoint_url=setting("FORECAST_ALERT_SNS_ENDPOINT_URL", None))
    elif sink == "webhook":
        alert_sink = WebhookAlertSink(url=dg.EnvVar("FORECAST_ALERT_WEBHOOK_URL"))
    elif sink == "local":
        alert_sink = LocalAlertSink(path=setting("FORECAST_ALERT_FILE", ".forecast/alerts.jsonl"))
    else:
        raise ValueError(f"FORECAST_ALERT_SINK={sink!r} is not one of {list(ALERT_SINKS)}")
    return {
        "alert_sink": alert_sink,
        "alert_policy": AlertPolicy(alert_on_error=_flag("FORECAST_ALERT_ON_ERROR", True),
                                    alert_on_warn=_flag("FORECAST_ALERT_ON_WARN", True),
                                    ui_base_url=setting("FORECAST_UI_BASE_URL", DEFAULT_UI_BASE_URL)),
    }


def _wunderground() -> dict[str, dg.ConfigurableResource]:
    return {
        "wu_be": WundergroundSource(
            station_id="IICHTE19", location=setting("FORECAST_BE_SOURCE", str(BE_WORKBOOK))
        ),
        "wu_fr": WundergroundSource(
            station_id="ILAMAD25", location=setting("FORECAST_FR_SOURCE", str(FR_WORKBOOK))
        ),
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
        ),
        "infoclimat": _infoclimat(str(INFOCLIMAT_RESPONSE)),
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
        ),
        "staging": S3StagingZone(
            bucket=dg.EnvVar("FORECAST_S3_BUCKET"),
            prefix=setting("FORECAST_S3_PREFIX", ""),
            region_name=setting("AWS_REGION", None),
            endpoint_url=setting("FORECAST_S3_ENDPOINT_URL", None),
        ),
        "infoclimat": _infoclimat(INFOCLIMAT_API),
        **_wunderground(),
        **_alerts("sns"),
    }


RESOURCES_BY_ENV: dict[str, Callable[[], dict[str, Any]]] = {
    "local": local_resources,
    "production": production_resources,
}


def resources_for(env: str | None = None) -> dict[str, Any]:
    """The resource set of an environment (default: ``get_env()``)."""
    return RESOURCES_BY_ENV[env or get_env()]()
