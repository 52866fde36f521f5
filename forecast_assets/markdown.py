"""Markdown shown in the Dagster UI: the one table renderer of check metadata and quality reports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tabulate import tabulate


def markdown_table(rows: Sequence[Mapping[str, Any]], empty: str = "_none_") -> str:
    """``rows`` (dicts sharing their keys) as a GitHub markdown table, values shown as given; ``empty`` if none."""
    return tabulate(rows, headers="keys", tablefmt="github", disable_numparse=True) if rows else empty
