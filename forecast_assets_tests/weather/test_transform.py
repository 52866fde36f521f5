"""The weather_data transform on crafted rows and on the shipped sample, against hand-computed values."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import numpy as np
import pandas as pd
import pytest

from forecast_assets.raw.infoclimat import InfoClimatResponseFile
from forecast_assets.raw.wunderground import WU_COLUMNS, WundergroundSource
from forecast_assets.sample_data import BE_WORKBOOK, FR_WORKBOOK, INFOCLIMAT_RESPONSE
from forecast_assets.staging.layout import INGESTED_AT, SOURCE_POSITION, SOURCE_URI
from forecast_assets.stations import STATIONS
from forecast_assets.weather.convert import Transformed
from forecast_assets.weather.infoclimat import transform_infoclimat
from forecast_assets.weather.schema import COLUMNS, MEASURE_COLUMNS, TIMESTAMP_DTYPE, WeatherData
from forecast_assets.weather.transform import MEASURED_COLUMNS, deduplicate, measured_columns
from forecast_assets.weather.wunderground import transform_wunderground

NB = "\u00a0"
INGESTED = "2024-10-08T00:00:00+00:00"
OCT_1 = date(2024, 10, 1)


def wu_row(clock: str, position: int = 2, temp: str = f"56.8{NB}°F", wind="WSW", **overrides) -> dict:
    values = [
        clock,
        temp,
        f"50.1{NB}°F",
        f"87{NB}%",
        wind,
        f"8.2{NB}mph",
        f"12.0{NB}mph",
        f"29.93{NB}in",
        f"0.01{NB}in",
        f"0.12{NB}in",
        1,
        f"270.4{NB}w/m²",
    ]
    row = dict(zip(WU_COLUMNS, values))
    row.update(overrides)
    return {**row, SOURCE_URI: "file:///wb.xlsx", SOURCE_POSITION: f"sheet=x row={position}", INGESTED_AT: INGESTED}


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def assert_invariant(result: Transformed) -> None:
    assert len(result.frame) + len(result.rejects) == result.read
    assert list(result.frame.columns) == COLUMNS
    assert result.frame["timestamp"].dtype == TIMESTAMP_DTYPE
    assert result.frame["weather_code"].dtype == pd.Int64Dtype()
    WeatherData.validate(deduplicate(result.frame)[0])  # the contract's key is unique only once de-duplicated


# --- Weather Underground ----------------------------------------------------------------------


def test_wunderground_converts_and_fills_station_columns():
    rows = [
        wu_row("00:04:00", 2),
        wu_row("00:09:00", 3, wind="Calm", Gust="--", UV=None),
        wu_row("00:14:00", 4, temp=f"4l.8{NB}°F"),
    ]
    result = transform_wunderground(rows, "IICHTE19", OCT_1)
    assert_invariant(result)
    assert result.read == 3 and len(result.frame) == 2
    frame = result.frame
    # CEST = UTC+2 in early October: 00:04 local on 1 October is 22:04 UTC on 30 September.
    assert frame["timestamp"].tolist() == [utc("2024-09-30 22:04"), utc("2024-09-30 22:09")]
    first = frame.iloc[0]
    assert (first.station_id, first.station_name, first.source) == ("IICHTE19", "WeerstationBS", "weather_underground")
    assert (first.latitude, first.longitude, first.elevation_m) == (51.092, 2.999, 15.0)
    expected = {
        "temperature_c": (56.8 - 32) * 5 / 9,
        "dew_point_c": (50.1 - 32) * 5 / 9,
        "humidity_pct": 87.0,
        "pressure_hpa": 29.93 * 33.8639,
        "wind_direction_deg": 247.5,
        "wind_speed_kmh": 8.2 * 1.609344,
        "wind_gust_kmh": 12.0 * 1.609344,
        "precip_rate_mm_h": 0.254,
        "precip_accum_mm": 3.048,
        "uv_index": 1.0,
        "solar_radiation_wm2": 270.4,
    }
    for column, value in expected.items():
        assert first[column] == pytest.approx(value, abs=0.01), column
    # InfoClimat-only columns are null, never made up.
    for column in set(MEASURE_COLUMNS) - set(expected):
        assert frame[column].isna().all(), column
    second = frame.iloc[1]
    assert pd.isna(second.wind_direction_deg) and pd.isna(second.wind_gust_kmh) and pd.isna(second.uv_index)
    assert second.wind_speed_kmh == pytest.approx(13.1966, abs=0.01)
    # the malformed row is rejected, with its reason, station, record and lineage
    (rejected,) = result.rejects
    assert rejected["reason"] == "Temperature: '4l.8 °F' is not a number"
    assert rejected["station_id"] == "IICHTE19"
    assert rejected["record"] == {k: v for k, v in rows[2].items() if not k.startswith("_")}
    assert (rejected[SOURCE_URI], rejected[SOURCE_POSITION], rejected[INGESTED_AT]) == (
        "file:///wb.xlsx",
        "sheet=x row=4",
        INGESTED,
    )


def test_wunderground_rejects_unknown_units_and_wind_text_with_all_reasons():
    rows = [
        wu_row("01:00:00", Speed=f"8.2{NB}knots"),
        wu_row("01:05:00", wind="Breezy", Pressure="1013 °F"),
        wu_row("01:10:00", Humidity="N/A", Solar="   "),
    ]
    result = transform_wunderground(rows, "ILAMAD25", OCT_1)
    assert_invariant(result)
    assert len(result.frame) == 1
    assert result.frame.iloc[0].humidity_pct != result.frame.iloc[0].humidity_pct  # NaN: "N/A" is null
    reasons = [r["reason"] for r in result.rejects]
    assert reasons[0].startswith("Speed: '8.2 knots' has unit 'knots'")
    assert "Wind: 'Breezy' is not a known wind direction" in reasons[1]
    assert "Pressure: '1013 °F' has unit '°F'" in reasons[1]


def test_wunderground_refuses_a_non_wu_station():
    with pytest.raises(ValueError, match="not a Weather Underground station"):
        transform_wunderground([], "07015", OCT_1)


def paris_sheet(day: date, clocks: list[str]) -> list[dict]:
    return [wu_row(clock, position) for position, clock in enumerate(clocks, start=2)]


def five_minute_clocks(start: time, end: time) -> list[str]:
    clocks, t, last = [], datetime.combine(OCT_1, start), datetime.combine(OCT_1, end)
    while t <= last:
        clocks.append(t.strftime("%H:%M:%S"))
        t += timedelta(minutes=5)
    return clocks


def test_dst_fallback_keeps_both_passes_of_the_repeated_hour():
    day = date(2024, 10, 27)  # Europe/Paris: 03:00 CEST → 02:00 CET
    first_pass = five_minute_clocks(time(0, 0), time(2, 55))
    second_pass = five_minute_clocks(time(2, 0), time(23, 55))
    result = transform_wunderground(paris_sheet(day, first_pass + second_pass), "ILAMAD25", day)
    assert_invariant(result)
    assert result.rejects == [] and len(result.frame) == 36 + 264
    stamps = result.frame["timestamp"]
    assert stamps.is_monotonic_increasing and stamps.is_unique
    assert (stamps.diff().dropna() == pd.Timedelta(minutes=5)).all()
    assert stamps.iloc[0] == utc("2024-10-26 22:00")  # 00:00 CEST
    assert stamps.iloc[24] == utc("2024-10-27 00:00")  # 02:00, first pass (CEST, UTC+2)
    assert stamps.iloc[36] == utc("2024-10-27 01:00")  # 02:00, second pass (CET, UTC+1)
    assert stamps.iloc[-1] == utc("2024-10-27 22:55")  # 23:55 CET
    kept, dropped = deduplicate(result.frame)
    assert len(kept) == 300 and dropped.empty


def test_dst_spring_forward_gap_is_rejected():
    day = date(2024, 3, 31)  # Europe/Paris: 02:00 CET → 03:00 CEST
    result = transform_wunderground(paris_sheet(day, ["01:55:00", "02:30:00", "03:00:00"]), "ILAMAD25", day)
    assert_invariant(result)
    assert result.frame["timestamp"].tolist() == [utc("2024-03-31 00:55"), utc("2024-03-31 01:00")]
    (rejected,) = result.rejects
    assert "Time: '02:30:00' does not exist on 2024-03-31 in Europe/Paris" in rejected["reason"]
    assert "DST gap" in rejected["reason"]


# --- InfoClimat -------------------------------------------------------------------------------


def ic_row(station: str, dh_utc: str, index: int = 0, **values) -> dict:
    record = {
        "id_station": station,
        "dh_utc": dh_utc,
        "temperature": "7.6",
        "pression": "1020.7",
        "humidite": "89",
        "point_de_rosee": "5.9",
        "vent_moyen": "11.2",
        "vent_rafales": None,
        "vent_direction": "250",
        "pluie_1h": "0.2",
        "pluie_3h": "0.6",
    }
    record.update(values)
    return {
        **record,
        SOURCE_URI: "file:///ic.json",
        SOURCE_POSITION: f"hourly[{station}][{index}]",
        INGESTED_AT: INGESTED,
    }


def test_infoclimat_converts_strings_and_keeps_unmeasured_columns_null():
    synop = dict(visibilite="31200", neige_au_sol=None, nebulosite="", temps_omm="61")
    rows = [
        ic_row("000R5", "2024-10-05 00:00:00"),
        ic_row("07015", "2024-10-05 01:00:00", 0, **synop),
        ic_row("07015", "2024-10-05 03:00:00", 1, nebulosite="8", temps_omm=None),
        ic_row("XXXX", "2024-10-05 00:00:00", 0),
        ic_row("00052", "2024-10-05 25:00:00", 0),
    ]
    result = transform_infoclimat(rows)
    assert_invariant(result)
    frame = result.frame
    assert frame["station_id"].tolist() == ["000R5", "07015", "07015"]
    assert frame["timestamp"].tolist() == [utc("2024-10-05 00:00"), utc("2024-10-05 01:00"), utc("2024-10-05 03:00")]
    static, synop_row, synop_3h = frame.iloc[0], frame.iloc[1], frame.iloc[2]
    assert (static.station_name, static.source, static.latitude, static.elevation_m) == (
        "Bergues",
        "infoclimat",
        50.968,
        17.0,
    )
    assert (static.temperature_c, static.pressure_hpa, static.humidity_pct, static.dew_point_c) == (
        7.6,
        1020.7,
        89,
        5.9,
    )
    assert (static.wind_speed_kmh, static.wind_direction_deg) == (11.2, 250.0)
    assert (static.precip_1h_mm, static.precip_3h_mm) == (0.2, 0.6)  # pluie_3h copied as is
    assert pd.isna(static.wind_gust_kmh) and pd.isna(static.visibility_m) and pd.isna(static.weather_code)
    assert synop_row.visibility_m == 31200.0 and pd.isna(synop_row.cloud_cover_octas)  # "" → null
    assert synop_row.weather_code == 61 and pd.isna(synop_row.snow_depth_cm)
    assert synop_3h.cloud_cover_octas == 8.0 and pd.isna(synop_3h.weather_code)
    for column in ("precip_rate_mm_h", "precip_accum_mm", "uv_index", "solar_radiation_wm2"):
        assert frame[column].isna().all()  # WU-only columns
    assert frame["weather_code"].tolist()[1] == 61
    unknown, bad_time = result.rejects
    assert unknown["reason"].startswith("id_station: 'XXXX' is not an InfoClimat station of stations.py")
    assert unknown["station_id"] == "XXXX" and unknown["record"]["id_station"] == "XXXX"
    assert bad_time["reason"] == "dh_utc: '2024-10-05 25:00:00' is not a UTC time written 'YYYY-MM-DD HH:MM:SS'"
    assert bad_time[SOURCE_POSITION] == "hourly[00052][0]"


def test_infoclimat_rejects_unparseable_measures_and_wu_station_ids():
    rows = [
        ic_row("00052", "2024-10-05 00:00:00", temperature="7,6"),
        ic_row("IICHTE19", "2024-10-05 00:00:00"),
        ic_row("07015", "2024-10-05 00:00:00", temps_omm="6l"),
    ]
    result = transform_infoclimat(rows)
    assert_invariant(result)
    assert result.frame.empty
    assert [r["reason"].split(":")[0] for r in result.rejects] == ["temperature", "id_station", "temps_omm"]


def test_physically_impossible_values_reject_their_row_with_the_range():
    rows = [
        ic_row("00052", "2024-10-05 00:00:00", humidite="187"),
        ic_row("00052", "2024-10-05 00:10:00", pression="1013.2", vent_moyen="-3"),
        ic_row("00052", "2024-10-05 00:20:00", humidite="100"),
    ]  # the bound itself is allowed
    result = transform_infoclimat(rows)
    assert_invariant(result)
    assert result.frame["humidity_pct"].tolist() == [100.0]
    assert [r["reason"] for r in result.rejects] == [
        "humidite: '187' is 187 in humidity_pct, outside its physical range (0 to 100)",
        "vent_moyen: '-3' is -3 in wind_speed_kmh, outside its physical range (0 to 400)",
    ]
    wu = transform_wunderground([wu_row("00:04:00", 2, temp=f"-80.0{NB}°F")], "IICHTE19", date(2024, 10, 5))
    assert wu.frame.empty
    assert wu.rejects[0]["reason"] == (
        "Temperature: '-80.0 °F' is -62.2222 in temperature_c, outside its physical range (-50 to 60)"
    )


def test_measured_columns_follow_the_mappings_and_station_facts():
    assert MEASURED_COLUMNS["weather_underground"] == [
        "temperature_c",
        "dew_point_c",
        "humidity_pct",
        "pressure_hpa",
        "wind_direction_deg",
        "wind_speed_kmh",
        "wind_gust_kmh",
        "precip_rate_mm_h",
        "precip_accum_mm",
        "uv_index",
        "solar_radiation_wm2",
    ]
    assert measured_columns("IICHTE19") == MEASURED_COLUMNS["weather_underground"]
    assert measured_columns("07015") == MEASURED_COLUMNS["infoclimat"]
    static = measured_columns("00052")
    assert "wind_gust_kmh" not in static and "visibility_m" not in static and "weather_code" not in static
    assert static == measured_columns("000R5") == measured_columns("STATIC0010")
    assert set(static) == {
        "temperature_c",
        "dew_point_c",
        "humidity_pct",
        "pressure_hpa",
        "wind_direction_deg",
        "wind_speed_kmh",
        "precip_1h_mm",
        "precip_3h_mm",
    }


# --- deduplicate ------------------------------------------------------------------------------


def test_deduplicate_keeps_the_most_complete_row_and_reports_the_dropped_one():
    rows = [
        wu_row("10:05:00", 2, Gust=None, UV=None),
        wu_row("10:00:00", 3),
        wu_row("10:05:00", 4, temp=f"60{NB}°F"),
        wu_row("10:05:00", 5, temp=f"70{NB}°F"),
    ]
    frame = transform_wunderground(rows, "IICHTE19", OCT_1).frame
    kept, dropped = deduplicate(frame)
    assert kept["timestamp"].tolist() == [utc("2024-10-01 08:00"), utc("2024-10-01 08:05")]
    # row 4 and row 5 are equally complete (more than row 2): the first in raw order wins
    assert kept.iloc[1].temperature_c == pytest.approx((60 - 32) * 5 / 9)
    assert len(dropped) == 2 and dropped.index.tolist() == [0, 3]
    assert pd.isna(dropped.iloc[0].wind_gust_kmh)
    assert dropped.iloc[1].temperature_c == pytest.approx((70 - 32) * 5 / 9)
    assert kept.index.tolist() == [0, 1]
    WeatherData.validate(kept)


def test_deduplicate_sorts_by_station_then_time():
    rows = [
        ic_row("07015", "2024-10-05 01:00:00"),
        ic_row("00052", "2024-10-05 02:00:00"),
        ic_row("00052", "2024-10-05 00:00:00"),
    ]
    kept, dropped = deduplicate(transform_infoclimat(rows).frame)
    assert list(zip(kept.station_id, kept.timestamp.dt.hour)) == [("00052", 0), ("00052", 2), ("07015", 1)]
    assert dropped.empty


# --- the shipped sample -----------------------------------------------------------------------


def wu_sample(station_id: str, day: date) -> Transformed:
    workbook = BE_WORKBOOK if station_id == "IICHTE19" else FR_WORKBOOK
    rows = WundergroundSource(station_id=station_id, location=str(workbook)).fetch_day(day, INGESTED).rows
    return transform_wunderground(rows, station_id, day)


@pytest.mark.parametrize("station_id", ["IICHTE19", "ILAMAD25"])
def test_sample_week_counts(station_id):
    counts = {"IICHTE19": [288, 285, 284, 288, 288, 288, 178], "ILAMAD25": [288] * 6 + [180]}[station_id]
    for offset, count in enumerate(counts):
        day = OCT_1 + timedelta(days=offset)
        result = wu_sample(station_id, day)
        assert_invariant(result)
        assert result.read == count
        expected_rejects = 1 if (station_id, day) == ("IICHTE19", date(2024, 10, 5)) else 0
        expected_dropped = 1 if (station_id, day) == ("IICHTE19", date(2024, 10, 2)) else 0
        assert len(result.rejects) == expected_rejects, day
        kept, dropped = deduplicate(result.frame)
        assert len(dropped) == expected_dropped, day
        assert len(kept) == count - expected_rejects - expected_dropped
        WeatherData.validate(kept)
        # the local day maps to UTC 22:04 of the day before (CEST, UTC+2) onwards
        assert kept["timestamp"].iloc[0] == pd.Timestamp(day, tz="UTC") - pd.Timedelta(hours=2) + pd.Timedelta(
            minutes=4
        )


def test_sample_malformed_temperature_and_duplicate():
    result = wu_sample("IICHTE19", date(2024, 10, 5))
    (rejected,) = result.rejects
    assert rejected["reason"] == "Temperature: '4l.8 °F' is not a number"
    assert rejected[SOURCE_POSITION] == "sheet=051024 row=118"
    assert rejected["record"]["Time"] == "09:44:00"
    kept, dropped = deduplicate(wu_sample("IICHTE19", date(2024, 10, 2)).frame)
    assert dropped["timestamp"].tolist() == [utc("2024-10-02 14:39")]  # 16:39 CEST
    # the "--" UV/Solar cells of 1 October 11:24 are null, not rejected
    first = wu_sample("IICHTE19", OCT_1).frame.set_index("timestamp")
    assert first.loc[utc("2024-10-01 09:24"), ["uv_index", "solar_radiation_wm2"]].isna().all()
    assert first["wind_direction_deg"].isna().sum() == 2  # the two blank Wind cells


def test_sample_infoclimat():
    source = InfoClimatResponseFile(path=str(INFOCLIMAT_RESPONSE))
    totals = {}
    for day in (date(2024, 10, 5), date(2024, 10, 6), date(2024, 10, 7)):
        result = transform_infoclimat(source.fetch_day(day, INGESTED).rows)
        assert_invariant(result)
        assert result.rejects == []
        kept, dropped = deduplicate(result.frame)
        assert dropped.empty
        WeatherData.validate(kept)
        for station, n in kept["station_id"].value_counts().items():
            totals[station] = totals.get(station, 0) + n
        synop = kept[kept.station_id == "07015"]
        static = kept[kept.station_id != "07015"]
        assert static["wind_gust_kmh"].isna().all() and static["visibility_m"].isna().all()
        assert synop["visibility_m"].notna().all()
        # nebulosite is "" except at 00, 03, … 21 UTC
        assert (synop["cloud_cover_octas"].notna() == (synop["timestamp"].dt.hour % 3 == 0)).all()
    assert totals == {"00052": 361, "000R5": 361, "STATIC0010": 361, "07015": 60}
    assert set(totals) == {s for s, st in STATIONS.items() if st.provider == "infoclimat"}


def test_empty_input_gives_an_empty_contract_frame():
    for result in (transform_wunderground([], "IICHTE19", OCT_1), transform_infoclimat([])):
        assert result.read == 0 and result.rejects == []
        assert_invariant(result)
    kept, dropped = deduplicate(transform_infoclimat([]).frame)
    assert kept.empty and dropped.empty and list(kept.columns) == COLUMNS
    assert np.dtype(kept["latitude"].dtype) == np.float64
