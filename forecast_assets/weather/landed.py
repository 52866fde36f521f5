"""A landed raw file (JSON lines) as columns: per raw field, its distinct values and each row's code.

The landed JSONL stays the staging contract; it is read columnar with polars, every field as text
(a field may mix numbers and texts: WU's ``UV`` holds ``0`` and ``"--"``), so each distinct value is
parsed once. Text loses one fact: whether a value was a JSON string. The transforms' parsers tell
``"0.5"`` from ``0.5`` (a WU ``Time`` given as a day fraction) and quote values in reasons, so rows a
first pass rejects are looked at again with their exact JSON values (:meth:`LandedColumns.exact_for`);
a row the text pass keeps has only texts, or numbers that parse the same way. A file polars cannot read
(``NaN``, a line that is not an object) is read line by line with ``json.loads``, as the stage always did.
Lineage fields are read only for the rows a reject needs (:meth:`LandedColumns.row`).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
import pyarrow.compute as pc

from forecast_assets.weather.units import factorize

_NON_SPACE = re.compile(rb"\S")


@dataclass
class FieldColumn:
    """One raw field over a batch's rows: ``uniques[codes[i]]`` is row ``i``'s value (code -1: absent/null)."""

    codes: np.ndarray  # intp
    uniques: np.ndarray  # object: texts, or exact JSON values (Python objects)

    def value(self, row: int) -> Any:
        code = self.codes[row]
        return self.uniques[code] if code >= 0 else None


@dataclass
class LandedColumns:
    """A landed batch's rows as one :class:`FieldColumn` per raw field read."""

    n: int
    columns: dict[str, FieldColumn]
    exact: bool  # True: values are the JSON values themselves (not their text)
    _rows: list[dict[str, Any]] | None = None  # the rows as dicts, once needed
    _data: bytes | None = field(default=None, repr=False)

    @classmethod
    def from_rows(cls, rows: Sequence[dict[str, Any]], fields: Sequence[str]) -> LandedColumns:
        """Columns of rows already decoded (exact values)."""
        columns = {}
        for name in fields:
            codes, uniques = factorize([row.get(name) for row in rows])
            columns[name] = FieldColumn(codes, uniques)
        return cls(len(rows), columns, exact=True, _rows=list(rows))

    @classmethod
    def read(cls, data: bytes, fields: Sequence[str]) -> LandedColumns:
        """Columns of a landed JSONL file's bytes (what ``StagingZone.read_jsonl`` would give, as columns)."""
        if _NON_SPACE.search(data) is None:  # empty or blank (a search, not a copy of a large file)
            return cls.from_rows([], fields)
        try:
            frame = pl.read_ndjson(io.BytesIO(data), schema={name: pl.String for name in fields})
        except pl.exceptions.PolarsError:  # NaN / Infinity, a line that is not an object, broken JSON
            return cls.from_rows(_json_lines(data), fields)
        columns = {}
        for name in fields:
            encoded = pc.dictionary_encode(frame.get_column(name).to_arrow())
            codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.intp, copy=False)
            uniques = np.empty(len(encoded.dictionary), dtype=object)
            uniques[:] = encoded.dictionary.to_pylist()
            columns[name] = FieldColumn(codes, uniques)
        landed = cls(frame.height, columns, exact=False, _data=data)
        if frame.height != _line_count(data, frame.height):  # blank-line handling differs: trust json.loads alone
            return cls.from_rows(landed.rows(), fields)
        return landed

    def value(self, name: str, row: int) -> Any:
        """Row ``row``'s value of raw field ``name`` (None if absent or null)."""
        return self.columns[name].value(row)

    def rows(self) -> list[dict[str, Any]]:
        """Every row as its JSON object, lineage included (decoded on first use)."""
        if self._rows is None:
            self._rows = _json_lines(self._data or b"")
        return self._rows

    def row(self, index: int) -> dict[str, Any]:
        """Row ``index`` as its JSON object, lineage included."""
        return self.rows()[index]

    def exact_for(self, suspects: np.ndarray) -> LandedColumns | None:
        """These columns with the exact JSON values of the rows in ``suspects`` (a bool mask), or None
        when that changes nothing (already exact, or those rows hold only texts and nulls)."""
        if self.exact or not suspects.any():
            return None
        indices = np.flatnonzero(suspects)
        rows = self.rows()
        if len(rows) != self.n:
            raise ValueError(f"landed file: {self.n} rows read as columns but {len(rows)} JSON lines")
        changed = False
        columns = {}
        for name, column in self.columns.items():
            exact = [rows[i].get(name) for i in indices]
            if all(value is None or isinstance(value, str) for value in exact):
                columns[name] = column
                continue
            changed = True
            uniques = np.empty(len(column.uniques) + len(exact), dtype=object)
            uniques[: len(column.uniques)] = column.uniques
            uniques[len(column.uniques) :] = exact
            codes = column.codes.copy()
            codes[indices] = len(column.uniques) + np.arange(len(exact))
            codes[indices[[value is None for value in exact]]] = -1
            columns[name] = FieldColumn(codes, uniques)
        if not changed:
            return None
        return LandedColumns(self.n, columns, exact=True, _rows=rows)


def _json_lines(data: bytes) -> list[dict[str, Any]]:
    # split("\n"), not splitlines(), as StagingZone.read_jsonl: U+2028 etc. may appear raw in strings
    return [json.loads(line) for line in data.decode("utf-8").split("\n") if line.strip()]


def _line_count(data: bytes, height: int) -> int:
    """Non-blank lines of ``data`` as ``StagingZone.read_jsonl`` counts them; polars skips blank lines
    too, so when its ``height`` rows match the physical lines there is none to count."""
    if height == data.count(b"\n") + (not data.endswith(b"\n")):
        return height
    return sum(1 for line in data.decode("utf-8").split("\n") if line.strip())
