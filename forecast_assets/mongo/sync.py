"""Making stations' windows in MongoDB hold exactly a frame's rows, writing only what differs.

One read per window tells which rows are new (bulk ``insert_many``, the fast path), which changed
(``ReplaceOne`` by key) and which are already there (nothing written), and which stored documents
are no longer in the frame (deleted). Re-running a partition therefore writes nothing; a run that
died half-way inserts just the missing rows; a concurrent run that inserted first turns our inserts
into duplicate-key errors, which are retried as keyed replaces.

A load never shrinks a window silently: a window whose sync would delete more than the
:class:`ShrinkPolicy` allows is *refused* — nothing of that window is written, its stored documents
stay — and reported, so a worse delivery (a day whose rows were mostly rejected) cannot replace good
documents. An intended deletion is applied by naming the window in the policy.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from pymongo import ReplaceOne
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, WriteConcernError

from forecast_assets.mongo.documents import frame_to_documents, window_query

DUPLICATE_KEY = 11000
DEFAULT_BATCH_SIZE = 5000


@dataclass(frozen=True)
class ShrinkPolicy:
    """How much of a window's stored documents one load may delete.

    ``max_deleted_share`` is the share of a window's stored documents a sync may delete (0: none,
    the safe default; 1: any). Stations in ``allowed`` may shrink without limit in this load: the
    explicit override for an intended deletion.
    """

    max_deleted_share: float = 0.0
    allowed: frozenset[str] = field(default_factory=frozenset)

    def refusal(self, station: str, stored: int, delivered: int, deleted: int) -> str | None:
        """Why the sync of one window must be refused, or None when it may go ahead."""
        if not deleted or station in self.allowed or deleted <= self.max_deleted_share * stored:
            return None
        return (
            f"would delete {deleted} of its {stored} stored document(s) (delivered: {delivered} row(s); "
            f"at most {self.max_deleted_share:.0%} may be deleted without an override)"
        )


#: Any window may shrink: the sync makes every window equal its rows (tests, intended rewrites).
ALLOW_ANY_SHRINK = ShrinkPolicy(max_deleted_share=1.0)
#: The default: a load deletes no stored document unless told to.
NO_SHRINK = ShrinkPolicy()


def _key(doc: dict[str, Any]) -> tuple[str, dt.datetime]:
    stamp = doc["timestamp"]
    # BSON dates hold milliseconds; compare at that precision, timezone-aware.
    stamp = stamp.replace(microsecond=stamp.microsecond // 1000 * 1000)
    return doc["station_id"], stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)


def _utc(bound: Any) -> pd.Timestamp:
    stamp = pd.Timestamp(bound)
    if stamp.tzinfo is None:
        raise ValueError(f"window bounds must be timezone-aware, got {bound!r}")
    return stamp.tz_convert("UTC")


def same_document(new: dict[str, Any], stored: dict[str, Any]) -> bool:
    """Whether a stored document equals the document of a row (timestamps at BSON precision)."""
    return new.keys() == stored.keys() and all(
        _key(new) == _key(stored) if k == "timestamp" else new[k] == stored[k] for k in new
    )


def _error(doc: dict[str, Any], error: dict[str, Any]) -> dict[str, Any]:
    return {
        "station_id": doc["station_id"],
        "timestamp": doc["timestamp"].isoformat(),
        "code": error.get("code"),
        "errmsg": str(error.get("errmsg", ""))[:300],
    }


def _check_write_concern(collection: Collection, error: BulkWriteError, what: str) -> None:
    """Raise when the server applied a batch but did not acknowledge it at the configured concern.

    Such a batch has no write errors, only ``writeConcernErrors``: counting it as written would
    report a day durable that is not (e.g. a majority never reached within ``wtimeout``).
    """
    concern_errors = error.details.get("writeConcernErrors") or []
    if concern_errors:
        first = concern_errors[0]
        raise WriteConcernError(
            f"{collection.full_name}: the server did not acknowledge the {what} at the write concern "
            f"{collection.write_concern.document} ({first.get('codeName', '')} {first.get('code')}: "
            f"{str(first.get('errmsg', ''))[:300]}). The documents may be stored but are not durable as "
            "configured: check the replica set's members (or MONGO_WRITE_CONCERN) and rerun the day; "
            "loads are idempotent.",
            first.get("code"),
            error.details,
        ) from None


def _replace(
    collection: Collection, docs: list[dict[str, Any]], batch_size: int, errors_out: list[dict[str, Any]]
) -> tuple[int, int]:
    """Replace (upsert) documents by key; (changed, already identical) as the server counts them.

    Refused ones go to ``errors_out``.
    """
    changed = identical = 0
    for start in range(0, len(docs), batch_size):
        batch = docs[start : start + batch_size]
        try:
            result = collection.bulk_write(
                [
                    ReplaceOne({"station_id": d["station_id"], "timestamp": d["timestamp"]}, d, upsert=True)
                    for d in batch
                ],
                ordered=False,
            ).bulk_api_result
        except BulkWriteError as error:
            _check_write_concern(collection, error, f"replace of {len(batch)} document(s)")
            result = error.details
            errors_out.extend(_error(batch[e["index"]], e) for e in result.get("writeErrors", []))
        changed += result.get("nModified", 0) + result.get("nUpserted", 0)
        identical += result.get("nMatched", 0) - result.get("nModified", 0)
    return changed, identical


def _insert(
    collection: Collection, docs: list[dict[str, Any]], batch_size: int, errors_out: list[dict[str, Any]]
) -> tuple[int, int, int]:
    """Insert new documents; ones another writer inserted meanwhile are replaced.

    Returns (inserted, replaced with a different value, found already identical).

    Other write errors (e.g. a validator rejection) are appended to ``errors_out``.
    """
    inserted, raced = 0, []
    for start in range(0, len(docs), batch_size):
        batch = docs[start : start + batch_size]
        try:
            inserted += len(collection.insert_many(batch, ordered=False).inserted_ids)
        except BulkWriteError as error:
            _check_write_concern(collection, error, f"insert of {len(batch)} document(s)")
            errors = error.details.get("writeErrors", [])
            inserted += error.details.get("nInserted", 0)
            raced.extend(batch[e["index"]] for e in errors if e.get("code") == DUPLICATE_KEY)
            errors_out.extend(_error(batch[e["index"]], e) for e in errors if e.get("code") != DUPLICATE_KEY)
    for doc in raced:
        doc.pop("_id", None)
    return inserted, *_replace(collection, raced, batch_size, errors_out)


def sync_windows(
    collection: Collection,
    frame: pd.DataFrame,
    windows: Mapping[str, tuple[pd.Timestamp, pd.Timestamp]],
    batch_size: int = DEFAULT_BATCH_SIZE,
    policy: ShrinkPolicy = ALLOW_ANY_SHRINK,
) -> dict[str, Any]:
    """Make each station's documents in its window ``[start, end)`` equal ``frame``'s rows of it.

    ``windows`` maps station id to its window (timezone-aware bounds); every row of ``frame`` must
    fall in its station's window, else ValueError before anything is written. Stations without a
    window are not touched. ``policy`` defaults to letting every window shrink (the window is made equal
    to the rows); the loading asset passes its configured, stricter one. All stations are diffed first, then written together (one
    ``insert_many`` stream, one bulk replace), which is what makes the load fast. A window whose
    deletions ``policy`` refuses is left as stored (nothing of it written) and listed in ``refused``
    (``station_id``, ``stored``, ``delivered``, ``would_delete``, ``reason``). Returns counts:
    ``inserted``, ``updated``, ``unchanged``, ``deleted``, ``write_errors`` and ``error_samples``
    (documents the server refused, new or changed; the others are still written), ``refused``,
    ``seconds``.
    """
    started = time.perf_counter()
    unknown = set(frame["station_id"].unique()) - set(windows)
    if unknown:
        raise ValueError(f"rows of stations without a window: {sorted(unknown)}")
    windows = {station: (_utc(start), _utc(end)) for station, (start, end) in windows.items()}
    by_station: dict[str, list[dict[str, Any]]] = {station: [] for station in windows}
    for doc in frame_to_documents(frame):
        by_station[doc["station_id"]].append(doc)
    new, changed, unchanged, stale, refused = [], [], 0, [], []
    for station, (start, end) in windows.items():
        stored = {_key(d): d for d in collection.find(window_query(station, start, end), projection={"_id": 0})}
        stored_count = len(stored)
        w_new, w_changed, w_unchanged = [], [], 0
        for doc in by_station[station]:
            key = _key(doc)
            if not start <= pd.Timestamp(key[1]) < end:
                raise ValueError(f"{station}: a row at {key[1]} is outside [{start}, {end})")
            existing = stored.pop(key, None)
            if existing is None:
                w_new.append(doc)
            elif same_document(doc, existing):
                w_unchanged += 1
            else:
                w_changed.append(doc)
        # what is left in `stored`: documents of this window that the partition no longer has
        reason = policy.refusal(station, stored_count, len(by_station[station]), len(stored))
        if reason:
            refused.append(
                {
                    "station_id": station,
                    "stored": stored_count,
                    "delivered": len(by_station[station]),
                    "would_delete": len(stored),
                    "reason": reason,
                }
            )
            continue
        new += w_new
        changed += w_changed
        unchanged += w_unchanged
        if stored:
            stale.append((station, [ts for _, ts in stored]))
    # Every window was checked above: a refused frame writes nothing.
    deleted = sum(
        collection.delete_many({"station_id": station, "timestamp": {"$in": stamps}}).deleted_count
        for station, stamps in stale
    )
    errors: list[dict[str, Any]] = []
    inserted, raced_changed, raced_identical = _insert(collection, new, batch_size, errors)
    updated, _ = _replace(collection, changed, batch_size, errors)
    # A document another writer stored first counts as unchanged if it holds the same values.
    return {
        "inserted": inserted,
        "updated": updated + raced_changed,
        "unchanged": unchanged + raced_identical,
        "deleted": deleted,
        "write_errors": len(errors),
        "error_samples": errors[:5],
        "refused": refused,
        "seconds": time.perf_counter() - started,
    }
