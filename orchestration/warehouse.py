"""The warehouse connection. DuckDB allows one writer process at a time, so every writer holds
the same file lock (``Settings.lock_path``) for as long as its connection is open; dbt runs are
wrapped in it too. Readers that must not wait use the published copy (see docs/operations.md)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
from filelock import FileLock

from orchestration.settings import Settings

LOCK_TIMEOUT_SECONDS = 3600


@contextmanager
def warehouse_lock(settings: Settings) -> Iterator[None]:
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(settings.lock_path), timeout=LOCK_TIMEOUT_SECONDS):
        yield


@contextmanager
def writer(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection, held under the warehouse lock."""
    with warehouse_lock(settings):
        con = duckdb.connect(str(settings.warehouse_path), config={"memory_limit": settings.duckdb_memory_limit})
        try:
            con.execute("SET TimeZone = 'UTC'")
            con.execute("SET enable_progress_bar = false")
            yield con
        finally:
            con.close()


def reader(settings: Settings) -> duckdb.DuckDBPyConnection:
    """A read-only connection (fails while a writer holds the file: DuckDB's own rule)."""
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    return con
