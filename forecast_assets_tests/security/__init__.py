"""Security and fault-injection tests, and their shared helpers.

The helpers live here rather than in a ``conftest.py`` so the test modules import them explicitly:
:class:`AuthMongoServer` (SecantusDB started with ``--auth``) and :func:`start_auth_server`, which
provisions a SCRAM-SHA-256 user the way ``secantusd-py --help`` documents it (start without auth,
``createUser``, restart with ``--auth`` on the same storage).
"""

from __future__ import annotations

import os
from pathlib import Path

from pymongo import MongoClient

from forecast_assets.mongo.embedded_server import LocalMongoServer

#: The user the tests provision; its password is random per test session.
MONGO_USER = "forecast_loader"
MONGO_DATABASE = "weather_db"


class AuthMongoServer(LocalMongoServer):
    """:class:`LocalMongoServer` that can add ``--auth`` to the ``secantusd-py`` command line.

    ``LocalMongoServer`` has TLS arguments but no authentication switch; the package does not need one
    (production MongoDB is provisioned outside this repo), so the tests extend the command here.
    """

    def __init__(self, *args, auth: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.auth = auth

    def _command(self) -> list[str]:
        command = super()._command()
        return command + ["--auth"] if self.auth else command


def start_auth_server(
    storage_dir: str | os.PathLike[str],
    password: str,
    user: str = MONGO_USER,
    tls_cert_file: Path | None = None,
    tls_key_file: Path | None = None,
    tls_ca_file: Path | None = None,
) -> AuthMongoServer:
    """A running SecantusDB with ``--auth`` whose only user is ``user``/``password``
    (role ``readWriteAnyDatabase``, so each test can use a database of its own).

    Provisioning: start without auth (and without TLS), ``createUser`` with SCRAM-SHA-256, stop, then
    restart with ``--auth`` (and TLS, if asked) on the same storage and port.
    """
    server = AuthMongoServer(storage_dir, auth=False)
    server.start()
    client: MongoClient = MongoClient(server.uri, serverSelectionTimeoutMS=5000)
    try:
        client.admin.command(
            "createUser",
            user,
            pwd=password,
            roles=[{"role": "readWriteAnyDatabase", "db": "admin"}],
            mechanisms=["SCRAM-SHA-256"],
        )
    finally:
        client.close()
    server.stop()
    server.auth = True
    server.tls_cert_file, server.tls_key_file, server.tls_ca_file = tls_cert_file, tls_key_file, tls_ca_file
    server.start()
    return server
