"""Daily partitions of ingestion: a partition is an extract date (docs/operations.md)."""

import dagster as dg

from orchestration.settings import get_settings

_settings = get_settings()

daily_partitions = dg.DailyPartitionsDefinition(
    start_date=_settings.partitions_start.isoformat(),
    timezone=_settings.schedule_timezone,
    end_offset=1,  # today's partition exists, so files landed today can be ingested today
)
