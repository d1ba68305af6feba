"""Dagster on PostgreSQL: with STL_DAGSTER_PG_URL set, the generated dagster.yaml puts run,
event-log and schedule storage in PostgreSQL, and a real run, its events and schedule state
land there (read back from the tables, not through Dagster)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import sqlalchemy as sa

from orchestration.settings import PROJECT_ROOT, apply_process_env
from tests.helpers import child_env, make_settings, write

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

DAGSTER = str(Path(sys.executable).parent / "dagster")


@pytest.fixture
def pg_instance(tmp_path, postgres_url, monkeypatch, dbt_manifest, use_settings):
    import dagster as dg

    monkeypatch.setenv("STL_DAGSTER_PG_URL", postgres_url)
    settings = make_settings(tmp_path, STL_DAGSTER_PG_URL=postgres_url)
    use_settings(settings)
    monkeypatch.setenv("DAGSTER_HOME", str(settings.dagster_home))
    apply_process_env(settings)  # the job's resources read the environment (restored by use_settings)
    instance = dg.DagsterInstance.from_config(str(settings.dagster_home))
    yield settings, instance
    instance.dispose()


def test_generated_instance_yaml_uses_postgres_only_when_configured(tmp_path):
    with_pg = make_settings(tmp_path / "pg", STL_DAGSTER_PG_URL="postgresql+psycopg2://u@h/db")
    assert "postgres_url:\n      env: STL_DAGSTER_PG_URL" in (with_pg.dagster_home / "dagster.yaml").read_text()
    assert "u@h" not in (with_pg.dagster_home / "dagster.yaml").read_text()  # the URL stays in the environment
    default = make_settings(tmp_path / "sqlite")
    assert "postgres" not in (default.dagster_home / "dagster.yaml").read_text()
    assert "class: PooledSqliteEventLogStorage" in (default.dagster_home / "dagster.yaml").read_text()
    # switching back rewrites our own file; a hand-written one is left alone
    again = make_settings(tmp_path / "pg")
    assert "postgres" not in (again.dagster_home / "dagster.yaml").read_text()
    (again.dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    make_settings(tmp_path / "pg", STL_DAGSTER_PG_URL="postgresql+psycopg2://u@h/db")
    assert (again.dagster_home / "dagster.yaml").read_text() == "telemetry:\n  enabled: false\n"


def test_run_events_and_schedule_state_are_stored_in_postgres(pg_instance, postgres_url):
    import dagster as dg
    from dagster._core.scheduler.instigation import InstigatorType, TickData, TickStatus
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

    from orchestration.defs.definitions import defs

    settings, instance = pg_instance
    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(instance.schedule_storage, PostgresScheduleStorage)

    # A real run of the main job (one extract's ingestion asset, so it stays quick).
    write(settings, "teams_2026-11-20.csv", "team_id,team_name,timezone,region\nT1,East,America/New_York,NA\n")
    job = defs.resolve_job_def("speed_to_lead_job")
    result = job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey(["raw", "teams"])],
                                    partition_key="2026-11-20", raise_on_error=False)
    assert result.success

    # Schedule state through Dagster's own CLI against the same instance (as an operator would).
    env = {**child_env(), "DAGSTER_HOME": str(settings.dagster_home), "STL_DATA_DIR": str(settings.data_dir),
           "STL_DAGSTER_PG_URL": postgres_url}
    started = subprocess.run([DAGSTER, "schedule", "start", "daily_pipeline_schedule", "-w", "workspace.yaml"],
                             cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert started.returncode == 0, started.stderr[-3000:]

    # A tick as the scheduler daemon records it after launching a run for the schedule.
    state = next(s for s in instance.all_instigator_state(instigator_type=InstigatorType.SCHEDULE)
                 if s.name == "daily_pipeline_schedule")
    instance.create_tick(TickData(instigator_origin_id=state.instigator_origin_id, instigator_name=state.name,
                                  instigator_type=InstigatorType.SCHEDULE, status=TickStatus.SUCCESS,
                                  timestamp=time.time(), run_ids=[result.run_id], selector_id=state.selector_id))

    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as con:
            run = con.execute(sa.text("SELECT pipeline_name, status FROM runs WHERE run_id = :id"),
                              {"id": result.run_id}).one()
            assert tuple(run) == ("speed_to_lead_job", "SUCCESS")
            events = dict(con.execute(sa.text(
                "SELECT dagster_event_type, count(*) FROM event_logs WHERE run_id = :id "
                "AND dagster_event_type IS NOT NULL GROUP BY 1"), {"id": result.run_id}).all())
            # stored under the event type's value (RUN_SUCCESS is still "PIPELINE_SUCCESS" there)
            assert events.get(dg.DagsterEventType.RUN_SUCCESS.value) == 1
            assert events.get("ASSET_MATERIALIZATION") == 1
            assert events.get("STEP_SUCCESS", 0) >= 1
            schedule_status = con.execute(sa.text(
                "SELECT status FROM instigators WHERE selector_id = :selector AND instigator_type = 'SCHEDULE'"),
                {"selector": state.selector_id}).scalar_one()
            assert schedule_status == "RUNNING"
            ticks = con.execute(sa.text(
                "SELECT status FROM job_ticks WHERE job_origin_id = :origin"),
                {"origin": state.instigator_origin_id}).scalars().all()
            assert ticks == ["SUCCESS"]
    finally:
        engine.dispose()
