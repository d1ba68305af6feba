"""Schedules: the daily pipeline (yesterday's extracts) and the leadership snapshot run (weekly by
default, daily with STL_SNAPSHOT_FREQUENCY=daily), both in STL_SCHEDULE_TIMEZONE. Built by
``build_schedules`` from the settings when the definitions are built."""

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg

from orchestration.defs.jobs import leadership_job, retention_job, speed_to_lead_job
from orchestration.settings import Settings

LEADERSHIP_CRON = {"weekly": "0 7 * * 1", "daily": "0 7 * * *"}  # Mondays / every day, 07:00


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
    return [
        # At 06:00 each day (the partitions' timezone), for the previous day's partition.
        dg.build_schedule_from_partitioned_job(speed_to_lead_job, name="daily_pipeline_schedule",
                                               hour_of_day=6, minute_of_hour=0),
        leadership_schedule(settings),
        dg.ScheduleDefinition(name="retention_schedule", job=retention_job, cron_schedule="0 3 * * *",  # daily, before the 06:00 pipeline
                              execution_timezone=settings.schedule_timezone),
    ]
