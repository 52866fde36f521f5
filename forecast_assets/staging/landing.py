"""Landings that are never destroyed: a replaced landing is kept in the zone's history first.

A landing is a partition's landed file plus its rejects file (absent when nothing was rejected).
Before a new landing replaces one whose records differ (``ingested_at_field`` aside), the previous
landing is copied to history, next to the live layout under ``_history/``::

    raw/BE/051024/IICHTE19.jsonl                      live landed file
    raw/_rejects/BE/051024/IICHTE19.jsonl             live rejects file
    raw/_history/BE/051024/IICHTE19.<version>.jsonl           a previous landed file
    raw/_history/BE/051024/IICHTE19.<version>.rejects.jsonl   its rejects file, if it had one

``<version>`` is ``<YYYYMMDDTHHMMSSZ>-<sha256[:8]>``: when that landing was ingested (UTC), then a
digest of its bytes, so versions sort by time and re-archiving the same landing (a rerun after a
killed run) writes the same keys again instead of growing history.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from forecast_assets.staging.resources import StagingZone, StagingZoneError, jsonl_bytes

HISTORY_FOLDER = "_history"
REJECTS_SUFFIX = ".rejects"
_VERSION = r"\d{8}T\d{6}Z-[0-9a-f]{8}"
#: ``restore`` version that means the newest landing in history.
LATEST = "latest"


@dataclass(frozen=True)
class Landing:
    """Where one partition lands: ``key`` (``<zone>/<folders>/<name>.jsonl``) and ``rejects_key``."""

    key: str
    rejects_key: str
    #: Lineage field that differs on every run; records equal apart from it are the same landing.
    ingested_at_field: str
    #: How the partition is named in messages, e.g. ``BE 2024-10-05``.
    label: str = ""

    @property
    def history_stem(self) -> str:
        """History key of this landing without ``.<version>.jsonl``: ``raw/_history/BE/051024/IICHTE19``."""
        zone_folder, _, rest = self.key.partition("/")
        return f"{zone_folder}/{HISTORY_FOLDER}/{rest.removesuffix('.jsonl')}"


@dataclass(frozen=True)
class LandingVersion:
    """A previous landing kept in history: its version and the keys of its files."""

    version: str
    rows_key: str | None
    rejects_key: str | None


def replace_landing(
    zone: StagingZone, landing: Landing, rows: list[dict[str, Any]], rejects: list[dict[str, Any]]
) -> str:
    """Land ``rows`` (and ``rejects``, if any) after keeping the previous landing in history; the landed URI."""
    return _replace(zone, landing, jsonl_bytes(rows), jsonl_bytes(rejects) if rejects else None)


def landing_versions(zone: StagingZone, landing: Landing) -> list[LandingVersion]:
    """The previous landings kept in history, oldest first."""
    stem = landing.history_stem
    rejects = re.escape(REJECTS_SUFFIX)
    pattern = re.compile(re.escape(stem) + rf"\.(?P<version>{_VERSION})(?P<rejects>{rejects})?\.jsonl")
    found: dict[str, dict[str, str]] = {}
    for key in zone.list_keys(f"{stem}."):
        match = pattern.fullmatch(key)
        if match:
            found.setdefault(match["version"], {})["rejects" if match["rejects"] else "rows"] = key
    return [LandingVersion(v, keys.get("rows"), keys.get("rejects")) for v, keys in sorted(found.items())]


def restore_version(zone: StagingZone, landing: Landing, version: str) -> str:
    """Make a version from history (or ``latest``) the live landing again, byte for byte; the landed URI.

    The landing it replaces is kept in history like any other, so a restore can be undone the same way.
    """
    versions = landing_versions(zone, landing)
    wanted = versions[-1:] if version == LATEST else [v for v in versions if v.version == version]
    if not wanted:
        known = ", ".join(v.version for v in versions) or "no previous landing is kept"
        raise StagingZoneError(
            f"{landing.label}: no landing version {version!r} under {zone.describe()}/{landing.history_stem}.* "
            f"(versions: {known}); list them with "
            f"`python -m forecast_assets.operations.landing_history list {landing.label}`"
        )
    [chosen] = wanted
    rows = zone.read_bytes(chosen.rows_key) if chosen.rows_key else None
    rejects = zone.read_bytes(chosen.rejects_key) if chosen.rejects_key else None
    return _replace(zone, landing, rows, rejects)


def _replace(zone: StagingZone, landing: Landing, rows: bytes | None, rejects: bytes | None) -> str:
    previous = (_read_or_none(zone, landing.key), _read_or_none(zone, landing.rejects_key))
    if previous != (None, None) and not _same_records(previous, (rows, rejects), landing.ingested_at_field):
        _archive(zone, landing, previous)  # before anything live changes: a kill leaves one copy at least
    uri = zone.write_bytes(landing.key, rows) if rows is not None else zone.uri(landing.key)
    if rows is None and previous[0] is not None:
        zone.delete(landing.key)
    if rejects is not None:
        zone.write_bytes(landing.rejects_key, rejects)
    elif previous[1] is not None:  # a landing that rejects nothing must not leave stale rejects
        zone.delete(landing.rejects_key)
    return uri


def _archive(zone: StagingZone, landing: Landing, previous: tuple[bytes | None, bytes | None]) -> None:
    version = _version_of(previous, landing.ingested_at_field)
    stem = f"{landing.history_stem}.{version}"
    # Server-side copies of the live objects (CopyObject on S3): history holds the landed bytes exactly.
    if previous[0] is not None:
        zone.copy(landing.key, f"{stem}.jsonl")
    if previous[1] is not None:
        zone.copy(landing.rejects_key, f"{stem}{REJECTS_SUFFIX}.jsonl")


def _version_of(landed: tuple[bytes | None, bytes | None], ingested_at_field: str) -> str:
    """``<ingested at, UTC>-<digest>``; the time now stands in for a landing without records."""
    digest = hashlib.sha256()
    for data in landed:
        digest.update(b"-" if data is None else b"+" + hashlib.sha256(data).digest())
    stamp = None
    for data in landed:
        try:
            first = _records(data)[:1]
        except ValueError:  # damaged JSONL is kept all the same
            first = []
        if first and isinstance(first[0], dict):
            stamp = stamp or _utc_stamp(first[0].get(ingested_at_field))
    stamp = stamp or datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{digest.hexdigest()[:8]}"


def _utc_stamp(value: Any) -> str | None:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _same_records(
    old: tuple[bytes | None, bytes | None], new: tuple[bytes | None, bytes | None], ingested_at_field: str
) -> bool:
    """Whether two landings hold the same records (in order) once ``ingested_at_field`` is set aside."""

    def strip(data: bytes | None) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if k != ingested_at_field} for r in _records(data)]

    try:
        return all(strip(a) == strip(b) for a, b in zip(old, new))
    except (ValueError, AttributeError):  # not JSONL of objects (damaged, hand-edited): keep it
        return False


def _records(data: bytes | None) -> list[dict[str, Any]]:
    if not data:
        return []
    # split("\n"), not splitlines(): U+2028 and such may appear raw inside JSON strings.
    return [json.loads(line) for line in data.decode("utf-8").split("\n") if line.strip()]


def _read_or_none(zone: StagingZone, key: str) -> bytes | None:
    try:
        return zone.read_bytes(key)
    except FileNotFoundError:
        return None
