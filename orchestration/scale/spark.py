"""Spark as the dbt warehouse (the ``spark`` target, docs/scale_out.md).

Ingestion always writes DuckDB's ``raw`` schema (single writer, quarantine, file accounting); the
dbt models are what moves. For the spark target:

1. ``export_raw_to_parquet`` copies every raw table to ``<spark_dir>/raw/<table>/`` as Parquet;
2. dbt's on-run-start hook (macro ``register_raw_sources``) declares each as an external table
   ``raw.<table>`` in Spark's metastore, so ``source('raw', ...)`` reads the same rows unchanged;
3. dbt-spark's ``session`` method runs Spark inside the dbt process with ``Settings.spark_conf``
   (passed through the profile as ``STL_SPARK_CONF``), and ``read_spark_table`` reads what it
   built from the tables' Parquet files.

The metastore is embedded Derby: one JVM at a time may open it, so a Spark session of your own
on the same warehouse must wait until no dbt run on the spark target is going on.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

if TYPE_CHECKING:
    from orchestration.settings import Settings

SPARK_TARGET = "spark"


def export_raw_to_parquet(settings: Settings) -> dict[str, int]:
    """Copy every table of DuckDB's raw schema to ``<spark_dir>/raw/<table>/data.parquet``;
    returns rows per table. The caller holds the warehouse lock (no writer may be mid-load).

    TIMESTAMP columns (naive, holding UTC) are written as UTC instants (isAdjustedToUTC), which
    Spark reads as its TIMESTAMP in the UTC session: the same wall clock. Each table's folder is
    replaced whole, so a re-export never mixes old and new files."""
    out_dir = settings.spark_raw_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    rows: dict[str, int] = {}
    try:
        con.execute("SET TimeZone = 'UTC'")
        tables = [t for (t,) in con.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'raw' AND table_type = 'BASE TABLE' ORDER BY 1").fetchall()]
        for table in tables:
            columns = con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'raw' AND table_name = ? ORDER BY ordinal_position", [table]).fetchall()
            select = ", ".join(
                f'CAST("{name}" AS TIMESTAMPTZ) AS "{name}"' if data_type == "TIMESTAMP" else f'"{name}"'
                for name, data_type in columns)
            staging = out_dir / f".{table}.tmp"
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir()
            con.execute(f"COPY (SELECT {select} FROM raw.\"{table}\") TO '{staging / 'data.parquet'}' (FORMAT parquet)")
            rows[table] = con.execute(f'SELECT count(*) FROM raw."{table}"').fetchone()[0]
            shutil.rmtree(out_dir / table, ignore_errors=True)
            staging.rename(out_dir / table)
    finally:
        con.close()
    return rows


def read_spark_table(settings: Settings, relation: str, con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyRelation:
    """What a dbt run on the local spark target built, read by DuckDB from the table's Parquet
    files under the Spark warehouse directory (``marts.fct_lead_response`` →
    ``<spark_dir>/warehouse/marts.db/fct_lead_response/``): no JVM to start, and no Derby
    metastore to share with a dbt run in progress. Timestamps come back as UTC (``con`` is set
    to UTC first)."""
    schema, table = relation.split(".")
    folder = settings.spark_dir / "warehouse" / f"{schema}.db" / table
    files = sorted(str(f) for f in folder.glob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"no Parquet files for {relation} in {folder} (has dbt run on the spark target?)")
    con.execute("SET TimeZone = 'UTC'")
    return con.read_parquet(files)


def run_dbt_on_spark(settings: Settings, dbt_args: list[str], target_path: Path | None = None) -> dict:
    """Export the raw tables, then run ``dbt <dbt_args>`` on the spark target in a subprocess
    (Spark lives in it: dbt-spark's session method). Returns the exit code and wall seconds of
    both steps. ``target_path`` keeps this target's manifest and partial-parse state apart from
    the DuckDB one Dagster reads (default: <spark_dir>/dbt_target)."""
    import os
    import subprocess
    import time
    from dataclasses import replace

    from orchestration.dbt_project import DBT_EXECUTABLE
    from orchestration.settings import DBT_PROJECT_DIR
    from orchestration.warehouse import warehouse_lock

    settings = replace(settings, dbt_target=SPARK_TARGET)
    started = time.perf_counter()
    with warehouse_lock(settings):
        rows = export_raw_to_parquet(settings)
    exported = time.perf_counter()
    command = [DBT_EXECUTABLE, *dbt_args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
               "--target-path", str(target_path or settings.spark_dir / "dbt_target")]
    returncode = subprocess.call(command, env={**os.environ, **settings.dbt_env()}, cwd=settings.spark_dir)
    return {"returncode": returncode, "export_s": round(exported - started, 2),
            "dbt_s": round(time.perf_counter() - exported, 2), "raw_rows": rows}
