"""Building weather_data days: a chunk of days at once (:func:`build_days`), each day's result as if
built alone (:func:`build_day` is a one-day chunk).

Per chunk: each feed's landed files read in one columnar pass and transformed once, one sort
de-duplicates every day (the day is the sort's first key), one Pandera validation covers every day;
the other checks and the quality report are then counted per day. What a day gets (frame, rejects,
duplicates, accounting, outcomes, report) does not depend on the chunk it was built in.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

import dagster as dg
import numpy as np
import pandas as pd

from forecast_assets.feeds import FEEDS, Feed
from forecast_assets.partitions import daily_partitions, partition_day
from forecast_assets.staging import StagingZone
from forecast_assets.staging.layout import raw_landed_key, raw_rejects_key
from forecast_assets.stations import STATIONS
from forecast_assets.weather.accounting import UNKNOWN_STATION, Accounting
from forecast_assets.weather.check_specs import RECONCILIATION, CheckOutcome
from forecast_assets.weather.checks import check_partition
from forecast_assets.weather.completeness import station_coverage
from forecast_assets.weather.contract_checks import schema_conformance_days
from forecast_assets.weather.convert import ContractRows, Transformed
from forecast_assets.weather.landed import LandedColumns
from forecast_assets.weather.quality import build_quality_report
from forecast_assets.weather.transform import TRANSFORMS, deduplicated_positions, measured_columns
from forecast_assets.weather.transform import deduplicate as standard_deduplicate

#: Raw rows a chunk of days aims at (expected from the stations' cadences): memory follows it, not the
#: range; 200 k rows is 7 days at 162 stations (~0.45 GB a chunk) and about 190 days at the 6 real ones.
CHUNK_ROWS = 200_000


def days_per_chunk(chunk_rows: int = CHUNK_ROWS) -> int:
    """Days per chunk: as many as hold about ``chunk_rows`` raw rows at every station's cadence."""
    rows_per_day = sum(timedelta(days=1) / station.cadence for station in STATIONS.values())
    return max(1, int(chunk_rows // max(rows_per_day, 1.0)))


#: Partition D of weather_data reads partition D of every raw feed.
RAW_PARTITION_MAPPING = dg.IdentityPartitionMapping()
#: A de-duplication of one day's rows: (kept, dropped), as ``transform.deduplicate``.
Deduplicate = Callable[[pd.DataFrame], tuple[pd.DataFrame, pd.DataFrame]]
MEASURED = {station_id: measured_columns(station_id) for station_id in STATIONS}


@dataclass
class Day:
    """One weather_data partition, built."""

    frame: pd.DataFrame
    rejects: list[dict]
    duplicates: pd.DataFrame
    accounting: Accounting
    outcomes: list[CheckOutcome]
    report: dict


def upstream_partition_keys(partition_key: str) -> list[str]:
    """The raw partitions that feed one weather_data partition, per the partition mapping."""
    return list(_upstream_partition_keys(partition_key))


@functools.lru_cache(maxsize=4096)  # asked once per day of every chunk: Dagster's mapping walks the cron schedule
def _upstream_partition_keys(partition_key: str) -> tuple[str, ...]:
    result = RAW_PARTITION_MAPPING.get_upstream_mapped_partitions_result_for_partitions(
        daily_partitions.subset_with_partition_keys([partition_key]), daily_partitions, daily_partitions
    )
    return tuple(sorted(result.partitions_subset.get_partition_keys()))


def _station_key(station_id: object) -> str:
    return station_id if station_id in STATIONS else UNKNOWN_STATION


def _stations_of_records(feed: Feed, records: list[object]) -> Counter:
    """Records of a feed per station: a single-station feed's are all its station's; otherwise the
    provider's station field says (records without one count as ``unknown``)."""
    if len(feed.stations) == 1:
        return Counter({feed.station_ids[0]: len(records)})
    field = TRANSFORMS[feed.provider].station_field
    return Counter(_station_key(r.get(field)) if isinstance(r, dict) else UNKNOWN_STATION for r in records)


def _raw_rejected(staging: StagingZone, feed: Feed, raw_partition: str) -> Counter:
    """Records the raw stage rejected for one partition of a feed, per station."""
    try:
        rejects = staging.read_jsonl(raw_rejects_key(feed.key, raw_partition))
    except FileNotFoundError:
        return Counter()
    return _stations_of_records(feed, [r.get("record") for r in rejects])


def _read_per_file(transformed: Transformed, feed: Feed, file_of_row: np.ndarray, n_files: int) -> list[Counter]:
    """Raw rows per station of each file of a batch, as the accounting counts them."""
    field = TRANSFORMS[feed.provider].station_field
    if field is None:  # every row is the feed's one station's (0 counted too: the station was read)
        rows = np.bincount(file_of_row, minlength=n_files)
        return [Counter({feed.station_ids[0]: int(n)}) for n in rows]
    ids = transformed.landed.columns[field]
    keys = [UNKNOWN_STATION] + [u if isinstance(u, str) and u in STATIONS else UNKNOWN_STATION for u in ids.uniques]
    width = len(keys)
    counts = np.bincount(file_of_row * width + ids.codes + 1, minlength=n_files * width).reshape(n_files, width)
    out = []
    for per_file in counts:
        read: Counter = Counter()
        for code in np.flatnonzero(per_file):
            read[keys[code]] += int(per_file[code])
        out.append(read)
    return out


@dataclass
class ReadChunk:
    """A chunk's landed files as read, before any transform: what can run ahead in another thread."""

    partition_keys: list[str]
    files: list[tuple[int, str]]  # (day index in the chunk, raw partition), in order
    #: per feed key: batches of columns and the rows of each file of the batch (as ``LandedColumns.read_files``)
    batches: dict[str, list[tuple[LandedColumns, list[int]]]]
    raw_rejected: list[Counter]  # records the raw stage rejected, per day and station


def read_chunk(staging: StagingZone, partition_keys: Sequence[str]) -> ReadChunk:
    """Every feed's landed files of a chunk of days read as columns (one pass per feed when they allow).

    Mostly I/O, polars and pyarrow, which release the GIL: :func:`built_days` runs it one chunk ahead.
    """
    keys = list(partition_keys)
    files = [(day, raw) for day, key in enumerate(keys) for raw in upstream_partition_keys(key)]
    batches = {}
    raw_rejected: list[Counter] = [Counter() for _ in keys]
    for feed in FEEDS.values():
        data = [staging.read_bytes(raw_landed_key(feed.key, raw)) for _, raw in files]
        batches[feed.key] = LandedColumns.read_files(data, TRANSFORMS[feed.provider].read_fields)
        for day, raw in files:
            raw_rejected[day].update(_raw_rejected(staging, feed, raw))
    return ReadChunk(keys, files, batches, raw_rejected)


@dataclass
class TransformedChunk:
    """A chunk's rows before de-duplication, day after day (each day's rows in feed, file, row order)."""

    rows: ContractRows
    day_of_row: np.ndarray
    rejects: list[list[dict]]
    raw_rows: list[Counter]
    raw_rejected: list[Counter]

    @functools.cached_property
    def frame(self) -> pd.DataFrame:
        """The rows as one contract frame (for a de-duplication given as a function of frames)."""
        return self.rows.frame()


def transform_read(read: ReadChunk) -> TransformedChunk:
    """Every feed's batches of the chunk transformed; rows, rejects and raw counts assigned to their day."""
    n_days = len(read.partition_keys)
    parts, frame_days = [], []
    rejects: list[list[dict]] = [[] for _ in range(n_days)]
    raw_rows: list[Counter] = [Counter() for _ in range(n_days)]
    files = read.files
    for feed in FEEDS.values():
        provider = TRANSFORMS[feed.provider]
        done = 0
        for landed, rows_per_file in read.batches[feed.key]:
            batch = files[done : done + len(rows_per_file)]
            done += len(rows_per_file)
            file_of_row = np.repeat(np.arange(len(batch)), rows_per_file)
            sheet_days = np.array([partition_day(raw) for _, raw in batch], dtype="datetime64[D]")
            transformed = provider.transform_files(landed, feed, sheet_days[file_of_row], file_of_row)
            day_of_file = np.array([day for day, _ in batch], dtype=np.intp)
            parts.append(transformed.rows)
            frame_days.append(day_of_file[file_of_row[transformed.kept_rows]])
            for reject, row in zip(transformed.rejects, transformed.rejected_rows):
                rejects[day_of_file[file_of_row[row]]].append(reject)
            for (day, _), counted in zip(batch, _read_per_file(transformed, feed, file_of_row, len(batch))):
                raw_rows[day].update(counted)
    rows = ContractRows.concat(parts, list(STATIONS.values()))
    day_of_row = np.concatenate(frame_days) if frame_days else np.zeros(0, dtype=np.intp)
    order = np.argsort(day_of_row, kind="stable")  # feed-major → day-major, feed order kept within a day
    if len(order) and np.any(np.diff(day_of_row) < 0):
        rows, day_of_row = rows.take(order), day_of_row[order]
    return TransformedChunk(rows, day_of_row, rejects, raw_rows, read.raw_rejected)


def _counts(values: pd.Series) -> dict[str, int]:
    """Rows per value, in order of first appearance (``dict(Counter(values))``)."""
    counts = values.value_counts(sort=False, dropna=False)
    return {key: int(n) for key, n in counts.items()}


def build_days(
    staging: StagingZone, partition_keys: Sequence[str], deduplicate: Deduplicate | None = None
) -> dict[str, Day]:
    """Read, convert, de-duplicate and check a chunk of days; each day as :func:`build_day` builds it.

    ``deduplicate``: a de-duplication of one day's rows to use instead of the standard one (which runs
    as one sort over the chunk). Memory grows with the chunk: give a range in chunks of days.
    """
    keys = list(partition_keys)
    if not keys:
        return {}
    return build_read(read_chunk(staging, keys), deduplicate)


def build_read(read: ReadChunk, deduplicate: Deduplicate | None = None) -> dict[str, Day]:
    """:func:`build_days` of a chunk already read (:func:`read_chunk`): transformed, de-duplicated,
    checked, reported."""
    keys = read.partition_keys
    chunk = transform_read(read)
    n_days = len(keys)
    starts = np.searchsorted(chunk.day_of_row, np.arange(n_days + 1))
    if deduplicate is None or deduplicate is standard_deduplicate:
        frames, duplicates, schema_outcomes = _deduplicate_chunk(chunk, starts)
    else:
        days = [deduplicate(chunk.frame.iloc[starts[d] : starts[d + 1]].reset_index(drop=True)) for d in range(n_days)]
        frames, duplicates = [kept for kept, _ in days], [dropped for _, dropped in days]
        schema_outcomes = [None] * n_days
    built = {}
    for d, key in enumerate(keys):
        frame, rejects = frames[d], chunk.rejects[d]
        accounting = Accounting(
            raw_rows=dict(chunk.raw_rows[d]),
            output_rows=_counts(frame["station_id"]),
            rejected=dict(Counter(_station_key(r.get("station_id")) for r in rejects)),
            duplicates_dropped=_counts(duplicates[d]["station_id"]),
            raw_rejected=dict(chunk.raw_rejected[d]),
        )
        coverage = station_coverage(key, frame)
        outcomes = check_partition(key, frame, accounting, MEASURED, schema=schema_outcomes[d], coverage=coverage)
        reconciled = next(o.details["table"] for o in outcomes if o.name == RECONCILIATION)
        report = build_quality_report(key, frame, accounting, rejects, duplicates[d], outcomes, coverage, reconciled)
        built[key] = Day(frame, rejects, duplicates[d], accounting, outcomes, report)
    return built


def _deduplicate_chunk(
    chunk: TransformedChunk, starts: np.ndarray
) -> tuple[list[pd.DataFrame], list[pd.DataFrame], list[CheckOutcome]]:
    """Each day's kept rows (fresh index) and dropped rows (labels in the day's rows), by one sort of the
    chunk's arrays (``transform.deduplicate`` of each day); each day's ``schema_conformance`` by one
    validation. Frames are made once, of the rows kept and of the rows dropped."""
    n_days = len(starts) - 1
    rows = chunk.rows
    ids = np.array([s.station_id for s in rows.stations])
    ranks = np.empty(len(ids), dtype=np.intp)
    ranks[np.argsort(ids, kind="stable")] = np.arange(len(ids))  # station order = id order, as factorize(sort)
    kept_at, dropped_at = deduplicated_positions(
        chunk.day_of_row, ranks[rows.station_codes], rows.timestamps, rows.completeness()
    )
    kept = rows.take(kept_at).frame()
    dropped = rows.take(dropped_at).frame(index=dropped_at)
    kept_bounds = np.searchsorted(chunk.day_of_row[kept_at], np.arange(n_days + 1))
    dropped_bounds = np.searchsorted(chunk.day_of_row[dropped_at], np.arange(n_days + 1))
    frames, duplicates = [], []
    for d in range(n_days):
        frames.append(kept.iloc[kept_bounds[d] : kept_bounds[d + 1]].reset_index(drop=True))
        if starts[d] == starts[d + 1]:  # no row at all: deduplicate gives the (empty) rows back
            duplicates.append(dropped.iloc[0:0].reset_index(drop=True))
        else:
            day_dropped = dropped.iloc[dropped_bounds[d] : dropped_bounds[d + 1]]
            day_dropped.index = day_dropped.index - starts[d]
            duplicates.append(day_dropped)
    return frames, duplicates, schema_conformance_days(kept, kept_bounds)


def built_days(
    staging: StagingZone,
    partition_keys: Sequence[str],
    chunk_days: int | None = None,
    deduplicate: Deduplicate | None = None,
) -> Iterator[tuple[str, Day]]:
    """Each day of ``partition_keys`` built, in order, ``chunk_days`` at a time (default: :func:`days_per_chunk`).

    While a chunk is transformed and checked, the next one is read in a background thread (its I/O,
    JSON parsing and encoding release the GIL): at most two chunks are held at once. A chunk that
    cannot be built whole (a missing or unreadable file) is built day by day, so the days before the
    failing one are delivered and the error names that day.
    """
    keys = list(partition_keys)
    step = max(1, days_per_chunk() if chunk_days is None else chunk_days)
    chunks = [keys[first : first + step] for first in range(0, len(keys), step)]
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="weather-read-ahead") as reader:
        ahead = reader.submit(read_chunk, staging, chunks[0]) if chunks else None
        for index, chunk in enumerate(chunks):
            current = ahead
            ahead = reader.submit(read_chunk, staging, chunks[index + 1]) if index + 1 < len(chunks) else None
            try:
                days = build_read(current.result(), deduplicate)
            except Exception:  # noqa: BLE001  (rebuilt day by day below: the same error, on its day)
                if len(chunk) == 1:
                    raise
                days = None
            del current
            for key in chunk:
                yield key, days[key] if days is not None else build_days(staging, [key], deduplicate)[key]
            del days


def build_day(staging: StagingZone, partition_key: str) -> Day:
    """Read, convert, de-duplicate and check one day; every raw row is output, rejected or a duplicate."""
    return build_days(staging, [partition_key])[partition_key]
