"""Security test fixtures: a SecantusDB server that requires SCRAM authentication, per module."""

from __future__ import annotations

import secrets

import pytest

from forecast_assets_tests.security import start_auth_server


@pytest.fixture(scope="module")
def mongo_password() -> str:
    return "pw-" + secrets.token_urlsafe(24)


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory, mongo_password: str):
    server = start_auth_server(tmp_path_factory.mktemp("mongo-auth") / "data", mongo_password)
    try:
        yield server
    finally:
        server.stop()
