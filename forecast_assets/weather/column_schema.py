"""The weather_data column schema for the Dagster UI (``dagster/column_schema``), derived from the Pandera model.

Names, types, descriptions (with units), nullability and the model's checks come from
``WeatherData``; nothing is restated here. :func:`range_text` and :func:`enum_text` are shared with
the MongoDB variant (``forecast_assets.mongo.documents.measurements_column_schema``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import dagster as dg
import pandera.dtypes as pa_dtypes

from forecast_assets.weather.schema import CONTRACT_UNITS, KEY_COLUMNS, RANGE_BOUNDS, WeatherData, check_constraint

#: Metadata key the Dagster UI reads a table's columns from.
COLUMN_SCHEMA_KEY = "dagster/column_schema"
#: The constraint text of the key columns: unique as a pair, not each on its own.
KEY_TEXT = f"unique together: ({', '.join(KEY_COLUMNS)})"


def range_text(bounds: dict[str, Any], unit: str = "") -> str:
    """``bounds`` (``min``/``max`` with ``*_inclusive``) as text, e.g. ``≥ -50 and ≤ 60 °C``."""
    parts = []
    if "min" in bounds:
        parts.append(f"{'≥' if bounds.get('min_inclusive', True) else '>'} {bounds['min']:g}")
    if "max" in bounds:
        parts.append(f"{'≤' if bounds.get('max_inclusive', True) else '<'} {bounds['max']:g}")
    return " and ".join(parts) + (f" {unit}" if unit else "")


def enum_text(values: Iterable[Any]) -> str:
    """Allowed values as text, e.g. ``one of: 00052, 07015``."""
    return "one of: " + ", ".join(str(value) for value in values)


def type_name(dtype: Any) -> str:
    """A readable name of a Pandera dtype: ``string``, ``float64``, ``Int64``, ``timestamp[us, UTC]``."""
    if pa_dtypes.is_string(dtype):
        return "string"
    if pa_dtypes.is_datetime(dtype):
        tz = getattr(dtype, "tz", None)
        return f"timestamp[{getattr(dtype, 'unit', 'ns')}{f', {tz}' if tz else ''}]"
    return str(dtype)


def _checks_text(name: str, column: Any) -> list[str]:
    texts = []
    if name in RANGE_BOUNDS:
        texts.append(range_text(RANGE_BOUNDS[name], CONTRACT_UNITS[name]))
    for check in column.checks:
        constraint = check_constraint(check) or {}
        if "enum" in constraint:
            texts.append(enum_text(constraint["enum"]))
    return texts


def weather_data_column_schema() -> dg.TableSchema:
    """The columns of ``weather_data`` as the Pandera model defines them, for ``dagster/column_schema``."""
    columns = []
    for name, column in WeatherData.to_schema().columns.items():
        other = _checks_text(name, column) + ([KEY_TEXT] if name in KEY_COLUMNS else [])
        columns.append(
            dg.TableColumn(
                name=name,
                type=type_name(column.dtype),
                description=column.description,
                constraints=dg.TableColumnConstraints(nullable=column.nullable, unique=column.unique, other=other),
            )
        )
    return dg.TableSchema(columns=columns)


def column_schema_metadata() -> dict[str, dg.TableSchemaMetadataValue]:
    """``{"dagster/column_schema": …}`` for the ``weather_data`` asset definition's ``metadata=``."""
    return {COLUMN_SCHEMA_KEY: dg.MetadataValue.table_schema(weather_data_column_schema())}
