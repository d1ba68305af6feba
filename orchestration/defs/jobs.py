"""Jobs: everything (the main job), the leadership delivery job, and retention."""

import dagster as dg

from orchestration.ingest import contract as c
from orchestration.defs.resources import WarehouseResource
from orchestration.warehouse import WAREHOUSE_POOL

speed_to_lead_job = dg.define_asset_job(
    "speed_to_lead_job",
    selection=dg.AssetSelection.all(),
    description="Ingest the landing directory (and SQL source) → match telephony → dbt build → delivery.",
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
