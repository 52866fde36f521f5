"""MongoResource: redaction, retries and the unavailable-server error, against real servers."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

import dagster as dg
import pytest
from pymongo import WriteConcern
from pymongo.errors import AutoReconnect, NetworkTimeout, OperationFailure, ServerSelectionTimeoutError

from forecast_assets.mongo.embedded_server import LocalMongoServer, free_port
from forecast_assets.mongo.resources import (
    MongoAuthenticationError,
    MongoResource,
    MongoUnavailableError,
    redact_uri,
    uri_hosts,
)

SECRET = "s3cr3t-Pa55"  # a dummy, never a real credential


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        (
            f"mongodb://forecast:{SECRET}@db1.example:27017,db2.example:27017/weather?authSource=admin",
            "mongodb://forecast:***@db1.example:27017,db2.example:27017/weather?authSource=admin",
        ),
        (f"mongodb+srv://forecast:{SECRET}@cluster.example/", "mongodb+srv://forecast:***@cluster.example/"),
        ("mongodb://forecast@db.example", "mongodb://forecast@db.example"),
        ("mongodb://127.0.0.1:27017/", "mongodb://127.0.0.1:27017/"),
        (
            f"mongodb://db.example/?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:{SECRET}",
            "mongodb://db.example/?authMechanism=MONGODB-AWS&authMechanismProperties=***",
        ),
    ],
)
def test_redact_uri_masks_passwords(uri: str, expected: str) -> None:
    assert redact_uri(uri) == expected
    assert SECRET not in MongoResource(uri=uri).redacted_uri()


def test_uri_hosts_parses_without_dns() -> None:
    assert uri_hosts(f"mongodb://u:{SECRET}@a.example:1,b.example:2/db?x=1") == ["a.example:1", "b.example:2"]
    assert uri_hosts("mongodb+srv://cluster.example/") == ["cluster.example"]


def test_repr_and_str_never_show_the_password() -> None:
    resource = MongoResource(uri=f"mongodb://forecast:{SECRET}@db.example/", password=SECRET, username="forecast")
    for text in (repr(resource), str(resource)):
        assert SECRET not in text
        assert "***" in text


def test_unreachable_server_raises_a_clear_error_without_the_password() -> None:
    port = free_port()  # nothing listens there
    resource = MongoResource(
        uri=f"mongodb://forecast:{SECRET}@127.0.0.1:{port}/",
        password=SECRET,
        server_selection_timeout_ms=200,
        max_attempts=2,
        backoff_seconds=0.01,
    )

    with pytest.raises(MongoUnavailableError) as excinfo:
        resource.ping()

    message = str(excinfo.value)
    assert f"127.0.0.1:{port}" in message
    assert "MONGO_URI" in message
    assert "after 2 attempt(s)" in message
    assert SECRET not in message
    assert excinfo.value.__cause__ is None  # the driver's exception is summarised, not chained


def test_transient_errors_are_retried_then_succeed() -> None:
    resource = MongoResource(uri="mongodb://127.0.0.1:1/", max_attempts=3, backoff_seconds=0.01)
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise AutoReconnect("connection reset")
        return "ok"

    assert resource.with_retries(flaky, "testing") == "ok"
    assert len(calls) == 2


def test_other_errors_are_not_retried() -> None:
    resource = MongoResource(uri="mongodb://127.0.0.1:1/", max_attempts=3, backoff_seconds=0.01)
    calls = []

    def refused() -> None:
        calls.append(1)
        raise OperationFailure("not authorized", code=13)

    def bad_value() -> None:
        calls.append(1)
        raise OperationFailure("bad value", code=2)

    with pytest.raises(MongoAuthenticationError, match=r"127\.0\.0\.1:1 .*not authorized.*MONGO_PASSWORD"):
        resource.with_retries(refused, "testing")
    with pytest.raises(OperationFailure, match="bad value"):
        resource.with_retries(bad_value, "testing")
    assert len(calls) == 2


def test_client_is_cached_and_ping_answers(mongo: MongoResource) -> None:
    assert mongo.get_client() is mongo.get_client()
    assert mongo.get_database().name == mongo.database
    assert mongo.ping() > 0


@pytest.mark.integration
def test_a_server_restart_between_attempts_is_ridden_out(tmp_path: Path) -> None:
    with LocalMongoServer(tmp_path / "data") as server:
        mongo = MongoResource(
            uri=server.uri, database="retry", server_selection_timeout_ms=500, max_attempts=3, backoff_seconds=0.01
        )
        collection = mongo.get_database().get_collection("c", write_concern=WriteConcern(j=True))
        collection.insert_one({"_id": 1})
        attempts = []

        def checks() -> int:
            """Post-load checks whose server dies mid-way in the first attempt and is back for the next."""
            attempts.append(1)
            if len(attempts) == 2:
                server.start()
            first = collection.count_documents({})
            if len(attempts) == 1:
                server.kill()
            return first + collection.count_documents({"_id": 1})

        try:
            assert mongo.with_retries(checks, "checking 2024-10-05") == 2
        finally:
            mongo.close()
        assert len(attempts) == 2


@pytest.mark.parametrize(
    "error",
    [
        AutoReconnect("reset"),
        NetworkTimeout("timed out"),
        ServerSelectionTimeoutError("no server"),
        OperationFailure("shutting down", code=91),
        OperationFailure("cursor id 7 not found", code=43),
    ],
)
def test_connection_errors_and_shutdown_answers_are_retried(error: Exception) -> None:
    resource = MongoResource(uri="mongodb://127.0.0.1:1/", max_attempts=2, backoff_seconds=0.01)
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise error
        return "ok"

    assert resource.with_retries(flaky, "testing") == "ok"
    assert len(calls) == 2


@pytest.mark.integration
def test_a_server_that_dies_during_the_checks_and_stays_down_is_named(tmp_path: Path) -> None:
    with LocalMongoServer(tmp_path / "data") as server:
        mongo = MongoResource(
            uri=server.uri, database="retry", server_selection_timeout_ms=300, max_attempts=3, backoff_seconds=0.01
        )
        collection = mongo.get_database()["c"]
        attempts = []

        def checks() -> int:
            attempts.append(1)
            found = collection.count_documents({})
            server.kill()  # a no-op once dead
            return found + collection.count_documents({})

        try:
            with pytest.raises(MongoUnavailableError) as excinfo:
                mongo.with_retries(checks, "checking 2024-10-05")
        finally:
            mongo.close()
    assert len(attempts) == 3
    message = str(excinfo.value)
    assert f"checking 2024-10-05: could not reach 127.0.0.1:{server.port} after 3 attempt(s)" in message
    assert "MONGO_URI" in message


def test_resource_works_in_a_dagster_run_with_env_var(mongo: MongoResource, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONGO_URI", mongo.uri)

    @dg.asset
    def pinged(mongo: MongoResource) -> dg.MaterializeResult:
        mongo.get_database()["pings"].insert_one({"ok": True})
        return dg.MaterializeResult(metadata={"uri": mongo.redacted_uri()})

    result = dg.materialize(
        [pinged], resources={"mongo": MongoResource(uri=dg.EnvVar("MONGO_URI"), database=mongo.database)}
    )

    assert result.success
    assert mongo.get_database()["pings"].count_documents({}) == 1


def _write_test_ca_and_server_cert(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 (PEM files), valid for a day."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def cert(subject: str, key, issuer: str, issuer_key, is_ca: bool):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        )
        if not is_ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
            )
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_cert = cert("forecast-test-ca", ca_key, "forecast-test-ca", ca_key, is_ca=True)
    server_cert = cert("127.0.0.1", server_key, "forecast-test-ca", ca_key, is_ca=False)
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


@pytest.mark.integration
def test_tls_with_a_ca_file(tmp_path: Path) -> None:
    ca, cert, key = _write_test_ca_and_server_cert(tmp_path)
    with LocalMongoServer(tmp_path / "data", tls_cert_file=cert, tls_key_file=key, tls_ca_file=ca) as server:
        plain_uri = f"mongodb://127.0.0.1:{server.port}/"
        secure = MongoResource(uri=plain_uri, tls=True, tls_ca_file=str(ca), server_selection_timeout_ms=2000)
        plain = MongoResource(uri=plain_uri, server_selection_timeout_ms=300, max_attempts=1)
        try:
            assert secure.ping() > 0
            with pytest.raises(MongoUnavailableError):
                plain.ping()  # a TLS-only server does not answer a plaintext client
        finally:
            secure.close()
            plain.close()
