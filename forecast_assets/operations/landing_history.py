"""List and restore previous raw landings of a source's day: functions and a small CLI.

    python -m forecast_assets.operations.landing_history list BE 2024-10-05
    python -m forecast_assets.operations.landing_history restore BE 2024-10-05 <version | latest>

The CLI uses the staging zone of the environment's resource set (``FORECAST_ENV``: the local folder
``FORECAST_STAGING_DIR``, or the S3 zone ``FORECAST_S3_BUCKET``/``FORECAST_S3_PREFIX``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from forecast_assets.feeds import RAW_FEEDS
from forecast_assets.partitions import partition_day
from forecast_assets.resources import resources_for
from forecast_assets.staging.landing import LATEST, LandingVersion, landing_versions, restore_version
from forecast_assets.staging.layout import INGESTED_AT, raw_landing
from forecast_assets.staging.resources import StagingZone, StagingZoneError


def landing_history(zone: StagingZone, source: str, partition_key: str) -> list[LandingVersion]:
    """Previous landings of a source's day kept in the zone's history, oldest first."""
    return landing_versions(zone, raw_landing(source, partition_key))


def restore_landing(zone: StagingZone, source: str, partition_key: str, version: str) -> str:
    """Make a previous landing (a version from :func:`landing_history`, or ``latest``) live again; its URI."""
    return restore_version(zone, raw_landing(source, partition_key), version)


def _counts(zone: StagingZone, key: str | None) -> int:
    return len(zone.read_jsonl(key)) if key and zone.exists(key) else 0


def _list(zone: StagingZone, source: str, partition_key: str) -> None:
    landing = raw_landing(source, partition_key)
    rows = zone.read_jsonl(landing.key) if zone.exists(landing.key) else None
    if rows is None:
        print(f"current: nothing landed at {zone.uri(landing.key)}")
    else:
        when = rows[0].get(INGESTED_AT, "?") if rows else "?"
        print(
            f"current: {len(rows)} rows, {_counts(zone, landing.rejects_key)} rejected, "
            f"ingested at {when}: {zone.uri(landing.key)}"
        )
    versions = landing_versions(zone, landing)
    if not versions:
        print(f"no previous landing kept under {zone.uri(landing.history_stem)}.*")
    for v in versions:
        print(
            f"{v.version}  {_counts(zone, v.rows_key)} rows  {_counts(zone, v.rejects_key)} rejected  "
            f"{zone.uri(v.rows_key or v.rejects_key)}"
        )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m forecast_assets.operations.landing_history",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("list", "the current landing and the previous ones kept"),
        ("restore", "make a previous landing live again (the current one is kept)"),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("source", choices=RAW_FEEDS)
        command.add_argument("day", help="partition key, e.g. 2024-10-05")
        if name == "restore":
            command.add_argument("version", help=f"a version shown by `list`, or {LATEST!r}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; 0 on success, 2 on a bad day, an unknown version or a zone failure."""
    args = _parser().parse_args(argv)
    try:
        partition_day(args.day)
    except ValueError:
        print(f"day {args.day!r} is not a partition key like 2024-10-05", file=sys.stderr)
        return 2
    try:
        zone = resources_for()["staging"].process_config_and_initialize()
        if args.command == "list":
            _list(zone, args.source, args.day)
        else:
            uri = restore_landing(zone, args.source, args.day, args.version)
            print(
                f"restored {args.source} {args.day} ({args.version}) to {uri}; re-materialize the day "
                f"downstream: dagster asset materialize ... --partition {args.day} (see docs/staging.md)"
            )
    except (StagingZoneError, ValueError, OSError) as error:
        print(f"{args.source} {args.day}: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
