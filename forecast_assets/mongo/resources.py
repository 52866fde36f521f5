"""The MongoDB resource: one cached client per resource, retries, and credentials that never leak.

Production binds ``MongoResource(uri=EnvVar("MONGO_URI"), password=EnvVar("MONGO_PASSWORD"), …)``;
the local default points ``uri`` at the embedded server (``forecast_assets.mongo.embedded_server``).
Anything shown to people — logs, metadata, errors, ``repr`` — uses :meth:`MongoResource.redacted_uri`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

import dagster as dg
from pydantic import PrivateAttr
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import (
    AutoReconnect,
    ConnectionFailure,
    NetworkTimeout,
    OperationFailure,
    ServerSelectionTimeoutError,
)

from forecast_assets.mongo.write_concern import (
    DEFAULT_WRITE_CONCERN,
    WriteConcernSettingError,
    parse_write_concern,
    uri_write_concern_options,
)

T = TypeVar("T")

#: Errors that mean "the server could not be reached (this time)": worth retrying.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    AutoReconnect,
    NetworkTimeout,
    ServerSelectionTimeoutError,
    ConnectionFailure,
)

#: Server answers that mean the same: HostUnreachable, HostNotFound, NetworkTimeout,
#: ShutdownInProgress, SocketException, InterruptedAtShutdown, InterruptedDueToReplStateChange,
#: and CursorNotFound (a cursor lost when the server restarted between two batches: the retried
#: operation queries again).
TRANSIENT_ERROR_CODES = (6, 7, 89, 91, 9001, 11600, 11602, 43)

#: Longest single wait between attempts, whatever the backoff arithmetic says.
MAX_BACKOFF_SECONDS = 30.0

MASK = "***"
# scheme://[user[:password]@]hosts[/db][?options]
_URI = re.compile(r"^(?P<scheme>[a-z0-9+.-]+://)(?:(?P<userinfo>[^@/?]*)@)?(?P<hosts>[^/?]*)(?P<rest>.*)$", re.I)
# URI options whose values may hold secrets.
_SECRET_OPTIONS = re.compile(r"((?:authMechanismProperties|tlsCertificateKeyFilePassword)=)[^&]*", re.I)


class MongoUnavailableError(RuntimeError):
    """MongoDB could not be reached after every retry; the message names the redacted host(s)."""


class MongoAuthenticationError(RuntimeError):
    """MongoDB refused the credentials (or the lack of them); not retried."""


#: Server error codes meaning "who you are was not accepted": Unauthorized, AuthenticationFailed.
AUTH_ERROR_CODES = (13, 18)


def redact_uri(uri: str) -> str:
    """``uri`` with the password of its userinfo (and secret-bearing options) replaced by ``***``."""
    match = _URI.match(uri or "")
    if not match:
        return MASK if uri else ""
    userinfo = match["userinfo"]
    if userinfo is not None:
        user, has_password, _ = userinfo.partition(":")
        userinfo = f"{user}:{MASK}@" if has_password else f"{user}@"
    rest = _SECRET_OPTIONS.sub(lambda m: m.group(1) + MASK, match["rest"])
    return f"{match['scheme']}{userinfo or ''}{match['hosts']}{rest}"


def uri_hosts(uri: str) -> list[str]:
    """The ``host[:port]`` entries of a URI, parsed locally (no DNS lookup, even for ``+srv``)."""
    match = _URI.match(uri or "")
    return [h for h in match["hosts"].split(",") if h] if match else []


class MongoResource(dg.ConfigurableResource):
    """A MongoDB database: a client cached per resource instance, with retries on transient errors.

    ``uri`` may carry credentials (``mongodb://<user>:<password>@<host>``) or take them from ``username``/
    ``password`` (separate so they can come from their own secret). Wrap idempotent operations in
    :meth:`with_retries`; the loaders in ``forecast_assets.mongo.collection_setup`` are idempotent by design.
    ``write_concern`` (``MONGO_WRITE_CONCERN``, e.g. ``w=majority,j=true,wtimeout=60000``, the default)
    applies to every write through this client (``forecast_assets.mongo.write_concern``).
    """

    uri: str
    database: str = "weather_db"
    username: str | None = None
    password: str | None = None
    tls: bool = False
    tls_ca_file: str | None = None
    server_selection_timeout_ms: int = 5000
    max_attempts: int = 5
    backoff_seconds: float = 0.5
    write_concern: str = DEFAULT_WRITE_CONCERN

    _client: MongoClient | None = PrivateAttr(default=None)

    # --- never show secrets -----------------------------------------------------------------

    def __repr_args__(self):  # used by both repr() and str() of pydantic models
        for name, value in super().__repr_args__():
            if name == "uri":
                yield name, self.redacted_uri()
            elif name == "password" and value is not None:
                yield name, MASK
            else:
                yield name, value

    def connection_uri(self) -> str:
        """The URI the client connects to (the embedded default overrides this)."""
        return self.uri

    def redacted_uri(self) -> str:
        """The URI safe to show: any password replaced by ``***``."""
        return self._scrub(redact_uri(self.connection_uri()))

    def hosts(self) -> list[str]:
        """The ``host[:port]`` entries of the URI."""
        return uri_hosts(self.connection_uri())

    def _scrub(self, text: str) -> str:
        """``text`` with every occurrence of a configured password masked (belt and braces)."""
        secrets = [self.password]
        match = _URI.match(self.connection_uri() or "")
        if match and match["userinfo"] and ":" in match["userinfo"]:
            secrets.append(match["userinfo"].partition(":")[2])
        for secret in secrets:
            if secret:
                text = text.replace(secret, MASK)
        return text

    # --- the client ---------------------------------------------------------------------------

    def write_concern_options(self) -> dict[str, Any]:
        """``MongoClient`` keyword options of ``write_concern``; WriteConcernSettingError if invalid.

        A URI carrying its own ``w`` / ``journal`` / ``wTimeoutMS`` must say the same as the setting
        (else the error names both): one place decides durability, never a silent override.
        """
        concern = parse_write_concern(self.write_concern).document
        in_uri = uri_write_concern_options(self.connection_uri())
        if in_uri:
            text = ",".join(f"{k}={v}" for k, v in in_uri.items())
            if parse_write_concern(text).document != concern:
                raise WriteConcernSettingError(
                    f"The MongoDB URI {self.redacted_uri()} sets the write concern {text!r} but "
                    f"MONGO_WRITE_CONCERN (write_concern) is {self.write_concern!r}: remove those "
                    "options from the URI or set MONGO_WRITE_CONCERN to the same."
                )
        names = {"w": "w", "j": "journal", "wtimeout": "wTimeoutMS"}
        return {names[key]: value for key, value in concern.items()}

    def get_client(self) -> MongoClient:
        """The client of this resource instance, created on first use (connections are lazy)."""
        if self._client is None:
            kwargs: dict[str, Any] = {
                "serverSelectionTimeoutMS": self.server_selection_timeout_ms,
                "connectTimeoutMS": self.server_selection_timeout_ms,
                "tz_aware": True,  # reads return tz-aware UTC datetimes, like the contract
                "appname": "forecast_assets",
                **self.write_concern_options(),
            }
            if self.username is not None:
                kwargs["username"] = self.username
            if self.password is not None:
                kwargs["password"] = self.password
            if self.tls:
                kwargs["tls"] = True
            if self.tls_ca_file:
                kwargs["tlsCAFile"] = self.tls_ca_file
            self._client = MongoClient(self.connection_uri(), **kwargs)
        return self._client

    def get_database(self) -> Database:
        """The configured database (``weather_db`` by default)."""
        return self.get_client()[self.database]

    def close(self) -> None:
        """Close the cached client, if any; the next call creates a new one."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self.close()

    # --- retries ------------------------------------------------------------------------------

    def _user(self) -> str | None:
        """The user name the client authenticates as: the field, else the URI's userinfo."""
        match = _URI.match(self.connection_uri() or "")
        from_uri = match["userinfo"].partition(":")[0] if match and match["userinfo"] else None
        return self.username or from_uri

    def with_retries(self, fn: Callable[[], T], what: str) -> T:
        """``fn()``, retried on transient errors with exponential backoff.

        Transient: the driver's ``ConnectionFailure`` family (``AutoReconnect``, ``NetworkTimeout``,
        ``ServerSelectionTimeoutError``; a server that dies mid-way raises one of these) and the
        server answers in :data:`TRANSIENT_ERROR_CODES`. ``fn`` runs again from the start, so it
        must be idempotent (an attempt that timed out may have been applied). After
        ``max_attempts`` failures, raises :class:`MongoUnavailableError` naming the redacted
        host(s) and what to do (:meth:`unavailable_advice`). Credentials refused:
        :class:`MongoAuthenticationError` at once; other errors propagate unchanged.
        """
        attempts = max(1, self.max_attempts)
        for attempt in range(1, attempts + 1):
            try:
                return fn()
            except OperationFailure as exc:
                if exc.code in TRANSIENT_ERROR_CODES:
                    self._before_retry(exc, what, attempt, attempts)
                    continue
                if exc.code not in AUTH_ERROR_CODES:
                    raise
                details = exc.details or {}
                reason = details.get("errmsg") or str(exc)
                raise MongoAuthenticationError(
                    f"MongoDB refused the credentials of user {self._user() or '(none given)'} on "
                    f"{', '.join(self.hosts()) or '(no host)'} ({self.redacted_uri()}) while {what}: "
                    f"{self._scrub(reason)[:300]} ({details.get('codeName', exc.code)}). Check "
                    "MONGO_USERNAME / MONGO_PASSWORD (or the user:password in MONGO_URI)."
                ) from None
            except TRANSIENT_ERRORS as exc:
                self._before_retry(exc, what, attempt, attempts)
        raise AssertionError("unreachable")

    def _before_retry(self, exc: Exception, what: str, attempt: int, attempts: int) -> None:
        """Wait before the next attempt; after the last one, raise MongoUnavailableError."""
        detail = self._scrub(f"{type(exc).__name__}: {exc}")
        if attempt == attempts:
            raise MongoUnavailableError(
                f"MongoDB unavailable while {what}: could not reach "
                f"{', '.join(self.hosts()) or '(no host)'} after {attempts} attempt(s) "
                f"({self.redacted_uri()}). {self.unavailable_advice()} Last error: {detail[:500]}"
            ) from None
        wait = min(self.backoff_seconds * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS)
        dg.get_dagster_logger().warning(
            f"MongoDB {what}: attempt {attempt}/{attempts} failed ({detail[:200]}); retrying in {wait:.2f}s"
        )
        time.sleep(wait)

    def unavailable_advice(self) -> str:
        """What to do when the server cannot be reached (the embedded default says more)."""
        return "Is the server running, and is MONGO_URI set to a reachable server?"

    def ping(self) -> float:
        """Round-trip time of a ``ping`` in seconds (with retries); MongoUnavailableError if none answers."""

        def _ping() -> float:
            started = time.perf_counter()
            self.get_client().admin.command("ping")
            return time.perf_counter() - started

        return self.with_retries(_ping, "pinging the server")
