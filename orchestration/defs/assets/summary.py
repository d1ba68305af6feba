"""Where a run ends for a person: what landed, what was quarantined and why, match rates."""


import datetime as dt
import json
import os
from pathlib import Path

import dagster as dg

from orchestration.delivery.report import duration
from orchestration.delivery.snapshots import ALL_TIME, KPI_MART
from orchestration.ingest import contract as c
from orchestration.ingest.matching import match_rates
from orchestration.quality.alerts import Alert, notifiers_for, notify, record_alerts
from orchestration.quality.availability import OUTPUT_BY_NAME, OUTPUTS, OutputStatus, current_status
from orchestration.quality.gates import build_data_docs_index
from orchestration.defs.resources import WarehouseResource
from orchestration.warehouse import WAREHOUSE_POOL


def write_atomically(path: Path, text: str) -> None:
    """Write beside the target, then rename: a reader never sees half a file, even if killed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def collect_summary(con, run_started_at: dt.datetime | None = None) -> dict:
    files = con.execute("""
        SELECT entity, count(*), sum(rows_read), sum(rows_loaded), sum(rows_quarantined)
        FROM raw.ingested_files GROUP BY entity ORDER BY entity""").fetchall()
    reasons = con.execute("""
        SELECT entity, reason, count(*) FROM raw.quarantine GROUP BY ALL ORDER BY entity, reason""").fetchall()
    current = {e.name: current_records(con, e) for e in c.ENTITIES}
    return {
        "response": overall_kpis(con),
        "files": {r[0]: {"files": r[1], "rows_read": r[2], "rows_loaded": r[3], "rows_quarantined": r[4]} for r in files},
        "quarantine": [{"entity": r[0], "reason": r[1], "rows": r[2]} for r in reasons],
        "current_records": current,
        "match_rates": match_rates(con),
        "new_rows_this_run": None if run_started_at is None else new_rows_since(con, run_started_at),
        "outputs": {name: {"title": s.title, "available": s.available, "reason": s.reason, "remedy": s.remedy}
                    for name, s in current_status(con).items()},
    }


# The run summary's response figures, over all data.
SUMMARY_KPIS = ("share_answered", "median_seconds_to_first_response", "p90_seconds_to_first_response",
                "median_business_seconds_to_first_response", "sla_compliance")


def current_records(con, entity: c.Entity) -> int:
    """Records of the entity in their current version: the rows of its staging view, which keeps
    the latest version per contract key (dbt's contract_key is generated from the same contract).
    Counted as distinct keys in raw, without the view's window sort: counting the four activity
    and history views took 3.2 s of the summary at 1M leads."""
    return con.execute(f"SELECT count(*) FROM (SELECT DISTINCT {', '.join(entity.key)} FROM raw.{entity.name})").fetchone()[0]


def overall_kpis(con) -> dict:
    """The response KPIs over all data, read from the KPI mart's all-time period (the same rows
    the snapshots copy; the formulas are dbt's). No lead yet: 0 incidents, the rest None."""
    rows = con.execute(f"""SELECT kpi, value, segment_lead_incidents, metric_definition_version FROM {KPI_MART}
                           WHERE frequency = ? AND segment_type = 'all'""", [ALL_TIME]).fetchall()
    values = {kpi: value for kpi, value, _, _ in rows}
    return {"lead_incidents": rows[0][2] if rows else 0, **{k: values.get(k) for k in SUMMARY_KPIS},
            "metric_definition_version": rows[0][3] if rows else None}


def new_rows_since(con, started_at: dt.datetime) -> int:
    """Rows read from new or changed files since the run started: 0 = nothing new arrived."""
    return con.execute("SELECT coalesce(sum(rows_read), 0) FROM raw.load_history WHERE loaded_at >= ?",
                       [started_at]).fetchone()[0]


def summary_markdown(summary: dict) -> str:
    r = summary["response"]
    minutes = duration  # the report's units: seconds, minutes, hours or days as the value needs
    share = lambda x: "n/a" if x is None else f"{x:.1%}"  # noqa: E731
    lines = ["# Pipeline summary", "", "## Response times (marts.fct_lead_response)", "",
             f"- lead incidents: {r['lead_incidents']}, answered: {share(r['share_answered'])}",
             f"- time to first qualifying response: median {minutes(r['median_seconds_to_first_response'])}, "
             f"p90 {minutes(r['p90_seconds_to_first_response'])}; business-hours median "
             f"{minutes(r['median_business_seconds_to_first_response'])}",
             f"- SLA compliance: {share(r['sla_compliance'])} (metric definitions v{r['metric_definition_version']})",
             "", "## Extracts", "", "| entity | files | rows read | loaded | quarantined | current records |",
             "|---|---:|---:|---:|---:|---:|"]
    for entity, f in summary["files"].items():
        lines.append(f"| {entity} | {f['files']} | {f['rows_read']} | {f['rows_loaded']} | {f['rows_quarantined']} | "
                     f"{summary['current_records'].get(entity, '')} |")
    missing = [(o, summary["outputs"][o.output]) for o in OUTPUTS
               if o.output in summary["outputs"] and not summary["outputs"][o.output]["available"]]
    if missing:
        lines += ["", "## Not available", ""]
        lines += [f"- **{o.title}**: not available: {s['reason']}" + (f"; {s['remedy']}" if s["remedy"] else "")
                  for o, s in missing]
    if summary.get("new_rows_this_run") == 0:
        lines += ["", "**Warning: this run read no new rows** (no new or changed files in the landing directory "
                      "or the SQL source): the numbers are those of the previous load."]
    lines += ["", "## Quarantine", "", "| entity | reason | rows |", "|---|---|---:|"]
    lines += [f"| {q['entity']} | {q['reason']} | {q['rows']} |" for q in summary["quarantine"]]
    lines += ["", "## Telephony and messaging matched to leads", "", "| channel | activities | by CRM id | by phone | by email | unmatched | match rate |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for channel, r in summary["match_rates"].items():
        lines.append(f"| {channel} | {r['activities']} | {r['by_crm_id']} | {r['by_phone']} | {r['by_email']} | "
                     f"{r['unmatched']} | {r['match_rate']:.1%} |")
    return "\n".join(lines) + "\n"


@dg.asset(
    group_name="delivery",
    deps=[dg.AssetKey(["staging", f"stg_{e.name}"]) for e in c.ENTITIES]
    + [dg.AssetKey(["staging", "stg_activity_lead_matches"]), dg.AssetKey(["marts", "mart_kpi_by_period"])]
    # After the statistics, so the summary can say which analyses were skipped and why.
    + [dg.AssetKey(["stats", t]) for t in ("speed_conversion_effects", "conversion_curve", "volume_forecast",
                                           "staffing_plan", "rep_outliers", "experiment_effects",
                                           "sla_breach_drivers")],
    description="Run summary (extracts, quarantine, match rates) written to the output directory.",
    pool=WAREHOUSE_POOL,
)
def pipeline_summary(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    settings = warehouse.settings()
    stats = context.instance.get_run_stats(context.run_id)
    started = dt.datetime.fromtimestamp(stats.start_time, dt.UTC).replace(tzinfo=None) if stats.start_time else None
    with warehouse.writer() as con:
        summary = collect_summary(con, started)
        alerts = skipped_analysis_alerts(current_status(con), summary["current_records"], context.run_id)
        if summary["new_rows_this_run"] == 0:
            alerts.append(Alert(
                raised_at=dt.datetime.now(dt.UTC).replace(tzinfo=None), severity="warning", kind="nothing_new",
                subject="ingestion: this run read no new rows",
                what_failed="no new or changed files in the landing directory (or rows in the SQL source)",
                how_to_fix="Check that today's exports were delivered to STL_LANDING_DIR under the expected names "
                           "(stl check lists what it finds).", failing_rows=None, run_id=context.run_id))
        record_alerts(con, alerts)
    notify(alerts, notifiers_for(settings))
    markdown = summary_markdown(summary)
    write_atomically(settings.output_dir / "pipeline_summary.json", json.dumps(summary, indent=2, default=str))
    write_atomically(settings.output_dir / "pipeline_summary.md", markdown)
    build_data_docs_index(settings)  # the index over every gate of this run (docs/data_quality.md)
    return dg.MaterializeResult(metadata={"summary": dg.MetadataValue.md(markdown),
                                          "path": str(settings.output_dir / "pipeline_summary.md")})


def skipped_analysis_alerts(statuses: dict[str, OutputStatus], records: dict[str, int], run_id: str) -> list[Alert]:
    """A warning per analysis that its extracts allowed but its data could not support (too few
    leads, no variation, too short a history). An output whose optional extract is simply absent
    is in the summary and the report, not alerted on every run."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    alerts = []
    for s in statuses.values():
        needs = OUTPUT_BY_NAME.get(s.output)
        extracts_present = needs is None or (all(records.get(e) for e in needs.needs)
                                             and (not needs.needs_any or any(records.get(e) for e in needs.needs_any)))
        if not s.available and extracts_present:
            alerts.append(Alert(raised_at=now, severity="warning", kind="analysis_skipped",
                                subject=f"{s.title}: not available", what_failed=s.reason or "",
                                how_to_fix=s.remedy or "", failing_rows=None, run_id=run_id))
    return alerts
