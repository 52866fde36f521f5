"""The weather path (transform, de-dup, checks, quality report) frozen as it was at commit 5aaf639.

Issue 14's "today's code" reference: ``build_day(staging, partition_key)`` gives the same ``Day`` as
``forecast_assets.weather.assets.build_day`` did then. Do not edit: see README.md.
"""

from bench.reference_v1.build import Day, build_day

__all__ = ["Day", "build_day"]
