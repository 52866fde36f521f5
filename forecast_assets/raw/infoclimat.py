"""InfoClimat raw reader: one UTC day of records per station, from the open-data API or a saved response."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import requests

from forecast_assets.raw.infoclimat_api import (
    TOKEN_ENV_VAR,
    InfoClimatError,
    RetryPolicy,
    describe_request,
    get_json,
    query_params,
    redacted_url,
)
from forecast_assets.raw.records import RawBatch, SourceUnavailableError, reject, with_lineage
from forecast_assets.stations import INFOCLIMAT_STATION_IDS

DH_UTC_FORMAT = "%Y-%m-%d %H:%M:%S"
_DH_UTC_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
_JSON_TYPE_NAMES = {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "boolean"}


def parse_response(
    doc: Any,
    day: date,
    station_ids: Sequence[str],
    source_uri: str,
    ingested_at: str,
    range_start: date | None = None,
) -> RawBatch:
    """The records of UTC ``day`` for each station in one API response, landed unchanged with lineage.

    Raises InfoClimatError if the document is not an OK response or lacks a requested station;
    malformed records go to ``rejects`` with a reason instead, and so do the records of a station
    that is not requested (``unknown station <id>``). A record whose day cannot be read (no usable
    ``dh_utc``) is rejected once, on the first day of the response: ``range_start`` (the request's
    start day) if given, else the earliest day among the document's dated records.
    """
    return _parse_documents([(source_uri, doc)], day, station_ids, source_uri, ingested_at, range_start)


def _parse_documents(
    documents: Sequence[tuple[str, Any]],
    day: date,
    station_ids: Sequence[str],
    batch_uri: str,
    ingested_at: str,
    range_start: date | None = None,
) -> RawBatch:
    """Like ``parse_response`` over several documents, each station's lists merged in document order."""
    stations = list(dict.fromkeys(station_ids))
    what = describe_request(day, stations)
    hourlies = [(uri, _hourly_of(doc, what, uri)) for uri, doc in documents]
    for station in stations:
        if not any(station in hourly for _, hourly in hourlies):
            listed = sorted({key for _, hourly in hourlies for key in hourly if not key.startswith("_")})
            raise InfoClimatError(
                f"Station {station} is absent from `hourly` in the InfoClimat response for {what} at {batch_uri}; "
                f"it lists stations {listed}"
            )
    batch = RawBatch(source_uri=batch_uri)
    counts = dict.fromkeys(stations, 0)
    wanted = day.isoformat()
    undated_days = _undated_days([hourly for _, hourly in hourlies], range_start, wanted)
    for station in stations:
        for (uri, hourly), undated_day in zip(hourlies, undated_days):
            records = hourly.get(station, [])
            if not isinstance(records, list):
                raise InfoClimatError(
                    f"hourly[{station}] is a JSON {_json_type(records)}, not a list, in the InfoClimat response "
                    f"for {what} at {uri}"
                )
            for index, record in enumerate(records):
                problem, record_day = _check_record(record, station, stations)
                if (record_day or undated_day) != wanted:
                    continue  # another day's record: its own partition lands (or rejects) it
                position = f"hourly[{station}][{index}]"
                if problem:
                    batch.rejects.append(reject(problem, record, uri, position, ingested_at))
                else:
                    batch.rows.append(with_lineage(record, uri, position, ingested_at))
                    counts[station] += 1
    unknown = _reject_unknown_stations(batch, hourlies, undated_days, stations, wanted, ingested_at)
    batch.notes = {
        "rows_per_station": counts,
        "stations_without_rows": [station for station, n in counts.items() if n == 0],
    }
    if unknown:
        batch.notes["unknown_stations"] = unknown
    return batch


def _undated_days(hourlies: Sequence[dict[str, Any]], range_start: date | None, wanted: str) -> list[str]:
    """The day each document's undated records count in: the first day of that response.

    That is ``range_start`` when the request is known, else the document's earliest dated record,
    else the earliest of all the documents; with no dated record anywhere, the day being read
    (such a file lands nothing on any day, and its records are rejected on each day read).
    """
    if range_start is not None:
        return [range_start.isoformat()] * len(hourlies)
    firsts = [
        min(
            (
                d
                for key, records in hourly.items()
                if not key.startswith("_") and isinstance(records, list)
                for d in map(_record_day, records)
                if d
            ),
            default=None,
        )
        for hourly in hourlies
    ]
    overall = min((d for d in firsts if d), default=wanted)
    return [first or overall for first in firsts]


def _reject_unknown_stations(
    batch: RawBatch,
    hourlies: Sequence[tuple[str, dict[str, Any]]],
    undated_days: Sequence[str],
    stations: Sequence[str],
    wanted: str,
    ingested_at: str,
) -> list[str]:
    """Reject the records of ``wanted`` listed under a station that was not asked for; those stations."""
    unknown: list[str] = []
    for (uri, hourly), undated_day in zip(hourlies, undated_days):
        for key, records in hourly.items():
            if key in stations or key.startswith("_"):  # `_params` & co. describe the answer, hold no record
                continue
            reason = f"unknown station {key}: hourly[{key}] is not a configured station ({', '.join(stations)})"
            found = enumerate(records) if isinstance(records, list) else [(None, records)]  # a lone value: once
            for index, record in found:
                if (_record_day(record) or undated_day) != wanted:
                    continue
                position = f"hourly[{key}]" if index is None else f"hourly[{key}][{index}]"
                batch.rejects.append(reject(reason, record, uri, position, ingested_at))
                if key not in unknown:
                    unknown.append(key)
    return unknown


def _hourly_of(doc: Any, what: str, uri: str) -> dict[str, Any]:
    """The ``hourly`` object of an OK response, or InfoClimatError saying what is wrong with it."""
    if not isinstance(doc, dict):
        raise InfoClimatError(f"The InfoClimat response for {what} at {uri} is a JSON {_json_type(doc)}, not an object")
    if doc.get("status") != "OK":
        raise InfoClimatError(
            f"InfoClimat answered status {doc.get('status')!r} for {what} at {uri}; errors: {doc.get('errors')!r}"
        )
    hourly = doc.get("hourly")
    if not isinstance(hourly, dict):
        raise InfoClimatError(
            f"The InfoClimat response for {what} at {uri} has no `hourly` object (found a JSON {_json_type(hourly)})"
        )
    return hourly


def _record_day(record: Any) -> str | None:
    """The UTC day ``YYYY-MM-DD`` of a record with a usable ``dh_utc``, else None."""
    dh_utc = record.get("dh_utc") if isinstance(record, dict) else None
    if not isinstance(dh_utc, str) or not _DH_UTC_SHAPE.fullmatch(dh_utc):
        return None
    try:
        datetime.strptime(dh_utc, DH_UTC_FORMAT)
    except ValueError:
        return None
    return dh_utc[:10]


def _check_record(record: Any, station: str, stations: Sequence[str]) -> tuple[str | None, str | None]:
    """Why the record of list ``hourly[station]`` cannot land (or None), and its UTC day when readable."""
    if not isinstance(record, dict):
        return f"record is a JSON {_json_type(record)}, not an object", None
    if "dh_utc" not in record:
        return "record has no 'dh_utc' field, so its time is unknown", None
    dh_utc = record["dh_utc"]
    if not isinstance(dh_utc, str) or not _DH_UTC_SHAPE.fullmatch(dh_utc):
        return f"dh_utc {dh_utc!r} is not a UTC time written 'YYYY-MM-DD HH:MM:SS'", None
    record_day = _record_day(record)
    if record_day is None:
        return f"dh_utc {dh_utc!r} is not a real date and time", None
    if "id_station" not in record:
        return f"record has no 'id_station' field (it sits in hourly[{station}])", record_day
    if record["id_station"] != station:
        mismatch = f"id_station {record['id_station']!r} does not match its list hourly[{station}]"
        if record["id_station"] not in stations:
            return f"unknown station {record['id_station']}: {mismatch}", record_day
        return mismatch, record_day
    return None, record_day


def _json_type(value: Any) -> str:
    return "null" if value is None else _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


class InfoClimatSource(dg.ConfigurableResource):
    """Where InfoClimat observations come from; the subclass is chosen by configuration, not by asset code."""

    stations: list[str] = list(INFOCLIMAT_STATION_IDS)

    def fetch_day(self, day: date, ingested_at: str) -> RawBatch:
        """Every configured station's records of UTC ``day``, landed unchanged with lineage."""
        raise NotImplementedError(f"{type(self).__name__} does not implement fetch_day")

    def describe(self, day: date | None = None) -> str:
        """Where ``day`` (or the source in general) is read from, with no secret in it: fit for metadata."""
        raise NotImplementedError(f"{type(self).__name__} does not implement describe")


class InfoClimatApi(InfoClimatSource):
    """The live InfoClimat open-data API (needs a personal token, passed as ``EnvVar("INFOCLIMAT_TOKEN")``)."""

    base_url: str = "https://www.infoclimat.fr/opendata/"
    token: str | None = None
    timeout_seconds: float = 30
    max_attempts: int = 5
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 60

    def fetch_day(self, day: date, ingested_at: str) -> RawBatch:
        token = self._token(day)
        params = query_params(self.stations, day)
        policy = RetryPolicy(self.max_attempts, self.backoff_seconds, self.max_backoff_seconds)
        with requests.Session() as session:
            session.headers.update({"Accept": "application/json", "User-Agent": "forecast-assets (InfoClimat reader)"})
            doc = get_json(
                session,
                self.base_url,
                params,
                token,
                what=describe_request(day, self.stations),
                timeout_seconds=self.timeout_seconds,
                policy=policy,
            )
        where = redacted_url(self.base_url, params)
        return parse_response(doc, day, self.stations, where, ingested_at, range_start=day)  # the request's start

    def describe(self, day: date | None = None) -> str:
        """The request URL for ``day`` without the token (without dates if no day is given)."""
        return redacted_url(self.base_url, query_params(self.stations, day))

    def _token(self, day: date) -> str:
        token = self.token
        if isinstance(token, dg.EnvVar):  # the resource used directly, outside a Dagster run
            token = token.get_value()
        if not token:
            raise InfoClimatError(
                f"No InfoClimat token configured, so {describe_request(day, self.stations)} cannot be fetched "
                f"from {self.base_url}: set the {TOKEN_ENV_VAR} environment variable (the resource reads it "
                f'via EnvVar("{TOKEN_ENV_VAR}")), or use InfoClimatResponseFile to read a saved response offline.'
            )
        return token


class InfoClimatResponseFile(InfoClimatSource):
    """Offline mode: a saved API response (JSON), or a directory of them merged per station in name order.

    A saved response may cover several days: each day read lands its own records, and a record
    with no usable date is rejected on the first day of its file (its earliest dated record).
    """

    path: str

    def fetch_day(self, day: date, ingested_at: str) -> RawBatch:
        files = self._files(day)
        documents = [(file.resolve().as_uri(), self._load(file, day)) for file in files]
        return _parse_documents(documents, day, self.stations, self.describe(), ingested_at)

    def describe(self, day: date | None = None) -> str:
        """The response file (or directory) as an absolute ``file://`` URI; the same for every day."""
        return Path(self.path).resolve().as_uri()

    def _files(self, day: date) -> list[Path]:
        root = Path(self.path)
        if root.is_dir():
            files = sorted(root.glob("*.json"))
            if not files:
                raise SourceUnavailableError(
                    f"No *.json InfoClimat response files in directory {root} (needed for "
                    f"{describe_request(day, self.stations)})"
                )
            return files
        if not root.is_file():
            raise SourceUnavailableError(
                f"InfoClimat response file {root} does not exist (needed for {describe_request(day, self.stations)})"
            )
        return [root]

    def _load(self, file: Path, day: date) -> Any:
        """A saved response as JSON text in UTF-8 (with or without a BOM), or UTF-16/UTF-32.

        The encoding is found as ``json.loads`` finds it for bytes (by the BOM, else by the zero
        bytes of the first characters). RFC 8259 asks for UTF-8, but a BOM'd UTF-16 save (a Windows
        editor's "Unicode") is unambiguous, so it is read; bytes that decode in none of these
        (e.g. Latin-1 accents) are an InfoClimatError naming the file and the day.
        """
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise SourceUnavailableError(
                f"Cannot read InfoClimat response file {file} (needed for "
                f"{describe_request(day, self.stations)}): {exc}"
            ) from exc
        try:
            return json.loads(data)
        except UnicodeDecodeError as exc:
            raise InfoClimatError(
                f"InfoClimat response file {file} is not UTF-8 (nor UTF-16/UTF-32) text: {exc.reason} at byte "
                f"{exc.start} (read as {exc.encoding}), needed for {describe_request(day, self.stations)}: "
                f"save it again as UTF-8 (the API answers in UTF-8), or fetch the day from the API again"
            ) from None
        except json.JSONDecodeError as exc:
            raise InfoClimatError(
                f"InfoClimat response file {file} is not valid JSON ({exc}); needed for "
                f"{describe_request(day, self.stations)}"
            ) from None
