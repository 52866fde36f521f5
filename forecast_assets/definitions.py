"""The Dagster code location: Forecast 2.0's assets, jobs and resources, assembled."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg

from forecast_assets.environment import get_env
from forecast_assets.jobs import weather_pipeline_job
from forecast_assets.mongo.assets import weather_measurements
from forecast_assets.operations.executor import forecast_executor, forecast_in_process_executor
from forecast_assets.operations.freshness import freshness_sensor
from forecast_assets.operations.schedules import weekly_weather_pipeline
from forecast_assets.operations.sensors import alert_sensors
from forecast_assets.ownership import with_code_links
from forecast_assets.raw.assets import raw_assets
from forecast_assets.resources import resources_for
from forecast_assets.weather.assets import weather_data

#: The executor of each environment: both free the pool slots of killed runs and bound pool waits
#: (operations/executor.py); locally the steps of a run share its process.
EXECUTORS_BY_ENV: dict[str, dg.ExecutorDefinition] = {
    "local": forecast_in_process_executor,
    "production": forecast_executor,
}


def build_defs(resource_overrides: Mapping[str, Any] | None = None, env: str | None = None) -> dg.Definitions:
    """All definitions, with the environment's resources; tests and CLIs override some by key."""
    return dg.Definitions(
        assets=with_code_links([*raw_assets, weather_data, weather_measurements]),
        jobs=[weather_pipeline_job],
        schedules=[weekly_weather_pipeline],
        sensors=[*alert_sensors, freshness_sensor],
        resources={**resources_for(env), **(resource_overrides or {})},
        executor=EXECUTORS_BY_ENV[env or get_env()],
    )


defs = build_defs()
