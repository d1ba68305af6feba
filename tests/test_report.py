"""The leadership report on a small hand-built warehouse whose figures are known: the narrative
says what the facts say, the forecast chart is the chosen model over its horizon, partial
periods stay out of the trend, missing outputs say why, nothing overflows a phone's width, and
an empty warehouse still renders."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
from html import escape
from pathlib import Path

import duckdb
import pytest

from orchestration.delivery import report, snapshots
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


@pytest.fixture
def built(tmp_path):
    con = duckdb.connect()
    snapshots.ensure_tables(con)
    snapshot = build_warehouse(con)
    data = report.collect(con, PERIOD, snapshot, tmp_path, history_sql=snapshots.history_with_pending_sql("run-1"))
    return con, data


def test_narrative_figures_equal_the_facts(built):
    con, data = built
    start, end = PERIOD.utc_bounds()
    met, breached, after = con.execute("""SELECT count_if(sla_status = 'met'), count_if(sla_status = 'breached'),
                                                 count_if(sla_status = 'breached' AND is_after_hours)
                                          FROM marts.fct_lead_response WHERE clock_started_at >= ? AND clock_started_at < ?""",
                                       [start, end]).fetchone()
    assert (met, breached, after) == (6, 6, 5)  # the planted week
    text = report.narrative(data)
    # 6 / 12 = 50.0 % this week against 2 / 8 = 25.0 % the week before.
    assert text[0] == "SLA compliance was 50.0% against a target of 90%, up 25.0 pts on the previous week."
    # After-hours share from the fact (5 of 6), capacity / process from stats.sla_breach_drivers.
    assert text[1] == ("83.3% of the 6 breaches arrived after hours; 25.0% were capacity-bound (too few reps on duty) "
                       "and 60.0% process-bound (reps on duty, response still late).")
    assert text[2].startswith("Team A is the most capacity-bound: 40.0% of its breaches")
    assert "12 leads came in (+50% on the previous week)." in text
    # Median business seconds of W47: answered leads' 60 s × (i + 1), i = 0..11 → median 390 s = 6.5 min.
    assert text[3].startswith("Half of the answered leads got a response within 6.5 min of business time")
    # Forecast: first 168 chosen hours of 5 + h % 24 → 7 days × (24 × 5 + 276) = 2,772.
    assert "About 2,772 leads are forecast for the next 7 days." in text
    # Reps on duty (3) ≥ required (2) in every hour while the SLA misses its target: process, not headcount.
    assert any(s.startswith("The schedules put at least the required number of reps on duty") for s in text)


def test_forecast_is_the_chosen_model_over_its_whole_horizon(built):
    _, data = built
    rows = data["forecast"]["rows"]
    assert len(rows) == HORIZON_HOURS and {r["model"] for r in rows} == {"poisson_profile"}
    assert rows[0]["period_start"] == FORECAST_START
    assert rows[-1]["period_start"] == FORECAST_START + dt.timedelta(hours=HORIZON_HOURS - 1)
    html = report.render(data)
    svg = html.split('data-chart="forecast"')[1].split("</svg>")[0]
    line = re.search(r'<polyline fill="none" stroke="[^"]+" stroke-width="2" points="([^"]+)"', svg).group(1)
    assert len(line.split()) == HORIZON_HOURS  # one point per chosen hour, none from the other models
    assert "100" not in {t for t in re.findall(r">([\d,.]+)</text>", svg)}  # the other models' level never sets the axis


def test_trend_keeps_whole_periods_only_and_names_the_partial_one(built):
    _, data = built
    assert [p.label for p, _ in data["trend"]] == ["2026-W46", "2026-W47"]
    assert data["trend_left_out"] == [("2026-W45", 1)]
    html = report.render(data)
    assert "2026-W45 left out: the data covers only part of it (1 leads)." in html


def test_cards_units_targets_and_colours(built):
    _, data = built
    cards = {c["label"]: c for c in report.headline_cards(data)}
    assert cards["Leads"]["css"] == "same"  # volume is neither good nor bad
    assert cards["Leads"]["change"] == "▲ +4 (+50%) vs previous"
    assert cards["SLA compliance"]["css"] == "better" and cards["SLA compliance"]["target"] == {"text": "target ≥ 90.0%", "met": False}
    median = cards["Median response, calendar time"]
    # 780 s (13 min) now against 600 s: the change is in the value's own unit.
    assert (median["value"], median["change"], median["css"]) == ("13 min", "▲ +3 min vs previous", "worse")
    assert report.format_change("duration", 20.5 * 3600, 18.8 * 3600) == "+1.7 h"
    assert [report.duration(s) for s in (45, 300, 5400, 7200, 80 * 3600)] == ["45 s", "5 min", "90 min", "2 h", "3.3 days"]


def test_unavailable_outputs_say_why_and_what_to_add(built, tmp_path):
    _, data = built
    html = report.render(data)
    assert "Not available: the booking outcome has no variation. Add opportunities or appointments." in html
    # The funnel mart was never built: the section says which table is missing.
    assert "Not available: marts.mart_funnel_by_response_bucket is not in the warehouse" in html
    assert 'href="file://' not in html  # no Data Docs on this machine: no link


def test_data_docs_link_is_absolute_and_left_out_of_the_mailed_copy(tmp_path):
    con = duckdb.connect()
    snapshots.ensure_tables(con)
    snapshot = build_warehouse(con)
    (tmp_path / "data_docs").mkdir()
    (tmp_path / "data_docs" / "index.html").write_text("docs")
    data = report.collect(con, PERIOD, snapshot, tmp_path)
    assert f'href="{(tmp_path / "data_docs" / "index.html").as_uri()}"' in report.render(data)
    assert "Data Docs" not in report.render(data, for_email=True)


def test_an_empty_warehouse_still_renders(tmp_path):
    con = duckdb.connect()
    snapshots.ensure_tables(con)
    con.execute("CREATE SCHEMA marts")
    con.execute("""CREATE TABLE marts.fct_lead_response (lead_id VARCHAR, clock_started_at TIMESTAMP, is_answered BOOLEAN,
                   seconds_to_first_response DOUBLE, business_seconds_to_first_response DOUBLE, sla_status VARCHAR,
                   escalation_reached BOOLEAN, team_id VARCHAR, source VARCHAR, score_tier VARCHAR, is_after_hours BOOLEAN,
                   as_of_at TIMESTAMP, metric_definition_version VARCHAR)""")
    create_kpi_marts(con, {})
    snapshots.stage_snapshot(con, PERIOD, "run-0", dt.datetime(2026, 11, 24))
    snapshot = [dict(zip([d[0] for d in cur.description], r)) for cur in [con.execute("SELECT * FROM snapshots.kpi_pending")]
                for r in cur.fetchall()]
    data = report.collect(con, PERIOD, snapshot, tmp_path)
    html = report.render(data)
    assert report.narrative(data)[0].startswith("No SLA outcome this week")
    assert "Not available: stats.volume_forecast is not in the warehouse" in html
    assert "Not available: quality.gate_results is not in the warehouse" in html
    # Not even the fact: the report still renders with every section saying why.
    bare = duckdb.connect()
    snapshots.ensure_tables(bare)
    assert "Speed to lead" in report.render(report.collect(bare, PERIOD, [], tmp_path))


# --- in a browser ------------------------------------------------------------------------------

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars"]
# Headless Chromium will not make a window narrower than 500 px, so the report is laid out in an
# iframe of the width under test (srcdoc: same origin, so the page can measure it).
MEASURE = """<!DOCTYPE html><html><body style="margin:0">
<iframe id="report" style="border:0;width:%dpx;height:2000px" srcdoc="%s"></iframe>
<script>
document.getElementById('report').addEventListener('load', e => {
  const win = e.target.contentWindow, doc = win.document;
  const wide = [...doc.querySelectorAll('body *')].filter(el => el.getBoundingClientRect().right > win.innerWidth + 1)
    .map(el => el.tagName + '#' + el.id);
  const line = doc.querySelector('svg[data-chart="forecast"] polyline');
  const out = document.createElement('pre'); out.id = 'measure';
  out.textContent = JSON.stringify({scrollWidth: doc.documentElement.scrollWidth, innerWidth: win.innerWidth,
    wide: wide.slice(0, 5), forecastPoints: line ? line.getAttribute('points').trim().split(/\\s+/).length : 0});
  document.body.appendChild(out);
});
</script></body></html>"""


def measure_in_chromium(html: str, width: int, tmp_path: Path) -> dict:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if chromium is None:
        pytest.skip("no chromium on PATH (.ci/run installs Debian's chromium package)")
    page = tmp_path / f"report_{width}.html"
    page.write_text(MEASURE % (width, escape(html, quote=True)))
    dom = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / f'profile_{width}'}",
                          "--window-size=1400,2000", "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    return json.loads(dom.split('<pre id="measure">')[1].split("</pre>")[0].replace("&quot;", '"'))


@pytest.mark.parametrize("width", [1280, 390])
def test_no_horizontal_scroll_at_desktop_and_phone_width(built, tmp_path, width):
    _, data = built
    seen = measure_in_chromium(report.render(data), width, tmp_path)
    assert seen["innerWidth"] == width  # the page really was laid out at that width
    assert seen["scrollWidth"] <= seen["innerWidth"], seen["wide"]
    assert seen["forecastPoints"] == HORIZON_HOURS


def test_breaches_without_schedules_do_not_claim_an_after_hours_share(tmp_path):
    """No schedules: is_after_hours is unknown (NULL), so the report counts breaches but claims no share."""
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("CREATE SCHEMA marts")
    con.execute("""CREATE TABLE marts.fct_lead_response AS SELECT * FROM (VALUES
        (TIMESTAMP '2026-11-03 10:00:00', 'breached', NULL::BOOLEAN),
        (TIMESTAMP '2026-11-03 11:00:00', 'breached', NULL::BOOLEAN),
        (TIMESTAMP '2026-11-03 12:00:00', 'met', NULL::BOOLEAN)) t(clock_started_at, sla_status, is_after_hours)""")
    period = snapshots.period_ending("weekly", dt.date(2026, 11, 10), "UTC")
    assert report.breach_facts(con, period) == {"breaches": 2, "after_hours": None, "share_after_hours": None}
    con.execute("UPDATE marts.fct_lead_response SET is_after_hours = clock_started_at < TIMESTAMP '2026-11-03 10:30:00'")
    assert report.breach_facts(con, period) == {"breaches": 2, "after_hours": 1, "share_after_hours": 0.5}
