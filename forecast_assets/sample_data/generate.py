"""Deterministic generator of the shipped sample source files.

``python -m forecast_assets.sample_data.generate`` rewrites, byte for byte, the three files shipped in
this folder; ``--out DIR`` writes them elsewhere. The public functions are parameterised (stations,
days, date range, seed) so a benchmark can scale the same generator to N stations x D days.

All stations share one synoptic situation (a fixed, weekly-periodic function of UTC time: a low on
2 October, high pressure on 4-6 October, rain on 2, 3 and 6 October), so the Weather Underground
workbooks and the InfoClimat response describe the same weather; the seed only drives
station-level noise. The weather series are computed with vectorised numpy; the only per-row work
is writing cells and JSON records.

The injected "mess" (blanks, ``--``, gaps, off-grid stamps, one duplicated row, one malformed value,
one missing synop hour) is a fixed plan, documented cell by cell in this folder's README.md.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import uuid
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell

from forecast_assets.raw.wunderground import WIND_POINTS, WU_COLUMNS
from forecast_assets.sample_data import BE_WORKBOOK, FR_WORKBOOK, INFOCLIMAT_RESPONSE, SAMPLE_DIR
from forecast_assets.stations import INFOCLIMAT_STATION_IDS, STATIONS, Station

# --------------------------------------------------------------------------------------------
# Constants of the shipped samples
# --------------------------------------------------------------------------------------------

SAMPLE_DAYS: list[date] = [date(2024, 10, 1) + timedelta(days=i) for i in range(7)]
#: (station id, seed, rows kept on the last sheet) of each shipped workbook.
SAMPLE_WORKBOOKS: dict[str, tuple[Path, int, int]] = {
    "IICHTE19": (BE_WORKBOOK, 19, 178),
    "ILAMAD25": (FR_WORKBOOK, 25, 180),
}
SAMPLE_INFOCLIMAT_START = datetime(2024, 10, 5, 0, 0, tzinfo=UTC)
SAMPLE_INFOCLIMAT_END = datetime(2024, 10, 7, 12, 0, tzinfo=UTC)
SAMPLE_INFOCLIMAT_SEED = 2024

#: Workbook created/modified properties, and the timestamp of every entry of the re-packed zip.
WORKBOOK_TIMESTAMP = datetime(2024, 10, 7, 12, 50, 0)

NBSP = "\u00a0"
TIME_FORMAT = "h:mm AM/PM"

#: First grid stamp of a WU sheet (00:04) and the spacing (5 min): 288 stamps 00:04 … 23:59.
WU_FIRST_MINUTE = 4
WU_STEP_MINUTES = 5
WU_ROWS_PER_DAY = 288

#: La Madeleine's rain gauge resets its daily accumulation at this local minute (08:04).
ACCUM_RESET_MINUTE = {"ILAMAD25": 8 * 60 + 4}

# --------------------------------------------------------------------------------------------
# The mess plan of the WU workbooks
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mess:
    """One injected imperfection of a WU sheet.

    ``sheet`` is the sheet's index within its week (the plan repeats every 7 sheets when more
    days are generated); ``at`` is the local ``HH:MM`` grid stamp of the row concerned.
    kinds: ``gap`` (no rows for ``minutes`` after ``at``, resumption off-grid), ``offgrid`` (the
    stamp ``at`` is replaced by ``value``), ``duplicate`` (the row is written twice), ``blank``
    (cells left empty), ``dash`` (cells hold ``--``), ``malformed`` (2nd character of the value
    replaced by ``l``).
    """

    sheet: int
    at: str
    kind: str
    columns: tuple[str, ...] = ()
    minutes: int = 0
    value: str = ""


#: Ichtegem: every kind of mess (the default plan for station ids without their own plan).
_MESS_FULL: tuple[Mess, ...] = (
    Mess(0, "03:14", "blank", ("Wind",)),
    Mess(0, "03:19", "blank", ("Wind",)),
    Mess(0, "11:24", "dash", ("UV", "Solar")),
    Mess(1, "10:04", "gap", minutes=24),
    Mess(1, "16:39", "duplicate"),
    Mess(2, "07:09", "blank", ("Gust",)),
    Mess(2, "15:04", "gap", minutes=27),
    Mess(3, "12:49", "offgrid", value="12:47"),
    Mess(3, "18:19", "offgrid", value="18:20"),
    Mess(4, "09:44", "malformed", ("Temperature",)),
    Mess(5, "21:29", "dash", ("Gust",)),
    Mess(5, "21:34", "dash", ("Gust",)),
)
#: La Madeleine: clean except a few blanks and ``--``.
_MESS_LIGHT: tuple[Mess, ...] = (
    Mess(1, "05:04", "blank", ("Wind",)),
    Mess(3, "13:39", "blank", ("Gust",)),
    Mess(4, "16:09", "dash", ("UV", "Solar")),
    Mess(5, "01:24", "blank", ("Wind",)),
)
MESS_PLANS: dict[str, tuple[Mess, ...]] = {"IICHTE19": _MESS_FULL, "ILAMAD25": _MESS_LIGHT}

#: InfoClimat mess: the synop record this many hours after ``start`` is missing (2024-10-06 05:00 UTC).
SYNOP_MISSING_HOUR_INDEX = 29


@dataclass(frozen=True)
class MessCell:
    """Where one piece of mess ended up in a written workbook (Excel row numbers, header = row 1)."""

    sheet: str
    row: int
    column: str
    value: Any
    kind: str


# --------------------------------------------------------------------------------------------
# The shared synoptic situation (weekly periodic, hours since 2024-10-01 00:00 UTC)
# --------------------------------------------------------------------------------------------

_T0_MINUTES = int(datetime(2024, 10, 1, tzinfo=UTC).timestamp()) // 60
_WEEK_H = 168.0

_PRESSURE_KNOTS = (
    (0, 1002.0),
    (16, 1000.5),
    (32, 999.8),
    (44, 1003.0),
    (60, 1008.0),
    (84, 1015.0),
    (104, 1020.5),
    (120, 1019.0),
    (136, 1016.0),
    (152, 1012.0),
)
_CLOUD_KNOTS = (
    (0, 0.65),
    (20, 0.8),
    (28, 1.0),
    (38, 0.95),
    (46, 0.6),
    (58, 0.55),
    (62, 0.85),
    (66, 0.5),
    (80, 0.35),
    (96, 0.2),
    (108, 0.3),
    (116, 0.6),
    (121, 0.95),
    (128, 0.9),
    (136, 0.5),
    (150, 0.35),
)
_TMEAN_KNOTS = ((0, 13.4), (24, 13.0), (48, 12.3), (72, 12.0), (96, 12.1), (120, 12.5), (144, 13.0))
_WIND_KNOTS = (
    (0, 3.6),
    (20, 4.8),
    (32, 5.6),
    (44, 4.8),
    (60, 4.0),
    (84, 2.4),
    (100, 1.8),
    (118, 2.8),
    (126, 3.6),
    (140, 2.8),
)
#: Wind direction (deg, interpolated as a unit vector): veering SW -> W -> N -> E -> S over the week.
_DIR_KNOTS = ((0, 220), (30, 235), (44, 270), (60, 300), (80, 340), (100, 30), (116, 60), (130, 100), (150, 160))
#: Dryness of the air mass (multiplies the afternoon dew-point depression).
_DRY_KNOTS = ((0, 1.0), (30, 0.6), (48, 1.0), (84, 1.35), (108, 1.3), (122, 0.7), (140, 1.1))
#: Rain spells: (centre h, half-width h, peak mm/h).
_SPELLS = ((30.0, 5.0, 2.2), (34.0, 2.0, 1.6), (63.5, 1.2, 2.5), (123.0, 3.5, 1.6), (126.5, 1.5, 1.2))
#: Diurnal temperature shape over local solar hours (min before sunrise, max mid-afternoon).
_DIURNAL_KNOTS = ((0, -0.55), (3, -0.8), (5.5, -1.0), (8, -0.65), (11, 0.3), (14, 1.0), (17, 0.6), (20, -0.1))


def _pinterp(x: np.ndarray, knots: Sequence[tuple[float, float]], period: float) -> np.ndarray:
    xs = np.array([k[0] for k in knots], dtype=float)
    ys = np.array([k[1] for k in knots], dtype=float)
    return np.interp(x, xs, ys, period=period)


@dataclass(frozen=True)
class _Site:
    latitude: float
    longitude: float
    elevation_m: float
    timezone: str
    maritime: float  # 0 inland … 1 on the coast
    front_shift_h: float  # fronts reach western sites earlier


def _site(station_id: str) -> _Site:
    st: Station | None = STATIONS.get(station_id)
    if st is None:  # a synthetic benchmark station: somewhere between Lille and the coast
        lat, lon, elev, tz = 50.8, 2.9, 20.0, "Europe/Paris"
    else:
        lat, lon, elev, tz = st.latitude, st.longitude, float(st.elevation_m), st.timezone
    maritime = float(np.clip((3.1 - lon) / 0.7, 0.0, 1.0) * np.clip((lat - 50.5) / 0.5, 0.0, 1.0))
    return _Site(lat, lon, elev, tz, maritime, (lon - 3.0) * 1.2)


def _smooth_noise(rng: np.random.Generator, n: int, width: float) -> np.ndarray:
    """Unit-variance noise correlated over ~``width`` samples (white noise * Gaussian kernel)."""
    half = max(1, int(round(3 * width)))
    k = np.exp(-0.5 * (np.arange(-half, half + 1) / max(width, 1e-6)) ** 2)
    k /= np.sqrt(np.sum(k**2))
    white = rng.standard_normal(n + 2 * half)
    return np.convolve(white, k, mode="valid")


def _phases(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0.0, 2 * np.pi, size=6)


def _rain_rate(site: _Site, phases: np.ndarray, t_min: np.ndarray) -> np.ndarray:
    """Rain rate (mm/h): a deterministic function of time, so any sampling integrates consistently."""
    h = (np.asarray(t_min, dtype=float) - _T0_MINUTES) / 60.0
    hs = np.mod(h - site.front_shift_h, _WEEK_H)
    rate = np.zeros_like(hs)
    for centre, half, peak in _SPELLS:
        d = np.abs(hs - centre)
        rate += np.where(d < half, peak * np.cos(0.5 * np.pi * d / half) ** 2, 0.0)
    mod = 1.0 + 0.35 * np.sin(2 * np.pi * h / 0.8 + phases[0]) + 0.25 * np.sin(2 * np.pi * h / 2.3 + phases[1])
    rate = rate * np.clip(mod, 0.2, None)
    return np.where(rate < 0.15, 0.0, rate)


def _sun_sine(site: _Site, t_min: np.ndarray) -> np.ndarray:
    """Sine of the sun's elevation (low-precision almanac, good to a few minutes)."""
    n = np.asarray(t_min, dtype=float) / 1440.0 - 10957.5  # days since J2000.0
    mean_long = np.deg2rad(np.mod(280.460 + 0.9856474 * n, 360.0))
    g = np.deg2rad(np.mod(357.528 + 0.9856003 * n, 360.0))
    ecl_long = mean_long + np.deg2rad(1.915) * np.sin(g) + np.deg2rad(0.020) * np.sin(2 * g)
    eps = np.deg2rad(23.439 - 4e-7 * n)
    decl = np.arcsin(np.sin(eps) * np.sin(ecl_long))
    ra = np.arctan2(np.cos(eps) * np.sin(ecl_long), np.cos(ecl_long))
    gmst_h = np.mod(18.697374558 + 24.06570982441908 * n, 24.0)
    hour_angle = np.deg2rad(gmst_h * 15.0 + site.longitude) - ra
    lat = np.deg2rad(site.latitude)
    return np.sin(lat) * np.sin(decl) + np.cos(lat) * np.cos(decl) * np.cos(hour_angle)


def _weather(
    site: _Site, t_min: np.ndarray, rng: np.random.Generator, phases: np.ndarray, width: float
) -> dict[str, np.ndarray]:
    """The weather at one site at the given UTC minutes (SI-ish units), vectorised.

    ``width`` is the correlation length of the station noise in samples.
    """
    t_min = np.asarray(t_min, dtype=float)
    n = t_min.size
    h = (t_min - _T0_MINUTES) / 60.0
    hs = h - site.front_shift_h
    solar_hour = np.mod(h + site.longitude / 15.0, 24.0)

    cloud = _pinterp(hs, _CLOUD_KNOTS, _WEEK_H)
    cloud = np.clip(
        cloud + 0.15 * np.sin(2 * np.pi * h / 1.7 + phases[2]) + 0.1 * np.sin(2 * np.pi * h / 0.45 + phases[3]),
        0.0,
        1.0,
    )
    cloud_slow = _pinterp(hs, _CLOUD_KNOTS, _WEEK_H)
    rain = _rain_rate(site, phases, t_min)
    wet = np.clip(rain / 2.0, 0.0, 1.0)

    diurnal = _pinterp(solar_hour, _DIURNAL_KNOTS, 24.0)
    amp = 4.6 * (1.0 - 0.5 * cloud_slow) * (1.0 - 0.25 * site.maritime)
    tmean = _pinterp(hs, _TMEAN_KNOTS, _WEEK_H) - 0.0065 * site.elevation_m + 0.4 * site.maritime
    temp = tmean + amp * diurnal - 1.2 * wet + 0.35 * _smooth_noise(rng, n, width) + 0.05 * rng.standard_normal(n)

    dry = _pinterp(hs, _DRY_KNOTS, _WEEK_H)
    depression = 0.7 + (1.2 + 5.0 * (1.0 - 0.6 * cloud_slow)) * dry * np.clip(diurnal + 0.6, 0.0, None) / 1.6
    depression = depression * (1.0 - 0.75 * wet) + 0.25 * _smooth_noise(rng, n, width)
    dew = temp - np.clip(depression, 0.3, None)
    # Magnus formula (Alduchov & Eskridge)
    rh = 100.0 * np.exp(17.625 * dew / (243.04 + dew) - 17.625 * temp / (243.04 + temp))

    pressure = (
        _pinterp(hs, _PRESSURE_KNOTS, _WEEK_H)
        + 0.4 * np.cos(2 * np.pi * (solar_hour - 10.0) / 12.0)
        + 0.15 * _smooth_noise(rng, n, 4 * width)
    )

    wind_fac = 0.75 + 0.45 * np.clip(diurnal + 0.5, 0.0, 1.5) / 1.5
    wind = (
        _pinterp(hs, _WIND_KNOTS, _WEEK_H)
        * wind_fac
        * (1.0 + 0.3 * site.maritime)
        * (1.0 + 0.22 * _smooth_noise(rng, n, width) + 0.15 * rng.standard_normal(n))
    )
    wind = np.clip(wind, 0.0, 8.9)  # 8.9 m/s ~ 20 mph
    gust = wind * (1.25 + 0.35 * rng.uniform(size=n)) + 0.3 + 0.4 * np.abs(rng.standard_normal(n))
    rad = [(k[0], np.deg2rad(k[1])) for k in _DIR_KNOTS]
    synoptic_dir = np.rad2deg(
        np.arctan2(
            _pinterp(hs, [(x, np.sin(a)) for x, a in rad], _WEEK_H),
            _pinterp(hs, [(x, np.cos(a)) for x, a in rad], _WEEK_H),
        )
    )
    direction = np.mod(synoptic_dir + 15.0 * _smooth_noise(rng, n, width) + 12.0 * rng.standard_normal(n), 360.0)

    s = _sun_sine(site, t_min)
    s_pos = np.clip(s, 1e-3, None)
    clear = np.where(s > 0.0, 1098.0 * s_pos * np.exp(-0.057 / s_pos), 0.0)
    solar = clear * (1.0 - 0.75 * cloud**3.4) * (1.0 - 0.5 * wet) * (1.0 + 0.03 * rng.standard_normal(n))
    solar = np.clip(solar, 0.0, None)

    return {
        "temp": temp,
        "dew": dew,
        "rh": rh,
        "pressure": pressure,
        "wind": wind,
        "gust": gust,
        "dir": direction,
        "rain": rain,
        "solar": solar,
        "cloud": cloud,
        "sun": s,
    }


# --------------------------------------------------------------------------------------------
# Vectorised formatting helpers
# --------------------------------------------------------------------------------------------


def _fmt1(values: np.ndarray, unit: str | None = None) -> np.ndarray:
    rounded = np.round(values, 1) + 0.0  # + 0.0 turns -0.0 into 0.0
    out = np.char.mod("%.1f", rounded)
    if unit is not None:
        out = np.char.add(out, NBSP + unit)
    return out


def _compass(degrees: np.ndarray) -> np.ndarray:
    idx = np.mod(np.rint(np.asarray(degrees) / 22.5).astype(int), 16)
    return np.array(WIND_POINTS, dtype=object)[idx]


# --------------------------------------------------------------------------------------------
# Weather Underground workbook
# --------------------------------------------------------------------------------------------


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _minute(hhmm: str) -> int:
    hh, mm = hhmm.split(":")
    return int(hh) * 60 + int(mm)


def _sheet_minutes(events: Sequence[Mess]) -> tuple[list[int], set[int]]:
    """Local minutes of the rows of one sheet (before truncation), and the minutes to duplicate."""
    grid = [WU_FIRST_MINUTE + WU_STEP_MINUTES * i for i in range(WU_ROWS_PER_DAY)]
    minutes = list(grid)
    duplicates: set[int] = set()
    for ev in events:
        at = _minute(ev.at)
        if ev.kind == "gap":
            resume = at + ev.minutes
            # the grid stamps inside the gap, and the one < 2 min after the resumption, are missing
            minutes = [m for m in minutes if not (at < m < resume + 2)]
            minutes.append(resume)
        elif ev.kind == "offgrid":
            minutes = [_minute(ev.value) if m == at else m for m in minutes]
        elif ev.kind == "duplicate":
            duplicates.add(at)
    return sorted(minutes), duplicates


def _utc_offset_minutes(tz: str, day: date) -> int:
    """UTC offset of a local day (taken at noon; DST-change nights are not modelled)."""
    off = datetime.combine(day, time(12, 0), tzinfo=ZoneInfo(tz)).utcoffset()
    assert off is not None
    return int(off.total_seconds() // 60)


def generate_wu_workbook(
    path: str | Path, station_id: str, days: list[date], seed: int, short_last_day_rows: int | None, mess: bool = True
) -> list[MessCell]:
    """Write one Weather Underground workbook: one sheet ``DDMMYY`` per local day, in ``days`` order.

    Rows are every 5 minutes 00:04 … 23:59 local time; the last sheet keeps only its first
    ``short_last_day_rows`` rows (``None``: full day). With ``mess`` the station's mess plan
    (``MESS_PLANS``, default: Ichtegem's) is applied to sheet ``i`` where ``i % 7`` matches.
    Returns where each cell-level piece of mess was written.
    """
    path = Path(path)
    site = _site(station_id)
    rng = np.random.default_rng(seed)
    phases = _phases(rng)
    plan = MESS_PLANS.get(station_id, _MESS_FULL) if mess else ()
    reset_minute = ACCUM_RESET_MINUTE.get(station_id)

    # 1. the row stamps of every sheet (local minutes of day, and UTC epoch minutes)
    sheets: list[tuple[date, list[Mess], np.ndarray, np.ndarray]] = []
    for i, day in enumerate(days):
        events = [ev for ev in plan if ev.sheet == i % 7]
        minutes, dups = _sheet_minutes(events)
        if i == len(days) - 1 and short_last_day_rows is not None:
            minutes = minutes[:short_last_day_rows]
        # the duplicate is written twice: repeat its stamp
        minutes = [m for m0 in minutes for m in ([m0, m0] if m0 in dups else [m0])]
        local = np.array(minutes, dtype=np.int64)
        day_start_utc = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) // 60 - _utc_offset_minutes(
            site.timezone, day
        )
        sheets.append((day, events, local, day_start_utc + local))

    all_utc = np.concatenate([s[3] for s in sheets]) if sheets else np.zeros(0, dtype=np.int64)
    wx = _weather(site, all_utc, rng, phases, width=6.0)

    # 2. rain accumulation: integrate the rain rate on a 1-minute grid, then read it at the rows
    if all_utc.size:
        grid_start = int(all_utc.min()) - 24 * 60
        grid = np.arange(grid_start, int(all_utc.max()) + 1, dtype=np.int64)
        cum = np.concatenate([[0.0], np.cumsum(_rain_rate(site, phases, grid) / 60.0)])  # mm at minute end
    accum_parts = []
    for _day, _events, local, utc in sheets:
        if reset_minute is None:
            since = utc - local  # local midnight
        else:
            since = np.where(local >= reset_minute, utc - local + reset_minute, utc - local + reset_minute - 1440)
        accum_parts.append(cum[utc - grid_start + 1] - cum[since - grid_start + 1])
    accum_mm = np.concatenate(accum_parts) if accum_parts else np.zeros(0)

    # 3. formatted columns (vectorised)
    temp_f = wx["temp"] * 9.0 / 5.0 + 32.0
    dew_f = wx["dew"] * 9.0 / 5.0 + 32.0
    mph = wx["wind"] * 2.23694
    gust_mph = np.maximum(wx["gust"] * 2.23694, mph)
    solar = np.round(wx["solar"], 1) + 0.0
    uv = np.clip(np.rint(solar / 190.0), 0, 3).astype(int)
    solar_txt = np.char.replace(np.char.mod("%.1f", solar), ".0", "")
    cols: dict[str, np.ndarray] = {
        "Temperature": _fmt1(temp_f, "°F"),
        "Dew Point": _fmt1(dew_f, "°F"),
        "Humidity": np.char.add(np.char.mod("%d", np.clip(np.rint(wx["rh"]), 0, 100).astype(int)), NBSP + "%"),
        "Wind": _compass(wx["dir"]),
        "Speed": _fmt1(mph, "mph"),
        "Gust": _fmt1(gust_mph, "mph"),
        "Pressure": np.char.add(np.char.mod("%.2f", wx["pressure"] * 0.0295300), NBSP + "in"),
        "Precip. Rate.": np.char.add(np.char.mod("%.2f", np.round(wx["rain"] / 25.4, 2) + 0.0), NBSP + "in"),
        "Precip. Accum.": np.char.add(np.char.mod("%.2f", np.round(accum_mm / 25.4, 2) + 0.0), NBSP + "in"),
        "UV": uv,
        "Solar": np.char.add(solar_txt, NBSP + "w/m²"),
    }
    value_cols = WU_COLUMNS[1:]
    table = [cols[c].tolist() for c in value_cols]
    table[value_cols.index("UV")] = [int(v) for v in uv]

    # 4. write the workbook
    wb = Workbook(write_only=True)
    wb.properties.creator = "forecast_assets.sample_data.generate"
    wb.properties.lastModifiedBy = None
    wb.properties.created = WORKBOOK_TIMESTAMP
    wb.properties.modified = WORKBOOK_TIMESTAMP
    mess_cells: list[MessCell] = []
    offset = 0
    for day, events, local, _utc in sheets:
        name = day.strftime("%d%m%y")
        ws = wb.create_sheet(title=name)
        ws.append(list(WU_COLUMNS))
        cell_events: dict[int, list[Mess]] = {}
        for ev in events:
            if ev.kind in ("blank", "dash", "malformed"):
                cell_events.setdefault(_minute(ev.at), []).append(ev)
        local_list = local.tolist()
        for r, minute in enumerate(local_list):
            excel_row = r + 2
            row = [table[c][offset + r] for c in range(len(value_cols))]
            if r > 0 and local_list[r - 1] == minute:  # the duplicated row: an exact copy
                row = [table[c][offset + r - 1] for c in range(len(value_cols))]
                mess_cells.append(MessCell(name, excel_row, "Time", _hhmm(minute) + ":00", "duplicate"))
            elif minute in cell_events:
                for ev in cell_events[minute]:
                    for col in ev.columns:
                        j = value_cols.index(col)
                        if ev.kind == "blank":
                            row[j] = None
                        elif ev.kind == "dash":
                            row[j] = "--"
                        else:
                            text = str(row[j])
                            row[j] = text[:1] + "l" + text[2:]
                        mess_cells.append(MessCell(name, excel_row, col, row[j], ev.kind))
            if minute % WU_STEP_MINUTES != WU_FIRST_MINUTE % WU_STEP_MINUTES:
                prev = local_list[r - 1] if r > 0 else None
                kind = "gap" if prev is not None and minute - prev > 2 * WU_STEP_MINUTES else "offgrid"
                mess_cells.append(MessCell(name, excel_row, "Time", _hhmm(minute) + ":00", kind))
            tcell = WriteOnlyCell(ws, value=time(minute // 60, minute % 60))
            tcell.number_format = TIME_FORMAT
            ws.append([tcell, *row])
        offset += len(local_list)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    wb.save(buf)
    path.write_bytes(_repack_zip(buf.getvalue()))
    return mess_cells


def _repack_zip(data: bytes) -> bytes:
    """The same zip, every entry with the fixed timestamp and attributes, in a stable order."""
    src = zipfile.ZipFile(io.BytesIO(data))
    names = src.namelist()
    # [Content_Types].xml first (as Excel writes it), then the other parts by name
    first = [n for n in ("[Content_Types].xml",) if n in names]
    ordered = first + sorted(n for n in names if n not in first)
    stamp = WORKBOOK_TIMESTAMP.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for name in ordered:
            info = zipfile.ZipInfo(name, date_time=WORKBOOK_TIMESTAMP.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 0
            info.external_attr = 0
            payload = src.read(name)
            if name == "docProps/core.xml":  # openpyxl stamps "modified" with the clock at save time
                payload = re.sub(
                    rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)", rb"\g<1>" + stamp + rb"\g<2>", payload
                )
            dst.writestr(info, payload, compress_type=zipfile.ZIP_DEFLATED, compresslevel=6)
    return out.getvalue()


# --------------------------------------------------------------------------------------------
# InfoClimat response
# --------------------------------------------------------------------------------------------

INFOCLIMAT_METADATA: dict[str, str] = {
    "temperature": "temperature,degC",
    "pression": "mean sea level pressure,hPa",
    "humidite": "relative humidity,%",
    "point_de_rosee": "dewpoint,degC",
    "visibilite": "horizontal visibility,m",
    "vent_moyen": "mean wind speed,km/h",
    "vent_rafales": "wind gust,km/h",
    "vent_direction": "wind direction,deg",
    "pluie_3h": "precipitation over 3h,mm",
    "pluie_1h": "precipitation over 1h,mm",
    "neige_au_sol": "snow depth,cm",
    "nebulosite": "Ncloud cover,octats",
    "temps_omm": "present weather,http://www.infoclimat.fr/stations-meteo/ww.php",
}
STATIC_FIELDS: tuple[str, ...] = (
    "temperature",
    "pression",
    "humidite",
    "point_de_rosee",
    "vent_moyen",
    "vent_rafales",
    "vent_direction",
    "pluie_1h",
    "pluie_3h",
)
SYNOP_FIELDS: tuple[str, ...] = (
    "temperature",
    "pression",
    "humidite",
    "point_de_rosee",
    "visibilite",
    "vent_moyen",
    "vent_rafales",
    "vent_direction",
    "pluie_1h",
    "pluie_3h",
    "neige_au_sol",
    "nebulosite",
    "temps_omm",
)
#: Static stations whose ``pluie_3h`` is given every hour (overlapping windows).
HOURLY_PLUIE_3H = frozenset({"000R5"})


def _station_type(station: Station) -> str:
    return "synop" if station.cadence >= timedelta(hours=1) else "static"


def _license(station: Station) -> dict[str, str]:
    if _station_type(station) == "synop":
        return {
            "license": "Etalab Open License",
            "url": "https://www.etalab.gouv.fr/licence-ouverte-open-licence",
            "source": "Meteo-France",
            "metadonnees": "https://donneespubliques.meteofrance.fr/?fond=produit&id_produit=90&id_rubrique=32",
        }
    return {
        "license": "CC BY",
        "url": "https://creativecommons.org/licenses/by/2.0/fr/",
        "source": "infoclimat.fr",
        "metadonnees": f"https://www.infoclimat.fr/stations/metadonnees.php?id={station.station_id}",
    }


def _utc_minutes(dt: datetime) -> int:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp()) // 60


def _infoclimat_records(station: Station, start_min: int, end_min: int, seed: int, mess: bool) -> list[dict[str, Any]]:
    sid = station.station_id
    synop = _station_type(station) == "synop"
    step = int(station.cadence.total_seconds() // 60)
    t = np.arange(start_min, end_min + 1, step, dtype=np.int64)
    n = t.size
    site = _site(sid)
    rng = np.random.default_rng([seed, zlib.crc32(sid.encode())])
    phases = _phases(rng)
    wx = _weather(site, t, rng, phases, width=max(1.0, 30.0 / step))

    # rain over the previous hour, from a 1-minute grid (3 h of history before the first record)
    grid = np.arange(start_min - 180, end_min + 1, dtype=np.int64)
    cum = np.concatenate([[0.0], np.cumsum(_rain_rate(site, phases, grid) / 60.0)])
    idx = t - (start_min - 180) + 1
    p1 = np.round(cum[idx] - cum[idx - 60], 1) + 0.0
    p1_prev1 = np.round(cum[idx - 60] - cum[idx - 120], 1) + 0.0
    p1_prev2 = np.round(cum[idx - 120] - cum[idx - 180], 1) + 0.0
    p3 = np.round(p1 + p1_prev1 + p1_prev2, 1) + 0.0
    on_hour = (t % 60) == 0
    hour_of_day = (t // 60) % 24

    temp = _fmt1(wx["temp"])
    dew = _fmt1(wx["dew"])
    hum = np.char.mod("%d", np.clip(np.rint(wx["rh"]), 0, 100).astype(int))
    pres = _fmt1(wx["pressure"])
    wind = _fmt1(wx["wind"] * 3.6)
    gust = _fmt1(wx["gust"] * 3.6)
    if synop:
        tens = np.mod(np.rint(wx["dir"] / 10.0).astype(int), 36)
        direction = np.char.mod("%d", np.where(tens == 0, 36, tens) * 10)  # synop: north is 360
    else:
        direction = np.char.mod("%d", np.mod(np.rint(wx["dir"]), 360).astype(int))
    p1s, p3s = _fmt1(p1), _fmt1(p3)

    if synop:
        mist = (wx["rh"] >= 94.0) & (wx["rain"] == 0.0)
        vis = np.where(
            wx["rain"] > 0.0,
            6000.0 + 6000.0 * (1.0 - np.clip(wx["rain"] / 2.5, 0, 1)),
            np.where(
                mist,
                3000.0 + 2000.0 * rng.uniform(size=n),
                22000.0 + 18000.0 * (1.0 - wx["cloud"]) * rng.uniform(0.7, 1.0, size=n),
            ),
        )
        vis_s = np.char.mod("%d", (np.rint(vis / 100.0) * 100).astype(int))
        octas = np.char.mod("%d", np.clip(np.rint(wx["cloud"] * 8.0), 0, 8).astype(int))
        ww = np.where(wx["rain"] >= 1.0, "63", np.where(wx["rain"] > 0.0, "61", np.where(mist, "10", "")))

    records: list[dict[str, Any]] = []
    for i in range(n):
        if synop and mess and i == SYNOP_MISSING_HOUR_INDEX:
            continue
        rec: dict[str, Any] = {
            "id_station": sid,
            "dh_utc": datetime.fromtimestamp(int(t[i]) * 60, tz=UTC).strftime("%Y-%m-%d %H:%M:%S"),
            "temperature": str(temp[i]),
            "pression": str(pres[i]),
            "humidite": str(hum[i]),
            "point_de_rosee": str(dew[i]),
        }
        if synop:
            rec["visibilite"] = str(vis_s[i])
        rec["vent_moyen"] = str(wind[i])
        rec["vent_rafales"] = str(gust[i]) if synop else None
        rec["vent_direction"] = str(direction[i])
        rec["pluie_1h"] = str(p1s[i]) if on_hour[i] else None
        if synop:
            rec["pluie_3h"] = str(p3s[i]) if hour_of_day[i] % 3 == 0 else None
            rec["neige_au_sol"] = None
            rec["nebulosite"] = str(octas[i]) if hour_of_day[i] % 3 == 0 or not mess else ""
            rec["temps_omm"] = str(ww[i]) if ww[i] else None
        else:
            rec["pluie_3h"] = str(p3s[i]) if (sid in HOURLY_PLUIE_3H and on_hour[i]) else None
        records.append(rec)
    return records


def generate_infoclimat_response(
    path: str | Path, station_ids: Sequence[str], start: datetime, end: datetime, seed: int, mess: bool = True
) -> dict[str, Any]:
    """Write one InfoClimat open-data response for ``station_ids`` from ``start`` to ``end`` (UTC, inclusive).

    Static stations report every 10 minutes, synop stations every hour (their cadence in
    ``stations.py``). With ``mess`` one synop hour is missing (``SYNOP_MISSING_HOUR_INDEX`` hours
    after ``start``) and ``nebulosite`` is the empty string outside the 3-hourly synoptic hours.
    Returns the document written.
    """
    start_min, end_min = _utc_minutes(start), _utc_minutes(end)
    stations = [STATIONS[s] for s in station_ids]
    any_synop = any(_station_type(s) == "synop" for s in stations)
    measured = set(STATIC_FIELDS) | (set(SYNOP_FIELDS) if any_synop else set())
    hourly: dict[str, Any] = {}
    for st in stations:
        hourly[st.station_id] = _infoclimat_records(st, start_min, end_min, seed, mess)
    hourly["_params"] = [f for f in INFOCLIMAT_METADATA if f in measured]
    doc = {
        "status": "OK",
        "errors": [],
        "data": [],
        "stations": [
            {
                "id": st.station_id,
                "name": st.name,
                "latitude": st.latitude,
                "longitude": st.longitude,
                "elevation": st.elevation_m,
                "type": _station_type(st),
                "license": _license(st),
            }
            for st in stations
        ],
        "metadata": dict(INFOCLIMAT_METADATA),
        "hourly": hourly,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, ensure_ascii=True, separators=(",", ":")), encoding="utf-8")
    return doc


# --------------------------------------------------------------------------------------------
# Airbyte export of a workbook
# --------------------------------------------------------------------------------------------

AIRBYTE_SYNC_ID = 20241007
AIRBYTE_GENERATION_ID = 1
#: When the (fictitious) sync extracted the rows: 2024-10-07 12:55:00 UTC.
AIRBYTE_EXTRACTED_AT_MS = int(datetime(2024, 10, 7, 12, 55, tzinfo=UTC).timestamp() * 1000)
AIRBYTE_COLUMNS: tuple[str, ...] = (
    "_airbyte_raw_id",
    "_airbyte_extracted_at",
    "_airbyte_meta",
    "_airbyte_generation_id",
    "_airbyte_data",
)


def _cell_for_export(column: str, value: Any) -> Any:
    if value is None or value == "":
        return None
    if column == "Time":
        if isinstance(value, datetime):
            value = value.time()
        if isinstance(value, time):
            return value.strftime("%H:%M:%S")
        if isinstance(value, (int, float)):  # a bare Excel day fraction
            seconds = int(round(float(value) % 1.0 * 86400))
            return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return value


def write_airbyte_export(workbook_path: str | Path, out_dir: str | Path, fmt: str = "jsonl") -> list[Path]:
    """Export a WU workbook as Airbyte would: ``out_dir/<DDMMYY>/<name>.jsonl`` (or ``.csv``), one folder per sheet.

    The file name is Airbyte's ``<YYYY_MM_DD>_<epoch ms>_0.<ext>`` of the (fixed) extraction time;
    raw ids are UUID4-shaped but derived from the workbook name, so the export is deterministic.
    Returns the files written.
    """
    if fmt not in ("jsonl", "csv"):
        raise ValueError(f"fmt must be 'jsonl' or 'csv', not {fmt!r}")
    workbook_path, out_dir = Path(workbook_path), Path(out_dir)
    rng = np.random.default_rng(zlib.crc32(workbook_path.name.encode()))
    wb = load_workbook(workbook_path, read_only=True)
    written: list[Path] = []
    extracted = AIRBYTE_EXTRACTED_AT_MS
    file_name = (
        datetime.fromtimestamp(AIRBYTE_EXTRACTED_AT_MS / 1000, tz=UTC).strftime("%Y_%m_%d")
        + f"_{AIRBYTE_EXTRACTED_AT_MS}_0.{fmt}"
    )
    try:
        for ws in wb.worksheets:
            rows = ws.iter_rows(values_only=True)
            header = [str(h) for h in next(rows)]
            folder = out_dir / ws.title
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / file_name
            records = []
            for values in rows:
                if values is None or all(v is None for v in values):
                    continue
                data = {col: _cell_for_export(col, v) for col, v in zip(header, values)}
                raw_id = str(uuid.UUID(bytes=rng.bytes(16), version=4))
                records.append(
                    {
                        "_airbyte_raw_id": raw_id,
                        "_airbyte_extracted_at": extracted,
                        "_airbyte_meta": {"sync_id": AIRBYTE_SYNC_ID, "changes": []},
                        "_airbyte_generation_id": AIRBYTE_GENERATION_ID,
                        "_airbyte_data": data,
                    }
                )
                extracted += 1
            if fmt == "jsonl":
                with target.open("w", encoding="utf-8", newline="\n") as fh:
                    for rec in records:
                        fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
            else:
                with target.open("w", encoding="utf-8", newline="") as fh:
                    writer = csv.writer(fh, lineterminator="\n")
                    writer.writerow(AIRBYTE_COLUMNS)
                    for rec in records:
                        writer.writerow(
                            [
                                rec["_airbyte_raw_id"],
                                rec["_airbyte_extracted_at"],
                                json.dumps(rec["_airbyte_meta"], ensure_ascii=False),
                                rec["_airbyte_generation_id"],
                                json.dumps(rec["_airbyte_data"], ensure_ascii=False),
                            ]
                        )
            written.append(target)
    finally:
        wb.close()
    return written


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def generate_samples(out_dir: str | Path = SAMPLE_DIR) -> list[Path]:
    """Write the three shipped sample files into ``out_dir``."""
    out_dir = Path(out_dir)
    written = []
    for station_id, (shipped, seed, short_rows) in SAMPLE_WORKBOOKS.items():
        target = out_dir / shipped.name
        generate_wu_workbook(target, station_id, SAMPLE_DAYS, seed, short_rows)
        written.append(target)
    target = out_dir / INFOCLIMAT_RESPONSE.name
    generate_infoclimat_response(
        target, INFOCLIMAT_STATION_IDS, SAMPLE_INFOCLIMAT_START, SAMPLE_INFOCLIMAT_END, SAMPLE_INFOCLIMAT_SEED
    )
    written.append(target)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate the shipped sample source files (deterministic).")
    parser.add_argument(
        "--out",
        type=Path,
        default=SAMPLE_DIR,
        help="folder to write the files into (default: rewrite the shipped files)",
    )
    args = parser.parse_args(argv)
    for p in generate_samples(args.out):
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
