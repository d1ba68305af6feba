"""The one Dagster entry point (workspace.yaml points here).

Importing it builds the definitions from the settings once and changes nothing else in the
process: the environment dbt and Dagster read (DAGSTER_HOME, STL_WAREHOUSE_PATH, telemetry off) is
exported by the entry points, `stl` commands (settings.apply_process_env) and `stl ui`'s child."""

import warnings

import dagster as dg

from orchestration.defs.assets.delivery import delivery_assets
from orchestration.defs.assets.ingestion import activity_lead_matches, build_ingestion_assets
from orchestration.defs.assets.quality_checks import gate_checks
from orchestration.defs.assets.statistics import statistics_assets
from orchestration.defs.assets.summary import pipeline_summary
from orchestration.defs.jobs import daily_job, leadership_job, retention_job, speed_to_lead_job, statistics_job
from orchestration.defs.partitions import daily_partitions
from orchestration.defs.progress import stl_progress_logger
from orchestration.defs.resources import build_resources
from orchestration.defs.schedules import build_schedules
from orchestration.defs.sensors import landing_file_sensor, run_failure_alert_sensor
from orchestration.settings import Settings, get_settings
from orchestration.defs.transform import dbt_models

# The ingestion assets use `backfill_policy` (one run per backfill), which Dagster 1.13 marks as
# beta and warns about once per asset, 13 times at every start. Known and accepted: silence that
# warning only.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy` of function `asset` is currently in beta",
                        category=dg.BetaWarning)


def build_definitions(settings: Settings) -> dg.Definitions:
    """Everything in the code location; partitions, schedules and the landing sensor follow
    ``settings`` (start date, timezone, snapshot frequency, landing directory)."""
    partitions = daily_partitions(settings)
    return dg.Definitions(
        assets=[*build_ingestion_assets(partitions), activity_lead_matches, dbt_models, pipeline_summary,
                *statistics_assets, *delivery_assets],
        asset_checks=gate_checks,
        jobs=[speed_to_lead_job, daily_job, statistics_job, leadership_job, retention_job],
        schedules=build_schedules(settings),
        sensors=[landing_file_sensor(settings, partitions), run_failure_alert_sensor],
        resources=build_resources(),
        # "console" is Dagster's default; "stl_progress" is the terminal progress and run log of
        # `stl run` (orchestration/defs/progress.py), active only when a run's config names it.
        loggers={"console": dg.colored_console_logger, "stl_progress": stl_progress_logger},
        # One machine: in-process execution avoids a process start per step (seconds each on 2
        # cores), and dbt parallelises inside its own build.
        executor=dg.in_process_executor,
    )


defs = build_definitions(get_settings())
