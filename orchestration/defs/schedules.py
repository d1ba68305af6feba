"""Schedules: the daily pipeline (yesterday's extracts), the statistics (weekly by default, or in
the daily run with STL_STATISTICS_FREQUENCY=daily) and the leadership snapshot run (weekly by
default, daily with STL_SNAPSHOT_FREQUENCY=daily), all in STL_SCHEDULE_TIMEZONE. Built by
``build_schedules`` from the settings when the definitions are built."""

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg

from orchestration.defs.jobs import daily_job, leadership_job, retention_job, speed_to_lead_job, statistics_job
from orchestration.settings import Settings

LEADERSHIP_CRON = {"weekly": "0 7 * * 1", "daily": "0 7 * * *"}  # Mondays / every day, 07:00
STATISTICS_CRON = "30 6 * * 1"  # Mondays 06:30: after the daily run, before the leadership run
STATISTICS_FREQUENCIES = ("weekly", "daily")


def scheduled_daily_job(settings: Settings):
    """What the daily schedule (and the landing sensor) runs: without the statistics when they
    have their own weekly schedule."""
    if settings.statistics_frequency not in STATISTICS_FREQUENCIES:
        raise ValueError(f"STL_STATISTICS_FREQUENCY={settings.statistics_frequency!r}: "
                         f"use one of {', '.join(STATISTICS_FREQUENCIES)}")
    return daily_job if settings.statistics_frequency == "weekly" else speed_to_lead_job


def leadership_run_request(scheduled_local_date: dt.date) -> dg.RunRequest:
    """The tick's run: snapshot the last full period before the tick's local date."""
    day = scheduled_local_date.isoformat()
    return dg.RunRequest(run_key=f"leadership-{day}",
                         run_config={"ops": {"snapshots__kpi_history": {"config": {"run_date": day}}}},
                         tags={"snapshot_run_date": day})


def leadership_schedule(settings: Settings) -> dg.ScheduleDefinition:
    timezone = settings.schedule_timezone

    @dg.schedule(
        name="weekly_leadership_schedule",  # the name predates STL_SNAPSHOT_FREQUENCY=daily
        job=leadership_job,
        cron_schedule=LEADERSHIP_CRON[settings.snapshot_frequency],
        execution_timezone=timezone,
    )
    def weekly_leadership_schedule(context: dg.ScheduleEvaluationContext):
        tick = context.scheduled_execution_time.astimezone(ZoneInfo(timezone))
        return leadership_run_request(tick.date())

    return weekly_leadership_schedule


def build_schedules(settings: Settings) -> list[dg.ScheduleDefinition]:
    weekly_statistics = [dg.ScheduleDefinition(name="weekly_statistics_schedule", job=statistics_job,
                                               cron_schedule=STATISTICS_CRON, execution_timezone=settings.schedule_timezone)]
    return [
        # At 06:00 each day (the partitions' timezone), for the previous day's partition.
        dg.build_schedule_from_partitioned_job(scheduled_daily_job(settings), name="daily_pipeline_schedule",
                                               hour_of_day=6, minute_of_hour=0),
        *(weekly_statistics if settings.statistics_frequency == "weekly" else []),
        leadership_schedule(settings),
        dg.ScheduleDefinition(name="retention_schedule", job=retention_job, cron_schedule="0 3 * * *",  # daily, before the 06:00 pipeline
                              execution_timezone=settings.schedule_timezone),
    ]
