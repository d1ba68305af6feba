"""Publishing: what leadership and analysts see changes all at once, at the end of a good run.

A delivery run first *stages* everything beside its destination — the report and exports in
``<output>/.staging/<run_id>/``, the analysts' DuckDB file as a hidden temp file in
``published/``, a new Parquet version directory — and only then *commits*: the run's KPI rows
are appended to ``snapshots.kpi_history`` (one transaction), and each file is moved into place
with ``os.replace`` (atomic on one filesystem). An analyst who has the old DuckDB file open keeps
reading the old one (the rename does not touch an open inode); new connections see the new one.
A run killed before the commit leaves every published file and the history exactly as they were;
the next run removes its leftovers (``clean_stale``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
from pathlib import Path

from orchestration.delivery import privacy
from orchestration.delivery.report import table_exists
from orchestration.delivery.snapshots import commit_pending

PUBLISHED_DB = "speed_to_lead_marts.duckdb"
REPORT = "leadership_report.html"
EXPORTS_DIR = "exports"
PARQUET_DIR = "parquet"
CURRENT = "current"  # symlink to the live Parquet version
PARQUET_VERSIONS_KEPT = 3  # the live one plus earlier ones a reader may still be listing
# Schemas whose tables analysts get (the KPI history is added from the run's own view of it).
PUBLISHED_SCHEMAS = ("marts", "stats")
# Schemas holding personal data or CRM ids as read (extracts, their staging copies, raw gate
# samples): never published, whatever PUBLISHED_SCHEMAS becomes.
RESTRICTED_SCHEMAS = ("raw", "staging", "intermediate", "restricted", "quality")


class GateFailed(Exception):
    """The latest data-quality check failed: nothing is published."""


def staging_dir(output_dir: Path, run_id: str) -> Path:
    return output_dir / ".staging" / run_id


def temp_db_path(published_dir: Path, run_id: str) -> Path:
    return published_dir / f".{PUBLISHED_DB}.{run_id}.tmp"


def clean_stale(output_dir: Path, published_dir: Path, run_id: str) -> list[Path]:
    """Remove what killed runs left behind: other runs' staging dirs and temp files, and Parquet
    versions that are neither live nor among the latest few. Runs that write are serialised
    (warehouse pool), so anything not this run's is stale."""
    removed = []
    for path in sorted((output_dir / ".staging").glob("*")):
        if path.name != run_id:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    for path in published_dir.glob(f".{PUBLISHED_DB}.*.tmp*"):
        if not path.name.startswith(f".{PUBLISHED_DB}.{run_id}."):
            path.unlink(missing_ok=True)
            removed.append(path)
    parquet = published_dir / PARQUET_DIR
    current = (parquet / CURRENT).resolve().name if (parquet / CURRENT).exists() else None
    versions = sorted(p for p in parquet.glob("v*") if p.is_dir())
    for path in versions[:-PARQUET_VERSIONS_KEPT]:
        if path.name != current:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    for path in parquet.glob(f".{CURRENT}.*"):
        path.unlink(missing_ok=True)
    return removed


def failed_gates(con) -> list[str]:
    """Gates that failed in the latest recorded quality check (empty when none are recorded)."""
    if not table_exists(con, "quality.gate_results"):
        return []
    rows = con.execute("""
        SELECT suite || ' on ' || asset_key FROM quality.gate_results
        WHERE run_id = (SELECT arg_max(run_id, checked_at) FROM quality.gate_results) AND NOT passed
        ORDER BY 1""").fetchall()
    return [r[0] for r in rows]


def _columns(con, schema: str, table: str) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [schema, table]).fetchall()]


def published_tables(con) -> list[tuple[str, str]]:
    leaking = set(PUBLISHED_SCHEMAS) & set(RESTRICTED_SCHEMAS)
    if leaking:
        raise ValueError(f"schemas {sorted(leaking)} are restricted and can never be published")
    placeholders = ", ".join("?" for _ in PUBLISHED_SCHEMAS)
    return con.execute(f"""
        SELECT table_schema, table_name FROM information_schema.tables
        WHERE table_catalog = current_database() AND table_schema IN ({placeholders}) AND table_type = 'BASE TABLE'
        ORDER BY 1, 2""", list(PUBLISHED_SCHEMAS)).fetchall()


def stage_published(con, key: bytes, published_dir: Path, run_id: str, history_sql: str,
                    metric_definition_version: str | None) -> dict:
    """Build the analysts' DuckDB file (temp name) and a new Parquet version directory from the
    warehouse, person ids pseudonymised. Returns what was staged, for ``commit``."""
    published_dir.mkdir(parents=True, exist_ok=True)
    db = temp_db_path(published_dir, run_id)
    db.unlink(missing_ok=True)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    version = f"v{now:%Y%m%dT%H%M%S}-{run_id[:8]}"
    parquet_dir = published_dir / PARQUET_DIR / version
    parquet_dir.mkdir(parents=True, exist_ok=True)
    con.execute(f"ATTACH '{db}' AS published")
    tables = {}
    try:
        names = published_tables(con)
        relations = [(f'"{schema}"."{table}"', _columns(con, schema, table)) for schema, table in names]
        for statement in privacy.pseudonym_lookup_sql(key, relations, "_stl_pseudonyms"):
            con.execute(statement)
        sources = [(schema, table, privacy.published_select(key, columns, relation, lookup="_stl_pseudonyms"))
                   for (schema, table), (relation, columns) in zip(names, relations)]
        sources.append(("snapshots", "kpi_history", history_sql))
        for schema, table, select in sources:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS published.{schema}")
            con.execute(f"CREATE TABLE published.{schema}.{table} AS {select}")
            con.execute(f"COPY published.{schema}.{table} TO '{parquet_dir / f'{schema}.{table}.parquet'}' (FORMAT parquet)")
            tables[f"{schema}.{table}"] = con.execute(f"SELECT count(*) FROM published.{schema}.{table}").fetchone()[0]
        con.execute("CREATE SCHEMA published.meta")
        con.execute("CREATE TABLE published.meta.publication AS SELECT ?::TIMESTAMP AS published_at, "
                    "?::VARCHAR AS dagster_run_id, ?::VARCHAR AS metric_definition_version, ?::VARCHAR AS parquet_version",
                    [now, run_id, metric_definition_version, version])
    finally:
        con.execute("DETACH published")
        for kind in privacy.ID_KINDS:
            con.execute(f"DROP TABLE IF EXISTS _stl_pseudonyms_{kind}")
    manifest = {"version": version, "published_at": now.isoformat(), "dagster_run_id": run_id,
                "metric_definition_version": metric_definition_version,
                "tables": {name: {"file": f"{name}.parquet", "rows": rows} for name, rows in tables.items()}}
    (parquet_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return {"db": db, "parquet_version": parquet_dir, "tables": tables}


def swap_symlink(link: Path, target_name: str) -> None:
    tmp = link.with_name(f".{link.name}.{os.getpid()}")
    tmp.unlink(missing_ok=True)
    os.symlink(target_name, tmp)
    os.replace(tmp, link)


def commit(con, run_id: str, output_dir: Path, published_dir: Path, staged: dict) -> int | None:
    """Append the run's snapshot to the history, then move every staged file into place."""
    con.execute("BEGIN TRANSACTION")
    try:
        version = commit_pending(con, run_id)
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    staged["db"].chmod(0o444)  # analysts read it; only the next publish replaces it
    os.replace(staged["db"], published_dir / PUBLISHED_DB)
    swap_symlink(published_dir / PARQUET_DIR / CURRENT, staged["parquet_version"].name)
    stage = staging_dir(output_dir, run_id)
    if (stage / REPORT).exists():
        os.replace(stage / REPORT, output_dir / REPORT)
    if (stage / EXPORTS_DIR).exists():
        (output_dir / EXPORTS_DIR).mkdir(parents=True, exist_ok=True)
        for path in sorted((stage / EXPORTS_DIR).iterdir()):
            os.replace(path, output_dir / EXPORTS_DIR / path.name)
    shutil.rmtree(stage, ignore_errors=True)
    return version


def generate_dbt_docs(dbt_executable: str, project_dir: Path, env: dict, output_dir: Path) -> Path:
    """``dbt docs generate --static``: one HTML file with the catalogue inside (opens from disk,
    unlike the default index.html that fetches its JSON), copied to ``<output>/dbt_docs/``."""
    subprocess.run([dbt_executable, "docs", "generate", "--static", "--project-dir", str(project_dir),
                    "--profiles-dir", str(project_dir)], env=env, check=True)
    target = output_dir / "dbt_docs" / "index.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".index.html.{os.getpid()}.tmp")
    shutil.copyfile(project_dir / "target" / "static_index.html", tmp)
    os.replace(tmp, target)
    return target
