"""The weekly schedule: its instants (incl. across DST changes), the exact week it requests, one run per range."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from dagster._utils.schedules import schedule_execution_time_iterator

from forecast_assets.definitions import build_defs
from forecast_assets.jobs import weather_pipeline_job
from forecast_assets.operations.alerts import AlertPolicy, LocalAlertSink
from forecast_assets.operations.schedules import (
    EXECUTION_TIMEZONE,
    WEEKLY_CRON,
    range_tags,
    week_before,
    weekly_weather_pipeline,
)
from forecast_assets_tests.mongo.conftest import mongo, mongo_server  # noqa: F401  (fixtures)

PARIS = ZoneInfo(EXECUTION_TIMEZONE)
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)


@pytest.mark.parametrize(
    ("tick", "expected"),
    [
        # The example of the docstring: Wednesday 9 Oct 2024 -> Wed 2 … Tue 8 Oct.
        (paris(2024, 10, 9, 22), ("2024-10-02", "2024-10-08")),
        # First tick after the 27 Oct 2024 fall-back: the week holds the 25-hour day.
        (paris(2024, 10, 30, 22), ("2024-10-23", "2024-10-29")),
        # Around the 30 Mar 2025 spring-forward: the week holds the 23-hour day ...
        (paris(2025, 4, 2, 22), ("2025-03-26", "2025-04-01")),
        # ... and the tick just before it.
        (paris(2025, 3, 26, 22), ("2025-03-19", "2025-03-25")),
        # Year boundary.
        (paris(2025, 1, 1, 22), ("2024-12-25", "2024-12-31")),
    ],
)
def test_week_before_is_the_seven_days_ending_the_day_before(tick, expected):
    assert week_before(tick) == expected
    # The same instant in UTC names the same week (20:00/21:00 UTC is still the same date).
    assert week_before(tick.astimezone(UTC)) == expected


def test_week_before_uses_the_paris_date_not_the_utc_date():
    # 23:30 UTC on Tuesday is already Wednesday in Paris: the week ends on Tuesday.
    assert week_before(datetime(2024, 10, 8, 23, 30, tzinfo=UTC)) == ("2024-10-02", "2024-10-08")


def test_week_before_refuses_naive_datetimes():
    with pytest.raises(ValueError, match="timezone-aware"):
        week_before(datetime(2024, 10, 9, 22))


def test_schedule_is_wednesday_22_paris():
    assert weekly_weather_pipeline.cron_schedule == WEEKLY_CRON == "0 22 * * 3"
    assert weekly_weather_pipeline.execution_timezone == "Europe/Paris"
    assert weekly_weather_pipeline.job_name == weather_pipeline_job.name


def test_ticks_stay_at_22_paris_across_dst_changes():
    """Successive ticks: always Wednesday 22:00 Paris, so 20:00 UTC in summer and 21:00 UTC in winter."""
    start = paris(2024, 10, 20).timestamp()
    ticks = []
    # The iterator the schedule daemon uses to compute tick instants.
    for tick in schedule_execution_time_iterator(
        start, weekly_weather_pipeline.cron_schedule, weekly_weather_pipeline.execution_timezone
    ):
        ticks.append(tick)
        if len(ticks) == 30:
            break
    assert all(t.astimezone(PARIS).weekday() == 2 and t.astimezone(PARIS).hour == 22 for t in ticks)
    utc_hours = {t.astimezone(PARIS).date().isoformat(): t.astimezone(UTC).hour for t in ticks}
    assert utc_hours["2024-10-23"] == 20  # CEST, before the fall-back
    assert utc_hours["2024-10-30"] == 21  # CET
    assert utc_hours["2025-03-26"] == 21  # CET, before the spring-forward
    assert utc_hours["2025-04-02"] == 20  # CEST
    # Consecutive ticks cover adjacent weeks: no gap, no overlap.
    weeks = [week_before(t) for t in ticks]
    for (_, previous_last), (next_first, _) in zip(weeks, weeks[1:]):
        assert (datetime.fromisoformat(next_first) - datetime.fromisoformat(previous_last)).days == 1


@pytest.mark.parametrize(
    ("tick", "first", "last"),
    [
        (paris(2024, 10, 30, 22), "2024-10-23", "2024-10-29"),
        (paris(2025, 4, 2, 22), "2025-03-26", "2025-04-01"),
    ],
)
def test_tick_requests_exactly_one_run_over_the_week(tick, first, last):
    context = dg.build_schedule_context(scheduled_execution_time=tick)
    data = weekly_weather_pipeline.evaluate_tick(context)
    [request] = data.run_requests
    assert request.tags[RANGE_START] == first
    assert request.tags[RANGE_END] == last
    assert request.partition_key_range == dg.PartitionKeyRange(first, last)
    assert request.partition_key is None
    assert request.run_key == f"weekly:{first}..{last}"
    assert request.job_name in (None, weather_pipeline_job.name)  # the schedule's own job


def test_same_tick_same_run_key():
    tick = paris(2024, 10, 30, 22)
    keys = {
        weekly_weather_pipeline.evaluate_tick(dg.build_schedule_context(scheduled_execution_time=tick))
        .run_requests[0]
        .run_key
        for _ in range(2)
    }
    assert len(keys) == 1


def test_first_weeks_are_clipped_to_the_first_partition():
    # The 2 Oct 2024 tick: the week 25 Sep … 1 Oct starts before the first partition (1 Oct).
    data = weekly_weather_pipeline.evaluate_tick(
        dg.build_schedule_context(scheduled_execution_time=paris(2024, 10, 2, 22))
    )
    [request] = data.run_requests
    assert (request.tags[RANGE_START], request.tags[RANGE_END]) == ("2024-10-01", "2024-10-01")
    # A tick whose whole week precedes the data asks for nothing.
    data = weekly_weather_pipeline.evaluate_tick(
        dg.build_schedule_context(scheduled_execution_time=paris(2024, 9, 25, 22))
    )
    assert not data.run_requests
    assert "before the first partition" in data.skip_message


def test_schedule_and_job_validate_together():
    defs = dg.Definitions(schedules=[weekly_weather_pipeline], jobs=[weather_pipeline_job])
    dg.Definitions.validate_loadable(defs)
    assert defs.resolve_schedule_def("weekly_weather_pipeline").job_name == "weather_pipeline"


def test_schedule_and_alert_sensors_load_with_the_code_location(tmp_path):
    """The code location carries the schedule, both alert sensors and the resources they need."""
    defs = build_defs(env="local")
    dg.Definitions.validate_loadable(defs)
    assert defs.resolve_schedule_def("weekly_weather_pipeline").cron_schedule == "0 22 * * 3"
    assert isinstance(defs.resources["alert_sink"], LocalAlertSink)
    assert isinstance(defs.resources["alert_policy"], AlertPolicy)
    job = defs.resolve_job_def("weather_pipeline")
    assert job.partitions_def is not None
    for name in ("check_alert_sensor", "run_failure_alert_sensor"):
        assert defs.resolve_sensor_def(name).default_status == dg.DefaultSensorStatus.RUNNING
    assert defs.resolve_schedule_def("weekly_weather_pipeline").execution_timezone == "Europe/Paris"


def test_range_tags_run_once_over_every_day():
    """The tags the schedule sets make a single-run-backfill job execute ONE run over all 7 days."""
    seen: list[list[str]] = []
    days = dg.DailyPartitionsDefinition(start_date="2024-10-01", timezone="UTC")

    @dg.asset(partitions_def=days, backfill_policy=dg.BackfillPolicy.single_run())
    def upstream(context: dg.AssetExecutionContext) -> None:
        seen.append(list(context.partition_keys))

    @dg.asset(partitions_def=days, backfill_policy=dg.BackfillPolicy.single_run(), deps=[upstream])
    def downstream(context: dg.AssetExecutionContext) -> None:
        seen.append(list(context.partition_keys))

    job = dg.define_asset_job("week", selection=[upstream, downstream])
    defs = dg.Definitions(assets=[upstream, downstream], jobs=[job])
    first, last = week_before(paris(2024, 10, 30, 22))
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("week").execute_in_process(instance=instance, tags=range_tags(first, last))
    assert result.success
    week = [f"2024-10-{d}" for d in range(23, 30)]
    assert seen == [week, week]


@pytest.mark.integration
def test_a_scheduled_run_records_each_days_own_figures_and_checks(tmp_path, mongo):  # noqa: F811
    """The run the schedule requests (one run over its week) shows each day as itself (issue 12)."""
    from datetime import date, timedelta

    from forecast_assets.raw.infoclimat import InfoClimatResponseFile
    from forecast_assets.raw.wunderground import WundergroundSource
    from forecast_assets.sample_data import INFOCLIMAT_RESPONSE
    from forecast_assets.sample_data.generate import generate_wu_workbook
    from forecast_assets.staging import LocalStagingZone
    from forecast_assets.staging.layout import dataset_key

    tick = paris(2024, 10, 9, 22)  # requests Wed 2 ... Tue 8 Oct
    [request] = weekly_weather_pipeline.evaluate_tick(
        dg.build_schedule_context(scheduled_execution_time=tick)
    ).run_requests
    days = [date(2024, 10, 2) + timedelta(days=i) for i in range(7)]
    workbooks = {}
    for station, seed in (("IICHTE19", 19), ("ILAMAD25", 25)):
        workbooks[station] = tmp_path / f"{station}.xlsx"
        generate_wu_workbook(workbooks[station], station, days, seed=seed, short_last_day_rows=100, mess=False)
    staging = LocalStagingZone(root=str(tmp_path / "staging"))
    defs = build_defs(
        env="local",
        resource_overrides={
            "staging": staging,
            "mongo": mongo,
            "wu_be": WundergroundSource(station_id="IICHTE19", location=str(workbooks["IICHTE19"])),
            "wu_fr": WundergroundSource(station_id="ILAMAD25", location=str(workbooks["ILAMAD25"])),
            "infoclimat": InfoClimatResponseFile(path=str(INFOCLIMAT_RESPONSE)),
        },
    )
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def(request.job_name or "weather_pipeline").execute_in_process(
            instance=instance, tags=request.tags
        )
        assert result.success
        keys = [d.isoformat() for d in days]
        counts = {}
        for key in keys:
            [record] = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey("weather_data"), asset_partitions=[key]), limit=1
            ).records
            metadata = record.asset_materialization.metadata
            rows = len(staging.read_bytes(dataset_key(key)).splitlines())
            counts[key] = metadata["dagster/row_count"].value
            assert counts[key] == rows, key
            assert f"Transform/{key[8:10]}{key[5:7]}{key[2:4]}/" in metadata["path"].value, key
        assert counts["2024-10-08"] < counts["2024-10-07"]  # the short last day shows its own count
        evaluations = [e for e in result.get_asset_check_evaluations() if e.check_name == "reconciliation"]
        assert sorted(e.partition for e in evaluations) == keys
