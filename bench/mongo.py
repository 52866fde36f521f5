"""The MongoDB server the bench writes to: ``MONGO_URI`` if set, else a dedicated SecantusDB in a temp dir."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from pymongo import MongoClient

from forecast_assets.mongo.embedded_server import LocalMongoServer
from forecast_assets.mongo.resources import MongoResource


@contextlib.contextmanager
def bench_server(work_dir: Path | None = None) -> Iterator[str]:
    """A MongoDB URI for the duration of the bench (SecantusDB on 127.0.0.1 unless ``MONGO_URI``)."""
    uri = os.environ.get("MONGO_URI")
    if uri:
        yield uri
        return
    with tempfile.TemporaryDirectory(prefix="forecast_bench_mongo_", dir=work_dir) as tmp:
        with LocalMongoServer(Path(tmp) / "data") as server:
            yield server.uri


def resource(uri: str, database: str) -> MongoResource:
    return MongoResource(uri=uri, database=database)


def client(uri: str) -> MongoClient:
    return MongoClient(uri, tz_aware=True, serverSelectionTimeoutMS=10000)


def server_version(uri: str) -> str:
    with contextlib.closing(client(uri)) as c:
        info = c.server_info()
        return str(info.get("version", "?"))
