"""Jobs: everything (the main job), the daily run without the statistics and the statistics on
their own, the leadership delivery job, and retention."""

import dagster as dg

from orchestration.defs.assets.statistics import GROUP as STATISTICS_GROUP
from orchestration.ingest import contract as c
from orchestration.defs.resources import WarehouseResource
from orchestration.warehouse import WAREHOUSE_POOL

speed_to_lead_job = dg.define_asset_job(
    "speed_to_lead_job",
    selection=dg.AssetSelection.all(),
    description="Ingest the landing directory (and SQL source) → match telephony → dbt build → statistics → delivery.",
)

# The daily schedule's run when the statistics are weekly (STL_STATISTICS_FREQUENCY): a year of
# history barely moves in a day, and their fits are a fixed share of every run (17.5 of the 91 s
# of a daily run at 1M leads). Delivery then reads the last fit, and the report says when it was.
daily_job = dg.define_asset_job(
    "daily_job",
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups(STATISTICS_GROUP),
    description="The daily run: ingest → match → dbt build → delivery; the statistics run weekly (statistics_job).",
)

statistics_job = dg.define_asset_job(
    "statistics_job",
    selection=dg.AssetSelection.groups(STATISTICS_GROUP),
    description="The statistics (effects, forecast, staffing, outliers, experiments) on the current marts.",
)

leadership_job = dg.define_asset_job(
    "leadership_job",
    selection=dg.AssetSelection.groups("delivery"),
    description="Leadership deliverables from the current marts.",
)


def full_load_run_config() -> dict:
    """Run config that makes every ingestion asset (``raw/<entity>``) read the whole landing
    directory (and every SQL source row), whatever partition the run is for: the first load, or
    a reload after a fix."""
    return {"ops": {dg.AssetKey(["raw", e.name]).to_python_identifier(): {"config": {"full_load": True}}
                    for e in c.ENTITIES}}


@dg.op(pool=WAREHOUSE_POOL, description="Purge raw personal data older than STL_RETENTION_DAYS (docs/delivery.md).")
def purge_personal_data(context: dg.OpExecutionContext, warehouse: WarehouseResource) -> None:
    from orchestration.delivery.privacy import pseudonym_key
    from orchestration.delivery.retention import purge_personal_data as purge

    settings = warehouse.settings()
    with warehouse.writer() as con:
        touched = purge(con, pseudonym_key(settings), settings.retention_days)
    context.log.info(f"purged personal data older than {settings.retention_days} days: {touched}")


@dg.job(description="Retention: purge raw personal data older than STL_RETENTION_DAYS; facts and snapshots stay.")
def retention_job():
    purge_personal_data()
