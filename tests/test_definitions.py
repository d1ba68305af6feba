"""The Dagster code location: loads from workspace.yaml, has the whole graph, jobs, schedules, sensor."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from tests.conftest import child_env

from orchestration.ingest import contract as c
from orchestration.defs.resources import WarehouseResource
from orchestration.settings import PROJECT_ROOT
from tests.helpers import make_settings, write

DAGSTER = str(Path(sys.executable).parent / "dagster")


def test_definitions_load_from_workspace_yaml(tmp_path, dbt_manifest):
    home = tmp_path / "dagster_home"
    home.mkdir()
    env = {**child_env(), "DAGSTER_HOME": str(home), "STL_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.run([DAGSTER, "definitions", "validate", "-w", "workspace.yaml"], cwd=PROJECT_ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Validation successful for code location orchestration.defs.definitions" in proc.stderr + proc.stdout


@pytest.fixture(scope="module")
def defs(dbt_manifest):
    from orchestration.defs.definitions import defs as definitions

    return definitions


def test_graph_has_every_entity_and_lineage_into_dbt(defs):
    graph = defs.resolve_asset_graph()
    keys = set(graph.get_all_asset_keys())
    for entity in c.ENTITIES:
        assert dg.AssetKey(["raw", entity.name]) in keys
        staging = graph.get(dg.AssetKey(["staging", f"stg_{entity.name}"]))
        assert dg.AssetKey(["raw", entity.name]) in staging.parent_keys
        assert graph.get(dg.AssetKey(["raw", entity.name])).partitions_def is not None
    matches = graph.get(dg.AssetKey(["raw", "activity_lead_matches"]))
    assert {dg.AssetKey(["raw", n]) for n in ("leads", "calls", "sms", "emails")} <= set(matches.parent_keys)
    assert dg.AssetKey(["raw", "activity_lead_matches"]) in graph.get(dg.AssetKey(["staging", "stg_activity_lead_matches"])).parent_keys


def test_jobs_schedules_and_sensor(defs):
    assert {j.name for j in defs.jobs} >= {"speed_to_lead_job", "daily_job", "statistics_job", "leadership_job"}
    schedules = {name: defs.resolve_schedule_def(name)
                 for name in ("daily_pipeline_schedule", "weekly_statistics_schedule", "weekly_leadership_schedule")}
    assert schedules["daily_pipeline_schedule"].cron_schedule == "0 6 * * *"
    # The statistics are weekly by default: the daily run leaves them out, their own job runs Mondays.
    assert schedules["daily_pipeline_schedule"].job_name == "daily_job"
    assert schedules["weekly_statistics_schedule"].cron_schedule == "30 6 * * 1"
    assert schedules["weekly_leadership_schedule"].cron_schedule == "0 7 * * 1"
    assert [s.name for s in defs.sensors] == ["landing_file_sensor", "run_failure_alert_sensor"]
    assert defs.resolve_sensor_def("landing_file_sensor").job_name == "daily_job"
    graph = defs.resolve_asset_graph()
    statistics = {k for k in graph.get_all_asset_keys() if k.path[0] == "stats"}
    daily = set(defs.resolve_job_def("daily_job").asset_layer.selected_asset_keys)
    weekly = set(defs.resolve_job_def("statistics_job").asset_layer.selected_asset_keys)
    assert statistics and not statistics & daily and statistics <= weekly
    assert daily | weekly == set(defs.resolve_job_def("speed_to_lead_job").asset_layer.selected_asset_keys)


def test_statistics_in_every_daily_run_when_asked(tmp_path):
    from orchestration.defs.schedules import build_schedules

    every_day = {s.name: s for s in build_schedules(make_settings(tmp_path, STL_STATISTICS_FREQUENCY="daily"))}
    assert every_day["daily_pipeline_schedule"].job.name == "speed_to_lead_job"
    assert "weekly_statistics_schedule" not in every_day
    with pytest.raises(ValueError, match="STL_STATISTICS_FREQUENCY='monthly'"):
        build_schedules(make_settings(tmp_path, STL_STATISTICS_FREQUENCY="monthly"))


def test_sensor_requests_runs_for_new_and_changed_files_only(settings, defs):
    from orchestration.defs.partitions import daily_partitions
    from orchestration.defs.sensors import landing_file_sensor as build_sensor

    landing_file_sensor = build_sensor(settings, daily_partitions(settings))
    write(settings, "calls/calls_2026-11-01.csv", "call_id,started_at,direction\nC1,2026-11-01T09:00:00Z,outbound\n")
    write(settings, "calls/calls_2026-11-02.csv", "call_id,started_at,direction\nC2,2026-11-02T09:00:00Z,outbound\n")
    write(settings, "notes.txt", "not an extract")
    with dg.build_sensor_context(cursor=None, instance=dg.DagsterInstance.ephemeral()) as context:
        result = landing_file_sensor(context)
    assert sorted(r.partition_key for r in result.run_requests) == ["2026-11-01", "2026-11-02"]
    cursor = result.cursor
    with dg.build_sensor_context(cursor=cursor, instance=dg.DagsterInstance.ephemeral()) as context:
        again = landing_file_sensor(context)
    assert isinstance(again, dg.SkipReason)
    write(settings, "calls/calls_2026-11-02.csv", "call_id,started_at,direction\nC2,2026-11-02T09:00:00Z,inbound\n")
    with dg.build_sensor_context(cursor=cursor, instance=dg.DagsterInstance.ephemeral()) as context:
        changed = landing_file_sensor(context)
    assert [r.partition_key for r in changed.run_requests] == ["2026-11-02"]
    assert set(json.loads(changed.cursor)) == {"calls/calls_2026-11-01.csv", "calls/calls_2026-11-02.csv", "notes.txt"}


IMPORT_CHECK = """
import json, os, sys
before = dict(os.environ)
import orchestration.defs.definitions
after = dict(os.environ)
print(json.dumps(sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))))
print(json.dumps(sorted(m for m in ("scipy", "statsmodels", "great_expectations") if m in sys.modules)))
"""


def test_importing_the_definitions_changes_no_environment_variable(tmp_path, dbt_manifest):
    """Importing the code location exports nothing (it used to export DAGSTER_HOME, the warehouse
    path and telemetry switches): a fresh interpreter without any of them set, before and after.
    Nor does it load the fitting and validation libraries (seconds each): the assets that use
    them import them when they run."""
    env = {k: v for k, v in child_env(STL_DATA_DIR=str(tmp_path)).items()
           if k not in ("DAGSTER_HOME", "DBT_SEND_ANONYMOUS_USAGE_STATS", "DO_NOT_TRACK", "GX_ANALYTICS_ENABLED")}
    proc = subprocess.run([sys.executable, "-c", IMPORT_CHECK], cwd=PROJECT_ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    changed, heavy = (json.loads(line) for line in proc.stdout.strip().splitlines()[-2:])
    assert changed == []
    assert heavy == []


def test_warehouse_resource_fields_are_env_vars_when_set_else_the_settings_defaults(settings, monkeypatch):
    for name in ("STL_WAREHOUSE_PATH", "STL_DUCKDB_MEMORY_LIMIT", "STL_WAREHOUSE_LOCK_TIMEOUT_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    unset = WarehouseResource.from_env()
    assert (unset.warehouse_path, unset.duckdb_memory_limit, unset.lock_timeout_seconds) == (None, None, None)
    resolved = unset.settings()  # None: the process settings, whose defaults are settings.py's
    assert (resolved.warehouse_path, resolved.duckdb_memory_limit, resolved.warehouse_lock_timeout_seconds) == (
        settings.warehouse_path, "80%", 3600)

    other = settings.data_dir / "elsewhere" / "w.duckdb"
    monkeypatch.setenv("STL_WAREHOUSE_PATH", str(other))
    monkeypatch.setenv("STL_WAREHOUSE_LOCK_TIMEOUT_SECONDS", "7")
    resource = WarehouseResource.from_env()
    assert isinstance(resource.warehouse_path, dg.EnvVar) and resource.warehouse_path.env_var_name == "STL_WAREHOUSE_PATH"
    assert getattr(resource.lock_timeout_seconds, "env_var_name", None) == "STL_WAREHOUSE_LOCK_TIMEOUT_SECONDS"
    assert resource.duckdb_memory_limit is None

    # The variables are read when the run starts, and every warehouse use in the run follows them.
    monkeypatch.setenv("STL_WAREHOUSE_LOCK_TIMEOUT_SECONDS", "9")
    seen = {}

    @dg.asset
    def probe(warehouse: WarehouseResource):
        resolved = warehouse.settings()
        seen.update(path=resolved.warehouse_path, lock=resolved.lock_path, timeout=resolved.warehouse_lock_timeout_seconds,
                    landing=resolved.landing_dir)
        with warehouse.writer() as con:
            con.execute("CREATE TABLE t AS SELECT 42 AS x")

    assert dg.materialize([probe], resources={"warehouse": resource}, instance=dg.DagsterInstance.ephemeral()).success
    assert seen == {"path": other, "lock": other.with_name("w.duckdb.lock"), "timeout": 9,
                    "landing": settings.landing_dir}
    import duckdb

    with duckdb.connect(str(other), read_only=True) as con:
        assert con.execute("SELECT x FROM t").fetchall() == [(42,)]
    assert not settings.warehouse_path.exists()


def test_the_code_location_resources_come_from_the_environment(dbt_manifest, monkeypatch):
    from orchestration.defs.resources import build_resources

    # Set when the definitions are built: an EnvVar, read when a run starts (and shown as one).
    monkeypatch.setenv("STL_WAREHOUSE_PATH", "/srv/stl/warehouse.duckdb")
    monkeypatch.delenv("STL_DUCKDB_MEMORY_LIMIT", raising=False)
    warehouse = build_resources()["warehouse"]
    assert isinstance(warehouse.warehouse_path, dg.EnvVar) and warehouse.warehouse_path.env_var_name == "STL_WAREHOUSE_PATH"
    # Unset: no EnvVar that a run could not resolve; the settings' default applies.
    assert warehouse.duckdb_memory_limit is None


def test_partitions_and_schedules_follow_the_settings_they_are_built_from(tmp_path):
    import datetime as dt

    from orchestration.defs.partitions import daily_partitions
    from orchestration.defs.schedules import build_schedules
    from tests.conftest import make_settings

    settings = make_settings(tmp_path, STL_PARTITIONS_START="2025-03-10", STL_SCHEDULE_TIMEZONE="America/Chicago",
                             STL_SNAPSHOT_FREQUENCY="daily")
    partitions = daily_partitions(settings)
    assert partitions.get_first_partition_key() == "2025-03-10"
    assert partitions.timezone == "America/Chicago"
    schedules = {s.name: s for s in build_schedules(settings)}
    leadership = schedules["weekly_leadership_schedule"]
    assert (leadership.cron_schedule, leadership.execution_timezone) == ("0 7 * * *", "America/Chicago")
    assert schedules["retention_schedule"].execution_timezone == "America/Chicago"
    # A tick at 03:00 UTC on the 2nd is still the 1st in Chicago: that date picks the snapshot period.
    tick = dt.datetime(2026, 12, 2, 3, 0, tzinfo=dt.UTC)
    request = leadership.evaluate_tick(dg.build_schedule_context(scheduled_execution_time=tick)).run_requests[0]
    assert request.run_config["ops"]["snapshots__kpi_history"]["config"]["run_date"] == "2026-12-01"


def test_modules_of_the_code_location_read_no_settings_at_import():
    """partitions, schedules and sensors used to read the settings when imported; now only the
    definitions' factory call does. A fresh interpreter imports them with get_settings broken."""
    code = """
import orchestration.settings as s
def refuse():
    raise AssertionError("settings read at import")
s.get_settings = refuse
s.Settings.from_env = classmethod(lambda cls, env=None: refuse())
import orchestration.defs.partitions, orchestration.defs.schedules, orchestration.defs.sensors, orchestration.defs.jobs
import orchestration.defs.resources, orchestration.pipeline, orchestration.defs.progress
print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=child_env(), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-3000:]
