"""A warehouse with planted, hand-computed figures: what the report reads (the fact, the KPI
marts, forecast, staffing, breach drivers, an unavailable output) and this run's snapshot rows.
Shared by the report and email tests."""

from __future__ import annotations

import datetime as dt

from orchestration.delivery import snapshots
from orchestration.quality.availability import record_status, unavailable

PERIOD = snapshots.Period("weekly", dt.date(2026, 11, 16), dt.date(2026, 11, 23), "UTC")
FORECAST_START = dt.datetime(2026, 11, 24, 0)
HORIZON_HOURS = 336

# (clock start, seconds to response or None, sla_status, after hours, team, opportunity)
W47 = [(dt.datetime(2026, 11, 16, 9) + dt.timedelta(hours=7 * i), 120.0 * (i + 1), status, after, team, i % 3 == 0)
       for i, (status, after, team) in enumerate(
           [("met", False, "A")] * 5 + [("met", False, "B")] + [("breached", True, "A")] * 3
           + [("breached", False, "B")] + [("breached", True, "B")] * 2)]  # 12 leads: 6 met, 6 breached (5 after hours)
W46 = [(dt.datetime(2026, 11, 9, 10) + dt.timedelta(hours=9 * i), 600.0, "met" if i < 2 else "breached", False, "A", False)
       for i in range(8)]  # 8 leads: 2 met, 6 breached → 25 %
W45_PARTIAL = [(dt.datetime(2026, 11, 6, 10), 60.0, "met", False, "A", False)]  # data starts Fri 6 Nov

# marts.mart_kpi_by_period as dbt would build it from the leads above (hand-computed; the formulas
# themselves are tested in test_metric_layer.py): (week start, segment_type, segment_value) → KPIs.
# Business seconds are half the calendar ones. W47: responses 120 s × (i + 1), i = 0..11.
WEEKLY_KPIS = {
    (dt.date(2026, 11, 2), "all", "all"): {"lead_incidents": 1, "sla_compliance": 1.0, "median_seconds_to_first_response": 60.0,
                                           "median_business_seconds_to_first_response": 30.0},
    (dt.date(2026, 11, 9), "all", "all"): {"lead_incidents": 8, "sla_compliance": 0.25, "median_seconds_to_first_response": 600.0,
                                           "median_business_seconds_to_first_response": 300.0},
    (dt.date(2026, 11, 16), "all", "all"): {"lead_incidents": 12, "sla_compliance": 0.5, "median_seconds_to_first_response": 780.0,
                                            "median_business_seconds_to_first_response": 390.0},
    (dt.date(2026, 11, 16), "team", "A"): {"lead_incidents": 8, "sla_compliance": 5 / 8},
    (dt.date(2026, 11, 16), "team", "B"): {"lead_incidents": 4, "sla_compliance": 0.25},
}
KPI_NAMES = ["lead_incidents", "sla_compliance", "median_seconds_to_first_response", "median_business_seconds_to_first_response"]


def create_kpi_marts(con, weekly: dict) -> None:
    """The two KPI marts the snapshot copies from, with the given weekly rows (UTC weeks)."""
    con.execute("CREATE SCHEMA IF NOT EXISTS marts")
    con.execute("CREATE TABLE marts.mart_kpi_definitions AS SELECT i + 1 AS kpi_order, kpi, '1.0.0' AS metric_definition_version "
                "FROM (SELECT unnest(?::VARCHAR[]) AS kpi, unnest(range(?)) AS i)", [KPI_NAMES, len(KPI_NAMES)])
    con.execute("""CREATE TABLE marts.mart_kpi_by_period (frequency VARCHAR, period_start DATE, period_end DATE,
                   period_timezone VARCHAR, segment_type VARCHAR, segment_value VARCHAR, kpi VARCHAR, value DOUBLE,
                   segment_lead_incidents BIGINT, metric_definition_version VARCHAR)""")
    for (start, segment_type, segment_value), kpis in weekly.items():
        for kpi in KPI_NAMES:
            con.execute("INSERT INTO marts.mart_kpi_by_period VALUES ('weekly', ?, ?, 'UTC', ?, ?, ?, ?, ?, '1.0.0')",
                        [start, start + dt.timedelta(days=7), segment_type, segment_value, kpi, kpis.get(kpi),
                         kpis["lead_incidents"]])


def build_warehouse(con, drivers: bool = True, status: bool = True) -> list[dict]:
    """Tables the report reads, with planted figures. Returns this run's snapshot rows."""
    for schema in ("marts", "stats"):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    con.execute("""CREATE TABLE marts.fct_lead_response (lead_id VARCHAR, clock_started_at TIMESTAMP, is_answered BOOLEAN,
                   seconds_to_first_response DOUBLE, business_seconds_to_first_response DOUBLE, sla_status VARCHAR,
                   escalation_reached BOOLEAN, team_id VARCHAR, source VARCHAR, score_tier VARCHAR, is_after_hours BOOLEAN,
                   as_of_at TIMESTAMP, metric_definition_version VARCHAR)""")
    for i, (start, seconds, sla, after, team, opp) in enumerate(W45_PARTIAL + W46 + W47):
        con.execute("INSERT INTO marts.fct_lead_response VALUES (?, ?, true, ?, ?, ?, false, ?, 'web', 'warm', ?, "
                    "TIMESTAMP '2026-11-24 06:00', '1.0.0')", [f"L{i}", start, seconds, seconds / 2, sla, team, after])
    create_kpi_marts(con, WEEKLY_KPIS)
    # Three models side by side, as the forecaster stores them; only one is chosen.
    con.execute("""CREATE TABLE stats.volume_forecast AS
                   SELECT 'hour' AS frequency, ?::TIMESTAMP + to_hours(h) AS period_start, m.model,
                          CASE m.model WHEN 'poisson_profile' THEN 5 + h % 24 ELSE 100 END::DOUBLE AS forecast,
                          3.0::DOUBLE AS lo80, 30.0::DOUBLE AS hi80, 1.0::DOUBLE AS lo95, 40.0::DOUBLE AS hi95, m.model = 'poisson_profile' AS is_chosen
                   FROM range(?) t(h), (VALUES ('poisson_profile'), ('ets_profile'), ('seasonal_naive')) m(model)""",
                [FORECAST_START, HORIZON_HOURS])
    con.execute("""CREATE TABLE stats.forecast_backtest AS SELECT * FROM (VALUES
                   ('hour', 'poisson_profile', true, 1, 0.8), ('hour', 'seasonal_naive', false, 1, 1.0)) t(frequency, model, is_chosen, horizon, mase)""")
    con.execute("""CREATE TABLE stats.staffing_plan AS
                   SELECT ?::TIMESTAMP + to_hours(h) AS period_start, 'all' AS team_id, 2 AS reps_required, 3.0::DOUBLE AS reps_on_duty,
                          0.8::DOUBLE AS target_service_level, 300.0::DOUBLE AS target_seconds
                   FROM range(?) t(h)""", [FORECAST_START, HORIZON_HOURS])
    if drivers:
        con.execute("""CREATE TABLE stats.sla_breach_drivers AS SELECT * FROM (VALUES
                       ('all', 6, 0.8333, 0.25, 0.60), ('A', 3, 1.0, 0.40, 0.50), ('B', 3, 0.6667, 0.10, 0.70))
                       t(team_id, breaches, share_after_hours, share_capacity_bound, share_process_bound)""")
    if status:
        record_status(con, [unavailable("speed_conversion_effects", "the booking outcome has no variation",
                                        "add opportunities or appointments")], run_id="run-1")
    snapshots.stage_snapshot(con, PERIOD, "run-1", dt.datetime(2026, 11, 24, 7))
    cur = con.execute(f"SELECT * FROM ({snapshots.history_with_pending_sql('run-1')}) WHERE dagster_run_id = 'run-1'")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]
