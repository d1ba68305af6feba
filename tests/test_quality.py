"""Data-quality gates: suites load and name real assets; clean demo data passes every gate; each
anomaly the gates exist for is caught by the right expectation with the right count; a failing
gate stops everything downstream in a real Dagster run and the marts keep their last good
version; alerts reach the log file and a webhook."""

from __future__ import annotations

import datetime as dt
import hashlib
import http.server
import json
import shutil
import threading

import duckdb
import pytest

from orchestration.delivery.publish import PUBLISHED_DB, REPORT
from orchestration.quality.alerts import Alert, LogFileNotifier, WebhookNotifier, notify
from orchestration.quality.suites import SuiteError, load_suite, load_suites
from tests.helpers import DATA_END, make_settings


@pytest.fixture
def clean_build(shared_run):
    """The session's shared run: fresh demo data, which passes every gate (read only)."""
    return shared_run.settings, shared_run.result


def _gate_rows(settings, run_id):
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        gates = con.execute("SELECT suite, passed FROM quality.gate_results WHERE run_id = ?", [run_id]).fetchall()
        alerts = con.execute("SELECT severity, kind, subject, failing_rows FROM quality.alerts WHERE run_id = ?",
                             [run_id]).fetchall()
    finally:
        con.close()
    return dict(gates), alerts


@pytest.mark.slow  # dbt parse
def test_every_suite_loads_and_checks_a_real_asset(dbt_manifest):
    from orchestration.defs.definitions import defs

    suites = load_suites()
    keys = {tuple(k.path) for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert len(suites) >= 18
    for suite in suites:
        assert suite.asset in keys, f"{suite.name} names {suite.asset}, which is not an asset"
    raw_suites = {s.asset[1] for s in suites if s.asset[0] == "raw"}
    from orchestration.ingest import contract as c

    assert raw_suites == {e.name for e in c.ENTITIES}, "every extract has a raw suite"


def test_a_broken_suite_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("asset: marts/x\ntable: marts.x\nexpectations:\n  - expect_column_values_to_be_unique: {column: a}\n    severity: fatal\n")
    with pytest.raises(SuiteError, match="severity must be one of"):
        load_suite(bad)
    bad.write_text("asset: marts/x\ntable: marts.x\ncontract: no_such_extract\n")
    with pytest.raises(SuiteError, match="unknown contract entity"):
        load_suite(bad)


def test_clean_demo_data_passes_every_gate(clean_build):
    settings, result = clean_build
    assert result.success
    gates, alerts = _gate_rows(settings, result.run_id)
    assert len(gates) == len(load_suites())
    assert all(gates.values()), {k: v for k, v in gates.items() if not v}
    assert alerts == []
    # The end of the run renders every gate's result page and the index, which links to each.
    index = (settings.data_docs_dir / "index.html").read_text()
    for suite in load_suites():
        pages = list((settings.data_docs_dir / "validations" / suite.name / result.run_id).glob("*/*.html"))
        assert len(pages) == 1, f"{suite.name}: {pages}"
        assert f"validations/{suite.name}/{result.run_id}/" in index, suite.name
        assert (settings.data_docs_dir / "expectations" / f"{suite.name}.html").exists()
    checks = [c for c in result.get_asset_check_evaluations() if c.check_name.startswith("gx_")]
    assert len(checks) == len(gates) and all(c.passed for c in checks)


# (suite, mutation SQL, label of the expectation that must fail, its failing count, severity)
ANSWERED = "SELECT lead_id FROM marts.fct_lead_response WHERE is_answered ORDER BY lead_id LIMIT {n}"
ANOMALIES = {
    "negative_duration": (
        "marts_fct_lead_response",
        f"UPDATE marts.fct_lead_response SET seconds_to_first_response = -30 WHERE lead_id IN ({ANSWERED.format(n=3)})",
        "expect_column_values_to_be_between(seconds_to_first_response)", 3, "error"),
    "response_before_lead": (
        "marts_fct_lead_response",
        "UPDATE marts.fct_lead_response SET first_response_at = clock_started_at - INTERVAL 10 MINUTE "
        f"WHERE lead_id IN ({ANSWERED.format(n=4)})",
        "expect_column_pair_values_a_to_be_greater_than_b(first_response_at", 4, "error"),
    "future_dated": (
        "marts_fct_lead_response",
        "UPDATE marts.fct_lead_response SET first_touch_at = now()::TIMESTAMP + INTERVAL 2 DAY, "
        f"first_response_at = now()::TIMESTAMP + INTERVAL 2 DAY WHERE lead_id IN ({ANSWERED.format(n=2)})",
        "future-dated events", 2, "error"),
    "missing_timestamp": (
        "marts_fct_lead_response",
        "UPDATE marts.fct_lead_response SET clock_started_at = NULL WHERE lead_id IN "
        "(SELECT lead_id FROM marts.fct_lead_response ORDER BY lead_id LIMIT 5)",
        "expect_column_values_to_not_be_null(clock_started_at)", 5, "error"),
    "duplicate_key": (
        "marts_fct_lead_response",
        "INSERT INTO marts.fct_lead_response SELECT * FROM marts.fct_lead_response ORDER BY lead_id LIMIT 2",
        "expect_column_values_to_be_unique(lead_id)", 4, "error"),
    "reconciliation": (
        "marts_fct_lead_response",
        "DELETE FROM marts.fct_lead_response WHERE lead_id IN (SELECT lead_id FROM marts.fct_lead_response ORDER BY lead_id LIMIT 3)",
        "lead counts do not reconcile from raw to the fact", 1, "error"),
    "orphan_activity": (
        "staging_stg_activity_lead_matches",
        "UPDATE raw.activity_lead_matches SET lead_id = 'GHOST-' || activity_id WHERE activity_id IN "
        "(SELECT activity_id FROM raw.activity_lead_matches WHERE lead_id IS NOT NULL ORDER BY activity_id LIMIT 3)",
        "activities matched to a lead that does not exist (orphans)", 3, "error"),
    "share_out_of_range": (
        "marts_response_by_segment",
        "UPDATE marts.mart_response_by_segment SET sla_compliance = 1.5 WHERE segment_type = 'score_tier'",
        "shares outside [0, 1]", 3, "error"),
    "volume_drop": (
        "marts_response_daily",
        "UPDATE marts.mart_response_daily SET leads = 1 WHERE grouping_level = 'all' AND response_date = "
        "(SELECT response_date FROM marts.mart_response_daily WHERE grouping_level = 'all' AND response_date > "
        "(SELECT max(response_date) - INTERVAL 7 DAY FROM marts.mart_response_daily) ORDER BY leads DESC LIMIT 1)",
        "daily lead volume outside the band of recent history", 1, "warning"),
    "missing_extract_day": (
        "raw_leads",
        "DELETE FROM raw.ingested_files WHERE entity = 'leads' AND extract_date = "
        "(SELECT min(extract_date) + INTERVAL 3 DAY FROM raw.ingested_files WHERE entity = 'leads')",
        "days without an extract file", 1, "warning"),
    "quarantine_share": (
        "raw_calls",
        "UPDATE raw.ingested_files SET rows_quarantined = rows_read WHERE entity = 'calls' AND extract_date IN "
        "(SELECT extract_date FROM raw.ingested_files WHERE entity = 'calls' ORDER BY rows_read DESC LIMIT 2)",
        "files with too many quarantined rows", 2, "error"),
    "raw_future_event": (
        "raw_leads",
        "UPDATE raw.leads SET created_at = _loaded_at + INTERVAL 1 DAY WHERE lead_id IN "
        "(SELECT lead_id FROM raw.leads ORDER BY lead_id LIMIT 2)",
        "implausible created_at", 2, "error"),
    "raw_duplicate_key": (
        "raw_sms",
        "INSERT INTO raw.sms SELECT * FROM raw.sms ORDER BY message_id LIMIT 1",
        "expect_compound_columns_to_be_unique(message_id,_source_file)", 2, "error"),
    "raw_orphan_activity": (
        "raw_calls",
        "UPDATE raw.calls SET lead_id = 'NO-SUCH-LEAD' WHERE call_id IN (SELECT call_id FROM raw.calls ORDER BY call_id LIMIT 6)",
        "calls naming a lead the CRM does not have", 6, "warning"),
}


@pytest.mark.parametrize("anomaly", sorted(ANOMALIES))
def test_each_anomaly_fails_the_right_expectation_with_the_right_count(anomaly, clean_build, tmp_path, use_settings):
    from orchestration.quality.gates import run_gate

    suite_name, mutation, label, count, severity = ANOMALIES[anomaly]
    settings = make_settings(tmp_path)
    shutil.copy(clean_build[0].warehouse_path, settings.warehouse_path)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute(mutation)
    use_settings(settings)
    suite = next(s for s in load_suites() if s.name == suite_name)
    outcome, alerts = run_gate(suite, settings, run_id=f"test-{anomaly}")

    failed = {r.spec.label: r for r in outcome.failed}
    matching = [r for lbl, r in failed.items() if lbl.startswith(label)]
    assert matching, f"expected {label!r} to fail; failed: {sorted(failed)}"
    assert matching[0].unexpected_count == count
    assert matching[0].error is None
    assert outcome.passed == (severity == "warning" and all(r.spec.severity == "warning" for r in outcome.failed))
    alert = next(a for a in alerts if a.subject.endswith(matching[0].spec.label))
    assert alert.severity == ("critical" if severity == "error" else "warning")
    assert alert.failing_rows == count and alert.how_to_fix
    logged = [json.loads(line) for line in settings.alert_log_path.read_text().splitlines()]
    assert any(entry["subject"] == alert.subject for entry in logged)


def test_stale_data_raises_late_alerts(clean_build, tmp_path, use_settings):
    from orchestration.quality.gates import run_gate

    settings = make_settings(tmp_path)
    shutil.copy(clean_build[0].warehouse_path, settings.warehouse_path)
    use_settings(settings)
    later = dt.datetime.combine(DATA_END + dt.timedelta(days=10), dt.time(12))
    for name, label in [("raw_leads", "extract behind the others"), ("marts_fct_lead_response", "newest lead older")]:
        suite = next(s for s in load_suites() if s.name == name)
        outcome, alerts = run_gate(suite, settings, run_id="test-stale", now=later)
        assert outcome.passed  # late data alerts; it does not stop the pipeline
        assert [a.kind for a in alerts if label in a.subject] == ["late_extract"]


def test_a_partition_runs_raw_gate_validates_the_rows_loaded_since_it_last_passed(clean_build, tmp_path, use_settings):
    """The daily run's raw gates read only the new rows; a failed gate keeps its rows in the
    next batch, so bad rows hold the gate shut until they are replaced; a full load reads all."""
    from orchestration.quality.gates import run_gate

    settings = make_settings(tmp_path)
    shutil.copy(clean_build[0].warehouse_path, settings.warehouse_path)
    use_settings(settings)
    suite = next(s for s in load_suites() if s.name == "raw_leads")
    assert suite.incremental
    implausible = "implausible created_at"

    def failing(outcome):
        return next((r.unexpected_count for r in outcome.failed if r.spec.label == implausible), 0)

    with duckdb.connect(str(settings.warehouse_path)) as con:  # old rows, validated by the shared run's gate
        con.execute("UPDATE raw.leads SET created_at = _loaded_at + INTERVAL 1 DAY WHERE lead_id IN "
                    "(SELECT lead_id FROM raw.leads ORDER BY lead_id LIMIT 2)")
    outcome, _ = run_gate(suite, settings, run_id="partition-1", new_rows_only=True)
    assert outcome.new_rows_only and outcome.passed and failing(outcome) == 0  # nothing new to check
    outcome, _ = run_gate(suite, settings, run_id="full-1")
    assert not outcome.new_rows_only and failing(outcome) == 2  # the whole table: caught

    now = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(seconds=1)
    with duckdb.connect(str(settings.warehouse_path)) as con:  # a later load: 3 good rows, 3 bad ones
        for suffix, shift in (("good", "0 DAY"), ("bad", "1 DAY")):
            con.execute(f"INSERT INTO raw.leads SELECT * REPLACE (lead_id || '-{suffix}' AS lead_id, ?::TIMESTAMP AS "
                        f"_loaded_at, ?::TIMESTAMP - INTERVAL 1 HOUR + INTERVAL {shift} AS created_at) "
                        f"FROM raw.leads ORDER BY lead_id LIMIT 3", [now, now])
    outcome, _ = run_gate(suite, settings, run_id="partition-2", new_rows_only=True)
    # the batch: rows loaded since the last passing check (partition-1), not the old planted ones
    assert outcome.new_rows_only and not outcome.passed and failing(outcome) == 3
    outcome, _ = run_gate(suite, settings, run_id="partition-3", new_rows_only=True)
    assert not outcome.passed and failing(outcome) == 3  # still shut: the failed rows stay in the batch
    with duckdb.connect(str(settings.warehouse_path)) as con:  # the corrected rows replace them
        con.execute("UPDATE raw.leads SET created_at = _loaded_at - INTERVAL 1 HOUR WHERE lead_id LIKE '%-bad'")
    outcome, _ = run_gate(suite, settings, run_id="partition-4", new_rows_only=True)
    assert outcome.passed and failing(outcome) == 0


def test_gx_store_keeps_each_suites_newest_results_and_their_pages(clean_build, tmp_path, use_settings):
    from orchestration.quality.gates import run_gate
    from orchestration.quality.gx_bridge import build_docs_index, prune_stored_results

    settings = make_settings(tmp_path)
    shutil.copy(clean_build[0].warehouse_path, settings.warehouse_path)
    use_settings(settings)
    suite = next(s for s in load_suites() if s.name == "raw_teams")
    store = settings.gx_dir / "gx" / "uncommitted" / "validations" / "raw_teams"
    pages = settings.data_docs_dir / "validations" / "raw_teams"
    for run in ("run-a", "run-b"):
        run_gate(suite, settings, run_id=run)
    assert not pages.exists()  # a passing gate renders nothing: the index build renders every new result
    build_docs_index(settings, [suite])
    run_gate(suite, settings, run_id="run-c")
    build_docs_index(settings, [suite])
    assert sorted(p.name for p in store.iterdir()) == ["run-a", "run-b", "run-c"]
    assert sorted(p.name for p in pages.iterdir()) == ["run-a", "run-b", "run-c"]

    assert prune_stored_results(settings, keep=2) == 1
    assert sorted(p.name for p in store.iterdir()) == ["run-b", "run-c"]  # the oldest went, folders too
    assert sorted(p.name for p in pages.iterdir()) == ["run-b", "run-c"]
    index = build_docs_index(settings, [suite]).read_text()
    assert "run-c" in index and "run-a" not in index
    assert prune_stored_results(settings, keep=2) == 0


def _write_csv(path, header, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n")


def test_a_failing_gate_stops_downstream_and_keeps_the_last_good_marts(shared_copy):
    from orchestration.pipeline import run_main_job

    settings = shared_copy  # the last good run: the shared one
    fingerprint = "SELECT count(*), sum(hash(lead_id, first_response_at, sla_status)) FROM marts.fct_lead_response"
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        before = con.execute(fingerprint).fetchone()
    published = [settings.published_dir / PUBLISHED_DB, settings.output_dir / REPORT]
    published_before = [hashlib.sha256(p.read_bytes()).hexdigest() for p in published]

    # Broken extracts of a new day: a schedule for a team that does not exist (blocking), a leads
    # file whose rows mostly lack their creation time (blocking), calls naming unknown leads (warning).
    day = DATA_END + dt.timedelta(days=1)
    landing = settings.landing_dir
    header = (landing / "schedules").glob("*").__next__().read_text().splitlines()[0]
    _write_csv(landing / "schedules" / f"schedules_{day}.csv", header, ["T-GHOST,,1,09:00,17:00,,,"])
    lead_header = next((landing / "leads").glob("*.csv")).read_text().splitlines()[0]
    lead_rows = [f"LX{i:05d},{'' if i < 40 else f'{day} 10:00:00'},,web,x,50,us_east,US,,T-NYC,x{i}@example.org,,,,,false"
                 for i in range(50)]
    _write_csv(landing / "leads" / f"leads_{day}.csv", lead_header, lead_rows)
    call_header = next((landing / "calls").glob("*.csv")).read_text().splitlines()[0]
    call_rows = [f"CAX{i},{day}T15:00:00Z,,{day}T15:01:00Z,outbound,+12125550100,+12125550{i:03d},,no_answer,0,NOPE-{i}"
                 for i in range(2)]
    _write_csv(landing / "calls" / f"calls_{day}.csv", call_header, call_rows)

    second = run_main_job(settings, full_load=True, quiet=True)
    assert not second.success
    checks = {c.check_name: c for c in second.get_asset_check_evaluations()}
    assert not checks["gx_raw_schedules"].passed
    assert checks["gx_raw_schedules"].metadata["failing_rows"].value == 1
    assert not checks["gx_raw_leads"].passed
    assert checks["gx_raw_calls"].severity.value == "WARN" and not checks["gx_raw_calls"].passed
    # Nothing downstream ran: no dbt model, no mart check, no delivery asset was materialised.
    materialized = {"/".join(e.asset_key.path) for e in second.get_asset_materialization_events()}
    assert not any(k.startswith(("staging/", "intermediate/", "marts/", "stats/")) for k in materialized)
    assert not materialized & {"snapshots/kpi_history", "leadership_report", "delivery_exports", "published_marts",
                               "pipeline_summary"}
    assert [hashlib.sha256(p.read_bytes()).hexdigest() for p in published] == published_before
    assert not any(name.startswith("gx_marts") for name in checks)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        assert con.execute(fingerprint).fetchone() == before
    gates, alerts = _gate_rows(settings, second.run_id)
    assert not gates["raw_schedules"] and not gates["raw_leads"]
    by_subject = {subject: (severity, kind, rows) for severity, kind, subject, rows in alerts}
    assert by_subject["raw_schedules: schedules of a team the teams extract does not have"] == ("critical", "gate_failed", 1)
    assert by_subject["raw_leads: files with too many quarantined rows"] == ("critical", "gate_failed", 1)
    assert by_subject["raw_calls: calls naming a lead the CRM does not have"] == ("warning", "gate_failed", 2)


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.headers["Content-Type"], json.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_alerts_go_to_the_log_file_and_a_webhook(tmp_path):
    server = http.server.HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    alert = Alert(dt.datetime(2026, 11, 2, 6), "critical", "gate_failed", "raw_leads: x", "what", "fix", 7, "run-1")
    log_path = tmp_path / "alerts.log"
    try:
        problems = notify([alert], [LogFileNotifier(log_path),
                                    WebhookNotifier(f"http://127.0.0.1:{server.server_port}/hook", format="json")])
    finally:
        server.shutdown()
    assert problems == []
    content_type, payload = _Receiver.received[-1]
    assert content_type.split(";")[0] == "application/json"
    assert payload["alerts"][0]["subject"] == "raw_leads: x" and payload["alerts"][0]["failing_rows"] == 7
    assert json.loads(log_path.read_text())["alert_id"] == alert.alert_id

    # A dead webhook is reported, not raised, and the log still gets the alert.
    problems = notify([alert], [LogFileNotifier(log_path), WebhookNotifier("http://127.0.0.1:9/none", timeout_seconds=2)])
    assert len(problems) == 1 and "WebhookNotifier" in problems[0]
    assert len(log_path.read_text().splitlines()) == 2
