"""InfoClimat HTTP client: one GET with timeouts, retries and backoff, the token kept out of every message."""

from __future__ import annotations

import math
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import dagster as dg
import requests

from forecast_assets.raw.records import SourceUnavailableError

#: The environment variable that holds the personal InfoClimat API key.
TOKEN_ENV_VAR = "INFOCLIMAT_TOKEN"

#: How much of an unexpected body an error message quotes.
SNIPPET_CHARS = 200

#: Transport failures worth another attempt (timeouts are ``ConnectionError``s or ``Timeout``s).
_TRANSIENT_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)

_TOKEN_IN_QUERY = re.compile(r"(token=)[^&\s'\"]+")


class InfoClimatError(SourceUnavailableError):
    """InfoClimat gave no usable answer; the message names the day, the stations and where it looked."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often to try and how long to wait between attempts."""

    max_attempts: int = 5
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 60.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed ``attempt`` (1-based): the server's Retry-After, else backoff."""
        if retry_after is not None:
            return min(retry_after, self.max_backoff_seconds)
        backoff = self.backoff_seconds * 2 ** (attempt - 1)
        return min(backoff * (1 + random.uniform(0, 0.1)), self.max_backoff_seconds)


def describe_request(day: date, stations: Sequence[str]) -> str:
    """What a request is for, as error messages say it."""
    return f"day {day.isoformat()} (stations {', '.join(stations) or 'none'})"


def query_params(stations: Sequence[str], day: date | None) -> list[tuple[str, str]]:
    """The query parameters for one UTC day (``start``=day, ``end``=day+1), without the token."""
    params = [("version", "2"), ("method", "get"), ("format", "json")]
    params += [("stations[]", station) for station in stations]
    if day is not None:
        params += [("start", day.isoformat()), ("end", (day + timedelta(days=1)).isoformat())]
    return params


def redacted_url(base_url: str, params: Sequence[tuple[str, str]]) -> str:
    """The request URL as sent, minus the token: safe for lineage, metadata and logs."""
    return requests.Request("GET", base_url, params=list(params)).prepare().url or base_url


def get_json(
    session: requests.Session,
    base_url: str,
    params: Sequence[tuple[str, str]],
    token: str,
    *,
    what: str,
    timeout_seconds: float,
    policy: RetryPolicy,
) -> Any:
    """GET ``base_url`` with ``params`` and the token; the decoded JSON body.

    Retries 429, 5xx, connection errors and timeouts with capped exponential backoff (honouring
    ``Retry-After`` on 429/503); any other 4xx and a non-JSON body fail at once. ``what`` names the
    day and stations for messages. The token never appears in a log line or an exception.
    """
    log = dg.get_dagster_logger()
    where = redacted_url(base_url, params)
    hide = _redactor(token)
    timeouts = (min(timeout_seconds, 10.0), timeout_seconds)
    attempts = max(1, policy.max_attempts)
    last = "no attempt made"
    for attempt in range(1, attempts + 1):
        log.info(f"InfoClimat GET {where} for {what}: attempt {attempt}/{attempts}")
        retry_after = None
        try:
            response = session.get(base_url, params=[*params, ("token", token)], timeout=timeouts)
        except _TRANSIENT_ERRORS as exc:
            last = f"{type(exc).__name__}: {hide(str(exc))}"
        else:
            status = response.status_code
            if 200 <= status < 300:
                return _decode_json(response, what, where, hide)
            body = hide(response.text[:SNIPPET_CHARS])
            if status != 429 and status < 500:
                raise InfoClimatError(_refusal_message(status, response.reason, body, what, where))
            last = f"HTTP {status} {response.reason}, body starts {body!r}"
            if status in (429, 503):
                retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
        if attempt < attempts:
            pause = policy.delay(attempt, retry_after)
            log.warning(f"InfoClimat {what}: attempt {attempt}/{attempts} failed ({last}); retrying in {pause:.2f}s")
            time.sleep(pause)
    raise InfoClimatError(
        f"InfoClimat gave no usable answer for {what} after {attempts} attempts at {where}; last failure: {last}"
    )


def _decode_json(response: requests.Response, what: str, where: str, hide: Callable[[str], str]) -> Any:
    try:
        return response.json()
    except ValueError:
        content_type = response.headers.get("Content-Type", "none")
        raise InfoClimatError(
            f"InfoClimat answered HTTP {response.status_code} for {what} at {where}, but the body is not JSON "
            f"(Content-Type {content_type!r}); it starts: {hide(response.text[:SNIPPET_CHARS])!r}"
        ) from None


def _refusal_message(status: int, reason: str, body: str, what: str, where: str) -> str:
    if status in (401, 403):
        return (
            f"InfoClimat refused the request for {what} at {where} with HTTP {status} {reason}: the token is "
            f"probably invalid or expired; check the {TOKEN_ENV_VAR} environment variable. Body starts: {body!r}"
        )
    return f"InfoClimat rejected the request for {what} at {where} with HTTP {status} {reason} (not retried): {body!r}"


def _retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds to wait (delta-seconds or an HTTP date), or None if absent/unreadable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _redactor(token: str) -> Callable[[str], str]:
    """A function that blanks the token out of any text (raw, or as a ``token=`` query value)."""

    def hide(text: str) -> str:
        return _TOKEN_IN_QUERY.sub(r"\1***", text.replace(token, "***") if token else text)

    return hide
