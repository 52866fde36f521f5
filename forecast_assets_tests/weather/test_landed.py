"""Landed JSONL read as columns (polars, every field as text) gives the values ``json.loads`` gives."""

from __future__ import annotations

import json
from datetime import date

import pytest

from forecast_assets.weather import infoclimat, wunderground
from forecast_assets.weather.landed import LandedColumns
from forecast_assets.weather.units import UnitError, measure_parser


def jsonl(rows: list[dict], blank: str = "") -> bytes:
    return ("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n" + blank).encode()


def values(landed: LandedColumns, field: str) -> list:
    return [landed.value(field, i) for i in range(landed.n)]


def test_columns_hold_the_texts_and_lineage_stays_in_the_rows():
    rows = [{"a": "1.0 °F", "b": None, "_source_uri": "s3://x"}, {"a": "--"}, {"a": "1.0 °F", "b": "\u2028"}]
    landed = LandedColumns.read(jsonl(rows, blank="  \n\n"), ("a", "b"))
    assert not landed.exact and landed.n == 3
    assert values(landed, "a") == ["1.0 °F", "--", "1.0 °F"] and values(landed, "b") == [None, None, "\u2028"]
    assert list(landed.columns["a"].uniques) == ["1.0 °F", "--"]  # each distinct text once
    assert landed.row(0) == rows[0]  # lineage decoded only when a reject asks for it


def test_nan_which_polars_cannot_read_is_read_line_by_line():
    landed = LandedColumns.read(b'{"a": "x"}\n{"a": NaN}\n', ("a",))
    assert landed.exact and landed.n == 2 and values(landed, "a")[0] == "x"


@pytest.mark.parametrize("line", ["[1, 2]", '"text"'])
def test_a_line_that_is_not_an_object_fails_as_it_always_did(line):
    with pytest.raises(AttributeError):  # StagingZone.read_jsonl + row.get at 5aaf639 raised the same
        LandedColumns.read(f'{{"a": "x"}}\n{line}\n'.encode(), ("a",))


def test_empty_and_blank_files_have_no_rows():
    for data in (b"", b"\n \n", b"   "):
        assert LandedColumns.read(data, ("a",)).n == 0


def test_exact_values_replace_the_texts_of_suspect_rows_only_when_they_differ():
    landed = LandedColumns.read(jsonl([{"a": 0.5, "b": "x"}, {"a": "0.5", "b": "y"}]), ("a", "b"))
    assert values(landed, "a") == ["0.5", "0.5"]
    assert landed.exact_for(landed.columns["b"].codes == 1) is None  # row 1 holds texts only
    exact = landed.exact_for(landed.columns["b"].codes >= 0)
    assert values(exact, "a") == [0.5, "0.5"] and values(exact, "b") == ["x", "y"]


def test_an_object_or_array_value_is_rejected_with_its_reason():
    """At 5aaf639 such a value crashed the day (``TypeError: unhashable type``); now the row is rejected."""
    row = {"id_station": "00052", "dh_utc": "2024-10-27 00:00:00", "temperature": {"v": 1}, "pression": [1016]}
    landed = LandedColumns.read(jsonl([row]), infoclimat.READ_FIELDS)
    result = infoclimat.transform_infoclimat(landed)
    assert len(result.frame) == 0
    assert result.rejects[0]["reason"] == (
        "temperature: {'v': 1} is a dict, not a number or text; pression: [1016] is a list, not a number or text"
    )
    wu = {"Time": "12:00:00", "Temperature": {"v": 1}, "UV": 0}
    result = wunderground.transform_wunderground(
        LandedColumns.read(jsonl([wu]), wunderground.READ_FIELDS), "IICHTE19", date(2024, 10, 27)
    )
    assert result.rejects[0]["reason"].startswith("Temperature: {'v': 1} is a dict")


def test_remembered_parses_keep_numbers_booleans_and_texts_apart():
    parse = measure_parser("uv_index", field="UV", bare_unit="")
    assert parse(0) == 0.0 and parse("0") == 0.0
    with pytest.raises(UnitError, match="boolean"):
        parse(False)
    assert parse(0.0) == 0.0
    with pytest.raises(UnitError, match="boolean"):
        parse(False)  # remembered, same reason
