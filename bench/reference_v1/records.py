"""What every raw reader returns: rows landed unchanged plus lineage, and rejects with reasons."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Lineage fields added to every landed row; everything else in a row is the source's own.
SOURCE_URI = "_source_uri"
SOURCE_POSITION = "_source_position"
INGESTED_AT = "_ingested_at"
LINEAGE_FIELDS = (SOURCE_URI, SOURCE_POSITION, INGESTED_AT)


class SourceUnavailableError(Exception):
    """The data for a requested source and day cannot be found or read at all."""


def with_lineage(row: dict[str, Any], source_uri: str, position: str, ingested_at: str) -> dict[str, Any]:
    """The row unchanged, plus where it came from and when it was ingested."""
    return {**row, SOURCE_URI: source_uri, SOURCE_POSITION: position, INGESTED_AT: ingested_at}


def reject(reason: str, record: Any, source_uri: str, position: str, ingested_at: str) -> dict[str, Any]:
    """A rejected record: the reason, the record as found, and its lineage."""
    return {
        "reason": reason,
        "record": record,
        SOURCE_URI: source_uri,
        SOURCE_POSITION: position,
        INGESTED_AT: ingested_at,
    }


@dataclass
class RawBatch:
    """One source's observations for one day, as read."""

    source_uri: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    #: Extra facts worth showing in the UI (e.g. rows per station, stations with no rows).
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def read_count(self) -> int:
        """Records read from the source: landed + rejected."""
        return len(self.rows) + len(self.rejects)
