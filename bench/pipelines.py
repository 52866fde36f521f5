"""The pipelines section 6 measures: callables ``(staging, partition_keys) -> rows_out``.

Contract of a pipeline (what new code plugs in as ``--scale-pipeline module:function``):

- ``staging`` is a ``forecast_assets.staging.StagingZone`` holding the landed raw days,
  ``partition_keys`` a list of ``YYYY-MM-DD`` days (one chunk; the harness calls it once per chunk,
  in day order, in one fresh process per measurement);
- it returns the number of weather_data rows it produced, or a mapping with ``rows_out`` and,
  optionally, ``raw_rows`` / ``rejected`` / ``duplicates`` (``raw_rows`` is then checked against
  the rows the bench landed);
- it is called once with ``[]`` before the clock starts: it should import what it needs and
  return 0 (the imports are not what is measured).

Each pipeline imports lazily, so a measurement's process loads only the code it measures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

Counts = int | Mapping[str, int]


def chunked(staging, partition_keys: Sequence[str]) -> Counts:
    """The project's weather path as the asset runs it: ``built_days`` over the days given (chunks of
    ``days_per_chunk()``: one read, transform, sort and validation per chunk, the next chunk read ahead in a
    thread; every check and the report per day). Give it the whole range (harness ``chunk_days`` 0)."""
    from forecast_assets.weather.build import built_days

    out = {"rows_out": 0, "raw_rows": 0, "rejected": 0, "duplicates": 0}
    for _, day in built_days(staging, partition_keys):
        _add(out, day)
    return out


def today(staging, partition_keys: Sequence[str]) -> Counts:
    """The project's weather path one day at a time: ``build_day`` per day (transform, de-dup, checks, report)."""
    from forecast_assets.weather.build import build_day

    return _days(build_day, staging, partition_keys)


def reference_v1(staging, partition_keys: Sequence[str]) -> Counts:
    """The frozen copy of the weather path at 5aaf639 (``bench/reference_v1``): "today's code" of issue 14."""
    from bench.reference_v1 import build_day

    return _days(build_day, staging, partition_keys)


def _days(build_day, staging, partition_keys: Sequence[str]) -> dict[str, int]:
    out = {"rows_out": 0, "raw_rows": 0, "rejected": 0, "duplicates": 0}
    for key in partition_keys:
        _add(out, build_day(staging, key))
    return out


def _add(out: dict[str, int], day) -> None:
    out["rows_out"] += len(day.frame)
    out["raw_rows"] += sum(day.accounting.raw_rows.values())
    out["rejected"] += len(day.rejects)
    out["duplicates"] += len(day.duplicates)


def transform_columnar(staging, partition_keys: Sequence[str]) -> Counts:
    """Transform only, as weather_data runs it: each chunk's landed files read as columns (one pass per
    feed) and transformed to contract rows; no de-duplication, checks or report, no read-ahead thread."""
    from forecast_assets.weather.build import days_per_chunk, read_chunk, transform_read

    out = {"rows_out": 0, "raw_rows": 0}
    step = days_per_chunk()
    for first in range(0, len(partition_keys), step):
        chunk = transform_read(read_chunk(staging, partition_keys[first : first + step]))
        out["rows_out"] += len(chunk.rows)
        out["raw_rows"] += sum(sum(counted.values()) for counted in chunk.raw_rows)
    return out


def parse_only(staging, partition_keys: Sequence[str]) -> Counts:
    """The floor under any transform of the landed JSONL: each feed's files of a chunk read and parsed by
    polars into text columns (the fields the transforms read), nothing else: no encoding, conversion,
    rejects or frames."""
    import io

    import polars as pl

    from bench.landed_data import RAW_SOURCES, landed_key
    from forecast_assets.feeds import FEEDS
    from forecast_assets.weather.build import days_per_chunk
    from forecast_assets.weather.transform import TRANSFORMS

    out = {"rows_out": 0}  # rows parsed (polars and json.loads count odd lines differently: no raw_rows check)
    step = days_per_chunk()
    for first in range(0, len(partition_keys), step):
        for source in RAW_SOURCES:
            fields = TRANSFORMS[FEEDS[source].provider].read_fields
            data = b"".join(staging.read_bytes(landed_key(source, key)) for key in partition_keys[first : first + step])
            try:
                rows = pl.read_ndjson(io.BytesIO(data), schema=dict.fromkeys(fields, pl.String)).height
            except pl.exceptions.PolarsError:  # a file polars refuses (NaN, ...): its lines, as the reader falls back
                rows = sum(1 for line in data.split(b"\n") if line.strip())
            out["rows_out"] += rows
    return out


def transform_today(staging, partition_keys: Sequence[str]) -> Counts:
    """Transform only, the project's transforms one partition and feed at a time, from the landed rows
    decoded as dicts (``read_jsonl``), as section 1 calls them."""
    from bench.transform import project_partition

    return _transform(project_partition, staging, partition_keys)


def transform_rowwise(staging, partition_keys: Sequence[str]) -> Counts:
    """Transform only, section 1's row-by-row reference (``json.loads`` per line, dicts, ``float()``)."""
    from bench.transform import reference_partition

    return _transform(reference_partition, staging, partition_keys)


def _transform(transform, staging, partition_keys: Sequence[str]) -> dict[str, int]:
    from bench.landed_data import RAW_SOURCES, landed_key

    out = {"rows_out": 0, "raw_rows": 0}
    for key in partition_keys:
        raw = {source: staging.read_jsonl(landed_key(source, key)) for source in RAW_SOURCES}
        out["raw_rows"] += sum(len(rows) for rows in raw.values())
        out["rows_out"] += sum(len(frame) for frame in transform(raw, key))
    return out
