"""The ``raw`` schema (one table per contract entity plus the quarantine and file ledgers) and the
session settings and macros every ingestion connection needs."""

from __future__ import annotations

import duckdb

from orchestration.ingest import contract as c
from orchestration.ingest import normalize as n


LINEAGE_COLUMNS = [
    ("_source_file", "VARCHAR"), ("_source_row", "BIGINT"), ("_extract_date", "DATE"),
    ("_load_id", "VARCHAR"), ("_loaded_at", "TIMESTAMP"),
]


def raw_columns(entity: c.Entity) -> list[tuple[str, str]]:
    cols = []
    for col in entity.columns:
        cols.append((col.name, n.SQL_TYPES[col.type]))
        cols.extend(n.companion_columns(col))
    return cols + LINEAGE_COLUMNS


def ensure_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    present = set(con.execute("SELECT table_name, column_name FROM information_schema.columns "
                              "WHERE table_schema = 'raw'").fetchall())
    expected = {(entity.name, name) for entity in c.ENTITIES for name, _ in raw_columns(entity)}
    if expected <= present and {"quarantine", "ingested_files", "load_history"} <= {t for t, _ in present}:
        return  # every ingestion step calls this: ~200 DDL statements (40 ms) when nothing is missing
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    for entity in c.ENTITIES:
        cols = raw_columns(entity)
        con.execute(f"CREATE TABLE IF NOT EXISTS raw.{entity.name} ({', '.join(f'{a} {b}' for a, b in cols)})")
        for name, sql_type in cols:  # the contract grew a column since the table was made
            con.execute(f"ALTER TABLE raw.{entity.name} ADD COLUMN IF NOT EXISTS {name} {sql_type}")
    con.execute("""
        CREATE TABLE IF NOT EXISTS raw.quarantine (
            entity VARCHAR, source_file VARCHAR, source_row BIGINT, source_line BIGINT,
            reason VARCHAR, column_name VARCHAR, detail VARCHAR, raw_record VARCHAR,
            load_id VARCHAR, quarantined_at TIMESTAMP)""")
    con.execute("""
        CREATE TABLE IF NOT EXISTS raw.ingested_files (
            identity VARCHAR PRIMARY KEY, entity VARCHAR, source_kind VARCHAR, sha256 VARCHAR,
            size_bytes BIGINT, mtime_ns BIGINT, extract_date DATE, status VARCHAR,
            rows_read BIGINT, rows_loaded BIGINT, rows_quarantined BIGINT,
            load_id VARCHAR, loaded_at TIMESTAMP)""")
    con.execute("""
        CREATE TABLE IF NOT EXISTS raw.load_history (
            load_id VARCHAR, entity VARCHAR, identity VARCHAR, status VARCHAR, sha256 VARCHAR,
            rows_read BIGINT, rows_loaded BIGINT, rows_quarantined BIGINT, loaded_at TIMESTAMP)""")


def prepare_connection(con: duckdb.DuckDBPyConnection) -> None:
    """Session settings and helper macros every ingestion connection needs."""
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    con.execute(n.MACROS)
    con.execute("CREATE OR REPLACE TEMP TABLE _stl_timezones AS SELECT name FROM pg_timezone_names()")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _stl_phone_plans AS {n.phone_plans_table_sql()}")
