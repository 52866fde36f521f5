"""Staging zone resources: one behavioural suite run against the local folder and a real moto S3."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

import boto3
import dagster as dg
import pytest

from forecast_assets.operations.landing_history import landing_history, restore_landing
from forecast_assets.operations.landing_history import main as history_cli
from forecast_assets.raw.assets import land_batch
from forecast_assets.raw.records import RawBatch, reject, with_lineage
from forecast_assets.staging import LocalStagingZone, S3StagingZone, StagingZone, StagingZoneError
from forecast_assets.staging import resources as staging_resources

S3_PREFIX = "forecast/staging"
KEY = "raw/BE/011024/IICHTE19.jsonl"


def _s3_client(endpoint: str):
    return boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint)


def _new_bucket(endpoint: str) -> str:
    bucket = f"staging-{uuid.uuid4().hex[:12]}"
    _s3_client(endpoint).create_bucket(Bucket=bucket)
    return bucket


@pytest.fixture
def s3_zone(moto_server: str, aws_test_credentials: None) -> S3StagingZone:
    return S3StagingZone(bucket=_new_bucket(moto_server), prefix=S3_PREFIX, endpoint_url=moto_server)


@pytest.fixture
def local_zone(tmp_path: Path) -> LocalStagingZone:
    return LocalStagingZone(root=str(tmp_path / "staging"))


@pytest.fixture(params=["local", "s3"])
def zone(request: pytest.FixtureRequest) -> StagingZone:
    return request.getfixturevalue(f"{request.param}_zone")


# --- behaviour shared by both implementations ---------------------------------------------------


def test_bytes_round_trip(zone: StagingZone) -> None:
    data = bytes(range(256)) * 4
    uri = zone.write_bytes(KEY, data)
    assert uri == zone.uri(KEY)
    assert zone.read_bytes(KEY) == data


def test_jsonl_round_trip_keeps_non_ascii_byte_for_byte(zone: StagingZone) -> None:
    records = [
        {"station": "IICHTE19", "temp": "12\u00a0°C", "day": dt.date(2024, 10, 1)},
        {"station": "X", "note": "line\u2028separator", "n": 1.5, "ok": None},
    ]
    zone.write_jsonl(KEY, records)

    raw = zone.read_bytes(KEY)
    assert "12\u00a0°C".encode("utf-8") in raw  # b"12\xc2\xa0\xc2\xb0C", not \u escapes
    assert b"\\u00a0" not in raw and b"\\u00b0" not in raw
    assert raw.count(b"\n") == 2 and raw.endswith(b"\n")
    assert zone.read_jsonl(KEY) == [{**records[0], "day": "2024-10-01"}, records[1]]


def test_empty_jsonl_round_trip(zone: StagingZone) -> None:
    zone.write_jsonl(KEY, [])
    assert zone.read_bytes(KEY) == b""
    assert zone.read_jsonl(KEY) == []


def test_json_round_trip(zone: StagingZone) -> None:
    doc = {"unit": "°C", "space": "\u00a0", "when": dt.datetime(2024, 10, 1, 6, 30), "rows": [1, 2]}
    uri = zone.write_json("meta/run.json", doc)
    assert uri == zone.uri("meta/run.json")
    assert "°C".encode() in zone.read_bytes("meta/run.json")
    assert zone.read_json("meta/run.json") == {**doc, "when": "2024-10-01 06:30:00"}


def test_overwrite_replaces_content(zone: StagingZone) -> None:
    zone.write_bytes(KEY, b"first version, longer than the second")
    zone.write_bytes(KEY, b"second")
    assert zone.read_bytes(KEY) == b"second"
    assert zone.list_keys("raw/") == [KEY]


def test_list_keys_under_prefix(zone: StagingZone) -> None:
    keys = [
        "raw/BE/021024/B.jsonl",
        "raw/BE/011024/A.jsonl",
        "raw/BEX/011024/C.jsonl",
        "raw/NL/011024/D.jsonl",
        "clean/BE/011024/A.jsonl",
    ]
    for key in keys:
        zone.write_bytes(key, key.encode())

    assert zone.list_keys("raw/BE/") == ["raw/BE/011024/A.jsonl", "raw/BE/021024/B.jsonl"]
    assert zone.list_keys("raw/BE") == [
        "raw/BE/011024/A.jsonl",
        "raw/BE/021024/B.jsonl",
        "raw/BEX/011024/C.jsonl",
    ]
    assert zone.list_keys("") == sorted(keys)
    assert zone.list_keys() == sorted(keys)
    assert zone.list_keys("nothing/here/") == []


def test_exists_and_delete(zone: StagingZone) -> None:
    assert not zone.exists(KEY)
    zone.write_bytes(KEY, b"x")
    assert zone.exists(KEY)
    zone.delete(KEY)
    assert not zone.exists(KEY)
    assert zone.list_keys("raw/") == []
    zone.delete(KEY)  # deleting a missing key is not an error


def test_missing_key_error_names_key_and_location(zone: StagingZone) -> None:
    with pytest.raises(FileNotFoundError) as excinfo:
        zone.read_bytes("raw/BE/011024/MISSING.jsonl")
    message = str(excinfo.value)
    assert "raw/BE/011024/MISSING.jsonl" in message
    assert zone.describe() in message
    with pytest.raises(FileNotFoundError):
        zone.read_jsonl("raw/BE/011024/MISSING.jsonl")


@pytest.mark.parametrize(
    "bad_key", ["../outside.jsonl", "raw/../../outside.jsonl", "/etc/passwd", "raw//x.jsonl", "", "raw/./x", "raw/"]
)
def test_keys_escaping_the_zone_are_refused(zone: StagingZone, bad_key: str) -> None:
    with pytest.raises(ValueError):
        zone.write_bytes(bad_key, b"x")
    with pytest.raises(ValueError):
        zone.read_bytes(bad_key)


def test_uri_and_describe_shape_local(local_zone: LocalStagingZone, tmp_path: Path) -> None:
    root = (tmp_path / "staging").resolve()
    assert local_zone.describe() == str(root)
    assert local_zone.uri(KEY) == (root / KEY).as_uri()
    assert local_zone.uri(KEY).startswith("file:///")
    assert local_zone.write_bytes(KEY, b"x") == (root / KEY).as_uri()


def test_uri_and_describe_shape_s3(s3_zone: S3StagingZone) -> None:
    assert s3_zone.describe() == f"s3://{s3_zone.bucket}/{S3_PREFIX}"
    assert s3_zone.uri(KEY) == f"s3://{s3_zone.bucket}/{S3_PREFIX}/{KEY}"
    no_prefix = S3StagingZone(bucket="b")
    assert no_prefix.describe() == "s3://b"
    assert no_prefix.uri(KEY) == f"s3://b/{KEY}"


# --- S3-specific --------------------------------------------------------------------------------


def test_s3_objects_are_encrypted_at_rest(s3_zone: S3StagingZone, moto_server: str) -> None:
    s3_zone.write_bytes(KEY, b"x")
    head = _s3_client(moto_server).head_object(Bucket=s3_zone.bucket, Key=f"{S3_PREFIX}/{KEY}")
    assert head["ServerSideEncryption"] == "AES256"


def test_s3_prefix_is_applied_and_normalised(s3_zone: S3StagingZone, moto_server: str) -> None:
    slashed = S3StagingZone(bucket=s3_zone.bucket, prefix=f"/{S3_PREFIX}/", endpoint_url=moto_server)
    slashed.write_bytes(KEY, b"x")
    s3_zone.write_bytes("other/y.json", b"y")
    outside = S3StagingZone(bucket=s3_zone.bucket, endpoint_url=moto_server)
    outside.write_bytes("elsewhere/z.json", b"z")

    listed = _s3_client(moto_server).list_objects_v2(Bucket=s3_zone.bucket)
    assert sorted(item["Key"] for item in listed["Contents"]) == [
        "elsewhere/z.json",
        f"{S3_PREFIX}/other/y.json",
        f"{S3_PREFIX}/{KEY}",
    ]
    assert s3_zone.list_keys() == ["other/y.json", KEY]
    assert s3_zone.read_bytes(KEY) == b"x"
    assert outside.list_keys() == ["elsewhere/z.json", f"{S3_PREFIX}/other/y.json", f"{S3_PREFIX}/{KEY}"]


def test_s3_list_keys_follows_pagination(s3_zone: S3StagingZone, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(staging_resources, "_LIST_PAGE_SIZE", 2)
    keys = [f"raw/BE/011024/S{i}.jsonl" for i in range(5)]
    for key in keys:
        s3_zone.write_bytes(key, b"x")
    calls = []
    s3_zone._get_client().meta.events.register("after-call.s3.ListObjectsV2", lambda **kw: calls.append(1))

    assert s3_zone.list_keys("raw/") == keys
    assert len(calls) == 3


def test_s3_client_is_built_once_with_retry_and_timeouts(s3_zone: S3StagingZone) -> None:
    client = s3_zone._get_client()
    assert s3_zone._get_client() is client
    assert client.meta.config.connect_timeout == 5
    assert client.meta.config.read_timeout == 30
    assert client.meta.config.retries == {"total_max_attempts": 5, "mode": "standard"}


def test_s3_without_encryption_setting_still_round_trips(s3_zone: S3StagingZone, moto_server: str) -> None:
    plain = S3StagingZone(
        bucket=s3_zone.bucket, prefix=S3_PREFIX, endpoint_url=moto_server, server_side_encryption=None
    )
    plain.write_bytes(KEY, b"x")
    assert plain.read_bytes(KEY) == b"x"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_s3_unreachable_endpoint_raises_clear_error_quickly(aws_test_credentials: None) -> None:
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    zone = S3StagingZone(
        bucket="forecast-staging",
        prefix=S3_PREFIX,
        endpoint_url=endpoint,
        max_attempts=2,
        connect_timeout_seconds=0.5,
        read_timeout_seconds=0.5,
    )
    operations = (lambda: zone.write_bytes(KEY, b"x"), lambda: zone.read_bytes(KEY), lambda: zone.list_keys("raw/"))
    for operation in operations:
        with pytest.raises(StagingZoneError) as excinfo:
            operation()
        message = str(excinfo.value)
        assert "forecast-staging" in message
        assert endpoint in message
        assert "testing" not in message  # no credentials
    assert f"{S3_PREFIX}/raw/" in message

    attempts = []
    zone._get_client().meta.events.register("before-send.s3.PutObject", lambda **kw: attempts.append(1))
    with pytest.raises(StagingZoneError, match=f"{S3_PREFIX}/{KEY}"):
        zone.write_bytes(KEY, b"x")
    assert len(attempts) == 2  # max_attempts counts the first call too


def test_s3_missing_bucket_is_an_error_not_a_missing_key(moto_server: str, aws_test_credentials: None) -> None:
    zone = S3StagingZone(bucket=f"absent-{uuid.uuid4().hex[:12]}", endpoint_url=moto_server)
    with pytest.raises(StagingZoneError, match="NoSuchBucket"):
        zone.read_bytes(KEY)


# --- local-specific -----------------------------------------------------------------------------


def _all_files(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


def test_local_atomic_write_leaves_no_temporary_files(local_zone: LocalStagingZone, tmp_path: Path) -> None:
    local_zone.write_bytes(KEY, b"old")
    local_zone.write_jsonl(KEY, [{"a": 1}])
    assert _all_files(tmp_path / "staging") == [KEY]

    with pytest.raises(TypeError):
        local_zone.write_bytes(KEY, "not bytes")  # type: ignore[arg-type]  # fails mid-write
    assert _all_files(tmp_path / "staging") == [KEY]
    assert local_zone.read_jsonl(KEY) == [{"a": 1}]


def test_local_listing_ignores_in_flight_temporary_files(local_zone: LocalStagingZone, tmp_path: Path) -> None:
    local_zone.write_bytes(KEY, b"x")
    (tmp_path / "staging" / KEY).with_name(".IICHTE19.jsonl.0123abcd.tmp").write_bytes(b"half")
    assert local_zone.list_keys() == [KEY]


def test_local_relative_root_resolves_against_working_directory_at_use_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    zone = LocalStagingZone()
    monkeypatch.chdir(tmp_path)
    uri = zone.write_bytes(KEY, b"x")
    assert (tmp_path / ".forecast" / "staging" / KEY).read_bytes() == b"x"
    assert uri == (tmp_path.resolve() / ".forecast" / "staging" / KEY).as_uri()


def test_local_symlink_out_of_root_is_refused(local_zone: LocalStagingZone, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "staging").mkdir()
    os.symlink(outside, tmp_path / "staging" / "link")
    with pytest.raises(ValueError, match="escapes"):
        local_zone.write_bytes("link/x.jsonl", b"x")
    assert list(outside.iterdir()) == []


def test_local_symlinked_file_out_of_root_is_refused(local_zone: LocalStagingZone, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"not staging data")
    (tmp_path / "staging" / "raw").mkdir(parents=True)
    os.symlink(secret, tmp_path / "staging" / "raw" / "day.jsonl")
    with pytest.raises(ValueError, match="escapes"):
        local_zone.read_bytes("raw/day.jsonl")


def test_local_symlink_within_root_is_followed(local_zone: LocalStagingZone, tmp_path: Path) -> None:
    local_zone.write_bytes("real/x.jsonl", b"x\n")
    os.symlink(tmp_path / "staging" / "real", tmp_path / "staging" / "alias")
    assert local_zone.read_bytes("alias/x.jsonl") == b"x\n"


# --- as a Dagster resource ----------------------------------------------------------------------


@dg.asset
def staged_observations(staging: StagingZone) -> dg.MaterializeResult:
    uri = staging.write_jsonl(KEY, [{"station": "IICHTE19", "temp": "12\u00a0°C"}])
    return dg.MaterializeResult(metadata={"uri": uri, "staging": staging.describe()})


@pytest.mark.integration
def test_materialize_asset_with_staging_resource(zone: StagingZone) -> None:
    result = dg.materialize([staged_observations], resources={"staging": zone})

    assert result.success
    metadata = result.asset_materializations_for_node("staged_observations")[0].metadata
    assert metadata["uri"].value == zone.uri(KEY)
    assert metadata["staging"].value == zone.describe()
    assert zone.read_jsonl(KEY) == [{"station": "IICHTE19", "temp": "12\u00a0°C"}]


@pytest.mark.integration
def test_materialize_with_s3_bucket_from_env_var(
    moto_server: str, aws_test_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = _new_bucket(moto_server)
    monkeypatch.setenv("FORECAST_TEST_STAGING_BUCKET", bucket)
    zone = S3StagingZone(bucket=dg.EnvVar("FORECAST_TEST_STAGING_BUCKET"), prefix=S3_PREFIX, endpoint_url=moto_server)

    result = dg.materialize([staged_observations], resources={"staging": zone})

    assert result.success
    metadata = result.asset_materializations_for_node("staged_observations")[0].metadata
    assert metadata["uri"].value == f"s3://{bucket}/{S3_PREFIX}/{KEY}"


# --- landing history: a re-ingestion never destroys the previous landing -----------------------

DAY = "2024-10-05"
LANDED = "raw/BE/051024/IICHTE19.jsonl"
REJECTS = "raw/_rejects/BE/051024/IICHTE19.jsonl"
T1, T2, T3 = "2024-10-05T06:00:00+00:00", "2024-10-06T07:30:00+00:00", "2024-10-07T08:45:00+00:00"


def _batch(ingested_at: str, temps: list[str], rejected: Sequence[str] = ()) -> RawBatch:
    """A BE day as a reader returns it: one row per temperature, one reject per rejected text."""
    uri = "file:///sources/be.xlsx"
    rows = [
        with_lineage({"Time": f"00:0{i}", "Temperature": t}, uri, f"row={i + 2}", ingested_at)
        for i, t in enumerate(temps)
    ]
    rejects = [
        reject(f"bad value {text!r}", {"Temperature": text}, uri, f"row={i + 90}", ingested_at)
        for i, text in enumerate(rejected)
    ]
    return RawBatch(source_uri=uri, rows=rows, rejects=rejects)


def _history_keys(zone: StagingZone) -> list[str]:
    return zone.list_keys("raw/_history/")


def test_a_worse_landing_keeps_the_good_one_in_history_and_restore_brings_it_back(zone: StagingZone) -> None:
    land_batch(zone, "BE", DAY, _batch(T1, ["50.1\u00a0°F", "50.3\u00a0°F", "50.2\u00a0°F"]))
    good = zone.read_bytes(LANDED)
    land_batch(zone, "BE", DAY, _batch(T2, [], rejected=["50,1\u00a0°F", "50,3\u00a0°F", "50,2\u00a0°F"]))
    worse, worse_rejects = zone.read_bytes(LANDED), zone.read_bytes(REJECTS)
    assert zone.read_jsonl(LANDED) == []

    [version] = landing_history(zone, "BE", DAY)
    assert version.version.startswith("20241005T060000Z-")  # named by the landing's own _ingested_at
    assert version.rows_key == f"raw/_history/BE/051024/IICHTE19.{version.version}.jsonl"
    assert version.rejects_key is None  # the good landing had no rejects file
    assert zone.read_bytes(version.rows_key) == good
    assert _history_keys(zone) == [version.rows_key]

    restore_landing(zone, "BE", DAY, version.version)
    assert zone.read_bytes(LANDED) == good  # byte for byte
    assert not zone.exists(REJECTS)
    # the restore kept what it replaced: undoing it is the same command
    first, second = landing_history(zone, "BE", DAY)
    assert first == version
    assert second.version.startswith("20241006T073000Z-")
    assert zone.read_bytes(second.rows_key) == worse
    assert zone.read_bytes(second.rejects_key) == worse_rejects
    restore_landing(zone, "BE", DAY, "latest")
    assert (zone.read_bytes(LANDED), zone.read_bytes(REJECTS)) == (worse, worse_rejects)


def test_a_rerun_with_identical_records_adds_no_history(zone: StagingZone) -> None:
    temps = ["50.1\u00a0°F", "50.3\u00a0°F"]
    land_batch(zone, "BE", DAY, _batch(T1, temps, rejected=["x"]))
    land_batch(zone, "BE", DAY, _batch(T2, temps, rejected=["x"]))
    land_batch(zone, "BE", DAY, _batch(T3, temps, rejected=["x"]))

    assert _history_keys(zone) == []
    assert landing_history(zone, "BE", DAY) == []
    assert {row["_ingested_at"] for row in zone.read_jsonl(LANDED)} == {T3}  # the live file is the last run's


def test_the_rejects_file_is_preserved_when_overwritten_or_deleted(zone: StagingZone) -> None:
    temps = ["50.1\u00a0°F"]
    land_batch(zone, "BE", DAY, _batch(T1, temps, rejected=["a", "b"]))
    first = (zone.read_bytes(LANDED), zone.read_bytes(REJECTS))
    land_batch(zone, "BE", DAY, _batch(T2, temps, rejected=["c"]))  # same rows, other rejects: overwritten
    second = (zone.read_bytes(LANDED), zone.read_bytes(REJECTS))
    land_batch(zone, "BE", DAY, _batch(T3, temps))  # no rejects: the rejects file is deleted
    assert not zone.exists(REJECTS)

    v1, v2 = landing_history(zone, "BE", DAY)
    assert v1.version < v2.version  # versions sort by landing time
    assert (zone.read_bytes(v1.rows_key), zone.read_bytes(v1.rejects_key)) == first
    assert (zone.read_bytes(v2.rows_key), zone.read_bytes(v2.rejects_key)) == second
    assert v1.rejects_key == f"raw/_history/BE/051024/IICHTE19.{v1.version}.rejects.jsonl"

    restore_landing(zone, "BE", DAY, v1.version)
    assert (zone.read_bytes(LANDED), zone.read_bytes(REJECTS)) == first


def test_restoring_an_unknown_version_names_source_day_and_what_exists(zone: StagingZone) -> None:
    with pytest.raises(StagingZoneError, match=r"BE 2024-10-05.*no previous landing") as excinfo:
        restore_landing(zone, "BE", DAY, "latest")
    assert "raw/_history/BE/051024/" in str(excinfo.value)
    land_batch(zone, "BE", DAY, _batch(T1, ["1"]))
    land_batch(zone, "BE", DAY, _batch(T2, ["2"]))
    with pytest.raises(StagingZoneError) as excinfo:
        restore_landing(zone, "BE", DAY, "20200101T000000Z-00000000")
    message = str(excinfo.value)
    assert "20200101T000000Z-00000000" in message and "BE 2024-10-05" in message
    assert landing_history(zone, "BE", DAY)[0].version in message  # the versions that do exist
    assert "python -m forecast_assets.operations.landing_history list BE 2024-10-05" in message
    assert zone.read_jsonl(LANDED)[0]["Temperature"] == "2"  # nothing changed


def test_history_cli_lists_and_restores_the_local_zone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("FORECAST_ENV", "local")
    monkeypatch.setenv("FORECAST_STAGING_DIR", str(tmp_path / "from-env"))
    zone = LocalStagingZone(root=str(tmp_path / "from-env"))
    land_batch(zone, "BE", DAY, _batch(T1, ["1", "2"]))
    good = zone.read_bytes(LANDED)
    land_batch(zone, "BE", DAY, _batch(T2, [], rejected=["1,0", "2,0"]))

    assert history_cli(["list", "BE", DAY]) == 0
    out = capsys.readouterr().out
    [version] = landing_history(zone, "BE", DAY)
    assert version.version in out and "2 rows" in out and "0 rejected" in out
    assert "current" in out and zone.uri(LANDED) in out

    assert history_cli(["restore", "BE", DAY, version.version]) == 0
    assert zone.uri(LANDED) in capsys.readouterr().out
    assert zone.read_bytes(LANDED) == good

    assert history_cli(["restore", "BE", DAY, "19990101T000000Z-00000000"]) == 2
    assert "19990101T000000Z-00000000" in capsys.readouterr().err


@pytest.mark.integration
def test_history_cli_runs_as_a_module_against_the_production_s3_zone(
    moto_server: str, aws_test_credentials: None, tmp_path: Path
) -> None:
    bucket = _new_bucket(moto_server)
    zone = S3StagingZone(bucket=bucket, prefix=S3_PREFIX, endpoint_url=moto_server)
    land_batch(zone, "BE", DAY, _batch(T1, ["1", "2"]))
    good = zone.read_bytes(LANDED)
    land_batch(zone, "BE", DAY, _batch(T2, ["9"]))
    env = {
        **os.environ,
        "FORECAST_ENV": "production",
        "FORECAST_S3_BUCKET": bucket,
        "FORECAST_S3_PREFIX": S3_PREFIX,
        "FORECAST_S3_ENDPOINT_URL": moto_server,
        "AWS_REGION": "us-east-1",
    }

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "forecast_assets.operations.landing_history", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )

    listed = cli("list", "BE", DAY)
    assert listed.returncode == 0, listed.stderr
    [version] = landing_history(zone, "BE", DAY)
    assert version.version in listed.stdout and f"s3://{bucket}/{S3_PREFIX}/" in listed.stdout
    restored = cli("restore", "BE", DAY, "latest")
    assert restored.returncode == 0, restored.stderr
    assert zone.read_bytes(LANDED) == good


def test_s3_history_copy_is_server_side_and_encrypted(s3_zone: S3StagingZone, moto_server: str) -> None:
    land_batch(s3_zone, "BE", DAY, _batch(T1, ["1"]))
    copies = []
    s3_zone._get_client().meta.events.register("after-call.s3.CopyObject", lambda **kw: copies.append(1))
    land_batch(s3_zone, "BE", DAY, _batch(T2, ["2"]))

    [version] = landing_history(s3_zone, "BE", DAY)
    assert len(copies) == 1
    head = _s3_client(moto_server).head_object(Bucket=s3_zone.bucket, Key=f"{S3_PREFIX}/{version.rows_key}")
    assert head["ServerSideEncryption"] == "AES256"


def test_copy_round_trips_and_a_missing_source_is_not_found(zone: StagingZone) -> None:
    zone.write_bytes(KEY, b"payload \xc2\xb0")
    assert zone.copy(KEY, "copies/x.jsonl") == zone.uri("copies/x.jsonl")
    assert zone.read_bytes("copies/x.jsonl") == b"payload \xc2\xb0"
    with pytest.raises(FileNotFoundError, match="raw/BE/011024/MISSING.jsonl"):
        zone.copy("raw/BE/011024/MISSING.jsonl", "copies/y.jsonl")
