"""Staging zone: where stages land intermediate files, in a local folder or in S3.

``history`` (list and restore previous raw landings, and its CLI) is imported on its own: it sits
above the raw stage.
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
