"""The main job end to end on generated demo data (the session's shared run): every asset
materialises, every generated row is accounted for, planted quarantine problems are found exactly,
dbt's unit tests ran and passed, re-running ingestion (on a copy) changes nothing."""

from __future__ import annotations

import json

import pytest

from orchestration.ingest import contract as c
from orchestration.warehouse import reader


@pytest.fixture
def demo_run(shared_run):
    return shared_run.settings, shared_run.manifest, shared_run.result


def test_build_leaves_unit_tests_out_unless_asked(dbt_manifest):
    from orchestration.defs.transform import build_args

    assert build_args(unit_tests=False) == ["build", "--exclude-resource-type", "unit_test"]
    assert build_args(unit_tests=True) == ["build"]


def test_the_run_with_unit_tests_ran_and_passed_every_one(demo_run, dbt_manifest):
    from orchestration.defs.transform import dbt_results_path  # needs the parsed manifest

    settings, _, result = demo_run
    declared = {k for k in json.loads(dbt_manifest.read_text())["unit_tests"]}
    results_file = dbt_results_path(settings, result.run_id)
    ran = {r["unique_id"]: r["status"] for r in json.loads(results_file.read_text())["results"]
           if r["unique_id"].startswith("unit_test.")}
    assert len(declared) >= 10 and set(ran) == declared
    assert set(ran.values()) == {"pass"}


def test_every_asset_materializes(demo_run):
    from orchestration.defs.definitions import defs

    _, _, result = demo_run
    assert result.success
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    # Keys only depended on (e.g. stats/* before the statistics assets exist) are not materialisable.
    assert materialized == set(defs.resolve_asset_graph().materializable_asset_keys)


def test_every_generated_row_is_loaded_or_quarantined(demo_run):
    settings, manifest, _ = demo_run
    con = reader(settings)
    per_entity = dict(con.execute("SELECT entity, sum(rows_read) FROM raw.ingested_files GROUP BY 1").fetchall())
    assert {e: int(v) for e, v in per_entity.items()} == {e: n for e, n in manifest["rows"].items() if n}
    unbalanced = con.execute("SELECT count(*) FROM raw.ingested_files WHERE rows_read <> rows_loaded + rows_quarantined").fetchone()
    assert unbalanced == (0,)
    for entity in c.ENTITIES:
        loaded = con.execute(f"SELECT count(*) FROM raw.{entity.name}").fetchone()[0]
        quarantined = con.execute("SELECT count(*) FROM raw.quarantine WHERE entity = ? AND reason <> 'empty_file'",
                                  [entity.name]).fetchone()[0]
        assert loaded + quarantined == manifest["rows"].get(entity.name, 0), entity.name
    con.close()


def test_planted_problems_are_quarantined_exactly(demo_run):
    settings, manifest, _ = demo_run
    con = reader(settings)
    found = {}
    for entity, reason, count in con.execute("SELECT entity, reason, count(*) FROM raw.quarantine GROUP BY ALL").fetchall():
        found.setdefault(entity, {})[reason] = count
    planted = {e: {r: n for r, n in reasons.items() if n} for e, reasons in manifest["planted_quarantine"].items()}
    assert {e: r for e, r in found.items() if r} == {e: r for e, r in planted.items() if r}
    con.close()


def test_matching_finds_the_planted_unknown_contacts(demo_run):
    settings, manifest, _ = demo_run
    con = reader(settings)
    unmatched = dict(con.execute("SELECT channel, count_if(match_method = 'unmatched') FROM raw.activity_lead_matches GROUP BY 1").fetchall())
    unknown = manifest["anomalies"]["unknown_contact_activities"]
    assert unmatched == {"call": unknown["calls"], "sms": unknown["sms"], "email": unknown["emails"]}
    con.close()


def test_running_ingestion_again_changes_nothing(shared_copy):
    """Every landing file is already loaded: a second full load of the ingestion assets loads no
    file and leaves every raw table as it was (the rest of the job reads only these tables)."""
    import dagster as dg

    from orchestration.defs.definitions import defs
    from orchestration.defs.jobs import full_load_run_config

    settings = shared_copy
    counts = lambda con: [con.execute(f"SELECT count(*) FROM raw.{e.name}").fetchone()[0] for e in c.ENTITIES]  # noqa: E731
    with reader(settings) as con:
        before = counts(con)
    job = defs.resolve_job_def("speed_to_lead_job")
    again = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), run_config=full_load_run_config(), raise_on_error=False,
        partition_key=job.partitions_def.get_last_partition_key(),
        asset_selection=[dg.AssetKey(["raw", e.name]) for e in c.ENTITIES])
    assert again.success
    statuses = {e.event_specific_data.materialization.metadata["files_loaded"].value
                for e in again.get_asset_materialization_events()}
    assert statuses == {0} and len(again.get_asset_materialization_events()) == len(c.ENTITIES)
    with reader(settings) as con:
        assert counts(con) == before


def test_a_partition_runs_raw_gates_read_the_new_rows_and_a_full_loads_the_whole_table(shared_copy):
    """The asset checks pass the run's kind to the gates: a partition run (no full_load) checks
    the rows loaded since each incremental raw suite last passed, a full load the whole table;
    suites whose checks compare rows with the whole table (``incremental: false``) always read all."""
    import dagster as dg

    from orchestration.defs.definitions import defs
    from orchestration.defs.jobs import full_load_run_config
    from orchestration.quality.suites import load_suites

    whole_always = {f"gx_{s.name}" for s in load_suites() if s.name.startswith("raw_") and not s.incremental}
    assert whole_always == {"gx_raw_schedules", "gx_raw_experiment_assignments"}
    job = defs.resolve_job_def("speed_to_lead_job")
    batches = {}
    for kind, run_config in (("partition", {}), ("full", full_load_run_config())):
        run = job.execute_in_process(
            instance=dg.DagsterInstance.ephemeral(), run_config=run_config, raise_on_error=False,
            partition_key=job.partitions_def.get_last_partition_key(),
            asset_selection=[dg.AssetKey(["raw", e.name]) for e in c.ENTITIES])
        assert run.success
        evaluations = run.get_asset_check_evaluations()
        assert len(evaluations) == len(c.ENTITIES) and all(e.passed for e in evaluations), kind
        batches[kind] = {e.check_name: e.metadata["batch"].value for e in evaluations}
    assert set(batches["full"].values()) == {"whole table"}
    assert {name for name, batch in batches["partition"].items() if batch == "whole table"} == whole_always
    assert {batch for name, batch in batches["partition"].items() if name not in whole_always} == {
        "rows loaded since the suite last passed"}


def test_dbt_tables_carry_row_counts_and_column_schema(demo_run):
    import dagster as dg

    from orchestration.defs.definitions import defs

    settings, _, result = demo_run
    counts = {e.asset_key: e.materialization.metadata.get("dagster/row_count")
              for e in result.get_asset_materialization_events()}
    fact = dg.AssetKey(["marts", "fct_lead_response"])
    con = reader(settings)
    assert counts[fact].value == con.execute("SELECT count(*) FROM marts.fct_lead_response").fetchone()[0]
    con.close()
    columns = defs.resolve_asset_graph().get(fact).metadata["dagster/column_schema"].columns
    assert {"lead_id", "first_response_at", "sla_status"} <= {c.name for c in columns}
