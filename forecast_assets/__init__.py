"""Forecast 2.0: GreenAndCoop's weather observations as Dagster software-defined assets."""
