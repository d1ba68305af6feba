"""Delivery assets (group "delivery"): KPI snapshot → report and exports → publish → email.

The snapshot, report and exports only *stage* their output; ``published_marts`` commits
everything at once (orchestration/delivery/publish.py), after checking the quality gates, so
leadership and analysts never see half a run or numbers that failed a gate. Every asset depends
on the marts (and statistics) it reads: the blocking checks on those skip delivery when they fail.
The email goes out only after a successful publish, so leadership never gets numbers that failed a gate.
"""

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg

from orchestration.defs.assets.summary import write_atomically
from orchestration.delivery import email_delivery, exports, privacy, publish, report, snapshots
from orchestration.quality.gates import build_data_docs_index
from orchestration.defs.resources import WarehouseResource
from orchestration.defs.transform import dbt_models
from orchestration.warehouse import WAREHOUSE_POOL

MART_KEYS = sorted((k for k in dbt_models.keys if k.path[0] == "marts"), key=lambda k: k.to_user_string())
# The snapshot copies its figures from the KPI mart (the formulas live in dbt) and reads the
# fact only for the data's time span.
SNAPSHOT_SOURCE_KEYS = [dg.AssetKey(["marts", name]) for name in ("fct_lead_response", "mart_kpi_by_period", "mart_kpi_definitions")]
# Built by the statistics engineer's assets; the report shows "not available" where they are missing.
STATS_KEYS = [dg.AssetKey(["stats", t]) for t in ("speed_conversion_effects", "conversion_curve", "volume_forecast",
                                                  "forecast_backtest", "staffing_plan", "rep_outliers", "experiment_effects",
                                                  "sla_breach_drivers")]


class SnapshotConfig(dg.Config):
    """Which period to snapshot. The schedule sets ``run_date`` to its tick's local date."""

    run_date: str | None = None  # YYYY-MM-DD: snapshot the last full period before this day
    frequency: str | None = None  # weekly | daily (default: STL_SNAPSHOT_FREQUENCY)


def _current_snapshot(con, run_id: str) -> list[dict]:
    cur = con.execute(f"SELECT * FROM ({snapshots.history_with_pending_sql(run_id)}) WHERE dagster_run_id = ?", [run_id])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def _period_of(rows: list[dict]) -> snapshots.Period:
    r = rows[0]
    return snapshots.Period(r["frequency"], r["period_start"], r["period_end"], r["period_timezone"])


@dg.asset(
    key=["snapshots", "kpi_history"],
    group_name="delivery",
    deps=SNAPSHOT_SOURCE_KEYS,
    description="This run's KPI snapshot (KPI × segment for one period), appended to snapshots.kpi_history when published.",
    pool=WAREHOUSE_POOL,
)
def kpi_snapshot(context: dg.AssetExecutionContext, config: SnapshotConfig, warehouse: WarehouseResource):
    settings = warehouse.settings()
    removed = publish.clean_stale(settings.output_dir, settings.published_dir, context.run_id)
    frequency = config.frequency or settings.snapshot_frequency
    tz = settings.schedule_timezone
    with warehouse.writer() as con:
        if config.run_date:
            run_date = dt.date.fromisoformat(config.run_date)
        else:
            run_date = snapshots.data_end_date(con, tz) or dt.datetime.now(ZoneInfo(tz)).date()
        period = snapshots.period_ending(frequency, run_date, tz)
        rows = snapshots.stage_snapshot(con, period, context.run_id, dt.datetime.now(dt.UTC).replace(tzinfo=None))
        backfilled = snapshots.backfilled_periods(con, context.run_id)
        overall = {r["kpi"]: r["value"] for r in _current_snapshot(con, context.run_id) if r["segment_type"] == "all"}
    return dg.MaterializeResult(metadata={
        "period": f"{period.label} ({period.start} – {period.end - dt.timedelta(days=1)}, {tz})",
        "rows": rows, "backfilled_periods": backfilled, "stale_files_removed": len(removed),
        "lead_incidents": overall.get("lead_incidents"), "sla_compliance": overall.get("sla_compliance"),
        "median_seconds_to_first_response": overall.get("median_seconds_to_first_response")})


@dg.asset(
    group_name="delivery",
    deps=[kpi_snapshot, *MART_KEYS, *STATS_KEYS],
    description="Leadership report (self-contained HTML with SVG charts) for the snapshot's period.",
    pool=WAREHOUSE_POOL,
)
def leadership_report(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    settings = warehouse.settings()
    # The Data Docs the report links to (passing gates render nothing; the run summary renders
    # the index again at the very end, with every gate of the run).
    build_data_docs_index(settings)
    with warehouse.writer() as con:
        data = _report_data(con, context.run_id, settings)
    html = report.render(data)
    path = publish.staging_dir(settings.output_dir, context.run_id) / publish.REPORT
    write_atomically(path, html)
    missing = [name for name in report.SECTION_OUTPUTS | {"quality": None} if "unavailable" in data[name]]
    return dg.MaterializeResult(metadata={"published_as": str(settings.output_dir / publish.REPORT),
                                          "bytes": len(html.encode()), "sections_not_available": ", ".join(missing) or "none",
                                          "narrative": dg.MetadataValue.md("\n".join(f"- {s}" for s in report.narrative(data)))})


def _report_data(con, run_id: str, settings) -> dict:
    snapshot = _current_snapshot(con, run_id)
    if not snapshot:
        # This run took no snapshot (the email step re-executed on its own): the latest published one.
        cur = con.execute(f"""SELECT * FROM {snapshots.HISTORY_TABLE}
                              QUALIFY (period_start, snapshot_version) = max((period_start, snapshot_version)) OVER ()""")
        names = [d[0] for d in cur.description]
        snapshot = [dict(zip(names, row)) for row in cur.fetchall()]
    if not snapshot:
        raise ValueError("no KPI snapshot to report: run the kpi_history asset first")
    return report.collect(con, _period_of(snapshot), snapshot, settings.output_dir, report.parse_targets(settings.report_targets),
                          history_sql=snapshots.history_with_pending_sql(run_id))


@dg.asset(
    group_name="delivery",
    deps=[kpi_snapshot, *MART_KEYS],
    description="CSV and Parquet exports of the KPI history and key marts (docs/exports.md).",
    pool=WAREHOUSE_POOL,
)
def delivery_exports(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    settings = warehouse.settings()
    out = publish.staging_dir(settings.output_dir, context.run_id) / publish.EXPORTS_DIR
    with warehouse.writer() as con:
        files = exports.write_exports(con, privacy.pseudonym_key(settings), out,
                                      snapshots.history_with_pending_sql(context.run_id))
    return dg.MaterializeResult(metadata={"published_in": str(settings.output_dir / publish.EXPORTS_DIR),
                                          "files": ", ".join(p.name for p in files)})


@dg.asset(
    group_name="delivery",
    deps=[leadership_report, delivery_exports, *MART_KEYS, *STATS_KEYS],
    description="Publishes atomically: analysts' read-only DuckDB file and Parquet, the report, the exports, the KPI history.",
    pool=WAREHOUSE_POOL,
)
def published_marts(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    settings = warehouse.settings()
    with warehouse.writer() as con:
        failed = publish.failed_gates(con)
        if failed:
            raise publish.GateFailed(f"not publishing: the latest quality check failed {', '.join(failed)}")
        snapshot = _current_snapshot(con, context.run_id)
        staged = publish.stage_published(con, privacy.pseudonym_key(settings), settings.published_dir, context.run_id,
                                         snapshots.history_with_pending_sql(context.run_id),
                                         snapshot[0]["metric_definition_version"] if snapshot else None)
        version = publish.commit(con, context.run_id, settings.output_dir, settings.published_dir, staged)
    db = settings.published_dir / publish.PUBLISHED_DB
    return dg.MaterializeResult(metadata={
        "duckdb": str(db), "sqlalchemy_url": f"duckdb:///{db}?access_mode=read_only",
        "parquet": str(settings.published_dir / publish.PARQUET_DIR / publish.CURRENT),
        "report": str(settings.output_dir / publish.REPORT), "snapshot_version": version,
        "tables": dg.MetadataValue.json(staged["tables"])})


@dg.asset(
    group_name="delivery",
    deps=[published_marts],
    description="Emails the published report to STL_REPORT_RECIPIENTS (body: narrative and headline table; "
                "attachments: PDF and HTML). Skipped, with a note, when SMTP is not configured.",
    pool=WAREHOUSE_POOL,
)
def leadership_email(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    settings = warehouse.settings()
    if not email_delivery.is_configured(settings):
        return dg.MaterializeResult(metadata={"sent": False, "note": "not sent: set STL_SMTP_HOST and STL_REPORT_RECIPIENTS "
                                                                      "(docs/delivery.md, Email)"})
    with warehouse.writer() as con:
        data = _report_data(con, context.run_id, settings)
    attached_html = report.render(data, for_email=True)
    pdf = email_delivery.render_pdf(attached_html)
    message = email_delivery.build_message(data, attached_html, pdf, settings.report_sender or f"speed-to-lead@{settings.smtp_host}",
                                           settings.report_recipients)
    # A refused or unreachable server fails this step, so the run-failure sensor alerts.
    email_delivery.send(message, settings)
    return dg.MaterializeResult(metadata={"sent": True, "recipients": len(settings.report_recipients),
                                          "subject": message["Subject"], "pdf_bytes": len(pdf)})


delivery_assets = [kpi_snapshot, leadership_report, delivery_exports, published_marts, leadership_email]
