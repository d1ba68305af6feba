"""Delivery end to end on demo data: scheduled snapshots append versions, the report renders with
visible charts in headless Chromium, exports keep their schema, nothing personal is published,
analysts read during a run, a killed run changes nothing (retention: tests/test_retention.py)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from orchestration.delivery import exports, privacy, publish, snapshots
from orchestration.settings import PROJECT_ROOT
from tests.helpers import child_env


@pytest.fixture
def delivered(shared_run):
    """The session's shared run (read only)."""
    return shared_run.settings


def run_leadership(settings, run_config=None):
    """The leadership job in this process on ``settings``, which the caller made process-wide."""
    import dagster as dg

    from orchestration.defs.definitions import defs

    return defs.resolve_job_def("leadership_job").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), run_config=run_config or {}, raise_on_error=False)


def history(settings) -> list[tuple]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    rows = con.execute("SELECT * FROM snapshots.kpi_history ORDER BY ALL").fetchall()
    con.close()
    return rows


def published_files(settings) -> dict[str, str]:
    """Digest of every file leadership and analysts see."""
    paths = [settings.published_dir / publish.PUBLISHED_DB, settings.output_dir / publish.REPORT,
             *sorted((settings.output_dir / publish.EXPORTS_DIR).iterdir()),
             *sorted((settings.published_dir / publish.PARQUET_DIR / publish.CURRENT).iterdir())]
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def test_main_job_ends_with_report_exports_and_published_marts(delivered):
    settings = delivered
    assert (settings.output_dir / publish.REPORT).stat().st_size > 10_000
    assert {p.name for p in (settings.output_dir / publish.EXPORTS_DIR).iterdir()} == {
        f"{e.name}.{ext}" for e in exports.EXPORTS for ext in ("csv", "parquet")}
    con = duckdb.connect(str(settings.published_dir / publish.PUBLISHED_DB), read_only=True)
    tables = {f"{s}.{t}" for s, t in con.execute("SELECT table_schema, table_name FROM information_schema.tables").fetchall()}
    assert {"marts.fct_lead_response", "marts.mart_response_by_segment", "snapshots.kpi_history", "meta.publication"} <= tables
    assert con.execute("SELECT max(snapshot_version) FROM snapshots.kpi_history").fetchone() == (1,)
    con.close()
    assert not list((settings.output_dir / ".staging").glob("*"))  # committed and cleaned


def test_scheduled_run_appends_a_new_snapshot_version(shared_copy):
    import dagster as dg

    from orchestration.defs.schedules import leadership_schedule

    settings = shared_copy
    weekly_leadership_schedule = leadership_schedule(settings)
    before = history(settings)
    period_start = next(r[1] for r in before if r[10] == 1)  # the snapshot the main job took (backfills are version 0)
    # The Monday tick after the period the main job snapshotted: the same week again.
    tick = dt.datetime.combine(period_start + dt.timedelta(days=7), dt.time(7), dt.UTC)
    request = weekly_leadership_schedule.evaluate_tick(
        dg.build_schedule_context(scheduled_execution_time=tick)).run_requests[0]
    assert request.run_config["ops"]["snapshots__kpi_history"]["config"]["run_date"] == (period_start + dt.timedelta(days=7)).isoformat()
    report_before = (settings.output_dir / publish.REPORT).read_bytes()
    result = run_leadership(settings, request.run_config)
    assert result.success
    after = history(settings)
    assert after[:len(before)] == before or set(before) <= set(after)  # nothing rewritten
    new = [r for r in after if r not in set(before)]
    assert new and {r[10] for r in new} == {2} and {r[1] for r in new} == {period_start}
    assert {r[11] for r in new} == {result.run_id}  # the Dagster run that produced it
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    assert {r[6] for r in new if r[4] == "all"} == set(snapshots.kpi_names(con))
    con.close()
    assert {r[4] for r in new} >= {"all", "team", "source", "score_tier"}
    assert (settings.output_dir / publish.REPORT).read_bytes() != report_before
    assert b"snapshot version 2" in (settings.output_dir / publish.REPORT).read_bytes()
    # The published mirror and the export carry the same history.
    con = duckdb.connect(str(settings.published_dir / publish.PUBLISHED_DB), read_only=True)
    assert con.execute("SELECT count(*) FROM snapshots.kpi_history").fetchone()[0] == len(after)
    con.close()
    assert duckdb.sql(f"SELECT count(*) FROM '{settings.output_dir / 'exports' / 'kpi_history.parquet'}'").fetchall() == [(len(after),)]


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1280,2400"]

MEASURE_CHARTS = """<script>
const boxes = [...document.querySelectorAll('svg.chart')].map(svg => {
  const r = svg.getBoundingClientRect(), s = getComputedStyle(svg);
  return {chart: svg.dataset.chart, width: r.width, height: r.height, visible: s.visibility !== 'hidden' && s.display !== 'none',
          marks: svg.querySelectorAll('rect, circle, polyline, polygon').length};
});
const out = document.createElement('pre'); out.id = 'chart-boxes'; out.textContent = JSON.stringify(boxes);
document.body.appendChild(out);
</script>"""


def test_report_renders_offline_with_visible_charts(delivered, tmp_path):
    chromium = _chromium()
    if chromium is None:
        pytest.skip("no chromium on PATH (.ci/run installs Debian's chromium package)")
    html = (delivered.output_dir / publish.REPORT).read_text()
    # Self-contained: no script, stylesheet, font or image fetched from anywhere.
    assert "<script" not in html and "<link" not in html and "<img" not in html and "@import" not in html
    assert "https://" not in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    page = tmp_path / "report.html"
    page.write_text(html.replace("</body>", MEASURE_CHARTS + "</body>"))
    dom = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    boxes = json.loads(dom.split('<pre id="chart-boxes">')[1].split("</pre>")[0].replace("&quot;", '"'))
    charts = {b["chart"]: b for b in boxes}
    assert {"response-trend", "response-p90-trend", "sla-trend", "volume-trend", "sla-team", "leads-team", "sla-source",
            "heatmap", "conversion", "forecast", "staffing"} <= set(charts)
    for name, box in charts.items():
        assert box["visible"] and box["width"] > 200 and box["height"] > 50 and box["marks"] > 0, (name, box)
    # The data-quality section shows this run's gates (folded) and links to Data Docs by absolute URI.
    assert "marts_fct_lead_response" in html.split("<details>")[1]
    assert "Not available: quality.gate_results" not in html
    # The narrative's and the chart's figures are the marts': SLA compliance of the period, the
    # chosen model's whole forecast horizon.
    con = duckdb.connect(str(delivered.warehouse_path), read_only=True)
    period_start, period_end = con.execute("SELECT period_start, period_end FROM snapshots.kpi_history "
                                           "WHERE snapshot_version = 1 LIMIT 1").fetchone()
    period = snapshots.Period("weekly", period_start, period_end, delivered.schedule_timezone)
    start, end = period.utc_bounds()
    met, breached = con.execute("""SELECT count_if(sla_status = 'met'), count_if(sla_status = 'breached') FROM marts.fct_lead_response
                                   WHERE clock_started_at >= ? AND clock_started_at < ?""", [start, end]).fetchone()
    chosen_hours = con.execute("SELECT count(*) FROM stats.volume_forecast WHERE frequency = 'hour' AND is_chosen").fetchone()[0]
    con.close()
    assert f"SLA compliance was {met / (met + breached):.1%}" in html.split('id="narrative"')[1].split("</section>")[0]
    forecast_line = html.split('data-chart="forecast"')[1].split('stroke-width="2" points="')[1].split('"')[0]
    assert chosen_hours > 168 and len(forecast_line.split()) == chosen_hours
    shot = tmp_path / "report.png"
    subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile2'}", f"--screenshot={shot}",
                    (delivered.output_dir / publish.REPORT).as_uri()], capture_output=True, timeout=120)
    assert shot.stat().st_size > 20_000  # a blank page is a few KB


def test_the_report_of_a_clean_first_run_links_data_docs(delivered):
    html = (delivered.output_dir / publish.REPORT).read_text()
    assert f'href="{(delivered.output_dir / "data_docs" / "index.html").as_uri()}"' in html


def test_exports_keep_their_documented_schema(delivered):
    assert (PROJECT_ROOT / "docs" / "exports.md").read_text() == exports.render_doc()
    # Pinned: changing these breaks people's spreadsheets and BI imports (docs/exports.md).
    assert [c for c, _, _ in exports.EXPORTS[0].columns] == [
        "frequency", "period_start", "period_end", "period_timezone", "segment_type", "segment_value", "kpi", "value",
        "segment_lead_incidents", "metric_definition_version", "snapshot_version", "dagster_run_id", "snapshotted_at"]
    assert [e.name for e in exports.EXPORTS] == ["kpi_history", "lead_response", "response_by_segment",
                                                 "funnel_by_response_bucket", "response_daily"]
    for export in exports.EXPORTS:
        base = delivered.output_dir / "exports" / export.name
        described = duckdb.sql(f"DESCRIBE SELECT * FROM '{base}.parquet'").fetchall()
        assert [(r[0], r[1]) for r in described] == [(c, t) for c, t, _ in export.columns], export.name
        assert (base.with_suffix(".csv")).read_text().splitlines()[0] == ",".join(c for c, _, _ in export.columns)


def test_csv_cells_that_look_like_formulas_are_neutralised(tmp_path):
    export = exports.Export("t", "t", "", (("lead_id", "VARCHAR", ""), ("label", "VARCHAR", ""), ("n", "INTEGER", "")))
    con = duckdb.connect()
    values = ["=HYPERLINK(\"http://x\")", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx", "plain", "a=b", None]
    con.execute("CREATE TABLE t AS SELECT 'L1' AS lead_id, unnest(?::VARCHAR[]) AS label, -5 AS n", [values])
    path = tmp_path / "t.csv"
    con.execute(f"COPY ({exports.neutralised_csv_select(export, exports.export_select(export, b'k'))}) TO '{path}' (FORMAT csv, HEADER)")
    import csv

    rows = list(csv.DictReader(path.open(newline="")))
    assert [r["label"] for r in rows] == ["'=HYPERLINK(\"http://x\")", "'+1", "'-2+3", "'@SUM(A1)", "'\tx", "'\rx", "plain", "a=b", ""]
    assert {r["n"] for r in rows} == {"-5"}  # numbers are numbers, not formulas
    assert {r["lead_id"] for r in rows} == {privacy.pseudonym(b"k", "L1")}


def test_nothing_personal_is_published(delivered):
    settings = delivered
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    personal = set()
    for sql in ("SELECT lead_id FROM raw.leads", "SELECT email FROM raw.leads", "SELECT email_normalized FROM raw.leads",
                "SELECT phone FROM raw.leads", "SELECT phone_e164 FROM raw.leads", "SELECT first_name FROM raw.leads",
                "SELECT last_name FROM raw.leads", "SELECT full_name FROM raw.reps", "SELECT email FROM raw.reps",
                "SELECT phone FROM raw.reps", "SELECT rep_id FROM raw.reps"):
        personal |= {r[0] for r in con.execute(sql).fetchall() if r[0] and len(str(r[0])) > 3}
    con.close()
    scan = duckdb.connect()
    scan.execute("CREATE TABLE personal AS SELECT unnest(?::VARCHAR[]) AS v", [sorted(personal)])
    scan.execute(f"ATTACH '{settings.published_dir / publish.PUBLISHED_DB}' AS pub (READ_ONLY)")
    sources = [f'pub."{s}"."{t}"' for s, t in scan.execute(
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_catalog = 'pub'").fetchall()]
    sources += [f"read_csv('{p}', all_varchar = true)" for p in (settings.output_dir / "exports").glob("*.csv")]
    sources += [f"'{p}'" for p in (settings.published_dir / "parquet" / "current").glob("*.parquet")]
    assert len(sources) > 15
    for source in sources:
        columns = [r[0] for r in scan.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
        assert not set(columns) & privacy.personal_column_names(), source
        for column in columns:
            hits = scan.execute(f'SELECT count(*) FROM {source} WHERE CAST("{column}" AS VARCHAR) IN (SELECT v FROM personal)').fetchone()[0]
            assert hits == 0, f"{source}.{column} publishes personal values"
    # Pseudonyms are the keyed hash of the real id: joinable, not reversible without the key.
    lead_ids = scan.execute(f"SELECT lead_id FROM pub.marts.fct_lead_response LIMIT 5").fetchall()
    assert all(v[0].startswith("p_") and len(v[0]) == 26 for v in lead_ids)
    key_file = settings.pseudonym_key_path
    assert key_file.exists() and (key_file.stat().st_mode & 0o777) == 0o600


def test_pseudonym_sql_matches_python_hmac():
    con = duckdb.connect()
    for key in (b"k", b"x" * 100):
        for value in ("L-000123", "jane.doe@example.com", "+14155550123", "é"):
            assert con.execute(f"SELECT {privacy.hmac_sql(key, '?')}", [value]).fetchone()[0] == privacy.pseudonym(key, value)
    assert con.execute(f"SELECT {privacy.hmac_sql(b'k', 'NULL')}").fetchone()[0] is None


def test_analyst_reads_published_marts_during_a_run(shared_copy):
    settings = shared_copy
    url = f"duckdb:///{settings.published_dir / publish.PUBLISHED_DB}?access_mode=read_only"
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    analyst = engine.connect()
    expected = analyst.execute(text("SELECT count(*) FROM marts.fct_lead_response")).scalar()
    before_run = analyst.execute(text("SELECT dagster_run_id FROM meta.publication")).scalar()
    # The pipeline in its own process, as in production; the analyst queries all along.
    job = subprocess.Popen([sys.executable, "-c", LEADERSHIP_RUN], env=_child_env(settings), cwd=PROJECT_ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    reads = 0
    while job.poll() is None:
        assert analyst.execute(text("SELECT count(*) FROM marts.fct_lead_response")).scalar() == expected
        reads += 1
        time.sleep(0.02)
    run_id = job.stdout.read().strip().splitlines()[-1]
    assert job.returncode == 0 and reads > 5
    # The open connection kept reading its snapshot; a new one sees the new publication.
    assert analyst.execute(text("SELECT dagster_run_id FROM meta.publication")).scalar() == before_run
    analyst.close()
    engine.dispose()
    fresh = create_engine(url).connect()
    assert fresh.execute(text("SELECT dagster_run_id FROM meta.publication")).scalar() == run_id
    fresh.close()


LEADERSHIP_RUN = """
from orchestration.settings import Settings, use_settings, apply_process_env
settings = Settings.from_env()
use_settings(settings); apply_process_env(settings)
import dagster as dg
from orchestration.defs.definitions import defs
result = defs.resolve_job_def("leadership_job").execute_in_process(instance=dg.DagsterInstance.ephemeral())
print(result.run_id)
"""


# The same run, stopped at the publish commit point while the file named by argv[1] exists.
PAUSED_LEADERSHIP_RUN = ("import sys; from pathlib import Path; from tests.pause_before_commit import install; "
                         "install(Path(sys.argv[1]))" + LEADERSHIP_RUN)


def _child_env(settings, **extra) -> dict:
    return {**child_env(), "STL_DATA_DIR": str(settings.data_dir), "STL_LANDING_DIR": str(settings.landing_dir), **extra}


def test_a_run_killed_while_publishing_changes_nothing(shared_copy, tmp_path):
    settings = shared_copy
    files_before, history_before = published_files(settings), history(settings)
    pause = tmp_path / "paused"
    child = subprocess.Popen([sys.executable, "-c", PAUSED_LEADERSHIP_RUN, str(pause)], cwd=PROJECT_ROOT,
                             env=_child_env(settings),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not pause.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert pause.exists(), "the run never reached the commit point"
    # Everything is staged beside its destination, nothing is in place yet.
    assert list(settings.published_dir.glob(f".{publish.PUBLISHED_DB}.*.tmp"))
    assert (settings.output_dir / ".staging").exists()
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert published_files(settings) == files_before
    assert history(settings) == history_before
    # The next run completes normally and clears the leftovers.
    result = run_leadership(settings)
    assert result.success
    assert not list(settings.published_dir.glob(f".{publish.PUBLISHED_DB}.*"))
    assert not list((settings.output_dir / ".staging").glob("*"))
    after = history(settings)
    assert set(history_before) < set(after)
    assert max(r[10] for r in after) == max(r[10] for r in history_before) + 1


@pytest.mark.parametrize("frequency, run_date, start, end", [
    ("weekly", dt.date(2026, 11, 23), dt.date(2026, 11, 16), dt.date(2026, 11, 23)),  # Monday tick: last week
    ("weekly", dt.date(2026, 11, 26), dt.date(2026, 11, 16), dt.date(2026, 11, 23)),  # mid-week: last full week
    ("daily", dt.date(2026, 11, 23), dt.date(2026, 11, 22), dt.date(2026, 11, 23)),
])
def test_period_is_the_last_full_one_before_the_run_date(frequency, run_date, start, end):
    period = snapshots.period_ending(frequency, run_date, "America/New_York")
    assert (period.start, period.end) == (start, end)
    # Local midnight in the schedule's timezone, as UTC: 05:00 in winter (EST).
    assert period.utc_bounds()[0] == dt.datetime.combine(start, dt.time(5))


def test_publishing_refuses_when_the_latest_gate_run_failed():
    con = duckdb.connect()
    assert publish.failed_gates(con) == []  # no quality results recorded: nothing to refuse on
    con.execute("CREATE SCHEMA quality")
    con.execute("""CREATE TABLE quality.gate_results (run_id VARCHAR, checked_at TIMESTAMP, suite VARCHAR,
                   asset_key VARCHAR, passed BOOLEAN)""")
    con.execute("""INSERT INTO quality.gate_results VALUES
                   ('r1', '2026-11-20 06:00', 'fct_lead_response', 'marts/fct_lead_response', false),
                   ('r2', '2026-11-21 06:00', 'fct_lead_response', 'marts/fct_lead_response', true)""")
    assert publish.failed_gates(con) == []  # an old failure, fixed since
    con.execute("INSERT INTO quality.gate_results VALUES ('r3', '2026-11-22 06:00', 'raw_leads', 'raw/leads', false)")
    assert publish.failed_gates(con) == ["raw_leads on raw/leads"]


def test_leadership_job_emails_the_report_when_smtp_is_configured(shared_copy, use_settings):
    import dataclasses
    import email
    import email.policy
    import socket

    from aiosmtpd.controller import Controller

    received = []

    class Inbox:
        async def handle_DATA(self, server, session, envelope):
            received.append(envelope.content)
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Inbox(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        use_settings(dataclasses.replace(shared_copy, smtp_host="127.0.0.1", smtp_port=port, smtp_security="none",
                                         report_sender="reports@example.net", report_recipients=("ceo@example.net",)))
        result = run_leadership(shared_copy)
    finally:
        controller.stop()
    assert result.success
    sent = result.asset_materializations_for_node("leadership_email")[0].metadata
    assert sent["sent"].value is True
    message = email.message_from_bytes(received[0], policy=email.policy.default)
    assert [a.get_filename() for a in message.iter_attachments()] == ["leadership_report.pdf", "leadership_report.html"]
    assert message["Subject"].startswith("Speed to lead 20")
