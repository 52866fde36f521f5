"""Weather Underground readers: one station's local day from its workbook or its Airbyte export."""

from __future__ import annotations

import csv
import json
import re
import zipfile
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Iterator

import dagster as dg
import openpyxl

from forecast_assets.partitions import ddmmyy
from forecast_assets.raw.records import RawBatch, SourceUnavailableError, reject, with_lineage

#: The workbook header, exactly as Weather Underground writes it.
WU_COLUMNS: tuple[str, ...] = (
    "Time", "Temperature", "Dew Point", "Humidity", "Wind", "Speed", "Gust",
    "Pressure", "Precip. Rate.", "Precip. Accum.", "UV", "Solar",
)

_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?\s*$")


def clock_text(value: Any) -> str | None:
    """A WU ``Time`` cell as a 24-hour ``HH:MM:SS`` string, or None if it is not a time of day.

    Accepts what the sources hold: an Excel time (``datetime.time``, or a datetime / day fraction
    when a cell lost its format) and the Airbyte export's ``HH:MM:SS`` / ``h:mm AM`` text.
    """
    if isinstance(value, datetime):
        value = value.time()
    if isinstance(value, time):
        return value.replace(microsecond=0).strftime("%H:%M:%S")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1:
        seconds = round(value * 86400)
        return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    if isinstance(value, str):
        match = _CLOCK.match(value)
        if match:
            hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
            if match[4]:
                if not 1 <= hour <= 12:
                    return None
                hour = hour % 12 + (12 if match[4].lower() == "pm" else 0)
            if hour < 24 and minute < 60 and second < 60:
                return f"{hour:02d}:{minute:02d}:{second:02d}"
    return None


def _column_difference(columns: Any) -> str:
    """How ``columns`` differ from the WU header: ``missing [...], unexpected [...]``."""
    missing = [c for c in WU_COLUMNS if c not in columns]
    unexpected = [c for c in columns if c not in WU_COLUMNS]
    return f"missing {missing}, unexpected {unexpected}"


def _land_row(
    batch: RawBatch, row: dict[str, Any], source_uri: str, position: str, ingested_at: str
) -> None:
    """Land a row whose Time is a time of day; reject it otherwise."""
    if set(row) != set(WU_COLUMNS):
        batch.rejects.append(reject(
            f"columns do not match the WU header: {_column_difference(row)}",
            row, source_uri, position, ingested_at,
        ))
        return
    clock = clock_text(row["Time"])
    if clock is None:
        batch.rejects.append(reject(
            f"Time {row['Time']!r} is not a time of day", row, source_uri, position, ingested_at,
        ))
        return
    landed = {column: row[column] for column in WU_COLUMNS}
    landed["Time"] = clock
    batch.rows.append(with_lineage(landed, source_uri, position, ingested_at))


def read_workbook_day(path: Path, day: date, ingested_at: str) -> RawBatch:
    """The sheet of local ``day`` (named ``DDMMYY``) of a WU workbook, rows landed unchanged."""
    sheet_name = ddmmyy(day)
    if not path.is_file():
        raise SourceUnavailableError(f"workbook {path} not found (looking for sheet {sheet_name} = {day})")
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError) as error:
        raise SourceUnavailableError(f"workbook {path} cannot be read as .xlsx: {error}") from error
    try:
        if sheet_name not in workbook.sheetnames:
            raise SourceUnavailableError(
                f"workbook {path} has no sheet {sheet_name!r} for {day} (sheets are named DDMMYY; "
                f"found {workbook.sheetnames})"
            )
        rows = workbook[sheet_name].iter_rows(values_only=True)
        header = tuple(next(rows, ()))
        header = tuple(h.strip() if isinstance(h, str) else h for h in header)
        while header and header[-1] is None:
            header = header[:-1]
        if header != WU_COLUMNS:
            difference = _column_difference(header) if set(header) != set(WU_COLUMNS) else "same columns, other order"
            raise SourceUnavailableError(
                f"workbook {path} sheet {sheet_name}: header {list(header)} is not the WU header "
                f"{list(WU_COLUMNS)} ({difference})"
            )
        batch = RawBatch(source_uri=path.resolve().as_uri())
        blank = 0
        for excel_row, values in enumerate(rows, start=2):
            if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
                blank += 1
                continue
            position = f"sheet={sheet_name} row={excel_row}"
            extra = [v for v in values[len(WU_COLUMNS):] if v is not None]
            if extra:
                batch.rejects.append(reject(
                    f"values beyond the {len(WU_COLUMNS)} WU columns: {extra}",
                    list(values), batch.source_uri, position, ingested_at,
                ))
                continue
            padded = tuple(values) + (None,) * (len(WU_COLUMNS) - len(values))
            _land_row(batch, dict(zip(WU_COLUMNS, padded)), batch.source_uri, position, ingested_at)
    finally:
        workbook.close()
    batch.notes["empty_rows_skipped"] = blank
    return batch


def _airbyte_records(file: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed record or the raw text that failed to parse) of an Airbyte export file."""
    if file.suffix == ".csv":
        with file.open(newline="", encoding="utf-8") as handle:
            for line_no, record in enumerate(csv.DictReader(handle), start=2):
                yield line_no, record
        return
    with file.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield line_no, json.loads(line)
            except json.JSONDecodeError:
                yield line_no, line.rstrip("\n")


def _airbyte_data(record: Any) -> dict[str, Any] | str:
    """The wrapped row of an Airbyte record, or the reason it has none."""
    if not isinstance(record, dict):
        return "not a JSON object"
    data = record.get("_airbyte_data")
    if isinstance(data, str):  # the CSV destination stores it as a JSON string
        try:
            data = json.loads(data)
        except json.JSONDecodeError:
            return "_airbyte_data is not valid JSON"
    if not isinstance(data, dict):
        return "no _airbyte_data object"
    return data


def read_airbyte_day(export_dir: Path, day: date, ingested_at: str) -> RawBatch:
    """One sheet's rows from an Airbyte export laid out as ``<export_dir>/<DDMMYY>/*.jsonl|*.csv``."""
    folder = export_dir / ddmmyy(day)
    files = sorted(p for p in folder.glob("*") if p.suffix in (".jsonl", ".csv")) if folder.is_dir() else []
    if not files:
        raise SourceUnavailableError(
            f"no Airbyte export (*.jsonl, *.csv) for {day} in {folder}"
        )
    batch = RawBatch(source_uri=folder.resolve().as_uri())
    for file in files:
        file_uri = file.resolve().as_uri()
        for line_no, record in _airbyte_records(file):
            position = f"file={file.name} line={line_no}"
            data = _airbyte_data(record)
            if isinstance(data, str):
                batch.rejects.append(reject(data, record, file_uri, position, ingested_at))
                continue
            raw_id = record.get("_airbyte_raw_id")
            if raw_id:
                position += f" airbyte_raw_id={raw_id}"
            _land_row(batch, data, file_uri, position, ingested_at)
    return batch


class WundergroundSource(dg.ConfigurableResource):
    """Where one Weather Underground station's observations are read from.

    ``location`` is either the station's workbook (``.xlsx``, one sheet per local day named
    ``DDMMYY``) or a folder holding its Airbyte export (``<DDMMYY>/*.jsonl`` or ``*.csv``).
    """

    station_id: str
    location: str

    def describe(self) -> str:
        """Where the data is read from, for metadata."""
        return str(Path(self.location).resolve())

    def fetch_day(self, day: date, ingested_at: str) -> RawBatch:
        """The station's rows for local ``day``."""
        path = Path(self.location)
        if path.suffix.lower() in (".xlsx", ".xlsm"):
            batch = read_workbook_day(path, day, ingested_at)
        elif path.is_dir():
            batch = read_airbyte_day(path, day, ingested_at)
        else:
            raise SourceUnavailableError(
                f"{self.station_id}: {path} is neither an .xlsx workbook nor an Airbyte export folder "
                f"(looking for {day})"
            )
        batch.notes["rows_per_station"] = {self.station_id: len(batch.rows)}
        return batch
