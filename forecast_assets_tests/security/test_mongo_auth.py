"""MongoResource against a SecantusDB that requires SCRAM-SHA-256 authentication (and TLS).

The server is provisioned the way ``secantusd-py --help`` says: start without auth, ``createUser``,
restart with ``--auth`` on the same storage. Plain TLS with a CA file (no auth) is already proven by
``forecast_assets_tests/mongo/test_resources.py::test_tls_with_a_ca_file``; here TLS is combined with
authentication.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import dagster as dg
import pytest
from dagster._serdes import serialize_value
from pymongo.errors import OperationFailure

from forecast_assets.definitions import build_defs
from forecast_assets.feeds import raw_asset_key
from forecast_assets.mongo.assets import WEATHER_MEASUREMENTS
from forecast_assets.mongo.collection_setup import MEASUREMENTS
from forecast_assets.mongo.resources import MongoAuthenticationError, MongoResource, MongoUnavailableError
from forecast_assets.staging import LocalStagingZone
from forecast_assets.weather.assets import WEATHER_DATA
from forecast_assets_tests.mongo.test_resources import _write_test_ca_and_server_cert
from forecast_assets_tests.security import MONGO_USER, start_auth_server

DAY = "2024-10-05"
RAW_KEYS = {raw_asset_key(s) for s in ("BE", "FR", "InfoClimat")}
WRONG_PASSWORD = "wrong-" + secrets.token_urlsafe(16)


@pytest.fixture(scope="module")
def day_staging(tmp_path_factory: pytest.TempPathFactory) -> LocalStagingZone:
    """The raw and weather_data partitions of DAY, built once (no MongoDB needed for those)."""
    staging = LocalStagingZone(root=str(tmp_path_factory.mktemp("day") / "staging"))
    defs = build_defs(resource_overrides={"staging": staging, "mongo": None}, env="local")
    job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection=RAW_KEYS | {WEATHER_DATA})
    assert job.execute_in_process(partition_key=DAY).success
    return staging


def resource(
    port: int,
    *,
    user: str | None = None,
    password: str | None = None,
    in_uri: bool = False,
    database: str = "weather_db",
    **kwargs,
) -> MongoResource:
    settings = dict(server_selection_timeout_ms=2000, max_attempts=2, backoff_seconds=0.05) | kwargs
    if in_uri:
        return MongoResource(uri=f"mongodb://{user}:{password}@127.0.0.1:{port}/", database=database, **settings)
    return MongoResource(
        uri=f"mongodb://127.0.0.1:{port}/", database=database, username=user, password=password, **settings
    )


def load_day(
    staging: LocalStagingZone, mongo: MongoResource, instance: dg.DagsterInstance
) -> dg.ExecuteInProcessResult:
    defs = build_defs(resource_overrides={"staging": staging, "mongo": mongo}, env="local")
    job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection={WEATHER_MEASUREMENTS})
    return job.execute_in_process(partition_key=DAY, instance=instance, raise_on_error=False)


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    failures = [e for e in result.all_events if e.is_step_failure]
    assert failures, "the run did not fail"
    error = failures[0].step_failure_data.error
    return error.to_string() if error else failures[0].message


# --- correct credentials --------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize("in_uri", [True, False], ids=["in_uri", "username_password_fields"])
def test_correct_credentials_ping_and_load_one_day(auth_server, mongo_password: str, day_staging, in_uri: bool) -> None:
    mongo = resource(
        auth_server.port,
        user=MONGO_USER,
        password=mongo_password,
        in_uri=in_uri,
        database=f"weather_db_{'uri' if in_uri else 'fields'}",
    )
    try:
        assert mongo.ping() > 0
        with dg.DagsterInstance.ephemeral() as instance:
            result = load_day(day_staging, mongo, instance)
        assert result.success, failure_message(result)
        [materialization] = result.asset_materializations_for_node("mongodb__weather_measurements")
        inserted = materialization.metadata["inserted"].value
        assert inserted > 0
        assert mongo.get_database()[MEASUREMENTS].count_documents({}) == inserted
        assert all(e.passed for e in result.get_asset_check_evaluations() if e.check_name != "mongo_read_latency")
    finally:
        mongo.close()


# --- wrong or missing credentials -------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize("in_uri", [True, False], ids=["in_uri", "username_password_fields"])
def test_wrong_password_fails_clearly_without_showing_it(auth_server, in_uri: bool) -> None:
    mongo = resource(auth_server.port, user=MONGO_USER, password=WRONG_PASSWORD, in_uri=in_uri)
    try:
        with pytest.raises(MongoAuthenticationError) as excinfo:
            mongo.ping()
    finally:
        mongo.close()
    message = str(excinfo.value)
    assert "authentication failed" in message.lower() and "AuthenticationFailed" in message
    assert f"127.0.0.1:{auth_server.port}" in message and "MONGO_PASSWORD" in message
    assert WRONG_PASSWORD not in message and excinfo.value.__cause__ is None


@pytest.mark.integration
def test_wrong_password_in_a_run_fails_it_and_is_recorded_nowhere(auth_server, day_staging) -> None:
    mongo = resource(auth_server.port, user=MONGO_USER, password=WRONG_PASSWORD, in_uri=True)
    with dg.DagsterInstance.ephemeral() as instance:
        result = load_day(day_staging, mongo, instance)
        entries = instance.all_logs(result.run_id)
        run = instance.get_run_by_id(result.run_id)
    assert not result.success
    message = failure_message(result)
    assert "authentication failed" in message.lower()
    texts = [serialize_value(run)] + [serialize_value(entry) for entry in entries]
    assert not [text for text in texts if WRONG_PASSWORD in text]


@pytest.mark.integration
def test_no_credentials_ping_answers_but_the_load_is_refused(auth_server, day_staging) -> None:
    """Like mongod, SecantusDB answers ``ping`` unauthenticated; any read or write is refused."""
    mongo = resource(auth_server.port)
    try:
        assert mongo.ping() > 0
        with pytest.raises(OperationFailure) as excinfo:
            mongo.get_database()[MEASUREMENTS].count_documents({})
        assert excinfo.value.code == 13 and "requires authentication" in str(excinfo.value)
        with dg.DagsterInstance.ephemeral() as instance:
            result = load_day(day_staging, mongo, instance)
        assert not result.success
        assert "requires authentication" in failure_message(result)
    finally:
        mongo.close()


@pytest.mark.integration
@pytest.mark.parametrize("given_password", [WRONG_PASSWORD, None], ids=["wrong_password", "no_credentials"])
def test_authentication_errors_name_the_host_and_what_to_set(auth_server, given_password: str | None) -> None:
    mongo = resource(auth_server.port, user=MONGO_USER if given_password else None, password=given_password)
    try:
        with pytest.raises(Exception) as excinfo:
            mongo.with_retries(lambda: mongo.get_database()[MEASUREMENTS].count_documents({}), "counting")
    finally:
        mongo.close()
    message = str(excinfo.value)
    assert excinfo.type is MongoAuthenticationError
    assert not given_password or given_password not in message
    assert f"127.0.0.1:{auth_server.port}" in message
    assert "MONGO_PASSWORD" in message or "MONGO_USERNAME" in message


# --- authentication over TLS ------------------------------------------------------------------


@pytest.mark.integration
def test_authentication_over_tls(tmp_path: Path) -> None:
    password = "pw-" + secrets.token_urlsafe(24)
    ca, cert, key = _write_test_ca_and_server_cert(tmp_path)
    server = start_auth_server(tmp_path / "data", password, tls_cert_file=cert, tls_key_file=key, tls_ca_file=ca)
    port = server.port
    secure = resource(port, user=MONGO_USER, password=password, tls=True, tls_ca_file=str(ca))
    plain = resource(port, user=MONGO_USER, password=password, server_selection_timeout_ms=500, max_attempts=1)
    untrusted = resource(
        port, user=MONGO_USER, password=password, tls=True, server_selection_timeout_ms=500, max_attempts=1
    )
    wrong = resource(port, user=MONGO_USER, password=WRONG_PASSWORD, tls=True, tls_ca_file=str(ca))
    try:
        assert secure.ping() > 0
        secure.get_database()["tls_probe"].insert_one({"ok": True})
        assert secure.get_database()["tls_probe"].count_documents({}) == 1

        with pytest.raises(MongoUnavailableError) as excinfo:
            plain.ping()  # a plaintext client gets no answer from a TLS-only server
        assert f"127.0.0.1:{port}" in str(excinfo.value) and password not in str(excinfo.value)

        with pytest.raises(MongoUnavailableError) as excinfo:
            untrusted.ping()  # TLS, but the self-signed CA is not trusted
        assert "certificate verify failed" in str(excinfo.value).lower()
        assert password not in str(excinfo.value)

        with pytest.raises(OperationFailure, match="(?i)authentication failed") as excinfo:
            wrong.get_database()["tls_probe"].count_documents({})
        assert WRONG_PASSWORD not in str(excinfo.value)
    finally:
        for mongo in (secure, plain, untrusted, wrong):
            mongo.close()
        server.stop()
