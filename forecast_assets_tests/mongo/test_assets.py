"""The MongoDB collection asset on the sample week, against a real SecantusDB server over TCP."""

from __future__ import annotations

import socket
import threading
import time
import uuid

import dagster as dg
import pandas as pd
import pytest

from forecast_assets.definitions import build_defs
from forecast_assets.feeds import raw_asset_key
from forecast_assets.mongo.assets import WEATHER_MEASUREMENTS
from forecast_assets.mongo.collection_setup import MEASUREMENTS
from forecast_assets.mongo.embedded_server import LocalMongoServer
from forecast_assets.mongo.resources import MongoResource
from forecast_assets.staging import LocalStagingZone
from forecast_assets.staging.layout import dataset_key
from forecast_assets.weather.assets import WEATHER_DATA
from forecast_assets.weather.dataset import from_jsonl, to_jsonl
from forecast_assets_tests.mongo.conftest import mongo_server  # noqa: F401  (session fixture)

WEEK = ("2024-10-01", "2024-10-07")
DAYS = [f"2024-10-0{d}" for d in range(1, 8)]
SAMPLE_WEEK_ROWS = 4948
MONGO_CHECKS = {
    "weather_data_passed",
    "mongo_no_silent_shrink",
    "mongo_reconciliation",
    "mongo_round_trip",
    "mongo_read_latency",
}
RAW_KEYS = {raw_asset_key(s) for s in ("BE", "FR", "InfoClimat")}


def run(staging, mongo, selection, first=WEEK[0], last=WEEK[1], load_config=None):
    defs = build_defs(resource_overrides={"staging": staging, "mongo": mongo}, env="local")
    job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection=set(selection))
    return job.execute_in_process(
        tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
        run_config={"ops": {"mongodb__weather_measurements": {"config": load_config}}} if load_config else None,
        raise_on_error=False,
    )


def load_metadata(result) -> dict[str, dict]:
    """Each materialized day's load metadata (one materialization per day, or the test fails)."""
    days: dict[str, dict] = {}
    for m in result.asset_materializations_for_node("mongodb__weather_measurements"):
        assert m.partition not in days, f"two materializations of {m.partition}"
        days[m.partition] = {k: v.value for k, v in m.metadata.items()}
    return days


def evaluations(result) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    """The load's check evaluations by (check, day): one each, or the test fails."""
    found: dict[tuple[str, str], dg.AssetCheckEvaluation] = {}
    for e in result.get_asset_check_evaluations():
        if e.asset_key == WEATHER_MEASUREMENTS:
            assert (e.check_name, e.partition) not in found, f"two evaluations of {e.check_name} for {e.partition}"
            assert e.description.startswith(f"{e.partition}: "), e
            found[(e.check_name, e.partition)] = e
    return found


def checks(result) -> dict[tuple[str, str], bool]:
    return {key: e.passed for key, e in evaluations(result).items()}


def rows_per_day(staging) -> dict[str, int]:
    """Each day's weather_data rows, from the staged datasets."""
    return {day: len(from_jsonl(staging.read_bytes(dataset_key(day)))) for day in DAYS}


@pytest.fixture(scope="module")
def week_staging(tmp_path_factory):
    """The sample week's raw and weather_data partitions, built once."""
    staging = LocalStagingZone(root=str(tmp_path_factory.mktemp("week") / "staging"))
    assert run(staging, None, RAW_KEYS | {WEATHER_DATA}).success
    return staging


def duplicate_keys(collection) -> int:
    groups = collection.aggregate(
        [
            {"$group": {"_id": {"s": "$station_id", "t": "$timestamp"}, "n": {"$sum": 1}}},
            {"$match": {"n": {"$gt": 1}}},
        ]
    )
    return len(list(groups))


@pytest.mark.integration
def test_week_loads_once_and_reruns_change_nothing(week_staging, mongo):
    rows = rows_per_day(week_staging)
    assert sum(rows.values()) == SAMPLE_WEEK_ROWS
    first = run(week_staging, mongo, {WEATHER_MEASUREMENTS})
    assert first.success
    metadata = load_metadata(first)
    assert set(metadata) == set(DAYS)
    for day in DAYS:  # each day's materialization carries that day's load, not the week's
        m = metadata[day]
        assert (m["dagster/row_count"], m["inserted"], m["updated"], m["unchanged"], m["deleted"]) == (
            rows[day],
            rows[day],
            0,
            0,
            0,
        ), day
        assert m["write_errors"] == 0 and m["docs_per_s"] > 0 and m["station_days_refused"] == [], day
        assert m["database"] == f"{mongo.redacted_uri()} / {mongo.database}"
    outcomes = checks(first)
    assert set(outcomes) == {(name, day) for name in MONGO_CHECKS for day in DAYS}
    # mongo_read_latency is a WARN on this machine's speed: evaluated each day, not asserted
    assert all(passed for (name, _), passed in outcomes.items() if name != "mongo_read_latency"), outcomes

    second = run(week_staging, mongo, {WEATHER_MEASUREMENTS})
    metadata = load_metadata(second)
    assert {day: (m["inserted"], m["updated"], m["unchanged"], m["deleted"]) for day, m in metadata.items()} == {
        day: (0, 0, rows[day], 0) for day in DAYS
    }

    collection = mongo.get_database()[MEASUREMENTS]
    assert collection.count_documents({}) == SAMPLE_WEEK_ROWS and duplicate_keys(collection) == 0
    assert mongo.get_database()["stations"].count_documents({}) == 6
    for day in DAYS:
        evaluation = evaluations(second)[("mongo_read_latency", day)]
        assert evaluation.metadata["indexes_used"].value == ["station_id_timestamp"], day


@pytest.mark.integration
def test_a_changed_day_replaces_exactly_its_window(week_staging, mongo, tmp_path):
    staging = LocalStagingZone(root=str(tmp_path / "staging"))
    for key in week_staging.list_keys("Transform/"):
        staging.write_bytes(key, week_staging.read_bytes(key))
    assert run(staging, mongo, {WEATHER_MEASUREMENTS}).success

    frame = from_jsonl(staging.read_bytes(dataset_key("2024-10-06")))
    frame.loc[0, "temperature_c"] = 21.5  # one value corrected upstream
    frame = frame.drop(index=frame.index[-1])  # one row no longer delivered
    staging.write_bytes(dataset_key("2024-10-06"), to_jsonl(frame))
    station = frame["station_id"].iloc[-1]

    assert station != frame["station_id"].iloc[0]
    # by default a load deletes nothing: the station-day whose row vanished is refused, whole; the
    # corrected value of another station is written
    refused = run(staging, mongo, {WEATHER_MEASUREMENTS}, first="2024-10-06", last="2024-10-06")
    metadata = load_metadata(refused)["2024-10-06"]
    assert (metadata["inserted"], metadata["updated"], metadata["deleted"]) == (0, 1, 0)
    assert metadata["station_days_refused"] == [f"{station}@2024-10-06"]
    assert checks(refused)[("mongo_no_silent_shrink", "2024-10-06")] is False
    assert mongo.get_database()[MEASUREMENTS].count_documents({}) == SAMPLE_WEEK_ROWS

    # the override applies the intended deletion
    result = run(
        staging,
        mongo,
        {WEATHER_MEASUREMENTS},
        first="2024-10-06",
        last="2024-10-06",
        load_config={"allow_deletions": [f"{station}@2024-10-06"]},
    )
    metadata = load_metadata(result)["2024-10-06"]
    assert (metadata["inserted"], metadata["updated"], metadata["deleted"]) == (0, 0, 1)
    assert checks(result)[("mongo_reconciliation", "2024-10-06")] is True
    assert mongo.get_database()[MEASUREMENTS].count_documents({}) == SAMPLE_WEEK_ROWS - 1


@pytest.mark.integration
def test_server_killed_mid_load_then_rerun_gives_exactly_the_expected_documents(week_staging, tmp_path):
    server = LocalMongoServer(tmp_path / "data").start()
    mongo = MongoResource(
        uri=server.uri, database="crash", server_selection_timeout_ms=1000, max_attempts=2, backoff_seconds=0.1
    )
    try:
        collection = mongo.get_database()[MEASUREMENTS]
        outcome = {}
        loader = threading.Thread(
            target=lambda: outcome.setdefault("result", run(week_staging, mongo, {WEATHER_MEASUREMENTS}))
        )
        loader.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and collection.count_documents({}) < 500:
            time.sleep(0.02)
        loaded_before_kill = collection.count_documents({})
        server.kill()
        loader.join(timeout=120)
        assert 0 < loaded_before_kill < SAMPLE_WEEK_ROWS  # the kill really happened mid-load
        killed = outcome["result"]
        assert killed.success is False
        # a day is materialized only once it is loaded and checked: never the day the kill cut short
        rows = rows_per_day(week_staging)
        assert sum(rows[day] for day in load_metadata(killed)) <= loaded_before_kill

        server.restart()
        mongo.close()
        rerun = run(week_staging, mongo, {WEATHER_MEASUREMENTS})
        assert rerun.success
        collection = mongo.get_database()[MEASUREMENTS]  # the run's teardown closed the old client
        assert collection.count_documents({}) == SAMPLE_WEEK_ROWS
        assert duplicate_keys(collection) == 0
        assert all(checks(rerun)[("mongo_reconciliation", day)] for day in DAYS)
        metadata = load_metadata(rerun)
        assert set(metadata) == set(DAYS)
        assert {day: m["inserted"] + m["unchanged"] for day, m in metadata.items()} == rows
        assert all(m["updated"] == m["deleted"] == 0 for m in metadata.values())
    finally:
        mongo.close()
        server.stop()


def stored_keys(collection) -> set[tuple[str, pd.Timestamp]]:
    return {(d["station_id"], _utc(d["timestamp"])) for d in collection.find({}, {"station_id": 1, "timestamp": 1})}


def staged_keys(staging, days) -> set[tuple[str, pd.Timestamp]]:
    keys = set()
    for day in days:
        frame = from_jsonl(staging.read_bytes(dataset_key(day)))
        keys |= {(s, _utc(t)) for s, t in zip(frame["station_id"], frame["timestamp"])}
    return keys


def _utc(value) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


@pytest.mark.integration
def test_load_is_blocked_when_weather_data_fails_a_blocking_check(week_staging, mongo, tmp_path, monkeypatch):
    """A de-duplication bug (simulated) lets the sample's planted duplicate of 2 Oct through: that day
    is not loaded nor materialized; 1 and 3 Oct, in the same run, are."""
    staging = LocalStagingZone(root=str(tmp_path / "staging"))
    for key in week_staging.list_keys("raw/"):
        staging.write_bytes(key, week_staging.read_bytes(key))
    with monkeypatch.context() as patch:
        patch.setattr(
            "forecast_assets.weather.assets.deduplicate",
            lambda frame: (frame.sort_values(["station_id", "timestamp"]), frame.iloc[:0]),
        )
        result = run(staging, mongo, {WEATHER_DATA, WEATHER_MEASUREMENTS}, first="2024-10-01", last="2024-10-03")

    assert result.success
    failed = {
        (e.check_name, e.partition)
        for e in result.get_asset_check_evaluations()
        if e.asset_key == WEATHER_DATA and not e.passed and e.severity == dg.AssetCheckSeverity.ERROR
    }
    assert failed == {("schema_conformance", "2024-10-02"), ("unique_station_timestamp", "2024-10-02")}
    rows = {day: len(from_jsonl(staging.read_bytes(dataset_key(day)))) for day in ("2024-10-01", "2024-10-03")}
    metadata = load_metadata(result)
    assert {day: m["inserted"] for day, m in metadata.items()} == rows  # not 2 Oct
    collection = mongo.get_database()[MEASUREMENTS]
    loaded = stored_keys(collection)
    assert collection.count_documents({}) == len(loaded) == sum(rows.values())
    assert loaded == staged_keys(staging, ["2024-10-01", "2024-10-03"])
    outcomes = checks(result)
    assert {day: outcomes[("weather_data_passed", day)] for day in DAYS[:3]} == {
        "2024-10-01": True,
        "2024-10-02": False,
        "2024-10-03": True,
    }
    assert {day for _, day in outcomes} == set(DAYS[:3])
    assert {day for name, day in outcomes if name != "weather_data_passed"} == {"2024-10-01", "2024-10-03"}

    # The blocked day stays staged; a later run of the load alone (bug fixed or not) must not pick it
    # up, nor a day whose weather_data was never built (4 Oct): both named, neither materialized.
    assert staging.exists(dataset_key("2024-10-02"))
    later = run(staging, mongo, {WEATHER_MEASUREMENTS}, first="2024-10-02", last="2024-10-04")
    assert later.success
    assert set(load_metadata(later)) == {"2024-10-03"}
    gate = {day: e for (name, day), e in evaluations(later).items() if name == "weather_data_passed"}
    assert {day: e.passed for day, e in gate.items()} == {"2024-10-02": False, "2024-10-03": True, "2024-10-04": False}
    assert gate["2024-10-02"].description.startswith("2024-10-02: not loaded"), gate["2024-10-02"].description
    assert sorted(c.removeprefix("weather_data ") for c in gate["2024-10-02"].metadata["failed_checks"].value) == [
        "schema_conformance",
        "unique_station_timestamp",
    ]
    assert all(name in gate["2024-10-02"].description for name in ("schema_conformance", "unique_station_timestamp"))
    assert gate["2024-10-04"].description.startswith("2024-10-04: not loaded")
    assert "no quality report: materialize weather_data for this day" in gate["2024-10-04"].description
    assert stored_keys(collection) == loaded  # nothing of 2 Oct, nothing lost


def test_embedded_default_needs_no_uri(monkeypatch):
    monkeypatch.delenv("MONGO_URI", raising=False)
    resource = build_defs(env="local").resources["mongo"]
    assert resource.uri == "" and resource.state_dir == ".forecast/mongo"
    assert isinstance(resource, MongoResource)


class CuttingProxy:
    """A TCP proxy to a MongoDB server that drops every connection when a command it watches for passes.

    The first client message containing ``trigger`` (a command name, as BSON spells the key) is not
    forwarded: every open connection is closed, as when the server dies mid-command. ``cuts`` such
    events happen; with ``refuse_after_cut`` the proxy accepts no working connection afterwards.
    """

    def __init__(self, upstream_port: int, trigger: bytes, cuts: int = 1, refuse_after_cut: bool = False):
        self.upstream_port, self.trigger, self.cuts_left = upstream_port, trigger, cuts
        self.refuse_after_cut = refuse_after_cut
        self.cut = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.refuse_after_cut and self.cut.is_set():
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            with self._lock:
                self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, from_client: bool) -> None:
        try:
            while data := source.recv(65536):
                if from_client and self.trigger in data:
                    with self._lock:
                        if self.cuts_left > 0:
                            self.cuts_left -= 1
                            self.cut.set()
                            for s in self._sockets:
                                s.close()
                            self._sockets.clear()
                            return
                target.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, target):
                s.close()

    def close(self) -> None:
        self._listener.close()
        with self._lock:
            for s in self._sockets:
                s.close()


def _load_through(proxy: CuttingProxy, database: str, staging) -> dg.ExecuteInProcessResult:
    mongo = MongoResource(
        uri=f"mongodb://127.0.0.1:{proxy.port}/?directConnection=true",
        database=database,
        server_selection_timeout_ms=2000,
        max_attempts=3,
        backoff_seconds=0.05,
    )
    try:
        return run(staging, mongo, {WEATHER_MEASUREMENTS}, first=WEEK[0], last=WEEK[0])
    finally:
        mongo.close()


@pytest.mark.integration
@pytest.mark.stress
def test_post_load_checks_are_retried_when_the_connection_drops(week_staging, mongo_server):
    # count_documents (the reconciliation) is the first `aggregate` command of the load step
    proxy = CuttingProxy(mongo_server.port, trigger=b"aggregate")
    try:
        result = _load_through(proxy, f"cut_{uuid.uuid4().hex[:8]}", week_staging)
    finally:
        proxy.close()
    assert proxy.cut.is_set()  # the connection really dropped during the checks
    assert result.success
    outcome = checks(result)
    assert outcome[("mongo_reconciliation", WEEK[0])] is True and outcome[("mongo_round_trip", WEEK[0])] is True


@pytest.mark.integration
@pytest.mark.stress
def test_post_load_checks_on_a_dead_server_fail_naming_the_step_and_day(week_staging, mongo_server):
    proxy = CuttingProxy(mongo_server.port, trigger=b"aggregate", refuse_after_cut=True)
    try:
        result = _load_through(proxy, f"dead_{uuid.uuid4().hex[:8]}", week_staging)
    finally:
        proxy.close()
    assert proxy.cut.is_set()
    assert not result.success
    [failure] = result.get_step_failure_events()
    message = failure.step_failure_data.error.to_string()  # the step error and its cause
    assert f"MongoDB unavailable while reconcile {WEEK[0]}" in message, message
    assert "after 3 attempt(s)" in message
