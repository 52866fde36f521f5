"""The deployment environment and settings read from environment variables (no stage imports this)."""

from __future__ import annotations

import os
from typing import Any

import dagster as dg

#: Names the resource set (``local``, the default, or ``production``).
ENV_VAR = "FORECAST_ENV"
ENVIRONMENTS: tuple[str, ...] = ("local", "production")


def get_env() -> str:
    """The deployment environment named by ``FORECAST_ENV`` (default ``local``)."""
    env = os.getenv(ENV_VAR, "local")
    if env not in ENVIRONMENTS:
        raise ValueError(f"{ENV_VAR}={env!r} is not one of {sorted(ENVIRONMENTS)}")
    return env


def is_production() -> bool:
    """Whether ``FORECAST_ENV`` names production (schedules and sensors then start running)."""
    return os.getenv(ENV_VAR) == "production"


def setting(name: str, default: Any) -> Any:
    """``EnvVar(name)`` (resolved at run time) when the variable is set, else ``default``."""
    return dg.EnvVar(name) if os.getenv(name) else default


def flag(name: str, default: bool) -> bool:
    """A yes/no variable: ``0``, ``false``, ``no`` and ``off`` are no; unset is ``default``."""
    return os.getenv(name, str(default)).strip().lower() not in ("0", "false", "no", "off")
