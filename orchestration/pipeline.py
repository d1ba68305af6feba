"""Running the main Dagster job from a terminal (the CLI's demo and run, and the benchmark)."""

from __future__ import annotations

import datetime as dt
import os

from orchestration.settings import Settings, apply_process_env


def run_main_job(settings: Settings, partition: dt.date | None = None, full_load: bool = True):
    """Execute speed_to_lead_job in this process against the configured instance.

    ``full_load`` reads every landing file (the first load); otherwise only the partition's
    extract date. Returns the Dagster ExecuteInProcessResult."""
    settings.ensure_dirs()
    os.environ["DAGSTER_HOME"] = str(settings.dagster_home)
    apply_process_env(settings)

    from orchestration.dbt_project import prepare_manifest

    prepare_manifest()

    import dagster as dg

    from orchestration.definitions import defs
    from orchestration.jobs import full_load_run_config
    from orchestration.partitions import daily_partitions

    key = partition.isoformat() if partition else daily_partitions.get_last_partition_key()
    job = defs.resolve_job_def("speed_to_lead_job")
    run_config = full_load_run_config() if full_load else {}
    # A terminal wants progress, not Dagster's per-event debug lines (the UI keeps them all).
    run_config["loggers"] = {"console": {"config": {"log_level": "INFO"}}}
    return job.execute_in_process(
        instance=dg.DagsterInstance.get(),
        partition_key=key,
        run_config=run_config,
        raise_on_error=False,
    )


def step_timings(result) -> dict[str, float]:
    """Wall seconds per step of a finished in-process run, from the instance's event log."""
    import dagster as dg

    starts, timings = {}, {}
    for entry in dg.DagsterInstance.get().all_logs(result.run_id):
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type_value == "STEP_START":
            starts[event.step_key] = entry.timestamp
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and event.step_key in starts:
            timings[event.step_key] = round(entry.timestamp - starts[event.step_key], 3)
    return timings
