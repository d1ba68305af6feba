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
from orchestration.settings import PROJECT_ROOT
from tests.test_ingest import write

DAGSTER = str(Path(sys.executable).parent / "dagster")


def test_definitions_load_from_workspace_yaml(tmp_path, dbt_manifest):
    home = tmp_path / "dagster_home"
    home.mkdir()
    env = {**child_env(), "DAGSTER_HOME": str(home), "STL_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.run([DAGSTER, "definitions", "validate", "-w", "workspace.yaml"], cwd=PROJECT_ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Validation successful for code location orchestration.definitions" in proc.stderr + proc.stdout


@pytest.fixture(scope="module")
def defs(dbt_manifest):
    from orchestration.definitions import defs as definitions

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
    assert {j.name for j in defs.jobs} >= {"speed_to_lead_job", "leadership_job"}
    schedules = {name: defs.resolve_schedule_def(name) for name in ("daily_pipeline_schedule", "weekly_leadership_schedule")}
    assert schedules["daily_pipeline_schedule"].cron_schedule == "0 6 * * *"
    assert schedules["daily_pipeline_schedule"].job_name == "speed_to_lead_job"
    assert schedules["weekly_leadership_schedule"].cron_schedule == "0 7 * * 1"
    assert [s.name for s in defs.sensors] == ["landing_file_sensor", "run_failure_alert_sensor"]


def test_sensor_requests_runs_for_new_and_changed_files_only(settings, defs):
    from orchestration.sensors import landing_file_sensor

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
