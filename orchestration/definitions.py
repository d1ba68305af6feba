"""The one Dagster entry point (workspace.yaml points here)."""

import warnings

import dagster as dg

from orchestration.settings import apply_process_env, get_settings

# The ingestion assets use `backfill_policy` (one run per backfill), which Dagster 1.13 marks as
# beta and warns about once per asset, 13 times at every start. Known and accepted: silence that
# warning only, before the assets below are defined.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy` of function `asset` is currently in beta",
                        category=dg.BetaWarning)

apply_process_env(get_settings())

from orchestration.assets.delivery import delivery_assets  # noqa: E402
from orchestration.assets.ingestion import activity_lead_matches, ingestion_assets  # noqa: E402
from orchestration.assets.quality_checks import gate_checks  # noqa: E402
from orchestration.assets.statistics import statistics_assets  # noqa: E402
from orchestration.assets.summary import pipeline_summary  # noqa: E402
from orchestration.jobs import leadership_job, retention_job, speed_to_lead_job  # noqa: E402
from orchestration.pipeline import stl_progress_logger  # noqa: E402
from orchestration.resources import build_resources  # noqa: E402
from orchestration.schedules import daily_pipeline_schedule, retention_schedule, weekly_leadership_schedule  # noqa: E402
from orchestration.sensors import landing_file_sensor, run_failure_alert_sensor  # noqa: E402
from orchestration.transform import dbt_models  # noqa: E402

defs = dg.Definitions(
    assets=[*ingestion_assets, activity_lead_matches, dbt_models, pipeline_summary, *statistics_assets,
            *delivery_assets],
    asset_checks=gate_checks,
    jobs=[speed_to_lead_job, leadership_job, retention_job],
    schedules=[daily_pipeline_schedule, weekly_leadership_schedule, retention_schedule],
    sensors=[landing_file_sensor, run_failure_alert_sensor],
    resources=build_resources(),
    # "console" is Dagster's default; "stl_progress" is the terminal progress and run log of `stl run`
    # (orchestration/pipeline.py), active only when a run's config names it.
    loggers={"console": dg.colored_console_logger, "stl_progress": stl_progress_logger},
    # One machine: in-process execution avoids a process start per step (seconds each on 2 cores),
    # and dbt parallelises inside its own build.
    executor=dg.in_process_executor,
)
