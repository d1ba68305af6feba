"""A sensor that notices new or changed files in the landing directory.

It only looks at file names, sizes and modification times (never the warehouse, which a run may
be writing), remembers them in its cursor, and asks for one run per extract date that changed;
undated snapshot files ask for today's partition. Ingestion itself decides by content hash
whether a file really changed, so a touched-but-identical file costs a no-op run."""


import hashlib
import json

import dagster as dg

from orchestration.ingest.files import scan
from orchestration.jobs import speed_to_lead_job
from orchestration.partitions import daily_partitions
from orchestration.settings import get_settings


def changed_files(landing_files, cursor: dict) -> list:
    return [f for f in landing_files if f.entity and cursor.get(f.relative) != [f.size, f.mtime_ns]]


@dg.sensor(job=speed_to_lead_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.STOPPED)
def landing_file_sensor(context: dg.SensorEvaluationContext):
    files = scan(get_settings().landing_dir)
    cursor = json.loads(context.cursor) if context.cursor else {}
    changed = changed_files(files, cursor)
    if not changed:
        return dg.SkipReason("no new or changed files in the landing directory")
    keys = set(daily_partitions.get_partition_keys())
    today = daily_partitions.get_last_partition_key()
    by_partition: dict[str, list[str]] = {}
    for f in changed:
        key = f.extract_date.isoformat() if f.extract_date else today
        by_partition.setdefault(key if key in keys else today, []).append(f"{f.relative}:{f.size}:{f.mtime_ns}")
    requests = [
        dg.RunRequest(run_key=hashlib.sha256(json.dumps(sorted(names)).encode()).hexdigest()[:20],
                      partition_key=key, tags={"stl/changed_files": str(len(names))})
        for key, names in sorted(by_partition.items())
    ]
    new_cursor = {f.relative: [f.size, f.mtime_ns] for f in files}
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(new_cursor))
