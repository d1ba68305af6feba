"""Ingestion assets: one per extract entity (``raw/<entity>``), plus telephony matching."""


import datetime as dt

import dagster as dg

from orchestration.ingest import contract as c
from orchestration.ingest.batches import EntityLoadResult
from orchestration.ingest.matching import build_matches, match_rates
from orchestration.ingest.service import ingest_entity
from orchestration.quality.availability import record_status, status_from_extract_counts
from orchestration.defs.resources import WarehouseResource
from orchestration.warehouse import WAREHOUSE_POOL


class IngestConfig(dg.Config):
    full_load: bool = False  # read every file in the landing directory, whatever the partition


def partition_window(context: dg.AssetExecutionContext) -> tuple[dt.date, dt.date] | None:
    """(first, last) extract date of the run's partition key or key range."""
    if not context.has_partition_key_range:
        return None
    window = context.partition_time_window
    return window.start.date(), (window.end - dt.timedelta(days=1)).date()


def load_metadata(result: EntityLoadResult) -> dict:
    files = [f for f in result.files if f.status != "unchanged"]
    table = "| file | status | read | loaded | quarantined | reasons |\n|---|---|---:|---:|---:|---|\n" + "".join(
        f"| {f.identity} | {f.status} | {f.rows_read} | {f.rows_loaded} | {f.rows_quarantined} | "
        f"{', '.join(f'{k}: {v}' for k, v in f.reasons.items())} |\n"
        for f in files[:200]
    )
    return {
        "load_id": result.load_id,
        "files_loaded": len(files),
        "files_unchanged": len(result.files) - len(files),
        "rows_read": result.total("rows_read"),
        "rows_loaded": result.total("rows_loaded"),
        "rows_quarantined": result.total("rows_quarantined"),
        "quarantine_by_reason": dg.MetadataValue.json(result.reasons()),
        "naive_timestamps_localised": result.naive_timestamps,
        "dst_ambiguous_local_times": result.ambiguous_local_times,
        "dst_nonexistent_local_times": result.nonexistent_local_times,
        "unparseable_phone_numbers": result.unparseable_phones,
        "ignored_columns": dg.MetadataValue.json(result.ignored_columns),
        "row_accounting": dg.MetadataValue.md(table if files else "no new or changed files"),
    }


def _ingestion_asset(entity: c.Entity, partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        key=["raw", entity.name],
        group_name="ingestion",
        description=f"{entity.description} Loaded from the landing directory (and the SQL source, if set).",
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,
        kinds={"duckdb"},
    )
    def _asset(context: dg.AssetExecutionContext, config: IngestConfig, warehouse: WarehouseResource):
        window = None if config.full_load else partition_window(context)
        with warehouse.writer() as con:
            result = ingest_entity(con, warehouse.settings(), entity.name, window)
        context.log.info(
            f"{entity.name}: read {result.total('rows_read')}, loaded {result.total('rows_loaded')}, "
            f"quarantined {result.total('rows_quarantined')} {result.reasons()}"
        )
        return dg.MaterializeResult(metadata=load_metadata(result))

    return _asset


def build_ingestion_assets(partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    """One asset per extract entity, partitioned by extract date (orchestration/defs/partitions.py)."""
    return [_ingestion_asset(entity, partitions_def) for entity in c.ENTITIES]


@dg.asset(
    key=["raw", "activity_lead_matches"],
    group_name="ingestion",
    deps=[dg.AssetKey(["raw", name]) for name in ("leads", *c.ACTIVITY_ENTITIES)],
    description="Calls, SMS and emails matched to leads by CRM id, E.164 phone or email; match rate per channel.",
    pool=WAREHOUSE_POOL,
    kinds={"duckdb"},
)
def activity_lead_matches(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    with warehouse.writer() as con:
        matching = build_matches(con)
        rates = match_rates(con)
        counts = extract_counts(con)
        # What the extracts allow; the statistics assets refine their own outputs' status later.
        statuses = status_from_extract_counts(counts)
        record_status(con, statuses, context.run_id)
    total = sum(r["activities"] for r in rates.values())
    unmatched = sum(r["unmatched"] for r in rates.values())
    missing = [s.line() for s in statuses if not s.available]
    if missing:
        context.log.warning("outputs not available from these extracts:\n  " + "\n  ".join(missing))
    context.log.info(f"matching: {matching.mode} ({matching.reason}), {sum(matching.rematched.values())} activities matched")
    return dg.MaterializeResult(metadata={
        "matching": f"{matching.mode}: {matching.reason}",
        "activities_matched_this_run": dg.MetadataValue.json(matching.rematched),
        "outputs_not_available": dg.MetadataValue.md("\n".join(f"- {line}" for line in missing) or "none"),
        "rows_per_extract": dg.MetadataValue.json(counts),
        "activities": total,
        "match_rate": round((total - unmatched) / total, 4) if total else None,
        "by_channel": dg.MetadataValue.json(rates),
    })


def extract_counts(con) -> dict[str, int]:
    """Rows per raw extract table (0 for an extract never delivered)."""
    present = {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw'").fetchall()}
    return {e.name: (con.execute(f"SELECT count(*) FROM raw.{e.name}").fetchone()[0] if e.name in present else 0)
            for e in c.ENTITIES}
