"""weather_data transform: raw source rows → the contract's rows, plus de-duplication.

The per-source work lives in ``transform_wunderground`` and ``transform_infoclimat``; the shared
result type and the raw field → column mappings in ``transform_common``. This module is the public
entry point and re-exports them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.reference_v1.schema import KEY_COLUMNS, MEASURE_COLUMNS
from bench.reference_v1.transform_common import (
    INFOCLIMAT_FIELDS,
    INFOCLIMAT_STATIC_NULL_FIELDS,
    INFOCLIMAT_SYNOP_ONLY_FIELDS,
    INFOCLIMAT_UNITS,
    MEASURED_COLUMNS,
    SOURCE_FIELDS,
    STATION_COLUMNS,
    WU_BARE_UNITS,
    WU_FIELDS,
    Transformed,
    is_synop,
    measured_columns,
)
from bench.reference_v1.transform_infoclimat import transform_infoclimat
from bench.reference_v1.transform_wunderground import local_to_utc, transform_wunderground

__all__ = [
    "INFOCLIMAT_FIELDS",
    "INFOCLIMAT_STATIC_NULL_FIELDS",
    "INFOCLIMAT_SYNOP_ONLY_FIELDS",
    "INFOCLIMAT_UNITS",
    "MEASURED_COLUMNS",
    "SOURCE_FIELDS",
    "STATION_COLUMNS",
    "WU_BARE_UNITS",
    "WU_FIELDS",
    "Transformed",
    "deduplicate",
    "is_synop",
    "local_to_utc",
    "measured_columns",
    "transform_infoclimat",
    "transform_wunderground",
]


def deduplicate(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(kept, dropped): one row per (station_id, timestamp), the most complete one.

    Completeness is the number of non-null measures; ties go to the row that comes first in
    ``frame``. ``kept`` is sorted by (station_id, timestamp) with a fresh index; ``dropped`` holds
    the other rows in their original order, keeping their index labels in ``frame``.
    """
    completeness = frame[MEASURE_COLUMNS].notna().sum(axis=1).to_numpy()
    position = np.arange(len(frame))
    order = (
        frame[KEY_COLUMNS]
        .assign(_missing=-completeness, _position=position)
        .sort_values([*KEY_COLUMNS, "_missing", "_position"], kind="stable")
    )
    duplicate = order.duplicated(KEY_COLUMNS, keep="first").to_numpy()
    kept = frame.iloc[order["_position"].to_numpy()[~duplicate]].reset_index(drop=True)
    dropped = frame.iloc[np.sort(order["_position"].to_numpy()[duplicate])]
    return kept, dropped
