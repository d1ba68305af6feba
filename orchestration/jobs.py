"""Jobs: everything (the main job), and the leadership delivery job."""

import dagster as dg

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
    """Run config that makes every ingestion asset read the whole landing directory (and every
    SQL source row), whatever partition the run is for: the first load, or a reload after a fix."""
    from orchestration.assets.ingestion import ingestion_assets

    return {"ops": {a.op.name: {"config": {"full_load": True}} for a in ingestion_assets}}
