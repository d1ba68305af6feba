"""dbt models as Dagster assets. Sources ``raw.<table>`` map to the ingestion assets'
keys (``raw/<table>``), which gives lineage from ingestion to every model."""


import os
import shutil
import signal
import subprocess
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets
from dagster_dbt.errors import DagsterDbtCliRuntimeError

from orchestration.dbt_project import PARENT_PID_ENV, PARSE_STATE_PATH, PARTIAL_PARSE_FILE, TARGET_DIR, dbt_project
from orchestration.defs.resources import WarehouseResource
from orchestration.scale.spark import SPARK_TARGET, export_raw_to_parquet
from orchestration.warehouse import WAREHOUSE_POOL


UNIT_TESTS_ENV = "STL_DBT_UNIT_TESTS"


class SpeedToLeadTranslator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        # models/<layer>/... → group "staging" / "intermediate" / "marts"
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if dbt_resource_props["resource_type"] == "model" and len(fqn) > 2 else None


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=SpeedToLeadTranslator(),
    pool=WAREHOUSE_POOL,
)
def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    # dbt opens the DuckDB file itself: hold the writer lock for the whole build.
    with warehouse.lock():
        # dagster-dbt hands dbt this process's environment: the resource's warehouse and target
        # (whatever the entry point exported), and the pid the dbt launcher checks is still its
        # parent (it may have died between the fork and the launcher's prctl): dbt_project.py.
        os.environ.update({**warehouse.settings().dbt_env(), PARENT_PID_ENV: str(os.getpid())})
        if warehouse.settings().dbt_target == SPARK_TARGET:
            # Spark reads the raw tables as Parquet; hand it this run's rows first.
            export_raw_to_parquet(warehouse.settings())
        target = _target_with_parse_state(context)
        invocation = dbt.cli(build_args(), context=context, target_path=target)
        events = []
        try:
            # Held back until dbt has exited, so row counts can be read from the warehouse
            # (while dbt runs, its process holds the DuckDB file).
            for event in invocation.stream():
                events.append(event)
        except DagsterDbtCliRuntimeError:  # a model or test failed: what dbt did build still materialises
            _stop_and_keep_results(invocation.process, target, warehouse, context.run.run_id)
            yield from _with_row_counts(events, warehouse)
            raise
        finally:
            # When the stream stops early (an error translating dbt's events, an interrupt), dbt
            # would go on writing the warehouse after this lock is released: stop it first.
            _stop_and_keep_results(invocation.process, target, warehouse, context.run.run_id)
        yield from _with_row_counts(events, warehouse)


def build_args(unit_tests: bool | None = None) -> list[str]:
    """``dbt build``. dbt's unit tests check the models' SQL on fixed inputs, not the data, so
    (as dbt recommends) production runs leave them out; STL_DBT_UNIT_TESTS=1 keeps them (the
    test suite and CI set it)."""
    if unit_tests is None:
        unit_tests = os.environ.get(UNIT_TESTS_ENV, "") == "1"
    return ["build"] if unit_tests else ["build", "--exclude-resource-type", "unit_test"]


def _target_with_parse_state(context: dg.AssetExecutionContext) -> Path:
    """A target directory of this invocation's own (as dagster-dbt makes one) holding a copy of
    the partial-parse state `stl`'s prepare step left: without it dbt parses the whole project
    again (several seconds) at every build."""
    op_name = context.op_execution_context.op.name
    _prune_invocation_dirs(op_name)
    target = TARGET_DIR / f"{op_name}-{context.run.run_id[:8]}-{uuid.uuid4().hex[:7]}"
    target.mkdir(parents=True)
    if PARSE_STATE_PATH.exists():
        shutil.copy2(PARSE_STATE_PATH, target / PARTIAL_PARSE_FILE)
    return target


KEPT_INVOCATION_DIRS = 5


def dbt_results_path(settings, run_id: str) -> Path:
    """dbt's run_results.json of a run, kept beside the run's log (the invocation's target
    directory is pruned): every model's and test's status and timing."""
    return settings.output_dir / "logs" / f"run_{run_id}.dbt_run_results.json"


def _stop_and_keep_results(process: subprocess.Popen, target: Path, warehouse: WarehouseResource, run_id: str) -> None:
    _stop(process)
    results = target / "run_results.json"
    if results.exists():
        kept = dbt_results_path(warehouse.settings(), run_id)
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(results, kept)


def _prune_invocation_dirs(op_name: str) -> None:
    """Each build leaves its target directory (run_results.json, compiled SQL: what to look at
    after a failure), about 8 MB each: keep the newest few, not one per run forever. A build in
    progress (another data directory's run) owns one of the newest, so it is never removed."""
    def modified(path: Path) -> float:
        try:
            return path.stat().st_mtime
        except FileNotFoundError:  # pruned by another run meanwhile
            return 0.0

    dirs = sorted(TARGET_DIR.glob(f"{op_name}-*"), key=modified, reverse=True)
    for old in dirs[KEPT_INVOCATION_DIRS - 1:]:
        shutil.rmtree(old, ignore_errors=True)


def _with_row_counts(events: list, warehouse: WarehouseResource) -> list:
    """dbt's outputs with ``dagster/row_count`` for every model built as a table (views would be
    evaluated to count them). Other events unchanged; the Spark target's tables are not in DuckDB."""
    settings = warehouse.settings()
    outputs = [e for e in events if isinstance(e, dg.Output)]
    if not outputs or settings.dbt_target == SPARK_TARGET or not settings.warehouse_path.exists():
        return events
    import duckdb

    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        tables = {f"{s}.{t}" for s, t in con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'").fetchall()}
        counted = []
        for event in events:
            name = ".".join(event.output_name.split("__")[-2:]) if isinstance(event, dg.Output) else None
            if name in tables:
                rows = con.execute(f'SELECT count(*) FROM {name}').fetchone()[0]
                event = event.with_metadata({**event.metadata, "dagster/row_count": dg.MetadataValue.int(rows)})
            counted.append(event)
        return counted
    finally:
        con.close()


def _stop(process: subprocess.Popen, grace_seconds: float = 30) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)  # dbt finishes the statement in flight and exits
    try:
        process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
