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
from tests.planted_report_warehouse import FORECAST_START, HORIZON_HOURS, PERIOD, build_warehouse, create_kpi_marts


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


def test_the_report_says_when_the_statistics_were_fitted(built, tmp_path):
    """With the statistics weekly (their own job), the daily report shows fits up to a week old:
    it says when each was made (stats.fits, written with the table)."""
    from orchestration.stats.tables import write_table

    con, data = built
    assert data["fitted_at"] == {"effects": None, "forecast": None}  # tables not written by the statistics
    assert "UTC on the data up to then" not in report.render(data)
    before = dt.datetime.now(dt.UTC).replace(tzinfo=None, second=0, microsecond=0)
    write_table(con, "volume_forecast", con.execute("SELECT * FROM stats.volume_forecast").df())
    data = report.collect(con, PERIOD, [], tmp_path, history_sql=snapshots.history_with_pending_sql("run-1"))
    fitted = data["fitted_at"]["forecast"]
    assert data["fitted_at"]["effects"] is None and before <= fitted <= dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert f"Forecast {fitted:%Y-%m-%d %H:%M} UTC on the data up to then." in report.render(data)
