"""A landed raw file (JSON lines) as columns: per raw field, its distinct values and each row's code.

The landed JSONL stays the staging contract; it is read columnar with polars, every field as text
(a field may mix numbers and texts: WU's ``UV`` holds ``0`` and ``"--"``), so each distinct value is
parsed once. Text loses one fact: whether a value was a JSON string. The transforms' parsers tell
``"0.5"`` from ``0.5`` (a WU ``Time`` given as a day fraction) and quote values in reasons, so rows a
first pass rejects are looked at again with their exact JSON values (:meth:`LandedColumns.exact_for`);
a row the text pass keeps has only texts, or numbers that parse the same way. A file polars cannot read
(``NaN``, a line that is not an object) is read line by line with ``json.loads``, as the stage always did.
Lineage fields are read only for the rows a reject needs (:meth:`LandedColumns.row`).
Several files of a feed (a chunk of days) are read in one pass (:meth:`LandedColumns.read_files`).
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
    #: the landed bytes: one file, or the files of a batch each ending with a newline (joined when first needed)
    _parts: Sequence[bytes] = field(default=(), repr=False)
    #: True when row ``i`` is physical line ``i`` of the joined parts (no blank line): one row decodes alone
    _one_row_per_line: bool = False
    _line_ends: np.ndarray | None = field(default=None, repr=False)

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
        landed = cls(frame.height, _columns_of(frame, fields), exact=False, _parts=(data,))
        if frame.height != _line_count(data, frame.height):  # blank-line handling differs: trust json.loads alone
            return cls.from_rows(landed.rows(), fields)
        landed._one_row_per_line = frame.height == data.count(b"\n") + (not data.endswith(b"\n"))
        return landed

    @classmethod
    def read_files(cls, files: Sequence[bytes], fields: Sequence[str]) -> list[tuple[LandedColumns, list[int]]]:
        """Several landed files (in order) as batches of columns: ``(columns, rows of each file)``.

        One polars pass over all the files when it reads them as each alone would (every file's lines
        are rows, none blank); otherwise one batch per file, each read by :meth:`read`.
        """
        blank = [_NON_SPACE.search(data) is None for data in files]
        lines = [0 if empty else data.count(b"\n") + (not data.endswith(b"\n")) for data, empty in zip(files, blank)]
        parts = [data if data.endswith(b"\n") else data + b"\n" for data, empty in zip(files, blank) if not empty]
        if len(parts) > 1:
            try:  # the files as polars' sources, not joined: a chunk's files are tens of MB
                frame = pl.read_ndjson(parts, schema={name: pl.String for name in fields})
            except pl.exceptions.PolarsError:
                frame = None
            if frame is not None and frame.height == sum(lines):
                landed = cls(frame.height, _columns_of(frame, fields), exact=False, _parts=parts)
                landed._one_row_per_line = True
                return [(landed, lines)]
        batches = []
        for data in files:
            landed = cls.read(data, fields)
            batches.append((landed, [landed.n]))
        return batches

    def _data(self) -> bytes:
        """The landed bytes, the batch's files joined (once, for the rows a reject needs)."""
        if len(self._parts) > 1:
            self._parts = (b"".join(self._parts),)
        return self._parts[0] if self._parts else b""

    def value(self, name: str, row: int) -> Any:
        """Row ``row``'s value of raw field ``name`` (None if absent or null)."""
        return self.columns[name].value(row)

    def rows(self) -> list[dict[str, Any]]:
        """Every row as its JSON object, lineage included (decoded on first use)."""
        if self._rows is None:
            self._rows = _json_lines(self._data())
        return self._rows

    def row(self, index: int) -> dict[str, Any]:
        """Row ``index`` as its JSON object, lineage included (only its line decoded, when it can be)."""
        if self._rows is not None or not self._one_row_per_line:
            return self.rows()[index]
        data = self._data()
        if self._line_ends is None:
            self._line_ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 0x0A)
        start = int(self._line_ends[index - 1]) + 1 if index else 0
        end = int(self._line_ends[index]) if index < len(self._line_ends) else len(data)
        return json.loads(data[start:end].decode("utf-8"))

    def exact_for(self, suspects: np.ndarray) -> LandedColumns | None:
        """These columns with the exact JSON values of the rows in ``suspects`` (a bool mask), or None
        when that changes nothing (already exact, or those rows hold only texts and nulls)."""
        if self.exact or not suspects.any():
            return None
        indices = np.flatnonzero(suspects)
        if self._one_row_per_line and self._rows is None:
            suspect_rows = [self.row(int(i)) for i in indices]
        else:
            rows = self.rows()
            if len(rows) != self.n:
                raise ValueError(f"landed file: {self.n} rows read as columns but {len(rows)} JSON lines")
            suspect_rows = [rows[i] for i in indices]
        changed = False
        columns = {}
        for name, column in self.columns.items():
            exact = [row.get(name) for row in suspect_rows]
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
        return LandedColumns(
            self.n,
            columns,
            exact=True,
            _rows=self._rows,
            _parts=self._parts,
            _one_row_per_line=self._one_row_per_line,
            _line_ends=self._line_ends,
        )


def _columns_of(frame: pl.DataFrame, fields: Sequence[str]) -> dict[str, FieldColumn]:
    """Each field of a frame of texts as (codes, distinct texts)."""
    columns = {}
    for name in fields:
        encoded = pc.dictionary_encode(frame.get_column(name).to_arrow())
        codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.intp, copy=False)
        uniques = np.empty(len(encoded.dictionary), dtype=object)
        uniques[:] = encoded.dictionary.to_pylist()
        columns[name] = FieldColumn(codes, uniques)
    return columns


def _json_lines(data: bytes) -> list[dict[str, Any]]:
    # split("\n"), not splitlines(), as StagingZone.read_jsonl: U+2028 etc. may appear raw in strings
    return [json.loads(line) for line in data.decode("utf-8").split("\n") if line.strip()]


def _line_count(data: bytes, height: int) -> int:
    """Non-blank lines of ``data`` as ``StagingZone.read_jsonl`` counts them; polars skips blank lines
    too, so when its ``height`` rows match the physical lines there is none to count."""
    if height == data.count(b"\n") + (not data.endswith(b"\n")):
        return height
    return sum(1 for line in data.decode("utf-8").split("\n") if line.strip())
