"""Contract frames → BSON-native documents, and the collection validator derived from the Pandera model.

Decisions, in one place:

* **One document per (station_id, timestamp)** with the contract's column names as field names, so
  notebooks read the same names and units from MongoDB as from the frame.
* **Absent measures are omitted, not stored as null.** Each source measures a different subset of
  the 17 measures (InfoClimat has no UV or solar radiation, Weather Underground has no cloud cover
  or visibility), so most rows would carry several nulls; omitting them keeps documents small and
  lets the validator say simply "if present, a double within range" (no ``null`` branch a writer
  could abuse). Readers lose nothing: ``{"uv_index": null}`` still matches missing fields, and
  ``pd.DataFrame(list(cursor))`` turns missing keys back into NaN. Loading replaces a changed
  document whole (``sync.sync_windows``), so a value that became absent upstream disappears too.
* **``_id`` is a server-generated ObjectId; the natural key is enforced by a unique index** on
  ``(station_id, timestamp)``. Replaces filter on that key, which is a single lookup in the unique
  index; a key-derived ``_id`` would not remove that index (the "one station over a time range"
  queries need it anyway), so it would be a second encoding of the key to keep in sync for nothing.
* **Types**: ``timestamp`` → tz-aware UTC ``datetime`` (BSON date; BSON keeps milliseconds, so
  sub-millisecond parts are truncated by the driver — observations are minute-aligned), float
  columns → ``float``, ``weather_code`` → ``int``, strings → ``str``. No NaN, NaT, ``pd.NA`` or
  numpy scalars ever reach the driver.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import pandera.dtypes as pa_dtypes

from forecast_assets.stations import STATIONS
from forecast_assets.weather.column_schema import COLUMN_SCHEMA_KEY, enum_text, range_text
from forecast_assets.weather.schema import COLUMNS, CONTRACT_UNITS, KEY_COLUMNS, WeatherData, check_constraint

_SCHEMA = WeatherData.to_schema()
#: Columns that may be null in the frame: omitted from the document when null.
NULLABLE_COLUMNS: list[str] = [name for name, col in _SCHEMA.columns.items() if col.nullable]
#: Columns every document carries.
REQUIRED_COLUMNS: list[str] = [name for name, col in _SCHEMA.columns.items() if not col.nullable]


@dataclasses.dataclass(frozen=True)
class DocumentGroup:
    """Rows of a frame that share the same set of absent (null) columns, as documents."""

    positions: np.ndarray  # row positions in the source frame
    absent: tuple[str, ...]  # nullable columns null in every row of the group
    documents: list[dict[str, Any]]


def _check_frame(frame: pd.DataFrame) -> None:
    if list(frame.columns) != COLUMNS:
        missing = [c for c in COLUMNS if c not in frame.columns]
        extra = [c for c in frame.columns if c not in COLUMNS]
        raise ValueError(
            f"Frame does not match the WeatherData contract (missing {missing}, extra {extra}, or columns out of order)"
        )
    nulls = frame[REQUIRED_COLUMNS].isna().sum()
    if nulls.any():
        raise ValueError(f"Null values in non-nullable contract columns: {nulls[nulls > 0].to_dict()}")


def _native_columns(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Each contract column as an object array of Python values (float, int, str, UTC datetime)."""
    columns: dict[str, np.ndarray] = {}
    for name, column in _SCHEMA.columns.items():
        series = frame[name]
        if pa_dtypes.is_datetime(column.dtype):
            if not isinstance(series.dtype, pd.DatetimeTZDtype):
                raise ValueError(f"Column {name!r} must be timezone-aware (UTC), got {series.dtype}")
            series = series.dt.tz_convert("UTC")
            columns[name] = np.asarray(series.dt.to_pydatetime(), dtype=object)
        else:
            # float64 → float, Int64 → int, str → str (numpy/pandas box to Python objects here).
            columns[name] = series.to_numpy(dtype=object)
    return columns


def document_groups(frame: pd.DataFrame) -> Iterator[DocumentGroup]:
    """The frame's rows as BSON-native documents, grouped by which nullable columns are absent.

    Rows are grouped by their null pattern (vectorised: one bit per nullable column), so each group
    is built from exactly its present columns, zipped row-wise (no per-cell checks, no pandas
    per-row machinery); ``absent`` names the fields those documents omit.
    """
    _check_frame(frame)
    if frame.empty:
        return
    natives = _native_columns(frame)
    present = frame[NULLABLE_COLUMNS].notna().to_numpy()
    codes = present.astype(np.int64) @ (np.int64(1) << np.arange(len(NULLABLE_COLUMNS), dtype=np.int64))
    patterns, inverse = np.unique(codes, return_inverse=True)
    for index, pattern in enumerate(patterns):
        positions = np.flatnonzero(inverse == index)
        absent = tuple(c for bit, c in enumerate(NULLABLE_COLUMNS) if not (int(pattern) >> bit) & 1)
        fields = [c for c in COLUMNS if c not in absent]
        values = [natives[c][positions] for c in fields]
        documents = [dict(zip(fields, row)) for row in zip(*values)]
        yield DocumentGroup(positions=positions, absent=absent, documents=documents)


def window_query(station_id: str, start: Any, end: Any) -> dict[str, Any]:
    """The filter of one station's documents in its window ``[start, end)`` (timezone-aware bounds).

    The shape the unique ``(station_id, timestamp)`` index serves: loads, reconciliation and the
    read-latency check all ask for a station-day this way.
    """
    return {
        "station_id": station_id,
        "timestamp": {"$gte": pd.Timestamp(start).to_pydatetime(), "$lt": pd.Timestamp(end).to_pydatetime()},
    }


def frame_to_documents(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """One BSON-native document per row, in the frame's row order, absent measures omitted."""
    groups = list(document_groups(frame))
    if not groups:
        return []
    documents = [doc for group in groups for doc in group.documents]
    order = np.argsort(np.concatenate([group.positions for group in groups]), kind="stable")
    return [documents[i] for i in order]


# --- the validator -------------------------------------------------------------------------------

#: Description of ``_id`` (the only field not in the model).
ID_DESCRIPTION = "Server-generated ObjectId; the natural key (station_id, timestamp) has a unique index."


def _bson_type(name: str, dtype: Any) -> str | list[str]:
    if pa_dtypes.is_bool(dtype):
        return "bool"
    if pa_dtypes.is_int(dtype) or pa_dtypes.is_uint(dtype):
        return ["int", "long"]
    if pa_dtypes.is_float(dtype):
        return "double"
    if pa_dtypes.is_datetime(dtype):
        return "date"
    if pa_dtypes.is_string(dtype):
        return "string"
    raise ValueError(f"No BSON type for column {name!r} of dtype {dtype}")


#: $jsonSchema keyword of each constraint of :func:`~forecast_assets.weather.schema.check_constraint`.
_KEYWORDS = {"min": "minimum", "max": "maximum", "enum": "enum", "pattern": "pattern"}


def _check_keywords(name: str, check: Any) -> dict[str, Any]:
    """The $jsonSchema keywords equivalent to one Pandera check; ValueError if there is none."""
    constraint = check_constraint(check)
    if constraint is None:
        raise ValueError(
            f"Check {check.name!r} on column {name!r} has no $jsonSchema equivalent: "
            "teach forecast_assets.weather.schema.check_constraint about it"
        )
    keywords = {_KEYWORDS[key]: value for key, value in constraint.items() if key in _KEYWORDS}
    if constraint.get("min_inclusive") is False:
        keywords["exclusiveMinimum"] = True
    if constraint.get("max_inclusive") is False:
        keywords["exclusiveMaximum"] = True
    return keywords


def json_schema_validator() -> dict[str, Any]:
    """The collection validator, ``{"$jsonSchema": …}``, derived from the ``WeatherData`` model.

    Per column: ``bsonType`` from the dtype, ``minimum``/``maximum``/``enum``/``pattern`` from the
    Field checks, ``title``/``description`` (with the unit) from the Field; non-nullable columns are
    ``required``. Nullable columns are optional and, when
    present, must be non-null (absent measures are omitted, see the module docstring). The model's
    ``strict`` becomes ``additionalProperties: false`` (plus ``_id``). The frame-level ``unique``
    key is not expressible in $jsonSchema: the unique index enforces it.
    """
    properties: dict[str, Any] = {"_id": {"bsonType": "objectId", "description": ID_DESCRIPTION}}
    for name, column in _SCHEMA.columns.items():
        prop: dict[str, Any] = {"bsonType": _bson_type(name, column.dtype)}
        for check in column.checks:
            prop.update(_check_keywords(name, check))
        # annotations only (the server does not validate them): the model's words, units included
        annotations = {"title": column.title, "description": column.description}
        prop.update({key: value for key, value in annotations.items() if value})
        properties[name] = prop
    schema: dict[str, Any] = {
        "bsonType": "object",
        "title": _SCHEMA.name or "WeatherData",
        "required": list(REQUIRED_COLUMNS),
        "properties": properties,
    }
    if _SCHEMA.strict is True:
        schema["additionalProperties"] = False
    return {"$jsonSchema": schema}


# --- the column schema shown in the Dagster UI ---------------------------------------------------


def _bson_type_name(bson_type: str | list[str]) -> str:
    return bson_type if isinstance(bson_type, str) else " | ".join(bson_type)


def _constraints_text(name: str, prop: dict[str, Any], required: bool) -> list[str]:
    texts = []
    bounds = {side: prop[keyword] for side, keyword in (("min", "minimum"), ("max", "maximum")) if keyword in prop}
    if bounds:
        bounds["min_inclusive"] = not prop.get("exclusiveMinimum", False)
        bounds["max_inclusive"] = not prop.get("exclusiveMaximum", False)
        texts.append(range_text(bounds, CONTRACT_UNITS.get(name, "")))
    if "enum" in prop:
        texts.append(enum_text(prop["enum"]))
    if "pattern" in prop:
        texts.append(f"matches {prop['pattern']}")
    if name in KEY_COLUMNS:
        texts.append(f"unique index: ({', '.join(KEY_COLUMNS)})")
    if not required:
        texts.append("omitted when not measured")
    return texts


def measurements_column_schema() -> dg.TableSchema:
    """The measurement documents' fields with their BSON types, read from :func:`json_schema_validator`.

    Same names, descriptions and ranges as ``weather_data``'s column schema; types are BSON
    (``date``, ``double``, ``string``, ``int | long``); an optional field is one a document omits
    when the station did not measure it (never stored as null).
    """
    schema = json_schema_validator()["$jsonSchema"]
    required = {"_id", *schema["required"]}
    columns = [
        dg.TableColumn(
            name=name,
            type=_bson_type_name(prop["bsonType"]),
            description=prop.get("description"),
            constraints=dg.TableColumnConstraints(
                nullable=name not in required,
                unique=name == "_id",
                other=_constraints_text(name, prop, name in required),
            ),
        )
        for name, prop in schema["properties"].items()
    ]
    return dg.TableSchema(columns=columns)


def measurements_column_schema_metadata() -> dict[str, dg.TableSchemaMetadataValue]:
    """``{"dagster/column_schema": …}`` for the ``mongodb/weather_measurements`` asset's ``metadata=``."""
    return {COLUMN_SCHEMA_KEY: dg.MetadataValue.table_schema(measurements_column_schema())}


# --- stations ------------------------------------------------------------------------------------


def station_documents() -> list[dict[str, Any]]:
    """One document per station of ``stations.py``, ``_id`` = station_id, with a GeoJSON ``location``.

    ``location`` is a GeoJSON Point (``[longitude, latitude]``, the order GeoJSON and 2dsphere
    indexes use); latitude and longitude are also kept as plain fields under the contract's names.
    """
    documents = []
    for station in STATIONS.values():
        fields = dataclasses.asdict(station)
        cadence = fields.pop("cadence")
        documents.append(
            {
                "_id": station.station_id,
                **fields,
                "latitude": float(station.latitude),
                "longitude": float(station.longitude),
                "elevation_m": float(station.elevation_m),
                "cadence_s": int(cadence.total_seconds()),
                "location": {"type": "Point", "coordinates": [station.longitude, station.latitude]},
            }
        )
    return documents
