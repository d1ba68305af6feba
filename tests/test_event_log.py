"""Dagster's SQLite event log with kept connections (orchestration/defs/event_log.py): what a run
stores is what another process reads, connections stay bounded, and wiping still works."""

from __future__ import annotations

from collections import Counter

import dagster as dg
import sqlalchemy as sa

from orchestration.defs.event_log import KEPT_RUN_SHARDS, PooledSqliteEventLogStorage
from tests.helpers import make_settings


@dg.asset
def counted() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"rows": 3})


@dg.asset_check(asset=counted)
def counted_is_positive() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


def _instance(settings) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(str(settings.dagster_home))


def test_generated_instance_stores_runs_that_a_second_reader_sees(tmp_path):
    settings = make_settings(tmp_path)
    writer = _instance(settings)
    assert isinstance(writer.event_log_storage, PooledSqliteEventLogStorage)
    results = [dg.materialize([counted, counted_is_positive], instance=writer) for _ in range(KEPT_RUN_SHARDS + 3)]
    assert all(r.success for r in results)

    # The index shard plus at most KEPT_RUN_SHARDS run shards stay open.
    kept = writer.event_log_storage._engines
    assert "index" in kept and len(kept) == KEPT_RUN_SHARDS + 1
    with kept[results[-1].run_id].connect() as conn:
        assert conn.execute(sa.text("PRAGMA synchronous")).scalar() == 1  # NORMAL
        assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"

    # Another instance (the UI, the next run) reads every run's events, also of closed shards.
    reader = _instance(settings)
    for result in results:
        written = [e.event_type_value for e in result.all_events]
        stored = [e.dagster_event.event_type_value for e in reader.all_logs(result.run_id) if e.is_dagster_event]
        assert not Counter(written) - Counter(stored)  # every event the run saw is stored
    latest = reader.get_latest_materialization_event(dg.AssetKey("counted"))
    assert latest.run_id == results[-1].run_id
    assert latest.asset_materialization.metadata["rows"].value == 3
    check = reader.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey("counted"), "counted_is_positive")])
    assert len(check) == 1

    # Wiping closes the kept connections first and removes the run shards.
    writer.wipe()
    assert list(writer.event_log_storage._engines) == ["index"]  # reopened to clear the index
    shards = settings.dagster_home / "history" / "runs"
    assert not any((shards / f"{r.run_id}.db").exists() for r in results)
    writer.dispose()
    assert not writer.event_log_storage._engines
    reader.dispose()
