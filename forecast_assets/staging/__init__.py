"""Staging zone: where stages land intermediate files, in a local folder or in S3.

Every key of the zone is built by :mod:`forecast_assets.staging.layout`; listing and restoring previous
raw landings is :mod:`forecast_assets.operations.landing_history`.
"""

from forecast_assets.staging.landing import (
    Landing,
    LandingVersion,
    landing_versions,
    replace_landing,
    restore_version,
)
from forecast_assets.staging.resources import (
    LocalStagingZone,
    S3StagingZone,
    StagingZone,
    StagingZoneError,
)

__all__ = [
    "Landing",
    "LandingVersion",
    "LocalStagingZone",
    "S3StagingZone",
    "StagingZone",
    "StagingZoneError",
    "landing_versions",
    "replace_landing",
    "restore_version",
]
