"""Reading weather_data back from MongoDB as a pandas DataFrame, for notebooks (docs/reading.md).

``read_weather(["ILAMAD25", "07015"], "2024-10-01", "2024-10-08")`` returns the contract's columns
and dtypes (the Pandera model ``forecast_assets.weather.schema.WeatherData``): timestamps
``datetime64[us, UTC]``, measures ``float64`` (NaN where a station did not report: the loader omits
those fields), ``weather_code`` nullable ``Int64``. The query uses the ``(station_id, timestamp)``
index and a projection of the asked columns. With ``pymongoarrow`` installed it decodes through
Arrow with an explicit, UTC schema (an inferred one drops the zone), then conforms the same way.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import pandas as pd
from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.errors import OperationFailure

from forecast_assets.mongo.resources import redact_uri
from forecast_assets.stations import STATIONS
from forecast_assets.weather.schema import COLUMNS, KEY_COLUMNS, TIMESTAMP_DTYPE, WeatherData

#: The collection the ``mongodb/weather_measurements`` asset loads (forecast_assets.mongo.collection_setup).
COLLECTION = "weather_measurements"
#: Its unique (station_id, timestamp) index: "stations over a time range" reads walk it in order.
KEY_INDEX = "station_id_timestamp"
#: Each contract column's dtype, from the Pandera model (``str``, ``float64``, ``Int64``, UTC datetime).
DTYPES: dict[str, Any] = {name: column.dtype.type for name, column in WeatherData.to_schema().columns.items()}


class ReadError(ValueError):
    """A read that cannot be answered as asked; the message says what to change."""


def _stations(stations: str | Iterable[str] | None) -> list[str]:
    asked = list(STATIONS) if stations is None else [stations] if isinstance(stations, str) else list(stations)
    unknown = [s for s in asked if s not in STATIONS]
    if unknown or not asked:
        raise ReadError(
            f"read_weather: unknown station id(s) {unknown or asked!r}; known stations: "
            f"{', '.join(STATIONS)} (forecast_assets/stations.py). Pass one of them, a list, or None for all."
        )
    return list(dict.fromkeys(asked))


def _bound(value: Any, name: str) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ReadError(f"read_weather: {name}={value!r} is not a date or instant ({exc})") from None
    if pd.isna(stamp):
        raise ReadError(f"read_weather: {name} is missing; give a date or instant, e.g. '2024-10-01'")
    # Naive bounds are UTC, like every timestamp of the contract.
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    # BSON dates hold milliseconds and the driver truncates finer parts, which would turn
    # `< 12:00:00.000001` into `< 12:00:00.000`. Stored values are whole milliseconds, so rounding a
    # bound *up* to the millisecond keeps both `>= start` and `< end` exact.
    return stamp.ceil("ms")


def _columns(columns: Iterable[str] | None) -> list[str]:
    if columns is None:
        return list(COLUMNS)
    asked = [columns] if isinstance(columns, str) else list(columns)
    unknown = [c for c in asked if c not in COLUMNS]
    if unknown:
        raise ReadError(
            f"read_weather: unknown column(s) {unknown!r}; the weather_data contract has: {', '.join(COLUMNS)}"
        )
    # Key columns always come back; contract order whatever the asked order.
    return [c for c in COLUMNS if c in KEY_COLUMNS or c in asked]


def conform(records: pd.DataFrame | list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    """Records (documents or a decoded frame) as a frame of ``columns`` with the contract's dtypes.

    Fields absent from every record (a measure no selected station reports) become all-null columns.
    """
    frame = pd.DataFrame(records)
    out = {}
    for name in columns:
        values = frame[name] if name in frame.columns else pd.Series([None] * len(frame), dtype=object)
        if name == "timestamp":
            # tz-aware from a tz_aware client, naive UTC otherwise: utc=True handles both.
            out[name] = pd.to_datetime(values, utc=True).astype(TIMESTAMP_DTYPE)
        elif DTYPES[name] == "Int64":
            out[name] = pd.to_numeric(values).astype("Int64")
        else:
            out[name] = values.astype(DTYPES[name])
    return pd.DataFrame(out, columns=columns).reset_index(drop=True)


def _arrow_frame(collection: Collection, query: dict, columns: list[str]) -> pd.DataFrame | None:
    """The rows through pymongoarrow with an explicit UTC schema, or None when it is not installed."""
    try:
        import pyarrow as pa
        from pymongoarrow.api import Schema, find_pandas_all
    except ImportError:
        return None
    kinds = {"timestamp": pa.timestamp("ms", tz="UTC"), "weather_code": pa.int64()}
    schema = Schema({c: kinds.get(c, pa.float64() if DTYPES[c] == "float64" else pa.string()) for c in columns})
    frame = find_pandas_all(collection, query, schema=schema, sort=[(c, 1) for c in KEY_COLUMNS], hint=KEY_INDEX)
    return conform(frame, columns)


def read_weather(
    stations: str | Iterable[str] | None,
    start: Any,
    end: Any,
    columns: Iterable[str] | None = None,
    *,
    uri: str | None = None,
    database: str = "weather_db",
    client: MongoClient | None = None,
    engine: str = "auto",
) -> pd.DataFrame:
    """Observations of ``stations`` with ``start <= timestamp < end``, sorted by station then time.

    ``stations``: an id, a list of ids, or None for every station. ``start``/``end``: anything
    ``pd.Timestamp`` reads; naive values are UTC. ``columns``: a subset of the contract's (the key
    columns ``station_id``, ``timestamp`` always come back). The server is ``client``, else ``uri``,
    else ``$MONGO_URI``. ``engine``: ``auto`` (pymongoarrow when installed), ``pymongo`` or
    ``pymongoarrow``. Raises :class:`ReadError` for an unknown station or column, or an empty range.
    """
    ids, names = _stations(stations), _columns(columns)
    lower, upper = _bound(start, "start"), _bound(end, "end")
    if not lower < upper:
        raise ReadError(f"read_weather: empty range [{lower}, {upper}): end must be after start (end is excluded)")
    if engine not in ("auto", "pymongo", "pymongoarrow"):
        raise ReadError(f"read_weather: engine={engine!r} is not one of auto, pymongo, pymongoarrow")
    own = client is None
    if own:
        uri = uri or os.environ.get("MONGO_URI")
        if not uri:
            raise ReadError("read_weather: no server given: pass uri= or client=, or set MONGO_URI")
        client = MongoClient(uri, tz_aware=True, appname="forecast_assets.read")
    try:
        collection = client[database][COLLECTION]
        query = {"station_id": {"$in": ids}, "timestamp": {"$gte": lower.to_pydatetime(), "$lt": upper.to_pydatetime()}}
        if engine != "pymongo":
            frame = _arrow_frame(collection, query, names)
            if frame is not None:
                return frame
            if engine == "pymongoarrow":
                raise ReadError("read_weather: engine='pymongoarrow' but pymongoarrow is not installed")
        cursor = collection.find(
            query,
            projection={"_id": 0, **{c: 1 for c in names}},
            sort=[(c, 1) for c in KEY_COLUMNS],
            hint=KEY_INDEX,
            batch_size=10_000,
        )
        try:
            documents = list(cursor)
        except OperationFailure as exc:
            if exc.code != 2 or "hint" not in str(exc):  # BadValue about the hint: no such index
                raise
            where = redact_uri(uri) if uri else "the given client"
            raise ReadError(
                f"read_weather: {database}.{COLLECTION} on {where} has no {KEY_INDEX} index, so it is not "
                "(yet) the loaded collection: check database= (MONGO_DATABASE) and that the "
                "mongodb/weather_measurements asset has been materialized there."
            ) from None
        return conform(documents, names)
    finally:
        if own:
            client.close()
