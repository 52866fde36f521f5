"""Who owns each asset group, and links from each asset to its source code.

Owners are teams, never people: ``team:data-platform`` runs ingestion and the weather_data
contract; ``team:data-science-platform`` runs the MongoDB store the notebooks read.

Code links: every asset gets a ``dagster/code_references`` entry (file and line of its definition).
With ``FORECAST_GIT_URL`` set (the repository's web URL, e.g. ``https://git.example.invalid/forecast``)
the references become URLs on ``FORECAST_GIT_BRANCH`` (default ``main``); ``FORECAST_GIT_PLATFORM``
(``github`` or ``gitlab``) is needed when the URL does not name its platform.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg

import forecast_assets

#: Owners of the assets of each group (``group_name`` of the asset definitions).
GROUP_OWNERS: dict[str, list[str]] = {
    "raw": ["team:data-platform"],
    "weather": ["team:data-platform"],
    "mongodb": ["team:data-science-platform"],
}

GIT_URL_VAR = "FORECAST_GIT_URL"
GIT_BRANCH_VAR = "FORECAST_GIT_BRANCH"
GIT_PLATFORM_VAR = "FORECAST_GIT_PLATFORM"
DEFAULT_BRANCH = "main"
#: The platforms ``dg.link_code_references_to_git`` can build URLs for.
_PLATFORMS: tuple[str, ...] = ("github", "gitlab")
#: This package's ``__init__.py`` as a path from the repository root: every other file's
#: repository path is found relative to it.
_ANCHOR_IN_REPOSITORY = "forecast_assets/__init__.py"


class CodeLinkError(ValueError):
    """The git settings cannot produce code links; the message names the variable to fix."""


def owners_for(group_name: str) -> list[str]:
    """The owners of an asset group, for ``owners=`` on its asset definitions."""
    try:
        return list(GROUP_OWNERS[group_name])
    except KeyError:
        raise KeyError(
            f"Asset group {group_name!r} has no owners: add it to GROUP_OWNERS in "
            f"forecast_assets/ownership.py (known groups: {sorted(GROUP_OWNERS)})"
        ) from None


def _platform(url: str, env: Mapping[str, str]) -> str:
    platform = (env.get(GIT_PLATFORM_VAR) or "").strip().lower()
    if platform:
        if platform not in _PLATFORMS:
            raise CodeLinkError(
                f"{GIT_PLATFORM_VAR}={platform!r} is not supported by Dagster's code links: "
                f"set it to one of {', '.join(_PLATFORMS)}, or unset {GIT_URL_VAR} for local file links"
            )
        return platform
    for known in _PLATFORMS:
        if known in url.lower():
            return known
    raise CodeLinkError(
        f"{GIT_URL_VAR}={url!r} does not say whether it is a GitHub or GitLab repository: "
        f"set {GIT_PLATFORM_VAR} to one of {', '.join(_PLATFORMS)}"
    )


def with_code_links(assets: Sequence[Any], env: Mapping[str, str] | None = None) -> list[Any]:
    """``assets`` with a ``dagster/code_references`` entry each: file and line, or a git URL if configured.

    ``env`` defaults to ``os.environ`` (read when the definitions load, not inside an asset).
    Raises :class:`CodeLinkError` for a git URL whose platform is unknown.
    """
    env = os.environ if env is None else env
    url = (env.get(GIT_URL_VAR) or "").strip().rstrip("/")
    platform = _platform(url, env) if url else None
    with warnings.catch_warnings():  # both helpers are beta in Dagster 1.13: one warning per asset otherwise
        warnings.simplefilter("ignore", dg.BetaWarning)
        linked = dg.with_source_code_references(list(assets))
        if not url:
            return list(linked)
        return list(
            dg.link_code_references_to_git(
                linked,
                git_url=url,
                git_branch=(env.get(GIT_BRANCH_VAR) or "").strip() or DEFAULT_BRANCH,
                file_path_mapping=dg.AnchorBasedFilePathMapping(
                    local_file_anchor=Path(forecast_assets.__file__),
                    file_anchor_path_in_repository=_ANCHOR_IN_REPOSITORY,
                ),
                platform=platform,
            )
        )
