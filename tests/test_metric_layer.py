"""The metric layer: every KPI formula lives once, in dbt (macros/kpis.sql → marts.mart_kpi_by_period),
and the KPI snapshot, the run summary and the report read it.

- On the session's shared run (tests/conftest.py) the snapshot rows,
  the summary's figures and the KPI mart agree on every KPI and segment, and the mart agrees with
  the response marts and the funnel, which group the same leads their own way.
- On a hand-built fact of seven leads, dbt builds the mart and every figure equals the one worked
  out by hand (SLA compliance, the within-N-minutes shares, percentiles, outcome rates, local weeks).
- The first snapshot backfills earlier whole periods as version 0 and never rewrites a row.
- No Python module queries an intermediate model.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import re
import shutil

import duckdb
import pytest

from orchestration.delivery import report, snapshots
from orchestration.settings import PROJECT_ROOT
from tests.helpers import WAREHOUSE_FILE, run_dbt

REL = 1e-9


def close(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= REL * max(abs(a), abs(b), 1e-300)


# ---------------------------------------------------------------- one generated run (slow)


@pytest.fixture(scope="module")
def generated(shared_run):
    """The session's shared run, read only."""
    settings = shared_run.settings
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    yield settings, con
    con.close()


def _mart(con, frequency: str, period_start: dt.date | None = None) -> dict:
    sql = "SELECT segment_type, segment_value, kpi, value, segment_lead_incidents FROM marts.mart_kpi_by_period WHERE frequency = ?"
    params = [frequency]
    if period_start is not None:
        sql += " AND period_start = ?"
        params.append(period_start)
    return {(t, v, k): (value, n) for t, v, k, value, n in con.execute(sql, params).fetchall()}


@pytest.mark.slow
def test_snapshot_summary_and_mart_agree_on_every_kpi_and_segment(generated):
    settings, con = generated
    snapshot = con.execute("""SELECT frequency, period_start, segment_type, segment_value, kpi, value, segment_lead_incidents
                              FROM snapshots.kpi_history WHERE snapshot_version = 1""").fetchall()
    (frequency, period_start), = {(r[0], r[1]) for r in snapshot}
    mart = _mart(con, frequency, period_start)
    kpis = snapshots.kpi_names(con)
    assert len(kpis) == 15  # 7 + one per answered_within_minutes threshold (4) + escalation + 3 outcome rates
    # Every KPI of every segment, no more, no less, equal values.
    assert {(t, v, k) for _, _, t, v, k, _, _ in snapshot} == set(mart)
    assert {k for _, _, t, _, k, _, _ in snapshot if t == "all"} == set(kpis)
    assert {t for _, _, t, _, _, _, _ in snapshot} == {"all", "team", "source", "score_tier"}
    for _, _, t, v, k, value, n in snapshot:
        assert close(value, mart[(t, v, k)][0]) and n == mart[(t, v, k)][1], (t, v, k)
    # The run summary's figures are the mart's all-time ones.
    summary = json.loads((settings.output_dir / "pipeline_summary.json").read_text())["response"]
    all_time = _mart(con, "all_time")
    assert summary["lead_incidents"] == con.execute("SELECT count(*) FROM marts.fct_lead_response").fetchone()[0] > 1000
    for kpi, value in summary.items():
        if kpi not in ("lead_incidents", "metric_definition_version"):
            assert close(value, all_time[("all", "all", kpi)][0]), kpi


@pytest.mark.slow
def test_kpi_mart_agrees_with_the_marts_that_group_the_same_leads_their_own_way(generated):
    _, con = generated
    all_time = _mart(con, "all_time")
    # mart_response_by_segment: all data, one GROUP BY per segment type.
    by_segment = con.execute("SELECT * FROM marts.mart_response_by_segment WHERE segment_type IN ('all', 'team', 'source', 'score_tier')")
    names = [d[0] for d in by_segment.description]
    compared = 0
    for row in by_segment.fetchall():
        r = dict(zip(names, row))
        key = (r["segment_type"], r["segment_value"])
        assert all_time[(*key, "lead_incidents")][0] == r["leads"]
        for kpi in set(names) & {k for _, _, k in all_time}:
            assert close(r[kpi], all_time[(*key, kpi)][0]), (key, kpi)
            compared += 1
    assert compared > 100
    # mart_response_daily cuts UTC days: the reporting timezone is UTC here.
    daily = {(d, t, v, k): value for d, t, v, k, value in con.execute(
        "SELECT period_start, segment_type, segment_value, kpi, value FROM marts.mart_kpi_by_period WHERE frequency = 'daily'").fetchall()}
    columns = ["leads", "share_answered", "median_seconds_to_first_response", "p90_seconds_to_first_response",
               "share_answered_within_5m", "sla_compliance"]
    rows = con.execute(f"SELECT response_date, grouping_level, team_id, {', '.join(columns)} FROM marts.mart_response_daily").fetchall()
    assert len(rows) > 50
    for day, level, team, *values in rows:
        segment = ("all", "all") if level == "all" else ("team", team)
        for column, value in zip(columns, values):
            assert close(value, daily[(day, *segment, "lead_incidents" if column == "leads" else column)]), (day, segment, column)
    # The funnel's opportunities over all buckets, through its own (inner) join to the outcomes.
    leads, opportunities = con.execute("SELECT sum(leads), sum(opportunities) FROM marts.mart_funnel_by_response_bucket").fetchone()
    assert close(opportunities / leads, all_time[("all", "all", "opportunity_conversion_rate")][0])


@pytest.mark.slow
def test_first_snapshot_backfills_earlier_whole_periods_and_the_report_trend_reads_them(generated, tmp_path):
    settings, con = generated
    history = con.execute("SELECT * FROM snapshots.kpi_history").fetchall()
    names = [c for c, _ in snapshots.HISTORY_COLUMNS]
    rows = [dict(zip(names, r)) for r in history]
    (period_start, period_end), = {(r["period_start"], r["period_end"]) for r in rows if r["snapshot_version"] == 1}
    period = snapshots.Period("weekly", period_start, period_end, "UTC")
    backfill = [r for r in rows if r["dagster_run_id"].startswith(snapshots.BACKFILL_RUN_PREFIX)]
    # The shared demo's leads span several weeks: the whole ones before the snapshot's are backfilled.
    data_start, data_end = snapshots.data_coverage(con)
    mart_weeks = [d for d, in con.execute("SELECT DISTINCT period_start FROM marts.mart_kpi_by_period "
                                          "WHERE frequency = 'weekly' AND period_start < ? ORDER BY 1", [period_start]).fetchall()]
    whole = [d for d in mart_weeks
             if snapshots.period_is_whole(snapshots.Period("weekly", d, d + dt.timedelta(days=7), "UTC"), data_start, data_end)]
    assert whole and whole != mart_weeks  # some earlier weeks, and the partial first one left out
    assert sorted({r["period_start"] for r in backfill}) == whole
    assert {r["snapshot_version"] for r in backfill} == {0}
    (run_id,) = {r["dagster_run_id"] for r in rows if r["snapshot_version"] == 1}
    assert {r["dagster_run_id"] for r in backfill} == {snapshots.BACKFILL_RUN_PREFIX + run_id}
    for r in backfill:  # the mart's rows, as they are
        value, n = _mart(con, "weekly", r["period_start"])[(r["segment_type"], r["segment_value"], r["kpi"])]
        assert r["value"] == value and r["segment_lead_incidents"] == n

    # The report's trend is the history: every whole week, the current one last.
    data = report.collect(con, period, [r for r in rows if r["snapshot_version"] == 1], tmp_path)
    trend = {p.start: values for p, values in data["trend"]}
    assert list(trend) == [*whole[-(report.TREND_PERIODS - 1):], period_start]
    for r in rows:
        if r["segment_type"] == "all" and r["period_start"] in trend:
            assert trend[r["period_start"]][r["kpi"]] == r["value"]

    # A second snapshot of the same period: the next version, no second backfill, nothing rewritten.
    copy = tmp_path / "w.duckdb"
    shutil.copy(settings.warehouse_path, copy)
    again = duckdb.connect(str(copy))
    snapshots.stage_snapshot(again, period, "run-2", dt.datetime(2026, 12, 1))
    assert snapshots.backfilled_periods(again, "run-2") == 0
    again.execute("BEGIN TRANSACTION")
    assert snapshots.commit_pending(again, "run-2") == 2
    again.execute("COMMIT")
    after = again.execute("SELECT * FROM snapshots.kpi_history").fetchall()
    assert set(history) <= set(after) and len(after) == len(history) + sum(1 for r in rows if r["snapshot_version"] == 1)
    again.close()


# ---------------------------------------------------------------- hand-computed (dbt on a tiny fact)

# America/New_York (EST, UTC-5, in February 2026): local weeks start Monday 00:00 local = 05:00 UTC.
# (lead, clock start UTC, seconds to first response, SLA status, escalated, team, outcome (contacted, booked, opportunity))
TINY = [
    ("L1", "2026-02-02 15:00:00", 60.0, "met", False, "T1", (1, 1, 1)),
    ("L2", "2026-02-03 15:00:00", 300.0, "met", False, "T1", (1, 0, 0)),  # exactly 5 min: within 5 min
    ("L3", "2026-02-04 15:00:00", 301.0, "breached", True, "T2", (0, 0, 0)),
    ("L4", "2026-02-05 15:00:00", None, "breached", True, "T2", (0, 0, 0)),  # never answered
    ("L5", "2026-02-06 15:00:00", None, "pending", False, None, None),  # no team, no outcome row
    ("L6", "2026-02-09 03:00:00", 1200.0, "met", False, "T1", (1, 1, 0)),  # Sunday 8 Feb 22:00 local: still week 1
    ("L7", "2026-02-09 15:00:00", 30.0, "met", False, "T1", (0, 0, 0)),  # Monday 9 Feb: week 2
]


@pytest.fixture(scope="module")
def tiny_mart(tmp_path_factory, dbt_manifest) -> dict:
    """marts.mart_kpi_by_period built by dbt over TINY: (frequency, start, segment_type, segment_value, kpi) → value."""
    root = tmp_path_factory.mktemp("tiny_kpis")
    warehouse = root / WAREHOUSE_FILE
    con = duckdb.connect(str(warehouse))
    con.execute("CREATE SCHEMA marts; CREATE SCHEMA intermediate")
    con.execute("""CREATE TABLE marts.fct_lead_response (lead_id VARCHAR, clock_started_at TIMESTAMP, team_id VARCHAR,
                   source VARCHAR, score_tier VARCHAR, is_answered BOOLEAN, seconds_to_first_response DOUBLE,
                   business_seconds_to_first_response DOUBLE, sla_status VARCHAR, escalation_reached BOOLEAN)""")
    con.execute("CREATE TABLE intermediate.int_incident_outcomes (incident_lead_id VARCHAR, is_contacted INTEGER, "
                "is_booked INTEGER, has_opportunity INTEGER)")
    for lead, start, seconds, sla, escalated, team, outcome in TINY:
        con.execute("INSERT INTO marts.fct_lead_response VALUES (?, ?, ?, 'web', 'warm', ?, ?, ?, ?, ?)",
                    [lead, start, team, seconds is not None, seconds, None if seconds is None else seconds / 2, sla, escalated])
        if outcome:
            con.execute("INSERT INTO intermediate.int_incident_outcomes VALUES (?, ?, ?, ?)", [lead, *outcome])
    con.close()
    done = run_dbt(["run", "--select", "mart_kpi_by_period", "mart_kpi_definitions"], warehouse, root / "target",
                   STL_SCHEDULE_TIMEZONE="America/New_York")
    assert done.returncode == 0, done.stdout[-3000:]
    con = duckdb.connect(str(warehouse), read_only=True)
    rows = con.execute("SELECT frequency, period_start, segment_type, segment_value, kpi, value, period_end, period_timezone "
                       "FROM marts.mart_kpi_by_period").fetchall()
    con.close()
    assert {(r[0], r[6] - r[1], r[7]) for r in rows if r[0] != "all_time"} == {
        ("weekly", dt.timedelta(days=7), "America/New_York"), ("daily", dt.timedelta(days=1), "America/New_York")}
    return {tuple(r[:5]): r[5] for r in rows}


WEEK_1 = dt.date(2026, 2, 2)


@pytest.mark.slow  # dbt builds the tiny mart
def test_sla_compliance_leaves_pending_leads_out(tiny_mart):
    week = lambda t, v, k: tiny_mart[("weekly", WEEK_1, t, v, k)]  # noqa: E731
    assert week("all", "all", "lead_incidents") == 6  # L6 is in the local week it arrived in
    assert week("all", "all", "sla_compliance") == 3 / 5  # met L1 L2 L6 / (met + breached L3 L4); L5 pending
    assert week("team", "T1", "sla_compliance") == 1.0 and week("team", "T2", "sla_compliance") == 0.0
    assert week("team", "unknown", "lead_incidents") == 1 and week("team", "unknown", "sla_compliance") is None
    assert tiny_mart[("weekly", dt.date(2026, 2, 9), "all", "all", "lead_incidents")] == 1  # L7


@pytest.mark.slow  # dbt builds the tiny mart
def test_share_answered_within_divides_by_all_leads_and_includes_the_bound(tiny_mart):
    week = lambda k: tiny_mart[("weekly", WEEK_1, "all", "all", k)]  # noqa: E731
    assert week("share_answered") == 4 / 6
    assert week("share_answered_within_1m") == 1 / 6  # 60 s is within 1 minute
    assert week("share_answered_within_5m") == 2 / 6  # 60 s and 300 s; 301 s is not
    assert week("share_answered_within_15m") == 3 / 6
    assert week("share_answered_within_60m") == 4 / 6
    assert week("escalation_rate") == 2 / 6


@pytest.mark.slow  # dbt builds the tiny mart
def test_percentiles_over_answered_leads_and_outcome_rates_over_leads_with_outcomes(tiny_mart):
    week = lambda k: tiny_mart[("weekly", WEEK_1, "all", "all", k)]  # noqa: E731
    # answered: 60, 300, 301, 1200 s → median (300 + 301) / 2; p90 at rank 2.7: 301 + 0.7 × 899
    assert week("median_seconds_to_first_response") == 300.5
    assert week("p90_seconds_to_first_response") == pytest.approx(930.3, rel=1e-12)
    assert week("median_business_seconds_to_first_response") == 150.25
    # L5 has no outcome row: the rates are over L1-L4 and L6
    assert (week("contact_rate"), week("booking_rate"), week("opportunity_conversion_rate")) == (3 / 5, 2 / 5, 1 / 5)
    # Local days: L6 (03:00 UTC on the 9th) is Sunday the 8th in New York.
    assert tiny_mart[("daily", dt.date(2026, 2, 8), "all", "all", "lead_incidents")] == 1
    assert ("daily", dt.date(2026, 2, 9), "all", "all", "lead_incidents") in tiny_mart  # L7 only
    assert tiny_mart[("daily", dt.date(2026, 2, 9), "all", "all", "lead_incidents")] == 1
    all_time = {k: v for (f, start, t, _, k), v in tiny_mart.items() if f == "all_time" and t == "all"}
    assert all_time["lead_incidents"] == 7 and all_time["sla_compliance"] == 4 / 6
    assert {start for (f, start, *_) in tiny_mart if f == "all_time"} == {WEEK_1}


# ---------------------------------------------------------------- no Python reads intermediate

# schema.table in a string: a glob in help text ("intermediate.int_*") names the schema, not a query.
INTERMEDIATE_READ = re.compile(r"\bintermediate\.[a-z_][a-z_0-9]*\b(?!\*)", re.IGNORECASE)


def _strings_outside_docstrings(tree: ast.AST) -> list[str]:
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return [n.value for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]


def test_no_python_module_queries_an_intermediate_model():
    """Python reads the marts (public, contracted); intermediate models are dbt's own business."""
    offenders = {}
    for path in sorted((PROJECT_ROOT / "orchestration").rglob("*.py")):
        found = sorted({m for s in _strings_outside_docstrings(ast.parse(path.read_text())) for m in INTERMEDIATE_READ.findall(s)})
        if found:
            offenders[str(path.relative_to(PROJECT_ROOT))] = found
    assert not offenders, offenders


def test_the_intermediate_check_sees_sql_in_strings_and_f_strings():
    code = 'q = f"SELECT * FROM intermediate.int_incident_outcomes WHERE x = {y}"\nhelp = "intermediate.int_*"\n'
    found = [m for s in _strings_outside_docstrings(ast.parse(code)) for m in INTERMEDIATE_READ.findall(s)]
    assert found == ["intermediate.int_incident_outcomes"]
