"""Faults of the staging zone: a worse re-ingestion, a run killed mid-landing, an unwritable folder.

A re-ingestion keeps the previous landing of its partition in ``raw/_history/`` (written before the
live file is overwritten), and a local staging folder that cannot be written fails with a
``StagingZoneError`` naming the key, the path, the cause and the fix.
"""

from __future__ import annotations

import os
import signal
import tempfile
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import dagster as dg
import openpyxl
import pytest

from forecast_assets.operations.landing_history import landing_history, restore_landing
from forecast_assets.partitions import partition_day
from forecast_assets.raw.assets import build_raw_asset, land_batch
from forecast_assets.raw.records import RawBatch, reject, with_lineage
from forecast_assets.raw.wunderground import WU_COLUMNS, WundergroundSource
from forecast_assets.sample_data import BE_WORKBOOK
from forecast_assets.sample_data.generate import generate_wu_workbook
from forecast_assets.staging import LocalStagingZone, S3StagingZone, StagingZoneError
from forecast_assets.staging.layout import raw_landed_key, raw_rejects_key

DAY = "2024-10-05"
FR = "ILAMAD25"
NOBODY = 65534


# --- issue 11 case 1: a rerun with a worse workbook ----------------------------------------------


def _decimal_commas(path: Path) -> None:
    """Every FR temperature written with a decimal comma (``50,1 °F``), as a French export can."""
    workbook = openpyxl.load_workbook(path)
    column = WU_COLUMNS.index("Temperature") + 1
    for sheet in workbook.worksheets:
        for row in range(2, sheet.max_row + 1):
            cell = sheet.cell(row=row, column=column)
            if isinstance(cell.value, str):
                cell.value = cell.value.replace(".", ",")
    workbook.save(path)


def test_a_rerun_with_a_decimal_comma_workbook_keeps_the_good_landing_restorable(tmp_path: Path) -> None:
    workbook = tmp_path / "ILAMAD25.xlsx"
    generate_wu_workbook(workbook, FR, [partition_day(DAY)], seed=25, short_last_day_rows=None, mess=False)
    staging = LocalStagingZone(root=str(tmp_path / "staging"))
    resources = {"staging": staging, "wu_fr": WundergroundSource(station_id=FR, location=str(workbook))}
    assert dg.materialize([build_raw_asset("FR")], resources=resources, partition_key=DAY).success
    good = staging.read_bytes(raw_landed_key("FR", DAY))
    assert len(staging.read_jsonl(raw_landed_key("FR", DAY))) == 288

    _decimal_commas(workbook)
    assert dg.materialize([build_raw_asset("FR")], resources=resources, partition_key=DAY).success
    assert all("," in row["Temperature"] for row in staging.read_jsonl(raw_landed_key("FR", DAY)))

    [version] = landing_history(staging, "FR", DAY)
    assert staging.read_bytes(version.rows_key) == good
    restore_landing(staging, "FR", DAY, version.version)
    assert staging.read_bytes(raw_landed_key("FR", DAY)) == good


# --- a landing killed at any step ----------------------------------------------------------------


def _batch(ingested_at: str, temps: list[str], rejected: list[str]) -> RawBatch:
    uri = "file:///sources/be.xlsx"
    return RawBatch(
        source_uri=uri,
        rows=[with_lineage({"Temperature": t}, uri, f"row={i + 2}", ingested_at) for i, t in enumerate(temps)],
        rejects=[reject("bad", {"Temperature": t}, uri, f"row={i + 90}", ingested_at) for i, t in enumerate(rejected)],
    )


GOOD = _batch("2024-10-05T06:00:00+00:00", ["50.1", "50.2"], ["x"])
WORSE = _batch("2024-10-06T06:00:00+00:00", [], ["50,1", "50,2"])


class _KillAtCall:
    """Wraps a zone's mutating calls; SIGKILLs its own process at the ``n``-th one, before it runs."""

    MUTATING = ("write_bytes", "write_jsonl", "write_json", "delete", "copy")

    def __init__(self, zone, n: int) -> None:
        self._zone, self._n, self.calls = zone, n, 0

    def __getattr__(self, name: str):
        attribute = getattr(self._zone, name)
        if name not in self.MUTATING:
            return attribute

        def call(*args, **kwargs):
            self.calls += 1
            if self.calls == self._n:
                os.kill(os.getpid(), signal.SIGKILL)
            return attribute(*args, **kwargs)

        return call


def _land_in_a_child(new_zone, batch: RawBatch, kill_at: int) -> int:
    """Land ``batch`` in a forked child that is SIGKILLed at its ``kill_at``-th write; the exit signal."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:  # its own zone object: no S3 connection shared with the parent
            land_batch(_KillAtCall(new_zone(), kill_at), "BE", DAY, batch)  # type: ignore[arg-type]
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0


@pytest.fixture(params=["local", "s3"])
def zone_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator:
    if request.param == "local":
        yield lambda n: LocalStagingZone(root=str(tmp_path / f"staging{n}"))
        return
    endpoint = request.getfixturevalue("moto_server")
    request.getfixturevalue("aws_test_credentials")
    bucket = f"staging-faults-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    yield lambda n: S3StagingZone(bucket=bucket, prefix=f"case{n}", endpoint_url=endpoint)


def test_a_landing_killed_at_any_write_never_loses_the_previous_landing(zone_factory) -> None:
    killed_at = []
    for n in range(1, 10):
        zone = zone_factory(n)
        land_batch(zone, "BE", DAY, GOOD)
        good = (zone.read_bytes(raw_landed_key("BE", DAY)), zone.read_bytes(raw_rejects_key("BE", DAY)))
        if _land_in_a_child(lambda: zone_factory(n), WORSE, kill_at=n) != signal.SIGKILL:
            break  # the landing finished before its n-th write: every step was tried
        killed_at.append(n)
        # The good landing is either still live or complete in history, and restorable either way.
        live = (zone.read_bytes(raw_landed_key("BE", DAY)), zone.read_bytes(raw_rejects_key("BE", DAY)))
        if live != good:
            [version] = landing_history(zone, "BE", DAY)
            restore_landing(zone, "BE", DAY, version.version)
            assert (zone.read_bytes(raw_landed_key("BE", DAY)), zone.read_bytes(raw_rejects_key("BE", DAY))) == good
        # and the rerun after the kill completes the landing and keeps the good one
        land_batch(zone, "BE", DAY, WORSE)
        assert zone.read_jsonl(raw_landed_key("BE", DAY)) == []
        assert good in [
            (zone.read_bytes(v.rows_key), zone.read_bytes(v.rejects_key)) for v in landing_history(zone, "BE", DAY)
        ]
    assert killed_at == [1, 2, 3, 4]  # copy rows, copy rejects, write rows, write rejects


# --- an unwritable local staging folder ----------------------------------------------------------

KEY = "raw/BE/051024/IICHTE19.jsonl"


def _assert_names_key_path_cause_and_fix(message: str, path: Path, cause: str) -> None:
    assert KEY in message
    assert str(path / KEY) in message
    assert cause in message
    assert "FORECAST_STAGING_DIR" in message and "writable folder" in message


@pytest.mark.parametrize("where", ["root", "parent of root", "day folder"])
def test_a_file_where_a_staging_folder_should_be_is_a_clear_error(tmp_path: Path, where: str) -> None:
    root = {
        "root": tmp_path / "staging",
        "parent of root": tmp_path / "file" / "staging",
        "day folder": tmp_path / "staging",
    }[where]
    blocker = {"root": root, "parent of root": root.parent, "day folder": root / "raw" / "BE" / "051024"}[where]
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("I am a file")
    zone = LocalStagingZone(root=str(root))

    for operation in (
        lambda: zone.write_bytes(KEY, b"x"),
        lambda: zone.read_bytes(KEY),
        lambda: zone.delete(KEY),
        lambda: land_batch(zone, "BE", DAY, GOOD),
    ):
        with pytest.raises(StagingZoneError) as excinfo:
            operation()
        _assert_names_key_path_cause_and_fix(str(excinfo.value), root.resolve(), f"{blocker.resolve()} is a file")
    assert blocker.read_text() == "I am a file"


def test_a_raw_run_into_a_file_instead_of_a_folder_fails_naming_the_key_and_the_fix(tmp_path: Path) -> None:
    (tmp_path / "staging").write_text("not a folder")
    resources = {
        "staging": LocalStagingZone(root=str(tmp_path / "staging")),
        "wu_be": WundergroundSource(station_id="IICHTE19", location=str(BE_WORKBOOK)),
    }
    result = dg.materialize([build_raw_asset("BE")], resources=resources, partition_key=DAY, raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = str(failure.event_specific_data.error)
    assert "StagingZoneError" in message and raw_landed_key("BE", DAY) in message
    assert "FORECAST_STAGING_DIR" in message


def _write_as_nobody(zone: LocalStagingZone) -> str:
    """``write_bytes`` in a forked child running as an unprivileged user (root ignores permission bits)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            if os.geteuid() == 0:
                os.setgid(NOBODY)
                os.setuid(NOBODY)
            try:
                zone.write_bytes(KEY, b"x")
                outcome = "written"
            except Exception as exc:  # noqa: BLE001 - the parent asserts on it
                outcome = f"{type(exc).__name__}: {exc}"
            os.write(write_end, outcome.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        outcome = pipe.read().decode()
    os.waitpid(pid, 0)
    return outcome


@pytest.mark.parametrize("read_only", ["root", "day folder"])
def test_a_read_only_staging_folder_is_a_clear_error(read_only: str) -> None:
    # Not tmp_path: pytest's base folder is private to its owner, so nobody could not even reach it.
    with tempfile.TemporaryDirectory(prefix="forecast-ro-") as base:
        os.chmod(base, 0o755)
        root = Path(base) / "staging"
        locked = root if read_only == "root" else root / "raw" / "BE" / "051024"
        locked.mkdir(parents=True)
        for folder in (root, *locked.relative_to(root).parents):  # writable on the way down
            (root / folder).chmod(0o777)
        locked.chmod(0o555)
        try:
            outcome = _write_as_nobody(LocalStagingZone(root=str(root)))
        finally:
            locked.chmod(0o755)
    assert outcome.startswith("StagingZoneError"), outcome
    _assert_names_key_path_cause_and_fix(outcome, root, "PermissionError")
