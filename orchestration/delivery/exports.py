"""Exports for people who file numbers: CSV and Parquet of the KPI history and key marts, each
with a fixed, documented schema (docs/exports.md is generated from ``EXPORTS``; a test keeps
them in sync and pins the schema), so a spreadsheet or a BI import does not break when a mart
gains a column.

    python -m orchestration.delivery.exports > docs/exports.md

CSV cells that a spreadsheet would run as a formula (starting with = + - @, tab or carriage
return) get a leading single quote. Lead and rep ids are pseudonyms (privacy.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from orchestration.delivery import privacy
from orchestration.delivery.snapshots import HISTORY_COLUMNS
from orchestration.ingest.normalize import quote

FORMULA_PREFIX_PATTERN = r"^[=+\-@\t\r]"


@dataclass(frozen=True)
class Export:
    name: str
    relation: str  # where the rows come from (the history is passed in, see write_exports)
    description: str
    columns: tuple[tuple[str, str, str], ...]  # (name, DuckDB type, description)


_HISTORY_DOCS = {
    "frequency": "weekly or daily", "period_start": "first local day of the period (schedule timezone)",
    "period_end": "first local day after the period", "period_timezone": "timezone that cuts the periods",
    "segment_type": "all, team, source or score_tier", "segment_value": "the team id, source, tier; 'all' overall; 'unknown' when empty",
    "kpi": "KPI name (docs/delivery.md)", "value": "KPI value: counts, seconds or shares 0-1; empty when it cannot be computed",
    "segment_lead_incidents": "lead incidents in the segment and period",
    "metric_definition_version": "metric definitions that produced the number",
    "snapshot_version": "1 for a period's first snapshot, +1 for each re-run", "dagster_run_id": "run that produced the row",
    "snapshotted_at": "when the row was computed (UTC)",
}

EXPORTS: tuple[Export, ...] = (
    Export("kpi_history", "snapshots.kpi_history", "Every KPI snapshot ever taken, all versions (append-only).",
           tuple((name, type_, _HISTORY_DOCS[name]) for name, type_ in HISTORY_COLUMNS)),
    Export("lead_response", "marts.fct_lead_response", "One row per lead incident (marts.fct_lead_response, selected columns).", (
        ("lead_id", "VARCHAR", "pseudonymous key of the incident's first lead"),
        ("lead_created_at", "TIMESTAMP", "CRM creation (UTC)"),
        ("clock_started_at", "TIMESTAMP", "response clock start (UTC)"),
        ("first_response_at", "TIMESTAMP", "first qualifying response (UTC); empty: unanswered"),
        ("is_answered", "BOOLEAN", "a qualifying response exists"),
        ("seconds_to_first_response", "DOUBLE", "calendar seconds to the first qualifying response"),
        ("business_seconds_to_first_response", "DOUBLE", "business seconds to the first qualifying response"),
        ("sla_seconds", "INTEGER", "SLA target"),
        ("sla_status", "VARCHAR", "met, breached or pending"),
        ("response_bucket", "VARCHAR", "response-time bucket"),
        ("routing_tier", "VARCHAR", "primary, secondary, tertiary or unanswered"),
        ("responding_rep_id", "VARCHAR", "pseudonymous key of the responding rep"),
        ("owner_rep_id", "VARCHAR", "pseudonymous key of the owner rep"),
        ("team_id", "VARCHAR", "team"),
        ("source", "VARCHAR", "acquisition channel"),
        ("campaign", "VARCHAR", "campaign"),
        ("score_tier", "VARCHAR", "lead score tier"),
        ("region", "VARCHAR", "sales region"),
        ("is_after_hours", "BOOLEAN", "clock started outside the team's hours"),
        ("metric_definition_version", "VARCHAR", "metric definitions that produced the row"),
    )),
    Export("response_by_segment", "marts.mart_response_by_segment", "Response KPIs per segment over all data.", (
        ("segment_type", "VARCHAR", "segment kind"), ("segment_value", "VARCHAR", "segment value (rep segments pseudonymous)"),
        ("leads", "BIGINT", "lead incidents"), ("share_answered", "DOUBLE", "share answered"),
        ("median_seconds_to_first_response", "DOUBLE", "median calendar seconds (answered leads)"),
        ("p90_seconds_to_first_response", "DOUBLE", "p90 calendar seconds (answered leads)"),
        ("median_business_seconds_to_first_response", "DOUBLE", "median business seconds"),
        ("share_answered_within_5m", "DOUBLE", "share of all leads answered within 5 minutes"),
        ("sla_compliance", "DOUBLE", "met / (met + breached)"),
        ("metric_definition_version", "VARCHAR", "metric definitions version"),
    )),
    Export("funnel_by_response_bucket", "marts.mart_funnel_by_response_bucket", "Funnel outcomes per response bucket.", (
        ("response_bucket", "VARCHAR", "response-time bucket"), ("bucket_order", "INTEGER", "sort order"),
        ("leads", "BIGINT", "lead incidents"), ("contact_rate", "DOUBLE", "share contacted"),
        ("booking_rate", "DOUBLE", "share with an appointment booked"), ("opportunities", "BIGINT", "incidents with an opportunity"),
        ("conversion_rate", "DOUBLE", "lead → opportunity"), ("revenue", "DOUBLE", "won revenue"),
        ("metric_definition_version", "VARCHAR", "metric definitions version"),
    )),
    Export("response_daily", "marts.mart_response_daily", "Daily monitoring series per team and overall.", (
        ("response_date", "DATE", "UTC day"), ("grouping_level", "VARCHAR", "team or all"), ("team_id", "VARCHAR", "team"),
        ("leads", "BIGINT", "lead incidents"), ("share_answered", "DOUBLE", "share answered"),
        ("median_seconds_to_first_response", "DOUBLE", "median calendar seconds"),
        ("p90_seconds_to_first_response", "DOUBLE", "p90 calendar seconds"),
        ("share_answered_within_5m", "DOUBLE", "share answered within 5 minutes"),
        ("sla_compliance", "DOUBLE", "met / (met + breached)"), ("metric_definition_version", "VARCHAR", "metric definitions version"),
    )),
)


def export_select(export: Export, key: bytes, relation: str | None = None) -> str:
    """The export's rows in its documented column order and types, person ids pseudonymised."""
    source = privacy.published_select(key, [c for c, _, _ in export.columns], relation or export.relation)
    return "SELECT " + ", ".join(f'CAST("{c}" AS {t}) AS "{c}"' for c, t, _ in export.columns) + f" FROM ({source})"


def neutralised_csv_select(export: Export, inner: str) -> str:
    """Text cells a spreadsheet could execute get a leading quote (OWASP's CSV-injection advice)."""
    items = [f"CASE WHEN regexp_matches(\"{c}\", '{FORMULA_PREFIX_PATTERN}') THEN '''' || \"{c}\" ELSE \"{c}\" END AS \"{c}\""
             if t == "VARCHAR" else f'"{c}"' for c, t, _ in export.columns]
    return f"SELECT {', '.join(items)} FROM ({inner})"


def write_exports(con, key: bytes, out_dir: Path, history_sql: str) -> list[Path]:
    """Write every export as CSV and Parquet into ``out_dir`` (a staging directory: the publish
    step moves them into place). ``history_sql`` is the KPI history including this run's rows."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for export in EXPORTS:
        relation = f"({history_sql})" if export.name == "kpi_history" else None
        csv, parquet = out_dir / f"{export.name}.csv", out_dir / f"{export.name}.parquet"
        # Pseudonymised once (two SHA-256 per person id and row), then written twice: 1M leads'
        # exports took 5.4 s computing it for each file. The rows keep their order (CSV and
        # Parquet stay row-for-row alike); the Parquet file is the table, CSV is read back from it.
        con.execute(f"COPY ({export_select(export, key, relation)}) TO '{parquet}' (FORMAT parquet)")
        con.execute(f"COPY ({neutralised_csv_select(export, f'SELECT * FROM read_parquet({quote(str(parquet))})')}) "
                    f"TO '{csv}' (FORMAT csv, HEADER)")
        written += [csv, parquet]
    return written


def render_doc() -> str:
    lines = ["# Exports", "",
             "*Generated from `orchestration/delivery/exports.py` by "
             "`python -m orchestration.delivery.exports > docs/exports.md`; a test keeps it in sync.*", "",
             "Every delivery run writes these files to `<STL_OUTPUT_DIR>/exports/`, each as `<name>.csv` "
             "(UTF-8, header row, comma-separated, RFC-4180 quoting, empty cell = NULL, timestamps "
             "`YYYY-MM-DD HH:MM:SS[.ffffff]` in UTC) and `<name>.parquet` (the types below). They are "
             "replaced together at the end of a successful run, never half-written.", "",
             "The schema is stable: columns are only ever added at the end, never renamed, retyped or "
             "removed without a new major version of this document.", "",
             "- **Pseudonyms**: `lead_id`, `*_rep_id` and rep segment values are keyed hashes "
             "(`p_` + 24 hex characters), stable across runs for the same key (docs/delivery.md, Privacy).",
             "- **Spreadsheet safety**: in the CSV files a text cell starting with `=`, `+`, `-`, `@`, a tab "
             "or a carriage return is prefixed with a single quote `'` so that spreadsheets show it as text "
             "instead of running it as a formula. The Parquet files hold the values unchanged.", ""]
    for export in EXPORTS:
        lines += [f"## `{export.name}`", "", f"{export.description} Source: `{export.relation}`.", "",
                  "| column | type | description |", "|---|---|---|"]
        lines += [f"| `{c}` | {t} | {d} |" for c, t, d in export.columns]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_doc(), end="")
