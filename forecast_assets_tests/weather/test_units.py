"""Unit conversions and the wind table, each against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from forecast_assets.weather.schema import MEASURE_COLUMNS
from forecast_assets.weather.units import (
    ALLOWED_UNITS,
    WIND_DEGREES,
    UnitError,
    convert_values,
    convert_wind,
    parse_measure,
    parse_wind_direction,
)

NB = "\u00a0"


@pytest.mark.parametrize(
    ("text", "column", "expected"),
    [
        (f"56.8{NB}°F", "temperature_c", 13.777778),  # (56.8 - 32) × 5/9
        (f"0{NB}°F", "temperature_c", -17.777778),  # -32 × 5/9
        (f"-4{NB}°F", "dew_point_c", -20.0),
        (f"8.2{NB}mph", "wind_speed_kmh", 13.196621),  # 8.2 × 1.609344
        (f"29.93{NB}in", "pressure_hpa", 1013.546527),  # 29.93 × 33.8639
        (f"0.12{NB}in", "precip_accum_mm", 3.048),  # 0.12 × 25.4
        (f"0.12{NB}in", "precip_rate_mm_h", 3.048),  # WU's rate "in" is inches per hour
        (f"87{NB}%", "humidity_pct", 87.0),
        (f"270.4{NB}w/m²", "solar_radiation_wm2", 270.4),
        ("5 m/s", "wind_gust_kmh", 18.0),  # 5 × 3.6
        ("12 km/h", "wind_gust_kmh", 12.0),
        ("1013.2 hPa", "pressure_hpa", 1013.2),
        ("1013.2 mb", "pressure_hpa", 1013.2),
        ("2.5 mm", "precip_1h_mm", 2.5),
    ],
)
def test_converts_by_the_unit_in_the_text(text, column, expected):
    assert parse_measure(text, column) == pytest.approx(expected, abs=1e-5)


def test_celsius_passes_through_unconverted():
    assert parse_measure(f"12.5{NB}°C", "temperature_c") == 12.5
    assert parse_measure("-3 °C", "dew_point_c") == -3.0


def test_no_break_space_plain_space_and_no_space_are_all_accepted():
    for text in (f"56.8{NB}°F", "56.8 °F", "56.8°F", f" 56.8{NB}°F "):
        assert parse_measure(text, "temperature_c") == pytest.approx(13.777778, abs=1e-5)


@pytest.mark.parametrize("blank", [None, "", "   ", NB, "--", f"--{NB}°F", "N/A", "n/a", float("nan")])
def test_blanks_and_dropped_sensors_are_null(blank):
    assert parse_measure(blank, "temperature_c") is None


def test_malformed_number_is_an_error_naming_field_and_value():
    with pytest.raises(UnitError) as error:
        parse_measure(f"4l.8{NB}°F", "temperature_c", field="Temperature")
    assert str(error.value) == "Temperature: '4l.8 °F' is not a number"
    for text in ("4l.8°F", "abc", "8,2 mph", "nan °F"):
        with pytest.raises(UnitError, match="is not a number"):
            parse_measure(text, "wind_speed_kmh" if "mph" in text else "temperature_c")


def test_unexpected_or_missing_unit_is_an_error():
    with pytest.raises(UnitError, match=r"Speed: '8.2 knots' has unit 'knots'"):
        parse_measure("8.2 knots", "wind_speed_kmh", field="Speed")
    with pytest.raises(UnitError, match="has unit '°F', which is not a unit of pressure_hpa"):
        parse_measure("56.8 °F", "pressure_hpa")
    with pytest.raises(UnitError, match="has no unit"):
        parse_measure("56.8", "temperature_c")  # a unit is never assumed
    with pytest.raises(UnitError, match="has no unit"):
        parse_measure(56.8, "temperature_c")


def test_bare_numbers_take_the_unit_the_caller_documents():
    assert parse_measure("7.6", "temperature_c", bare_unit="°C") == 7.6
    assert parse_measure(3, "uv_index", bare_unit="") == 3.0
    assert parse_measure("10", "weather_code", bare_unit="", whole=True) == 10.0
    with pytest.raises(UnitError, match="not a whole number"):
        parse_measure("10.5", "weather_code", bare_unit="", whole=True)
    with pytest.raises(UnitError, match="boolean"):
        parse_measure(True, "uv_index", bare_unit="")


def test_every_measure_column_has_units():
    assert set(ALLOWED_UNITS) == set(MEASURE_COLUMNS)


WIND_POINTS_DEGREES = [
    ("North", 0.0),
    ("NNE", 22.5),
    ("NE", 45.0),
    ("ENE", 67.5),
    ("East", 90.0),
    ("ESE", 112.5),
    ("SE", 135.0),
    ("SSE", 157.5),
    ("South", 180.0),
    ("SSW", 202.5),
    ("SW", 225.0),
    ("WSW", 247.5),
    ("West", 270.0),
    ("WNW", 292.5),
    ("NW", 315.0),
    ("NNW", 337.5),
    ("N", 0.0),
    ("E", 90.0),
    ("S", 180.0),
    ("W", 270.0),
]


@pytest.mark.parametrize(("text", "degrees"), WIND_POINTS_DEGREES)
def test_every_wind_point(text, degrees):
    assert parse_wind_direction(text) == degrees
    assert parse_wind_direction(f" {text.lower()}{NB}") == degrees


def test_wind_table_is_exactly_the_16_points_and_4_letters():
    assert WIND_DEGREES == dict(WIND_POINTS_DEGREES)


@pytest.mark.parametrize("text", ["Calm", "calm", "Variable", "VAR", "VRB", None, "", "--", "N/A"])
def test_calm_variable_and_blank_wind_have_no_direction(text):
    assert parse_wind_direction(text) is None


def test_degrees_with_a_unit_are_a_direction_but_unknown_text_is_an_error():
    assert parse_wind_direction("270°") == 270.0
    for text in ("Northish", "NNNE", "270", "12 mph"):
        with pytest.raises(UnitError, match=rf"Wind: '{text}' is not a known wind direction"):
            parse_wind_direction(text)


def test_column_conversion_parses_distinct_values_and_maps_back():
    values = [f"56.8{NB}°F", None, "--", f"4l.8{NB}°F", f"56.8{NB}°F", "50 °C", float("nan")]
    converted = convert_values(values, "temperature_c", field="Temperature")
    np.testing.assert_allclose(
        converted.values, [13.777778, np.nan, np.nan, np.nan, 13.777778, 50.0, np.nan], atol=1e-5
    )
    assert converted.bad.tolist() == [False, False, False, True, False, False, False]
    assert converted.reason(3) == "Temperature: '4l.8 °F' is not a number"
    assert converted.reason(0) is None and converted.reason(1) is None


def test_wind_column_conversion():
    converted = convert_wind(["North", "Calm", None, "WSW", "Breezy"])
    assert converted.values[0] == 0.0 and converted.values[3] == 247.5
    assert math.isnan(converted.values[1]) and math.isnan(converted.values[2])
    assert converted.bad.tolist() == [False, False, False, False, True]
    assert "'Breezy' is not a known wind direction" in converted.reason(4)
