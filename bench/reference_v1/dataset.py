"""How a weather_data partition is stored: JSON lines in the contract, read back with its dtypes."""

from __future__ import annotations

import io

import pandas as pd

from bench.reference_v1.schema import COLUMNS, TIMESTAMP_DTYPE, WeatherData

_DTYPES = {name: column.dtype.type for name, column in WeatherData.to_schema().columns.items()}


def to_jsonl(frame: pd.DataFrame) -> bytes:
    """The frame as JSON lines: ISO-8601 UTC timestamps, nulls for missing measures."""
    if frame.empty:
        return b""
    return frame.to_json(orient="records", lines=True, date_format="iso", date_unit="s").encode("utf-8")


def from_jsonl(data: bytes) -> pd.DataFrame:
    """A stored partition back in the contract's columns and dtypes."""
    if not data.strip():
        return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in _DTYPES.items()})[COLUMNS]
    frame = pd.read_json(io.BytesIO(data), lines=True, dtype=False)  # dtype=False: no date guessing either
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601").astype(TIMESTAMP_DTYPE)
    for name, dtype in _DTYPES.items():
        if name != "timestamp":
            frame[name] = frame[name].astype(dtype)
    return frame[COLUMNS]
