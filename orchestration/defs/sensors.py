"""Sensors: new or changed files in the landing directory start a run; a failed run raises an alert.

The landing sensor only looks at file names, sizes and modification times (never the warehouse, which a run may
be writing), remembers them in its cursor, and asks for one run per extract date that changed;
undated snapshot files ask for today's partition. Ingestion itself decides by content hash
whether a file really changed, so a touched-but-identical file costs a no-op run.

The run-failure sensor sends an alert through the same notifiers as the quality gates (alerts.log,
and the webhook in its Slack / Teams / JSON format) when any run of this code location fails, for
whatever reason: a crash, an out-of-memory kill or a blocking gate that stopped the run."""


import datetime as dt
import hashlib
import json

import dagster as dg

from orchestration.ingest.files import scan
from orchestration.defs.schedules import scheduled_daily_job
from orchestration.quality.alerts import Alert, notifiers_for, notify
from orchestration.settings import Settings, get_settings


def changed_files(landing_files, cursor: dict) -> list:
    return [f for f in landing_files if f.entity and cursor.get(f.relative) != [f.size, f.mtime_ns]]


def landing_file_sensor(settings: Settings, partitions_def: dg.PartitionsDefinition) -> dg.SensorDefinition:
    """The sensor on ``settings.landing_dir``, requesting partitions of ``partitions_def`` (the
    ingestion assets'); built with the definitions."""
    landing_dir = settings.landing_dir

    @dg.sensor(name="landing_file_sensor", job=scheduled_daily_job(settings), minimum_interval_seconds=60,
               default_status=dg.DefaultSensorStatus.STOPPED)
    def _sensor(context: dg.SensorEvaluationContext):
        files = scan(landing_dir)
        cursor = json.loads(context.cursor) if context.cursor else {}
        changed = changed_files(files, cursor)
        if not changed:
            return dg.SkipReason("no new or changed files in the landing directory")
        keys = set(partitions_def.get_partition_keys())
        today = partitions_def.get_last_partition_key()
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

    return _sensor


def root_cause(error) -> str:
    """The innermost message of a Dagster error chain (SerializableErrorInfo): Dagster wraps the
    user's exception in "Error occurred while executing op ...", which says nothing useful."""
    while error is not None and error.cause is not None:
        error = error.cause
    return (error.message.strip() if error is not None else "") or "no error message recorded"


def run_failure_alert(job_name: str, run_id: str, failed_steps: list[tuple[str, str]], run_message: str,
                      raised_at: dt.datetime) -> Alert:
    """The alert for a failed run: which steps failed and each one's root cause."""
    if failed_steps:
        what = "; ".join(f"step {step} failed: {cause}" for step, cause in failed_steps)
    else:  # the run died outside any step (run worker killed, launch failed, cancelled)
        what = run_message or "the run failed outside any step"
    return Alert(raised_at=raised_at, severity="critical", kind="run_failed", subject=f"run of {job_name}",
                 what_failed=what,
                 how_to_fix=(f"open run {run_id} in the Dagster UI (stl ui) for the full log; fix the cause and "
                             "re-execute from the failed step. The published report and marts keep their last good version."),
                 failing_rows=None, run_id=run_id)


@dg.run_failure_sensor(name="run_failure_alert_sensor", minimum_interval_seconds=30,
                       default_status=dg.DefaultSensorStatus.RUNNING,
                       description="Alerts (alerts.log and the webhook) when any run fails, not only when a gate fails.")
def run_failure_alert_sensor(context: dg.RunFailureSensorContext):
    failed_steps = [(event.step_key or "?", root_cause(event.step_failure_data.error))
                    for event in context.get_step_failure_events()]
    alert = run_failure_alert(context.dagster_run.job_name, context.dagster_run.run_id, failed_steps,
                              context.failure_event.message or "", dt.datetime.now(dt.UTC).replace(tzinfo=None))
    problems = notify([alert], notifiers_for(get_settings()))
    for problem in problems:
        context.log.warning(f"run-failure alert not delivered: {problem}")
