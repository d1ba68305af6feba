"""Leadership KPI snapshots: one row per KPI, period and segment, appended to
``snapshots.kpi_history`` and never rewritten.

A period is a local calendar week (Monday to Sunday) or day in the schedule's timezone. The
schedule's tick names the day the run is for and the period is the last full one before it; a
run without a date (``stl demo``, a manual materialisation) takes the last full period before
the end of the data, so a rerun on the same data reports the same period. Re-running a period
appends a new ``snapshot_version``; readers take the latest version per period.

Rows are first written to ``snapshots.kpi_pending`` by the snapshot asset; the publish step
appends them to the history in the same breath as it swaps the published files (see
publish.py), so a run that dies half-way leaves the history as it was.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from orchestration.metric_definitions import answered_within_minutes

FREQUENCIES = ("weekly", "daily")
SEGMENTS = {"all": None, "team": "team_id", "source": "source", "score_tier": "score_tier"}

# KPI name → aggregate over marts.fct_lead_response f joined to int_incident_outcomes o.
# Names follow the marts' columns (docs/marts.md); medians and percentiles are over answered
# leads, shares over all leads, SLA compliance over met + breached (pending left out).
KPIS = {
    "lead_incidents": "count(*)",
    "share_answered": "avg(CASE WHEN f.is_answered THEN 1.0 ELSE 0.0 END)",
    "median_seconds_to_first_response": "quantile_cont(f.seconds_to_first_response, 0.5)",
    "p90_seconds_to_first_response": "quantile_cont(f.seconds_to_first_response, 0.9)",
    "median_business_seconds_to_first_response": "quantile_cont(f.business_seconds_to_first_response, 0.5)",
    "p90_business_seconds_to_first_response": "quantile_cont(f.business_seconds_to_first_response, 0.9)",
    "sla_compliance": "count_if(f.sla_status = 'met') / nullif(count_if(f.sla_status IN ('met', 'breached')), 0)",
    # One KPI per threshold of answered_within_minutes (metric definitions), e.g. share_answered_within_5m.
    **{f"share_answered_within_{m}m": f"avg(CASE WHEN f.is_answered AND f.seconds_to_first_response <= {m * 60} "
                                      "THEN 1.0 ELSE 0.0 END)" for m in answered_within_minutes()},
    "escalation_rate": "avg(CASE WHEN f.escalation_reached THEN 1.0 ELSE 0.0 END)",
    "contact_rate": "avg(CAST(o.is_contacted AS DOUBLE))",
    "booking_rate": "avg(CAST(o.is_booked AS DOUBLE))",
    "opportunity_conversion_rate": "avg(CAST(o.has_opportunity AS DOUBLE))",
}

HISTORY_COLUMNS = [
    ("frequency", "VARCHAR"), ("period_start", "DATE"), ("period_end", "DATE"), ("period_timezone", "VARCHAR"),
    ("segment_type", "VARCHAR"), ("segment_value", "VARCHAR"), ("kpi", "VARCHAR"), ("value", "DOUBLE"),
    ("segment_lead_incidents", "BIGINT"), ("metric_definition_version", "VARCHAR"),
    ("snapshot_version", "INTEGER"), ("dagster_run_id", "VARCHAR"), ("snapshotted_at", "TIMESTAMP"),
]
HISTORY_TABLE = "snapshots.kpi_history"
PENDING_TABLE = "snapshots.kpi_pending"


@dataclass(frozen=True)
class Period:
    frequency: str
    start: dt.date  # first local day
    end: dt.date  # first local day after the period
    timezone: str

    def utc_bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """The period's edges as naive UTC timestamps (the warehouse stores UTC)."""
        zone = ZoneInfo(self.timezone)
        return tuple(dt.datetime.combine(d, dt.time(), zone).astimezone(dt.UTC).replace(tzinfo=None)
                     for d in (self.start, self.end))

    def previous(self) -> "Period":
        return period_ending(self.frequency, self.start, self.timezone)

    @property
    def label(self) -> str:
        if self.frequency == "daily":
            return self.start.isoformat()
        iso = self.start.isocalendar()
        return f"{iso.year}-W{iso.week:02d}"


def period_ending(frequency: str, on_or_before: dt.date, timezone: str) -> Period:
    """The last full period that ends on or before the start of the day ``on_or_before``."""
    if frequency not in FREQUENCIES:
        raise ValueError(f"snapshot frequency must be one of {FREQUENCIES}, not {frequency!r}")
    if frequency == "daily":
        return Period(frequency, on_or_before - dt.timedelta(days=1), on_or_before, timezone)
    end = on_or_before - dt.timedelta(days=on_or_before.weekday())  # that week's Monday
    return Period(frequency, end - dt.timedelta(days=7), end, timezone)


def data_end_date(con, timezone: str) -> dt.date | None:
    """The local day after the last data (fct_lead_response.as_of_at): its last full period ends there."""
    end = con.execute("SELECT max(as_of_at) FROM marts.fct_lead_response").fetchone()[0]
    if end is None:
        return None
    return end.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(timezone)).date() + dt.timedelta(days=1)


def kpi_rows_sql(periods: list[Period], segments: dict[str, str | None] = SEGMENTS) -> tuple[str, list]:
    """Long-format KPI rows (one per period, segment and KPI) for the given periods.

    One pass over the facts: a period column from the UTC bounds, GROUPING SETS for the segments,
    then UNPIVOT (keeping NULLs, so every KPI row exists even where it cannot be computed)."""
    cases, params = [], []
    for p in periods:
        start, end = p.utc_bounds()
        cases.append(f"WHEN f.clock_started_at >= ? AND f.clock_started_at < ? THEN DATE '{p.start.isoformat()}'")
        params += [start, end]
    period_expr = f"CASE {' '.join(cases)} END"
    lo = min(p.utc_bounds()[0] for p in periods)
    hi = max(p.utc_bounds()[1] for p in periods)
    keys = [expr for expr in segments.values() if expr]
    sets = ", ".join("(period_start)" if expr is None else f"(period_start, {expr})" for expr in segments.values())
    segment_type = ("CASE " + " ".join(f"WHEN grouping({expr}) = 0 THEN '{name}'" for name, expr in segments.items()
                                       if expr) + " ELSE 'all' END") if keys else "'all'"
    # Inside a segment a NULL key is a real group ('unknown', as in mart_response_by_segment).
    segment_value = "CASE " + " ".join(
        f"WHEN grouping({expr}) = 0 THEN coalesce(CAST({expr} AS VARCHAR), 'unknown')" for expr in keys) + " ELSE 'all' END" if keys else "'all'"
    aggregates = ", ".join(f"CAST({sql} AS DOUBLE) AS {name}" for name, sql in KPIS.items())
    sql = f"""
        WITH facts AS (
            SELECT f.*, {period_expr} AS period_start
            FROM marts.fct_lead_response f
            WHERE f.clock_started_at >= ? AND f.clock_started_at < ?
        ),
        wide AS (
            SELECT period_start, {segment_type} AS segment_type, {segment_value} AS segment_value,
                   count(*) AS segment_lead_incidents, {aggregates}
            FROM facts f
            LEFT JOIN intermediate.int_incident_outcomes o ON o.incident_lead_id = f.lead_id
            WHERE period_start IS NOT NULL
            GROUP BY GROUPING SETS ({sets})
        )
        SELECT period_start, segment_type, segment_value, kpi, value, segment_lead_incidents
        FROM wide UNPIVOT INCLUDE NULLS (value FOR kpi IN ({', '.join(KPIS)}))
        ORDER BY period_start, segment_type, segment_value, kpi"""
    return sql, params + [lo, hi]


def ensure_tables(con) -> None:
    columns = ", ".join(f"{name} {type_}" for name, type_ in HISTORY_COLUMNS)
    con.execute("CREATE SCHEMA IF NOT EXISTS snapshots")
    con.execute(f"CREATE TABLE IF NOT EXISTS {HISTORY_TABLE} ({columns})")


def stage_snapshot(con, period: Period, run_id: str, now: dt.datetime) -> int:
    """Compute the period's KPI rows into the pending table (replacing any earlier run's).
    Returns the number of rows; ``snapshot_version`` is the next one, settled at commit."""
    ensure_tables(con)
    sql, params = kpi_rows_sql([period])
    version = con.execute("SELECT any_value(metric_definition_version) FROM marts.fct_lead_response").fetchone()[0]
    con.execute(f"""
        CREATE OR REPLACE TABLE {PENDING_TABLE} AS
        SELECT ?::VARCHAR AS frequency, period_start, ?::DATE AS period_end, ?::VARCHAR AS period_timezone,
               segment_type, segment_value, kpi, value, segment_lead_incidents::BIGINT AS segment_lead_incidents,
               ?::VARCHAR AS metric_definition_version,
               NULL::INTEGER AS snapshot_version, ?::VARCHAR AS dagster_run_id, ?::TIMESTAMP AS snapshotted_at
        FROM ({sql})""", [period.frequency, period.end, period.timezone, version, run_id, now, *params])
    if con.execute(f"SELECT count(*) FROM {PENDING_TABLE}").fetchone()[0] == 0:
        # A period without leads still gets its rows: zero incidents is a number leadership needs.
        con.execute(f"""INSERT INTO {PENDING_TABLE} SELECT ?, ?, ?, ?, 'all', 'all', kpi,
                        CASE WHEN kpi = 'lead_incidents' THEN 0 END, 0, ?, NULL, ?, ?
                        FROM unnest(?::VARCHAR[]) AS t(kpi)""",
                    [period.frequency, period.start, period.end, period.timezone, version, run_id, now, list(KPIS)])
    return con.execute(f"SELECT count(*) FROM {PENDING_TABLE}").fetchone()[0]


def _pending_as_next_version_sql(run_id: str) -> str:
    return f"""
        SELECT p.* REPLACE (
            (SELECT coalesce(max(h.snapshot_version), 0) + 1 FROM {HISTORY_TABLE} h
             WHERE h.frequency = p.frequency AND h.period_start = p.period_start) AS snapshot_version)
        FROM {PENDING_TABLE} p WHERE p.dagster_run_id = '{run_id}'"""


def history_with_pending_sql(run_id: str) -> str:
    """The history as it will be once this run's pending rows are committed (for the report and
    exports, which are built before the commit)."""
    return f"SELECT * FROM {HISTORY_TABLE} UNION ALL {_pending_as_next_version_sql(run_id)}"


def commit_pending(con, run_id: str) -> int | None:
    """Append this run's pending rows to the history as the next version of their period, inside
    the caller's transaction. Returns the version written (None: nothing was pending)."""
    con.execute(f"INSERT INTO {HISTORY_TABLE} {_pending_as_next_version_sql(run_id)}")
    con.execute(f"DELETE FROM {PENDING_TABLE} WHERE dagster_run_id = ?", [run_id])
    return con.execute(f"SELECT max(snapshot_version) FROM {HISTORY_TABLE} WHERE dagster_run_id = ?",
                       [run_id]).fetchone()[0]
