"""A gate = a suite validated now, recorded, and alerted on: ``run_gate`` is everything an asset
check does, so the CLI, the benchmark and the tests run gates exactly as Dagster does."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from orchestration import warehouse
from orchestration.quality.alerts import Alert, notifiers_for, notify, record_alerts
from orchestration.quality.gx_bridge import SuiteOutcome, build_docs_index, run_suite
from orchestration.quality.suites import Suite, load_suites
from orchestration.settings import Settings

RESULTS_DDL = [
    "CREATE SCHEMA IF NOT EXISTS quality",
    """CREATE TABLE IF NOT EXISTS quality.gate_results (
        run_id VARCHAR, checked_at TIMESTAMP, suite VARCHAR, asset_key VARCHAR, passed BOOLEAN,
        blocking BOOLEAN, evaluated_expectations INTEGER, failed_expectations INTEGER,
        failing_rows BIGINT, seconds DOUBLE, data_docs_path VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS quality.expectation_results (
        run_id VARCHAR, checked_at TIMESTAMP, suite VARCHAR, expectation VARCHAR, severity VARCHAR,
        success BOOLEAN, unexpected_count BIGINT, unexpected_percent DOUBLE, observed_value VARCHAR,
        sample VARCHAR, error VARCHAR)""",
]
# Samples as read (names, phones, raw ids): kept for whoever debugs the warehouse itself, never
# published or sent (only the schemas in publish.PUBLISHED_SCHEMAS are), purged with retention.
RESTRICTED_SCHEMA = "restricted"
RESTRICTED_DDL = [
    f"CREATE SCHEMA IF NOT EXISTS {RESTRICTED_SCHEMA}",
    f"""CREATE TABLE IF NOT EXISTS {RESTRICTED_SCHEMA}.gate_samples (
        run_id VARCHAR, checked_at TIMESTAMP, suite VARCHAR, expectation VARCHAR, sample VARCHAR)""",
]


def gate_params(settings: Settings, now: dt.datetime | None = None) -> dict:
    """Values a suite may use as ``$name``. ``now_utc`` is a SQL literal fixed for the whole
    gate (so every expectation judges 'the future' against the same instant)."""
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return {
        "now_utc": f"TIMESTAMP '{now.isoformat(sep=' ', timespec='seconds')}'",
        "future_tolerance_seconds": settings.future_tolerance_seconds,
        "max_extract_age_hours": settings.max_extract_age_hours,
    }


def alerts_for(outcome: SuiteOutcome, run_id: str) -> list[Alert]:
    alerts = []
    for r in outcome.failed:
        gate_breaking = r.spec.severity == "error" and outcome.suite.blocking
        count = f"{r.unexpected_count:,} failing" if r.unexpected_count is not None else "failed"
        detail = r.error or (f"sample: {json.dumps(r.sample[:3], default=str)}" if r.sample else "")
        alerts.append(Alert(
            raised_at=outcome.checked_at, severity="critical" if gate_breaking else "warning",
            kind=r.spec.alert_kind, subject=f"{outcome.suite.name}: {r.spec.label}",
            what_failed=f"{r.spec.why} ({count}{'; ' + detail if detail else ''})".strip(),
            how_to_fix=r.spec.how_to_fix or "See the suite file and the Data Docs page for this run.",
            failing_rows=r.unexpected_count, run_id=run_id))
    return alerts


def record_outcome(con, outcome: SuiteOutcome, run_id: str) -> None:
    for ddl in RESULTS_DDL:
        con.execute(ddl)
    s = outcome.suite
    con.execute("INSERT INTO quality.gate_results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
        run_id, outcome.checked_at, s.name, "/".join(s.asset), outcome.passed, s.blocking, len(outcome.results),
        len(outcome.failed), outcome.failing_rows, outcome.seconds,
        str(outcome.data_docs_path) if outcome.data_docs_path else None])
    con.executemany("INSERT INTO quality.expectation_results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
        [run_id, outcome.checked_at, s.name, r.spec.label, r.spec.severity, r.success, r.unexpected_count,
         r.unexpected_percent, None if r.observed_value is None else json.dumps(r.observed_value, default=str),
         json.dumps(r.sample, default=str), r.error]
        for r in outcome.results])
    raw_samples = [[run_id, outcome.checked_at, s.name, r.spec.label, json.dumps(r.restricted_sample, default=str)]
                   for r in outcome.results if r.restricted_sample]
    if raw_samples:
        for ddl in RESTRICTED_DDL:
            con.execute(ddl)
        con.executemany(f"INSERT INTO {RESTRICTED_SCHEMA}.gate_samples VALUES (?, ?, ?, ?, ?)", raw_samples)


def run_gate(suite: Suite, settings: Settings, run_id: str, now: dt.datetime | None = None,
             new_rows_only: bool = False) -> tuple[SuiteOutcome, list[Alert]]:
    """Validate, record the outcome and its alerts in the warehouse, and send the alerts.

    ``new_rows_only`` (a partition run: the daily schedule, the landing sensor): an incremental
    suite validates the rows loaded since it last passed, when it ever has; a run that failed
    leaves its rows in the next run's batch, so bad rows keep the gate shut until replaced."""
    with warehouse.warehouse_lock(settings):  # nothing writes while GX reads
        new_rows_only = new_rows_only and suite.incremental and _has_passed(settings, suite)
        outcome = run_suite(suite, settings, gate_params(settings, now), run_name=run_id, new_rows_only=new_rows_only)
    alerts = alerts_for(outcome, run_id)
    with warehouse.writer(settings) as con:
        con.execute("BEGIN")
        record_outcome(con, outcome, run_id)
        record_alerts(con, alerts)
        con.execute("COMMIT")
    notify(alerts, notifiers_for(settings))
    return outcome, alerts


def _has_passed(settings: Settings, suite: Suite) -> bool:
    """Whether the suite has a passing check on record (else there is no 'since' to start from)."""
    if not settings.warehouse_path.exists():
        return False
    con = warehouse.reader(settings)
    try:
        if not con.execute("SELECT count(*) FROM information_schema.tables "
                           "WHERE table_schema = 'quality' AND table_name = 'gate_results'").fetchone()[0]:
            return False
        return con.execute("SELECT count(*) > 0 FROM quality.gate_results WHERE suite = ? AND passed",
                           [suite.name]).fetchone()[0]
    finally:
        con.close()


def build_data_docs_index(settings: Settings) -> Path:
    """The Data Docs pages of the results not rendered yet, the suite pages and the index (gates
    that pass render nothing: GX's site builder lists every stored result at each call)."""
    return build_docs_index(settings, load_suites())


def recorded_for_run(settings: Settings, run_id: str) -> tuple[list[tuple], list[tuple]]:
    """What a run recorded: gate rows (suite, passed, blocking, failed_expectations, failing_rows)
    and alert rows (severity, subject, what_failed, how_to_fix); empty before the first gate ran.
    Raises duckdb.IOException while a process outside the lock (dbt by hand) holds the file."""
    if not settings.warehouse_path.exists():
        return [], []
    with warehouse.warehouse_lock(settings):
        con = warehouse.reader(settings)
        try:
            if not con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'quality' "
                               "AND table_name = 'gate_results'").fetchone()[0]:
                return [], []
            gates = con.execute("SELECT suite, passed, blocking, failed_expectations, failing_rows "
                                "FROM quality.gate_results WHERE run_id = ? ORDER BY suite", [run_id]).fetchall()
            alerts = con.execute("SELECT severity, subject, what_failed, how_to_fix FROM quality.alerts "
                                 "WHERE run_id = ? ORDER BY severity, subject", [run_id]).fetchall()
            return gates, alerts
        finally:
            con.close()
