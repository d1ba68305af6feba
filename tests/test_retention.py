"""Retention on a small warehouse of its own: personal data older than the cutoff is purged while
facts, aggregates and the KPI history stay exactly as they are."""

from __future__ import annotations

import datetime as dt
import shutil

import duckdb
import pytest

from orchestration.delivery import retention
from orchestration.demo.generator import generate
from orchestration.pipeline import run_main_job
from orchestration.settings import use_settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def delivered(tmp_path_factory, dbt_manifest):
    from tests.conftest import make_settings

    settings = make_settings(tmp_path_factory.mktemp("retention"))
    use_settings(settings)
    generate(settings.landing_dir, leads=1500, seed=5)
    result = run_main_job(settings, full_load=True)
    assert result.success
    return settings


def test_retention_purges_old_personal_data_and_keeps_facts(delivered, tmp_path):
    settings = delivered
    copy = tmp_path / "warehouse.duckdb"
    shutil.copyfile(settings.warehouse_path, copy)
    con = duckdb.connect(str(copy))
    counts = lambda: [con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in  # noqa: E731
                      ("marts.fct_lead_response", "marts.mart_response_by_segment", "snapshots.kpi_history",
                       "raw.leads", "raw.calls", "raw.quarantine")]
    before = counts()
    facts_before = con.execute("SELECT * FROM marts.fct_lead_response ORDER BY lead_id").fetchall()
    middle = con.execute("SELECT quantile_disc(created_at, 0.5) FROM raw.leads").fetchone()[0]
    recent_before = con.execute("SELECT * FROM raw.leads WHERE created_at >= ? ORDER BY ALL", [middle]).fetchall()
    old_persons = con.execute("SELECT count(DISTINCT email_normalized), count(DISTINCT phone_e164) FROM raw.leads "
                              "WHERE created_at < ?", [middle]).fetchone()
    now = middle + dt.timedelta(days=30)
    touched = retention.purge_personal_data(con, b"key", retention_days=30, now=now)
    assert touched["raw.leads"] > 0 and touched["staging.stg_leads"] > 0
    assert counts() == before
    assert con.execute("SELECT * FROM marts.fct_lead_response ORDER BY lead_id").fetchall() == facts_before
    old = con.execute("""SELECT count(*), count(email), count(phone), count(first_name), count(last_name),
                                count_if(email_normalized LIKE 'p\\_%' ESCAPE '\\'), count(DISTINCT email_normalized),
                                count(DISTINCT phone_e164)
                         FROM raw.leads WHERE created_at < ?""", [middle]).fetchone()
    assert old[0] > 0 and old[1:5] == (0, 0, 0, 0)
    assert old[5] > 0 and old[6:8] == old_persons  # pseudonymised one-to-one: incidents and matches stay
    assert con.execute("SELECT count(*) FROM raw.calls WHERE started_at < ? AND (from_number IS NOT NULL OR to_number IS NOT NULL)",
                       [middle]).fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM raw.quarantine WHERE quarantined_at < ? AND raw_record IS NOT NULL",
                       [now - dt.timedelta(days=30)]).fetchone()[0] == 0
    assert con.execute("SELECT * FROM raw.leads WHERE created_at >= ? ORDER BY ALL", [middle]).fetchall() == recent_before
    again = retention.purge_personal_data(con, b"key", retention_days=30, now=now)
    assert set(again.values()) == {0}  # idempotent
    con.close()
