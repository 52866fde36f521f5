"""Section 1: the project's raw -> weather_data transform vs a row-by-row reference.

The reference is written the way the original scripts did it: for every raw dict, strip the unit
with ``split``/``replace``, ``float()``, convert, map the wind text through a dict, build a result
dict, build the UTC time with ``datetime`` + ``zoneinfo``; then ``pd.DataFrame(list_of_dicts)``.
It implements the same contract (null texts, rejects on unparsable values and nonexistent local
times), and the bench asserts both produce the same frame (within 0.01) before timing anything.

Both sides transform the same in-memory raw rows per raw partition, as the weather_data asset does
(one WU station-day, one InfoClimat day per call); neither includes I/O nor de-duplication.
"""

from __future__ import annotations

import time as _time
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from bench.landed_data import Landed, feed_station_ids, raw_rows_of
from forecast_assets.feeds import RAW_FEEDS
from forecast_assets.partitions import partition_day
from forecast_assets.raw.wunderground import WIND_POINTS
from forecast_assets.stations import STATIONS
from forecast_assets.weather.infoclimat import INFOCLIMAT_FIELDS, transform_infoclimat
from forecast_assets.weather.schema import COLUMNS, MEASURE_COLUMNS
from forecast_assets.weather.wunderground import WU_FIELDS, transform_wunderground

TARGET_RATIO = 20.0

# The field maps and compass points are the project's (facts, not the algorithm under comparison).
_WU_FIELDS = WU_FIELDS
_IC_FIELDS = INFOCLIMAT_FIELDS
_COMPASS = WIND_POINTS
_WIND = {name: i * 22.5 for i, name in enumerate(_COMPASS)}
_WIND.update({"N": 0.0, "E": 90.0, "S": 180.0, "W": 270.0})
_CALM = {"calm", "variable", "var", "vrb"}
_NULLS = {"", "--", "n/a"}
_UNITS = {  # unit text -> (a, b): value * a + b
    "°F": (5.0 / 9.0, -32.0 * 5.0 / 9.0),
    "°C": (1.0, 0.0),
    "%": (1.0, 0.0),
    "mph": (1.609344, 0.0),
    "km/h": (1.0, 0.0),
    "in": (25.4, 0.0),
    "mm": (1.0, 0.0),
    "w/m²": (1.0, 0.0),
    "hPa": (1.0, 0.0),
}
_UTC = UTC


class _Bad(Exception):
    pass


def _number(text, unit_for_in=25.4):
    """A WU value text like ``56.8\u00a0°F`` -> float in the contract unit, None if blank."""
    if text is None:
        return None
    if not isinstance(text, str):
        return float(text)
    text = text.replace("\u00a0", " ").strip()
    if text.lower() in _NULLS:
        return None
    parts = text.split(" ")
    try:
        value = float(parts[0])
    except ValueError:
        raise _Bad(text) from None
    if len(parts) == 1:
        return value
    unit = parts[1]
    if unit == "in":
        return value * unit_for_in
    a, b = _UNITS[unit]
    return value * a + b


def reference_wunderground(rows: list[dict], station_id: str, day: date) -> pd.DataFrame:
    station = STATIONS[station_id]
    zone = ZoneInfo(station.timezone)
    out = []
    for row in rows:
        try:
            hh, mm, ss = row["Time"].split(":")
            naive = datetime.combine(day, time(int(hh), int(mm), int(ss)))
            local = naive.replace(tzinfo=zone)
            utc = local.astimezone(_UTC)
            if utc.astimezone(zone).replace(tzinfo=None) != naive:  # skipped by spring-forward
                raise _Bad(row["Time"])
            record = {
                "station_id": station_id,
                "station_name": station.name,
                "source": station.provider,
                "latitude": station.latitude,
                "longitude": station.longitude,
                "elevation_m": float(station.elevation_m),
                "timestamp": utc,
            }
            for field, column in _WU_FIELDS.items():
                value = row.get(field)
                if field == "Wind":
                    text = (value or "").strip()
                    record[column] = None if text.lower() in _NULLS or text.lower() in _CALM else _WIND[text]
                elif field == "Pressure":
                    record[column] = _number(value, unit_for_in=33.8639)
                else:
                    record[column] = _number(value)
        except (_Bad, KeyError, ValueError):
            continue  # a rejected row
        out.append(record)
    return pd.DataFrame(out)


def reference_infoclimat(rows: list[dict]) -> pd.DataFrame:
    out = []
    for row in rows:
        station = STATIONS.get(row.get("id_station"))
        if station is None:
            continue
        try:
            utc = datetime.strptime(row["dh_utc"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=_UTC)
            record = {
                "station_id": station.station_id,
                "station_name": station.name,
                "source": station.provider,
                "latitude": station.latitude,
                "longitude": station.longitude,
                "elevation_m": float(station.elevation_m),
                "timestamp": utc,
            }
            for field, column in _IC_FIELDS.items():
                value = row.get(field)
                if value is None or (isinstance(value, str) and value.strip().lower() in _NULLS):
                    record[column] = None
                else:
                    record[column] = float(value)
        except (KeyError, ValueError):
            continue
        out.append(record)
    return pd.DataFrame(out)


def project_partition(raw: dict[str, list[dict]], partition_key: str) -> list[pd.DataFrame]:
    day = partition_day(partition_key)
    frames = []
    for source in RAW_FEEDS:
        if source == "InfoClimat":
            frames.append(transform_infoclimat(raw[source]).frame)
        else:
            [station_id] = feed_station_ids(source)
            frames.append(transform_wunderground(raw[source], station_id, day).frame)
    return frames


def reference_partition(raw: dict[str, list[dict]], partition_key: str) -> list[pd.DataFrame]:
    day = partition_day(partition_key)
    frames = []
    for source in RAW_FEEDS:
        if source == "InfoClimat":
            frames.append(reference_infoclimat(raw[source]))
        else:
            [station_id] = feed_station_ids(source)
            frames.append(reference_wunderground(raw[source], station_id, day))
    return frames


def _comparable(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
    frame = frame.reindex(columns=COLUMNS)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True).astype("datetime64[us, UTC]")
    for column in MEASURE_COLUMNS + ["latitude", "longitude", "elevation_m"]:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    for column in ("station_id", "station_name", "source"):
        frame[column] = frame[column].astype(object)
    return frame.sort_values(["station_id", "timestamp"], kind="stable").reset_index(drop=True)


def assert_same(project: list[pd.DataFrame], reference: list[pd.DataFrame]) -> int:
    """Both frames hold the same rows and values (within 0.01); the number of rows compared."""
    a, b = _comparable(project), _comparable(reference)
    assert len(a) == len(b), f"row counts differ: project {len(a)}, reference {len(b)}"
    assert (a["station_id"].to_numpy() == b["station_id"].to_numpy()).all()
    assert (a["timestamp"].to_numpy() == b["timestamp"].to_numpy()).all(), "timestamps differ"
    for column in MEASURE_COLUMNS + ["latitude", "longitude", "elevation_m"]:
        x, y = a[column].to_numpy(), b[column].to_numpy()
        assert (np.isnan(x) == np.isnan(y)).all(), f"{column}: nulls differ"
        ok = ~np.isnan(x)
        assert np.allclose(x[ok], y[ok], atol=0.01, rtol=0), f"{column}: values differ"
    return len(a)


def _time_best(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = _time.perf_counter()
        fn()
        best = min(best, _time.perf_counter() - started)
    return best


def run(landed: Landed, n_days: int, repeats: int = 3) -> dict:
    """Rows/s of both transforms over ``n_days`` partitions (best of ``repeats``), outputs asserted equal."""
    keys = landed.partition_keys[:n_days]
    raws = {key: raw_rows_of(landed, key) for key in keys}
    raw_rows = sum(len(rows) for raw in raws.values() for rows in raw.values())
    compared = sum(assert_same(project_partition(raws[k], k), reference_partition(raws[k], k)) for k in keys)

    project_s = _time_best(lambda: [project_partition(raws[k], k) for k in keys], repeats)
    reference_s = _time_best(lambda: [reference_partition(raws[k], k) for k in keys], repeats)
    # The same transform given a whole range of rows per call (fixed per-call costs amortised).
    all_ic = [r for k in keys for r in raws[k]["InfoClimat"]]
    batched_s = _time_best(lambda: transform_infoclimat(all_ic), repeats)
    batched_ref_s = _time_best(lambda: reference_infoclimat(all_ic), repeats)
    project_rate, reference_rate = raw_rows / project_s, raw_rows / reference_s
    ratio = project_rate / reference_rate
    return {
        "partitions": len(keys),
        "stations": len(landed.stations),
        "raw_rows": raw_rows,
        "rows_compared_equal": compared,
        "repeats": repeats,
        "project_s": project_s,
        "reference_s": reference_s,
        "project_rows_per_s": project_rate,
        "reference_rows_per_s": reference_rate,
        "ratio": ratio,
        "target_ratio": TARGET_RATIO,
        "met": ratio >= TARGET_RATIO,
        "infoclimat_one_call": {
            "rows": len(all_ic),
            "project_rows_per_s": len(all_ic) / batched_s if all_ic else 0.0,
            "reference_rows_per_s": len(all_ic) / batched_ref_s if all_ic else 0.0,
            "ratio": batched_ref_s / batched_s if all_ic else 0.0,
        },
    }
