"""The local Dagster instance: Dagster's own, with SQLite storage that is safe to open for the first
time from several processes at once.

Dagster creates the SQLite schema (``history/runs.db``, ``history/runs/index.db``,
``schedules/schedules.db``) when a process first opens an instance, without coordination between
processes: two ``dagster asset materialize`` started together on a brand-new DAGSTER_HOME both see no
tables, both create them, and one dies on ``table runs already exists`` (or a half-stamped alembic
version). ``LockedSqliteStorage`` takes an exclusive OS file lock (``fcntl.flock`` on
``<DAGSTER_HOME>/.storage-init.lock``) around that work: the first process creates the schema, the
others wait a moment and find it. Once the files exist the locked section only checks schema
versions (milliseconds).

``deploy/local/dagster.yaml`` selects it through the instance class, whose *default* storage it is,
so the storage lives wherever the instance is opened from (``DAGSTER_HOME``, or any folder given to
``DagsterInstance.from_config``), in the same files as Dagster's default SQLite storage::

    instance_class:
      module: forecast_assets.instance
      class: LocalDagsterInstance
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import yaml

from forecast_assets.dagster_internals import ConfigurableClassData, DagsterSqliteStorage, InstanceRef

LOCK_FILE_NAME = ".storage-init.lock"


@contextmanager
def file_lock(path: str | Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing) across the processes of this machine."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class LockedSqliteStorage(DagsterSqliteStorage):
    """``DagsterSqliteStorage`` whose schema creation and checks run under a cross-process file lock."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        with file_lock(Path(base_dir) / LOCK_FILE_NAME):
            super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]):  # type: ignore[override]
        return cls.from_local(inst_data=inst_data, base_dir=config_value["base_dir"])


class LocalDagsterInstance(dg.DagsterInstance):
    """A ``DagsterInstance`` whose default storage is ``LockedSqliteStorage`` in the instance folder.

    An explicit ``storage:`` in dagster.yaml still wins; everything else is Dagster's default.
    """

    @classmethod
    def config_schema(cls) -> Mapping[str, Any]:
        return {}

    @staticmethod
    def config_defaults(base_dir: str) -> Mapping[str, ConfigurableClassData | None]:
        storage = ConfigurableClassData(
            __name__, LockedSqliteStorage.__name__, yaml.dump({"base_dir": base_dir}, default_flow_style=False)
        )
        return {**InstanceRef.config_defaults(base_dir), "storage": storage}
