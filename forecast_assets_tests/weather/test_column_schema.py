"""Field descriptions and units on the contract, the column schema shown in the UI, owners and code links.

The code-links tests live here because this helper's brief owns only this test file; they belong in a
``forecast_assets_tests/test_ownership.py`` mirroring ``forecast_assets/ownership.py``.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import dagster as dg
import pytest

from forecast_assets.ownership import GROUP_OWNERS, CodeLinkError, owners_for, with_code_links
from forecast_assets.weather.column_schema import column_schema_metadata, weather_data_column_schema
from forecast_assets.weather.schema import COLUMNS, CONTRACT_UNITS, KEY_COLUMNS, RANGE_BOUNDS, WeatherData
from forecast_assets.weather.units import ALLOWED_UNITS

_MODEL_COLUMNS = WeatherData.to_schema().columns


# --- descriptions and units on the model ----------------------------------------------------------


def test_every_model_field_has_a_title_and_a_description_naming_its_unit() -> None:
    assert set(CONTRACT_UNITS) == set(COLUMNS)
    for name, column in _MODEL_COLUMNS.items():
        assert column.title, name
        assert column.description, name
        unit = CONTRACT_UNITS[name]
        if unit:
            assert unit in column.description, (name, unit, column.description)
    assert "°C" in _MODEL_COLUMNS["temperature_c"].description
    assert "hPa" in _MODEL_COLUMNS["pressure_hpa"].description
    assert "km/h" in _MODEL_COLUMNS["wind_gust_kmh"].description
    assert "dimensionless" in _MODEL_COLUMNS["uv_index"].description


def test_contract_units_are_the_units_the_conversions_produce() -> None:
    """Each measure's contract unit is one units.py accepts unchanged: the conversions target it."""
    for column, accepted in ALLOWED_UNITS.items():
        by_folded = {unit.casefold(): convert for unit, convert in accepted.items()}
        unit = CONTRACT_UNITS[column]
        assert unit.casefold() in by_folded, (column, unit, list(accepted))
        convert = by_folded[unit.casefold()]
        assert [convert(v) for v in (-7.25, 0.0, 1013.5)] == [-7.25, 0.0, 1013.5], (column, unit)


# --- the dagster/column_schema table -------------------------------------------------------------


def test_column_schema_lists_every_model_column_with_its_unit() -> None:
    schema = weather_data_column_schema()
    by_name = {column.name: column for column in schema.columns}

    assert [column.name for column in schema.columns] == COLUMNS
    for name, model_column in _MODEL_COLUMNS.items():
        column = by_name[name]
        assert column.description == model_column.description
        assert column.constraints.nullable is model_column.nullable
        assert column.constraints.unique is False  # unique only as the (station_id, timestamp) pair
    assert "°C" in by_name["temperature_c"].description
    assert "hPa" in by_name["pressure_hpa"].description
    assert by_name["temperature_c"].type == "float64"
    assert by_name["timestamp"].type == "timestamp[us, UTC]"
    assert by_name["weather_code"].type == "Int64"
    assert by_name["station_id"].type == "string"


def test_column_schema_constraints_are_the_model_checks() -> None:
    by_name = {column.name: column for column in weather_data_column_schema().columns}

    assert by_name["temperature_c"].constraints.other == ["≥ -50 and ≤ 60 °C"]
    assert by_name["precip_1h_mm"].constraints.other == ["≥ 0 mm"]
    assert by_name["humidity_pct"].constraints.other == ["≥ 0 and ≤ 100 %"]
    assert by_name["station_name"].constraints.other == []
    assert any(text.startswith("one of: ") and "07015" in text for text in by_name["station_id"].constraints.other)
    for key in KEY_COLUMNS:
        assert "unique together: (station_id, timestamp)" in by_name[key].constraints.other
    for name, bounds in RANGE_BOUNDS.items():  # every range check of the model is shown
        texts = " ".join(by_name[name].constraints.other)
        for side, sign in (("min", "≥"), ("max", "≤")):
            if side in bounds:
                assert f"{sign} {bounds[side]:g}" in texts, (name, texts)


def test_column_schema_is_valid_asset_metadata() -> None:
    spec = dg.AssetSpec("weather_data", metadata=column_schema_metadata())

    value = spec.metadata["dagster/column_schema"]
    assert isinstance(value, dg.TableSchemaMetadataValue)
    assert value.schema == weather_data_column_schema()
    dg.Definitions(assets=[spec]).resolve_asset_graph()  # accepted by a code location


# --- owners ---------------------------------------------------------------------------------------


def test_every_asset_group_has_team_owners() -> None:
    for group in ("raw", "weather", "mongodb"):
        owners = owners_for(group)
        assert owners and all(owner.startswith("team:") for owner in owners), (group, owners)
        dg.AssetSpec(f"{group}_asset", owners=owners)  # Dagster accepts them
    assert set(GROUP_OWNERS) == {"raw", "weather", "mongodb"}


def test_unknown_group_names_the_file_to_edit() -> None:
    with pytest.raises(KeyError, match="staging.*forecast_assets/ownership.py"):
        owners_for("staging")


# --- code links -----------------------------------------------------------------------------------


@dg.asset(owners=["team:data-platform"], check_specs=[dg.AssetCheckSpec("has_rows", asset="linked")])
def linked() -> dg.MaterializeResult:
    """An asset defined here, so the expected file and line are known."""
    return dg.MaterializeResult(check_results=[dg.AssetCheckResult(passed=True)])


_LINKED_LINE = inspect.getsourcelines(linked.op.compute_fn.decorated_fn)[1]
_THIS_FILE = Path(__file__).resolve()


def _references(asset: dg.AssetsDefinition) -> list:
    return asset.specs_by_key[dg.AssetKey("linked")].metadata["dagster/code_references"].code_references


def test_without_a_git_url_assets_link_to_their_local_file_and_line() -> None:
    [asset] = with_code_links([linked], env={})

    [reference] = _references(asset)
    assert isinstance(reference, dg.LocalFileCodeReference)
    assert Path(reference.file_path).resolve() == _THIS_FILE
    assert reference.line_number == _LINKED_LINE
    spec = asset.specs_by_key[dg.AssetKey("linked")]
    assert spec.owners == ["team:data-platform"]  # the rest of the definition is kept
    assert [c.name for c in asset.check_specs] == ["has_rows"]


@pytest.mark.parametrize(
    ("env", "expected_base"),
    [
        (
            {"FORECAST_GIT_URL": "https://github.example.invalid/forecast/platform"},
            "https://github.example.invalid/forecast/platform/tree/main",
        ),
        (
            {
                "FORECAST_GIT_URL": "https://git.example.invalid/forecast/platform/",
                "FORECAST_GIT_BRANCH": "release",
                "FORECAST_GIT_PLATFORM": "gitlab",
            },
            "https://git.example.invalid/forecast/platform/-/tree/release",
        ),
    ],
)
def test_with_a_git_url_assets_link_to_the_file_in_the_repository(env: dict, expected_base: str) -> None:
    [asset] = with_code_links([linked], env=env)

    [reference] = _references(asset)
    assert isinstance(reference, dg.UrlCodeReference)
    assert reference.url == f"{expected_base}/forecast_assets_tests/weather/test_column_schema.py#L{_LINKED_LINE}"


def test_a_git_url_of_unknown_platform_names_the_variables_to_set() -> None:
    with pytest.raises(CodeLinkError, match="FORECAST_GIT_URL.*git.example.invalid.*FORECAST_GIT_PLATFORM"):
        with_code_links([linked], env={"FORECAST_GIT_URL": "https://git.example.invalid/forecast"})
    with pytest.raises(CodeLinkError, match="FORECAST_GIT_PLATFORM.*'bitbucket'.*github.*gitlab"):
        with_code_links(
            [linked], env={"FORECAST_GIT_URL": "https://git.example.invalid/f", "FORECAST_GIT_PLATFORM": "bitbucket"}
        )
