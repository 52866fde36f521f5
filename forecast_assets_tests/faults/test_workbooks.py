"""Faults: workbook trouble, run end to end (raw → weather_data → MongoDB) with ``dg.materialize``.

Each test writes a La Madeleine (ILAMAD25, raw/FR) workbook with the sample generator, damages it
the way a real export can be damaged (units that change, impossible values, a sheet named in another
date format, a renamed or missing column), materializes the whole lineage against a local staging
folder and a real SecantusDB server, and asserts what each stage did — including that every raw row
is accounted for in each partition that materialized.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import dagster as dg
import openpyxl
import pandas as pd
import pytest

from forecast_assets.mongo.assets import weather_measurements
from forecast_assets.mongo.collection_setup import MEASUREMENTS
from forecast_assets.partitions import ddmmyy, partition_day
from forecast_assets.raw.assets import raw_assets
from forecast_assets.raw.wunderground import WU_COLUMNS, WundergroundSource
from forecast_assets.resources import resources_for
from forecast_assets.sample_data import BE_WORKBOOK
from forecast_assets.sample_data.generate import generate_wu_workbook
from forecast_assets.staging import LocalStagingZone
from forecast_assets.staging.layout import (
    dataset_key,
    quality_key,
    raw_landed_key,
    raw_rejects_key,
    transform_rejects_key,
)
from forecast_assets.weather.assets import weather_data
from forecast_assets.weather.dataset import from_jsonl
from forecast_assets.weather.units import IN_TO_MM, INHG_TO_HPA, MPH_TO_KMH
from forecast_assets_tests.mongo.conftest import mongo, mongo_server  # noqa: F401  (fixtures)

NBSP = "\u00a0"
FR = "ILAMAD25"
BE = "IICHTE19"
PARIS = "Europe/Paris"
LINEAGE = [*raw_assets, weather_data, weather_measurements]
COL = {name: index for index, name in enumerate(WU_COLUMNS)}  # workbook column name → 0-based index
#: Per field written in metric on the "metric" sheet: (generator unit → metric, metric unit, decimals).
METRIC = {
    "Temperature": (lambda f: (f - 32) * 5 / 9, "°C", 1),
    "Dew Point": (lambda f: (f - 32) * 5 / 9, "°C", 1),
    "Speed": (lambda mph: mph * MPH_TO_KMH, "km/h", 1),
    "Gust": (lambda mph: mph * MPH_TO_KMH, "km/h", 1),
    "Pressure": (lambda inhg: inhg * INHG_TO_HPA, "hPa", 1),
    "Precip. Rate.": (lambda inch: inch * IN_TO_MM, "mm", 2),
    "Precip. Accum.": (lambda inch: inch * IN_TO_MM, "mm", 2),
}
#: The weather_data columns of the fields written in either unit system.
CONVERTED = [
    "temperature_c",
    "dew_point_c",
    "wind_speed_kmh",
    "wind_gust_kmh",
    "pressure_hpa",
    "precip_rate_mm_h",
    "precip_accum_mm",
]


# --- building a damaged workbook --------------------------------------------------------------


def v(number: str, unit: str) -> str:
    """A WU cell text: the number, a no-break space, the unit."""
    return f"{number}{NBSP}{unit}"


def fr_workbook(path: Path, days: list[str], edit: Callable[[openpyxl.Workbook], None]) -> Path:
    """A clean generated ILAMAD25 workbook (one full sheet per day), then ``edit``-ed in place."""
    generate_wu_workbook(path, FR, [partition_day(d) for d in days], seed=25, short_last_day_rows=None, mess=False)
    workbook = openpyxl.load_workbook(path)
    edit(workbook)
    workbook.save(path)
    return path


#: Keyword spelling of the WU columns whose names are not identifiers.
_KEYWORDS = {"Dew_Point": "Dew Point", "Precip_Rate": "Precip. Rate.", "Precip_Accum": "Precip. Accum."}


def set_cells(sheet, row: int, **cells: object) -> None:
    """Write cells of one Excel row by WU column name (``Dew_Point=`` for "Dew Point", etc.)."""
    for name, value in cells.items():
        sheet.cell(row=row, column=COL[_KEYWORDS.get(name, name)] + 1, value=value)


def number_of(text: str) -> float:
    return float(text.split(NBSP)[0])


def to_metric(sheet, first_row: int = 2) -> None:
    """Rewrite every generated imperial value of the sheet in metric units (°C, km/h, hPa, mm)."""
    for row in range(first_row, sheet.max_row + 1):
        for field, (convert, unit, decimals) in METRIC.items():
            cell = sheet.cell(row=row, column=COL[field] + 1)
            if isinstance(cell.value, str) and NBSP in cell.value:
                cell.value = v(f"{convert(number_of(cell.value)):.{decimals}f}", unit)


def sheet_rows(path: Path, sheet: str) -> int:
    """Data rows written in a sheet (non-blank rows below the header), counted without the reader."""
    workbook = openpyxl.load_workbook(path, read_only=True)
    try:
        rows = list(workbook[sheet].iter_rows(min_row=2, values_only=True))
    finally:
        workbook.close()
    return sum(1 for r in rows if any(c is not None for c in r))


def local(day: str, clock: str) -> pd.Timestamp:
    """The UTC instant of a local Paris wall-clock time."""
    return pd.Timestamp(f"{day} {clock}").tz_localize(PARIS).tz_convert("UTC")


# --- running the lineage ----------------------------------------------------------------------


def materialize(workbook: Path, staging: LocalStagingZone, mongo_resource, first: str, last: str | None = None):
    """raw/* → weather_data → mongodb/weather_measurements over ``first``..``last`` in one run."""
    resources = {
        **resources_for("local"),
        "staging": staging,
        "mongo": mongo_resource,
        "wu_be": WundergroundSource(station_id=BE, location=str(BE_WORKBOOK)),
        "wu_fr": WundergroundSource(station_id=FR, location=str(workbook)),
    }
    return dg.materialize(
        LINEAGE,
        resources=resources,
        raise_on_error=False,
        tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last or first},
    )


def materialized(result, node: str) -> set[str]:
    return {m.partition for m in result.asset_materializations_for_node(node)}


def weather_check(result, name: str) -> dict[str, dg.AssetCheckEvaluation]:
    """A weather_data check's evaluations of the run, by day: exactly one per day, none run-level."""
    evaluations = [
        e for e in result.get_asset_check_evaluations() if e.asset_key == weather_data.key and e.check_name == name
    ]
    by_day = {e.partition: e for e in evaluations}
    assert len(by_day) == len(evaluations) and None not in by_day, [e.partition for e in evaluations]
    return by_day


def passed_on(result, name: str, days: list[str]) -> bool:
    """The weather_data check was evaluated on exactly ``days`` and passed on each."""
    evaluations = weather_check(result, name)
    assert set(evaluations) == set(days), (name, sorted(evaluations))
    return all(evaluations[day].passed for day in days)


def failure_messages(result) -> list[str]:
    """Every step failure of the run, as the text a user reads (description or error message)."""
    messages = []
    for event in result.get_step_failure_events():
        data = event.step_failure_data
        text = data.user_failure_data.description if data.user_failure_data else data.error.message
        messages.append(f"{event.step_key}: {text}")
    return messages


def fr_frame(staging: LocalStagingZone, day: str) -> pd.DataFrame:
    frame = from_jsonl(staging.read_bytes(dataset_key(day)))
    return frame[frame["station_id"] == FR].set_index("timestamp").sort_index()


def assert_accounted(result, staging: LocalStagingZone, days: list[str], workbook: Path) -> dict[str, dict]:
    """Every raw row of every materialized day is output, rejected or a dropped duplicate.

    Checks each day's ``reconciliation`` evaluation, the per-station numbers of each day's quality
    report against the staged files, and each day's raw/FR metadata against the rows written in
    that day's sheet. Returns ILAMAD25's accounting row of each day.
    """
    assert passed_on(result, "reconciliation", days)
    assert set(days) <= materialized(result, "weather_data")
    fr_rows = {}
    for day in days:
        report = staging.read_json(quality_key(day))
        for row in report["rows_per_station"]:
            balance = row["output_rows"] + row["rejected"] + row["duplicates_dropped"]
            assert row["raw_rows"] == balance, (day, row)
            assert row["balanced"] and row["matches_frame"], (day, row)
        [fr] = [r for r in report["rows_per_station"] if r["station_id"] == FR]
        assert fr["raw_rows"] == len(staging.read_jsonl(raw_landed_key("FR", day)))
        assert fr["output_rows"] == len(fr_frame(staging, day))
        rejected = staging.read_jsonl(transform_rejects_key(day)) if staging.exists(transform_rejects_key(day)) else []
        assert fr["rejected"] == sum(1 for r in rejected if r["station_id"] == FR)
        assert report["totals"]["duplicates_dropped"] == report["duplicates"]["count"]
        fr_rows[day] = fr
    # each partition of raw/FR carries its own day: landed + rejected = rows written in that day's sheet
    materializations = result.asset_materializations_for_node("raw__FR")
    by_day = {m.partition: m.metadata for m in materializations}
    assert len(by_day) == len(materializations) and set(by_day) == set(days)
    for day in days:
        metadata = by_day[day]
        raw_rejected = (
            len(staging.read_jsonl(raw_rejects_key("FR", day))) if staging.exists(raw_rejects_key("FR", day)) else 0
        )
        assert metadata["dagster/row_count"].value == fr_rows[day]["raw_rows"], day
        assert metadata["rows_rejected"].value == raw_rejected, day
        assert metadata["dagster/row_count"].value + raw_rejected == sheet_rows(workbook, ddmmyy(partition_day(day))), (
            day
        )
        assert metadata["path"].value == staging.uri(raw_landed_key("FR", day)), day
    return fr_rows


@pytest.fixture
def staging(tmp_path) -> LocalStagingZone:
    return LocalStagingZone(root=str(tmp_path / "staging"))


# --- 1. a unit suffix that changes --------------------------------------------------------------

METRIC_DAY, MIXED_DAY = "2024-10-01", "2024-10-02"


def _units_that_change(workbook: openpyxl.Workbook) -> None:
    metric = workbook[ddmmyy(partition_day(METRIC_DAY))]
    to_metric(metric)  # the whole day in °C, km/h, hPa, mm ...
    set_cells(
        metric,
        2,
        Temperature=v("15.0", "°C"),
        Dew_Point=v("10.0", "°C"),
        Speed=v("10.0", "km/h"),
        Gust=v("20.0", "km/h"),
        Pressure=v("1013.2", "hPa"),
        Precip_Rate=v("1.50", "mm"),
        Precip_Accum=v("3.00", "mm"),
    )
    set_cells(metric, 3, Temperature=v("59.0", "°F"), Speed=v("6.2", "mph"))  # ... but one row imperial

    mixed = workbook[ddmmyy(partition_day(MIXED_DAY))]  # imperial, as generated, except:
    set_cells(
        mixed,
        2,
        Temperature=v("59.0", "°F"),
        Dew_Point=v("50.0", "°F"),
        Speed=v("6.2", "mph"),
        Gust=v("12.4", "mph"),
        Pressure=v("29.92", "in"),
        Precip_Rate=v("0.10", "in"),
        Precip_Accum=v("0.20", "in"),
    )
    set_cells(
        mixed,
        3,
        Temperature=v("15.0", "°C"),
        Dew_Point=v("10.0", "°C"),
        Speed=v("10.0", "km/h"),
        Gust=v("20.0", "km/h"),
        Pressure=v("1013.2", "hPa"),
        Precip_Rate=v("2.50", "mm"),
        Precip_Accum=v("5.00", "mm"),
    )
    set_cells(mixed, 4, Temperature=v("12", "kg"))  # not a temperature unit → row rejected
    set_cells(mixed, 5, Speed=v("5.0", "°F"))  # a temperature unit in the Speed column
    set_cells(mixed, 6, Speed=v("2.5", "m/s"), Gust=v("5.0", "m/s"), Pressure=v("1013.2", "mbar"))
    set_cells(mixed, 7, Time="25:61")  # not a time of day → rejected by raw/FR
    mixed.cell(row=100, column=1).value = mixed.cell(row=99, column=1).value  # a duplicated instant


@pytest.mark.integration
def test_values_are_converted_by_their_own_unit_suffix(tmp_path, staging, mongo):  # noqa: F811
    workbook = fr_workbook(tmp_path / "ILAMAD25.xlsx", [METRIC_DAY, MIXED_DAY], _units_that_change)
    written_metric = openpyxl.load_workbook(workbook)[ddmmyy(partition_day(METRIC_DAY))]
    expected_temperatures = [
        number_of(r[COL["Temperature"]]) for r in written_metric.iter_rows(min_row=2, values_only=True)
    ]

    result = materialize(workbook, staging, mongo, METRIC_DAY, MIXED_DAY)

    assert result.success, failure_messages(result)
    assert materialized(result, "mongodb__weather_measurements") == {METRIC_DAY, MIXED_DAY}

    # weather_data: metric text kept as is, imperial text converted, whatever the sheet's other rows say
    metric = fr_frame(staging, METRIC_DAY)
    assert len(metric) == 288
    assert metric.loc[local(METRIC_DAY, "00:04"), CONVERTED].to_dict() == {
        "temperature_c": 15.0,
        "dew_point_c": 10.0,
        "wind_speed_kmh": 10.0,
        "wind_gust_kmh": 20.0,
        "pressure_hpa": 1013.2,
        "precip_rate_mm_h": 1.5,
        "precip_accum_mm": 3.0,
    }
    imperial_row = metric.loc[local(METRIC_DAY, "00:09")]
    assert imperial_row["temperature_c"] == pytest.approx(15.0)
    assert imperial_row["wind_speed_kmh"] == pytest.approx(9.9779328)  # 6.2 mph
    expected_temperatures[1] = 15.0  # "59.0 °F"
    assert metric["temperature_c"].tolist() == pytest.approx(expected_temperatures)

    mixed = fr_frame(staging, MIXED_DAY)
    imperial, metric_row, other = (mixed.loc[local(MIXED_DAY, t)] for t in ("00:04", "00:09", "00:24"))
    assert imperial["temperature_c"] == pytest.approx(15.0) and imperial["dew_point_c"] == pytest.approx(10.0)
    assert imperial["wind_speed_kmh"] == pytest.approx(9.9779328)  # 6.2 mph
    assert imperial["wind_gust_kmh"] == pytest.approx(19.9558656)  # 12.4 mph
    assert imperial["pressure_hpa"] == pytest.approx(1013.207888)  # 29.92 inHg
    assert imperial["precip_rate_mm_h"] == pytest.approx(2.54)  # 0.10 in/h
    assert imperial["precip_accum_mm"] == pytest.approx(5.08)  # 0.20 in
    assert metric_row[CONVERTED].to_dict() == {
        "temperature_c": 15.0,
        "dew_point_c": 10.0,
        "wind_speed_kmh": 10.0,
        "wind_gust_kmh": 20.0,
        "pressure_hpa": 1013.2,
        "precip_rate_mm_h": 2.5,
        "precip_accum_mm": 5.0,
    }
    assert (other["wind_speed_kmh"], other["wind_gust_kmh"], other["pressure_hpa"]) == pytest.approx(
        (9.0, 18.0, 1013.2)
    )
    assert local(MIXED_DAY, "00:14") not in mixed.index and local(MIXED_DAY, "00:19") not in mixed.index

    # the rejected rows name the field and the unit
    rejects = {
        r["_source_position"]: r["reason"]
        for r in staging.read_jsonl(transform_rejects_key(MIXED_DAY))
        if r["station_id"] == FR
    }
    sheet = ddmmyy(partition_day(MIXED_DAY))
    assert set(rejects) == {f"sheet={sheet} row=4", f"sheet={sheet} row=5"}
    assert rejects[f"sheet={sheet} row=4"].startswith(
        "Temperature: '12 kg' has unit 'kg', which is not a unit of temperature_c"
    )
    assert rejects[f"sheet={sheet} row=5"].startswith(
        "Speed: '5.0 °F' has unit '°F', which is not a unit of wind_speed_kmh"
    )
    assert not staging.exists(transform_rejects_key(METRIC_DAY))
    [unreadable] = staging.read_jsonl(raw_rejects_key("FR", MIXED_DAY))  # rejected before the transform
    assert (unreadable["reason"], unreadable["_source_position"]) == (
        "Time '25:61' is not a time of day",
        f"sheet={sheet} row=7",
    )

    # MongoDB holds the same converted values
    collection = mongo.get_database()[MEASUREMENTS]

    def doc(day: str, clock: str) -> dict | None:
        return collection.find_one({"station_id": FR, "timestamp": local(day, clock).to_pydatetime()})

    assert {
        k: doc(METRIC_DAY, "00:04")[k] for k in ("temperature_c", "wind_speed_kmh", "pressure_hpa", "precip_accum_mm")
    } == {"temperature_c": 15.0, "wind_speed_kmh": 10.0, "pressure_hpa": 1013.2, "precip_accum_mm": 3.0}
    stored = doc(MIXED_DAY, "00:04")
    assert (stored["temperature_c"], stored["wind_speed_kmh"], stored["pressure_hpa"]) == pytest.approx(
        (15.0, 9.9779328, 1013.207888)
    )
    assert doc(MIXED_DAY, "00:14") is None and doc(MIXED_DAY, "00:19") is None
    assert doc(MIXED_DAY, "00:09")["temperature_c"] == 15.0

    # accounting: 288 rows written per sheet; the mixed day lost 1 at raw (Time), 2 at transform, 1 duplicate
    fr = assert_accounted(result, staging, [METRIC_DAY, MIXED_DAY], workbook)
    assert (fr[METRIC_DAY]["raw_rows"], fr[METRIC_DAY]["output_rows"]) == (288, 288)
    assert {k: fr[MIXED_DAY][k] for k in ("raw_rows", "output_rows", "rejected", "duplicates_dropped")} == {
        "raw_rows": 287,
        "output_rows": 284,
        "rejected": 2,
        "duplicates_dropped": 1,
    }
    for day in (METRIC_DAY, MIXED_DAY):
        start = local(day, "00:00")
        window = {"$gte": start.to_pydatetime(), "$lt": (start + pd.Timedelta(days=1)).to_pydatetime()}
        assert collection.count_documents({"station_id": FR, "timestamp": window}) == fr[day]["output_rows"]
    assert passed_on(result, "schema_conformance", [METRIC_DAY, MIXED_DAY])


# --- 2. values out of physical range ------------------------------------------------------------

HOT_DAY = "2024-10-03"


def _impossible_values(workbook: openpyxl.Workbook) -> None:
    sheet = workbook[ddmmyy(partition_day(HOT_DAY))]
    set_cells(sheet, 10, Temperature=v("212.0", "°F"))  # 100 °C
    set_cells(sheet, 11, Humidity=v("187", "%"))


@pytest.mark.integration
def test_out_of_range_values_reject_their_rows_with_reasons_and_the_rest_loads(tmp_path, staging, mongo):  # noqa: F811
    workbook = fr_workbook(tmp_path / "ILAMAD25.xlsx", [HOT_DAY], _impossible_values)

    result = materialize(workbook, staging, mongo, HOT_DAY)

    assert result.success
    assert passed_on(result, "schema_conformance", [HOT_DAY])  # nothing impossible reached the dataset
    rejected = [r for r in staging.read_jsonl(transform_rejects_key(HOT_DAY)) if r["station_id"] == FR]
    assert sorted(r["reason"] for r in rejected) == [
        "Humidity: '187 %' is 187 in humidity_pct, outside its physical range (0 to 100)",
        "Temperature: '212.0 °F' is 100 in temperature_c, outside its physical range (-50 to 60)",
    ]
    assert all(r["_source_position"].startswith("sheet=031024 row=") for r in rejected)
    report = staging.read_json(quality_key(HOT_DAY))
    assert report["range_violations"] == {}
    fr = assert_accounted(result, staging, [HOT_DAY], workbook)
    assert (fr[HOT_DAY]["raw_rows"], fr[HOT_DAY]["output_rows"], fr[HOT_DAY]["rejected"]) == (288, 286, 2)

    # the other 286 rows of the day reach MongoDB; the impossible ones do not
    collection = mongo.get_database()[MEASUREMENTS]
    start = local(HOT_DAY, "00:00")
    window = {"$gte": start.to_pydatetime(), "$lt": (start + pd.Timedelta(days=1)).to_pydatetime()}
    assert collection.count_documents({"station_id": FR, "timestamp": window}) == 286
    assert collection.count_documents({"temperature_c": {"$gt": 60}}) == 0
    assert collection.count_documents({"humidity_pct": {"$gt": 100}}) == 0


def assert_fr_day_failed(result, staging: LocalStagingZone, mongo, day: str, message: str) -> None:
    """raw/FR failed ``day`` with exactly ``message``: nothing landed or ran downstream, no document,
    and the day's other WU source still landed and accounts for every row it read."""
    assert not result.success
    assert failure_messages(result) == [message]
    assert not staging.exists(raw_landed_key("FR", day))
    assert not materialized(result, "raw__FR") and not materialized(result, "weather_data")
    assert not materialized(result, "mongodb__weather_measurements")
    assert mongo.get_database()[MEASUREMENTS].count_documents({}) == 0
    [be] = result.asset_materializations_for_node("raw__BE")
    assert be.partition == day
    assert be.metadata["dagster/row_count"].value + be.metadata["rows_rejected"].value == sheet_rows(
        BE_WORKBOOK, ddmmyy(partition_day(day))
    )


# --- 3. a sheet named with another date format --------------------------------------------------

SHEET_DAY = "2024-10-05"


@pytest.mark.integration
@pytest.mark.parametrize("sheet_name", ["2024-10-05", "05.10.24", "05-10-2024", "100524"])
def test_sheet_named_in_another_date_format_fails_naming_file_and_day(
    tmp_path,
    staging,
    mongo,  # noqa: F811
    sheet_name,
):
    def rename(workbook: openpyxl.Workbook) -> None:
        workbook[ddmmyy(partition_day(SHEET_DAY))].title = sheet_name

    workbook = fr_workbook(tmp_path / "ILAMAD25.xlsx", [SHEET_DAY], rename)

    result = materialize(workbook, staging, mongo, SHEET_DAY)

    assert_fr_day_failed(
        result,
        staging,
        mongo,
        SHEET_DAY,
        (
            f"raw__FR: raw/FR partition {SHEET_DAY}: workbook {workbook} has no sheet '051024' for {SHEET_DAY} "
            f"(sheets are named DDMMYY; found ['{sheet_name}'])"
        ),
    )


def test_a_sheet_name_with_a_slash_cannot_even_be_written():
    with pytest.raises(ValueError, match="Invalid character / found in sheet title"):
        openpyxl.Workbook().create_sheet("05/10/24")


# --- 4. a renamed or missing column -------------------------------------------------------------

HEADER_DAY = "2024-10-04"


def _rename_temperature(workbook: openpyxl.Workbook) -> None:
    workbook[ddmmyy(partition_day(HEADER_DAY))].cell(row=1, column=COL["Temperature"] + 1).value = "Temp."


def _drop_dew_point(workbook: openpyxl.Workbook) -> None:
    workbook[ddmmyy(partition_day(HEADER_DAY))].delete_cols(COL["Dew Point"] + 1)


@pytest.mark.integration
@pytest.mark.parametrize(
    "edit, header, difference",
    [
        (
            _rename_temperature,
            [*WU_COLUMNS[:1], "Temp.", *WU_COLUMNS[2:]],
            "missing ['Temperature'], unexpected ['Temp.']",
        ),
        (_drop_dew_point, [c for c in WU_COLUMNS if c != "Dew Point"], "missing ['Dew Point'], unexpected []"),
    ],
    ids=["renamed", "missing"],
)
def test_renamed_or_missing_column_fails_naming_file_sheet_and_header(
    tmp_path,
    staging,
    mongo,  # noqa: F811
    edit,
    header,
    difference,
):
    workbook = fr_workbook(tmp_path / "ILAMAD25.xlsx", [HEADER_DAY], edit)

    result = materialize(workbook, staging, mongo, HEADER_DAY)

    assert_fr_day_failed(
        result,
        staging,
        mongo,
        HEADER_DAY,
        (
            f"raw__FR: raw/FR partition {HEADER_DAY}: workbook {workbook} sheet 041024: header {header} "
            f"is not the WU header {list(WU_COLUMNS)} ({difference})"
        ),
    )
