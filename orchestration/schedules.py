"""Schedules: the daily pipeline (yesterday's extracts) and the leadership snapshot run (weekly by
default, daily with STL_SNAPSHOT_FREQUENCY=daily), both in STL_SCHEDULE_TIMEZONE."""

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg

from orchestration.jobs import leadership_job, retention_job, speed_to_lead_job
from orchestration.settings import get_settings

# At 06:00 each day, for the previous day's partition.
daily_pipeline_schedule = dg.build_schedule_from_partitioned_job(
    speed_to_lead_job, name="daily_pipeline_schedule", hour_of_day=6, minute_of_hour=0
)

_settings = get_settings()
LEADERSHIP_CRON = {"weekly": "0 7 * * 1", "daily": "0 7 * * *"}  # Mondays / every day, 07:00


def leadership_run_request(scheduled_local_date: dt.date) -> dg.RunRequest:
    """The tick's run: snapshot the last full period before the tick's local date."""
    day = scheduled_local_date.isoformat()
    return dg.RunRequest(run_key=f"leadership-{day}",
                         run_config={"ops": {"snapshots__kpi_history": {"config": {"run_date": day}}}},
                         tags={"snapshot_run_date": day})


@dg.schedule(
    name="weekly_leadership_schedule",  # the name predates STL_SNAPSHOT_FREQUENCY=daily
    job=leadership_job,
    cron_schedule=LEADERSHIP_CRON[_settings.snapshot_frequency],
    execution_timezone=_settings.schedule_timezone,
)
def weekly_leadership_schedule(context: dg.ScheduleEvaluationContext):
    tick = context.scheduled_execution_time.astimezone(ZoneInfo(_settings.schedule_timezone))
    return leadership_run_request(tick.date())


retention_schedule = dg.ScheduleDefinition(
    name="retention_schedule", job=retention_job, cron_schedule="0 3 * * *",  # daily, before the 06:00 pipeline
    execution_timezone=_settings.schedule_timezone,
)
