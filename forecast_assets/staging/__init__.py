"""Staging zone: where stages land intermediate files, in a local folder or in S3."""

from forecast_assets.staging.resources import (
    LocalStagingZone,
    S3StagingZone,
    StagingZone,
    StagingZoneError,
)

__all__ = ["LocalStagingZone", "S3StagingZone", "StagingZone", "StagingZoneError"]
