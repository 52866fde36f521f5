"""No secret in the repository, and none in what a run records.

1. The git-tracked tree (plus new files git does not ignore, so a secret is caught before its first
   commit) holds no MongoDB URI with a real password, no AWS access key id, no private key, no public
   IPv4 address and not the old hard-coded demo password string.
2. One day (2024-10-05) of the whole lineage, raw → weather_data → MongoDB, run in-process on a real
   Dagster instance against a SecantusDB that requires a password, with an InfoClimat token set in the
   environment: no event of the run (materialization and check metadata, logs, failures), no staged file
   and no ``repr``/``str`` of the resource contains the password or the token.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
import subprocess
from pathlib import Path

import dagster as dg
import pytest
from dagster._serdes import serialize_value

from forecast_assets.definitions import build_defs
from forecast_assets.mongo.assets import WEATHER_MEASUREMENTS
from forecast_assets.mongo.resources import MongoResource
from forecast_assets.sample_data import INFOCLIMAT_RESPONSE
from forecast_assets.staging import LocalStagingZone
from forecast_assets.weather.assets import WEATHER_DATA
from forecast_assets_tests.security import MONGO_USER

REPO = Path(__file__).resolve().parents[2]
DAY = "2024-10-05"

# --- 1. the repository --------------------------------------------------------------------------

# The patterns are written so that this file does not match them itself.
MONGO_URI_WITH_PASSWORD = re.compile(
    r"mongodb(?:\+srv)?://(?P<user>[^\s:/@'\"]+):(?P<password>[^\s@/'\"]+)@(?P<host>[^\s/?'\",]+)"
)
AWS_ACCESS_KEY = re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")
PRIVATE_KEY = re.compile(r"-{5}BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-{5}")
IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])")
KNOWN_PASSWORD = re.compile("Forecast" + "Secure", re.I)

#: Passwords that are obviously placeholders (templates, masks, dummies of the docs).
PLACEHOLDER_PASSWORD = re.compile(
    r"^(?:\{[^}]*\}|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|<[^>]*>|\*+|\.\.\.|x+|pass(?:word)?)$", re.I
)
#: Hosts that cannot be a real deployment (RFC 2606 names, loopback).
PLACEHOLDER_HOST = re.compile(
    r"^(?:[^:]*\.example|example\.(?:com|org|net)|[^:]*\.invalid|localhost|127\.0\.0\.1)(?::\d+)?$", re.I
)

ALLOWED_IPS = {"127.0.0.1", "0.0.0.0"}
DOCUMENTATION_NETS = [ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")]
#: A dotted quad right after one of these is a version number, not an address.
VERSION_CONTEXT = re.compile(r"(?:\bv|version\s*[=:]?\s*|[=<>~!]=\s*|[<>]\s*)$", re.I)


def tracked_files() -> list[Path]:
    """Files git tracks, plus untracked ones it does not ignore (read-only ``git ls-files``)."""
    try:
        listing = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"not a git checkout (or no git): {exc}")
    names = sorted({name for name in listing.decode("utf-8").split("\0") if name})
    return [REPO / name for name in names if (REPO / name).is_file()]


def _is_test_or_doc(relative: str) -> bool:
    return relative.startswith(("forecast_assets_tests/", "docs/", "bench/")) or relative.endswith(".md")


def _mongo_uri_is_placeholder(match: re.Match[str], relative: str) -> bool:
    if PLACEHOLDER_PASSWORD.match(match["password"]):
        return True
    # Tests and docs may spell a dummy password in full, but only against a host that cannot exist.
    return _is_test_or_doc(relative) and all(PLACEHOLDER_HOST.match(h) for h in match["host"].split(","))


def _is_public_ip(text: str, line: str, start: int) -> bool:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False  # 999.1.2.3: not an address at all
    if text in ALLOWED_IPS or any(address in net for net in DOCUMENTATION_NETS):
        return False
    if VERSION_CONTEXT.search(line[:start]):
        return False
    return address.is_global or not (address.is_private or address.is_loopback or address.is_unspecified)


def scan_text(relative: str, text: str) -> list[str]:
    """``file:line: what`` for every secret-looking string of ``text``."""
    findings = []
    for number, line in enumerate(text.splitlines(), start=1):
        where = f"{relative}:{number}"
        for match in MONGO_URI_WITH_PASSWORD.finditer(line):
            if not _mongo_uri_is_placeholder(match, relative):
                findings.append(f"{where}: MongoDB URI with a password ({match['user']}:…@{match['host']})")
        for match in AWS_ACCESS_KEY.finditer(line):
            findings.append(f"{where}: AWS access key id {match.group()[:8]}…")
        if PRIVATE_KEY.search(line):
            findings.append(f"{where}: private key block")
        for match in IPV4.finditer(line):
            if _is_public_ip(match.group(), line, match.start()):
                findings.append(f"{where}: public IPv4 address {match.group()}")
        if KNOWN_PASSWORD.search(line):
            findings.append(f"{where}: known password string")
    return findings


@pytest.mark.parametrize(
    ("line", "found"),
    [
        ("MONGO_URI=mongodb://admin:" + "hunter2@db.prod.internal:27017/", True),
        ("uri = 'mongodb+srv://svc:" + "S3cr3t@cluster0.abcde.mongodb.net/'", True),
        ("mongodb://forecast:{SECRET}@db1.example:27017", False),
        ("mongodb://user:***@db.example/", False),
        ("mongodb://127.0.0.1:27017/", False),
        ("key = 'AKIA" + "ABCDEFGHIJKLMNOP'", True),
        ("-----BEGIN RSA " + "PRIVATE KEY-----", True),
        ("-----BEGIN " + "PRIVATE KEY-----", True),
        ("host 8.8." + "8.8", True),
        ("host 127.0.0.1 and 0.0.0.0 and 192.0.2.10 and 10.0.1.5", False),
        ("requires dagster>=1.13.0.1", False),
        ("password = 'Forecast" + "Secure2024'", True),
    ],
)
def test_scanner_detects_what_it_should(line: str, found: bool) -> None:
    assert bool(scan_text("forecast_assets/settings.py", line)) is found, scan_text("forecast_assets/settings.py", line)


def test_repository_holds_no_secret() -> None:
    findings = []
    files = tracked_files()
    assert files, "git ls-files listed nothing"
    for path in files:
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            continue  # binary (the sample workbooks, images): zip/PNG bytes, not text
        findings += scan_text(path.relative_to(REPO).as_posix(), data.decode("utf-8", errors="replace"))
    assert not findings, "possible secrets in the repository:\n" + "\n".join(findings)


# --- 2. what a run records ----------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize("credentials", ["in_uri", "env_var_fields"])
def test_one_day_lineage_records_neither_password_nor_token(
    auth_server, mongo_password: str, credentials: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "tok-" + secrets.token_urlsafe(24)
    monkeypatch.setenv("INFOCLIMAT_TOKEN", token)
    monkeypatch.setenv("FORECAST_INFOCLIMAT_SOURCE", str(INFOCLIMAT_RESPONSE))  # the saved sample, no live API
    monkeypatch.setenv("FORECAST_ALERT_FILE", str(tmp_path / "alerts.jsonl"))
    settings = dict(
        database=f"weather_db_{credentials}", server_selection_timeout_ms=3000, max_attempts=2, backoff_seconds=0.05
    )
    if credentials == "in_uri":  # mongodb://user:password@host/
        mongo = MongoResource(uri=f"mongodb://{MONGO_USER}:{mongo_password}@127.0.0.1:{auth_server.port}/", **settings)
        shown_as = f"mongodb://{MONGO_USER}:***@127.0.0.1:{auth_server.port}/"
    else:  # as production binds it: separate fields from their own secrets, resolved at run time
        monkeypatch.setenv("MONGO_USERNAME", MONGO_USER)
        monkeypatch.setenv("MONGO_PASSWORD", mongo_password)
        mongo = MongoResource(
            uri=f"mongodb://127.0.0.1:{auth_server.port}/",
            username=dg.EnvVar("MONGO_USERNAME"),
            password=dg.EnvVar("MONGO_PASSWORD"),
            **settings,
        )
        shown_as = f"mongodb://127.0.0.1:{auth_server.port}/"
    staging = LocalStagingZone(root=str(tmp_path / "staging"))
    defs = build_defs(resource_overrides={"staging": staging, "mongo": mongo}, env="local")
    job = defs.resolve_implicit_global_asset_job_def()

    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(partition_key=DAY, instance=instance, raise_on_error=False)
        assert result.success, [e.message for e in result.all_events if e.is_failure]
        run = instance.get_run_by_id(result.run_id)
        entries = instance.all_logs(result.run_id)

    # The run really went through every stage and really wrote to the password-protected server.
    materialized = {event.asset_key for event in result.get_asset_materialization_events()}
    assert {WEATHER_DATA, WEATHER_MEASUREMENTS} <= materialized
    assert len(materialized) == 5
    assert result.get_asset_check_evaluations(), "no check ran"
    [load] = result.asset_materializations_for_node("mongodb__weather_measurements")
    assert load.metadata["inserted"].value > 0
    assert load.metadata["database"].value == f"{shown_as} / {settings['database']}"

    texts = {"run": serialize_value(run)}
    for index, entry in enumerate(entries):
        texts[f"event {index} ({entry.dagster_event_type or 'log'})"] = serialize_value(entry)
    texts |= {
        f"staged {p.relative_to(tmp_path)}": p.read_text(errors="replace")
        for p in (tmp_path / "staging").rglob("*")
        if p.is_file()
    }
    assert len(entries) > 20
    # Positive control: the scanned text does hold the run's metadata (the redacted URI, the row counts).
    assert any(shown_as in text for text in texts.values())
    for secret, what in ((mongo_password, "MongoDB password"), (token, "InfoClimat token")):
        leaks = [where for where, text in texts.items() if secret in text]
        assert not leaks, f"the {what} appears in: {leaks}"

    resolved = MongoResource(
        uri=f"mongodb://{MONGO_USER}:{mongo_password}@127.0.0.1:{auth_server.port}/",
        username=MONGO_USER,
        password=mongo_password,
    )
    for resource in (mongo, resolved):
        for text in (repr(resource), str(resource), resource.redacted_uri()):
            assert mongo_password not in text
    assert "***" in repr(resolved) and "***" in str(resolved)
