"""Schedules: the daily pipeline (yesterday's extracts) and the weekly leadership run."""

import dagster as dg

from orchestration.jobs import leadership_job, speed_to_lead_job
from orchestration.settings import get_settings

# At 06:00 each day, for the previous day's partition.
daily_pipeline_schedule = dg.build_schedule_from_partitioned_job(
    speed_to_lead_job, name="daily_pipeline_schedule", hour_of_day=6, minute_of_hour=0
)

weekly_leadership_schedule = dg.ScheduleDefinition(
    name="weekly_leadership_schedule",
    job=leadership_job,
    cron_schedule="0 7 * * 1",  # Mondays 07:00
    execution_timezone=get_settings().schedule_timezone,
)
