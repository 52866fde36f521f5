"""The shape every asset of the platform shares: one daily-partitioned asset, its checks logged per day."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import dagster as dg

from forecast_assets.ownership import owners_for
from forecast_assets.partitions import daily_partitions

#: Days per run of a backfill (``multi_run``); unset or 0: one run over the whole range.
BACKFILL_DAYS_PER_RUN = "FORECAST_BACKFILL_DAYS_PER_RUN"


def backfill_policy() -> dg.BackfillPolicy:
    """``multi_run(N)`` with N = ``$FORECAST_BACKFILL_DAYS_PER_RUN``; unset or 0: ``single_run()``.

    Locally a range runs as one run (``dagster asset materialize --partition-range`` accepts no
    other policy); production sets N so a year's backfill spreads over ECS tasks (docs/deploy_ecs.md).
    """
    text = os.getenv(BACKFILL_DAYS_PER_RUN, "").strip() or "0"
    if not text.isdigit():
        raise ValueError(
            f"{BACKFILL_DAYS_PER_RUN}={text!r} is not a whole number of days: set e.g. 31, or 0 (one run per backfill)"
        )
    return dg.BackfillPolicy.multi_run(int(text)) if int(text) else dg.BackfillPolicy.single_run()


BACKFILL_POLICY = backfill_policy()


def stage_spec(asset_key: dg.AssetKey, group_name: str, **spec: Any) -> dg.AssetSpec:
    """The spec of a stage's asset: its group, and that group's owners."""
    return dg.AssetSpec(asset_key, group_name=group_name, owners=owners_for(group_name), **spec)


def daily_multi_asset(
    spec: dg.AssetSpec, check_specs: Sequence[dg.AssetCheckSpec], **asset: Any
) -> Callable[[Callable[..., Any]], dg.AssetsDefinition]:
    """``@multi_asset`` of one daily-partitioned asset whose step may cover a range of days.

    ``can_subset``: its checks are logged per day (:mod:`forecast_assets.partition_checks`), not
    returned, so the step never has to produce every check it declares.
    """
    return dg.multi_asset(
        name=spec.key.to_python_identifier(),
        specs=[spec],
        partitions_def=daily_partitions,
        backfill_policy=BACKFILL_POLICY,
        check_specs=check_specs,
        can_subset=True,
        **asset,
    )
