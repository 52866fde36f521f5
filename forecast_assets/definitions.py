"""The Dagster code location: Forecast 2.0's assets, jobs and resources, assembled."""

from __future__ import annotations

from typing import Any, Mapping

import dagster as dg

from forecast_assets.jobs import weather_pipeline_job
from forecast_assets.mongo.assets import weather_measurements
from forecast_assets.operations.executor import forecast_executor
from forecast_assets.operations.freshness import freshness_sensor
from forecast_assets.operations.schedules import weekly_weather_pipeline
from forecast_assets.operations.sensors import alert_sensors
from forecast_assets.ownership import with_code_links
from forecast_assets.raw.assets import raw_assets
from forecast_assets.resources import resources_for
from forecast_assets.weather.assets import weather_data


def build_defs(resource_overrides: Mapping[str, Any] | None = None, env: str | None = None) -> dg.Definitions:
    """All definitions, with the environment's resources; tests and CLIs override some by key."""
    return dg.Definitions(
        assets=with_code_links([*raw_assets, weather_data, weather_measurements]),
        jobs=[weather_pipeline_job],
        schedules=[weekly_weather_pipeline],
        sensors=[*alert_sensors, freshness_sensor],
        resources={**resources_for(env), **(resource_overrides or {})},
        executor=forecast_executor,  # frees pool slots of killed runs, bounds pool waits (operations/executor.py)
    )


defs = build_defs()
