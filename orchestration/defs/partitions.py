"""Daily partitions of ingestion: a partition is an extract date (docs/operations.md)."""

import dagster as dg

from orchestration.settings import Settings


def daily_partitions(settings: Settings) -> dg.DailyPartitionsDefinition:
    """From STL_PARTITIONS_START, days cut in STL_SCHEDULE_TIMEZONE. Built once, with the
    definitions (orchestration/defs/definitions.py), so importing this module reads no settings."""
    return dg.DailyPartitionsDefinition(
        start_date=settings.partitions_start.isoformat(),
        timezone=settings.schedule_timezone,
        end_offset=1,  # today's partition exists, so files landed today can be ingested today
    )
