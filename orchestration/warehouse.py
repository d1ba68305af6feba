"""The warehouse connection. DuckDB allows one writer process at a time, so every writer holds
the same file lock (``Settings.lock_path``) for as long as its connection is open; dbt runs are
wrapped in it too. Readers that must not wait use the published copy (see docs/operations.md)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
from filelock import FileLock, Timeout

from orchestration.settings import Settings

# Dagster's concurrency pool of every step that writes the warehouse (limit 1 in the generated
# dagster.yaml): runs queue in Dagster instead of waiting on the file lock below.
WAREHOUSE_POOL = "warehouse"


@contextmanager
def warehouse_lock(settings: Settings) -> Iterator[None]:
    """The writers' file lock (an flock: the kernel frees it when its holder dies). A writer that
    has to wait says so once, instead of waiting up to its time-out (an hour) in silence."""
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    timeout = settings.warehouse_lock_timeout_seconds
    lock = FileLock(str(settings.lock_path), timeout=timeout)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        sys.stderr.write(f"waiting for the warehouse lock {settings.lock_path}: another process is writing "
                         f"{settings.warehouse_path} (at most {timeout} s)\n")
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


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


def remove(settings: Settings) -> None:
    """Delete the warehouse file and its write-ahead log (a fresh start: `stl demo` with new data)."""
    with warehouse_lock(settings):
        settings.warehouse_path.unlink(missing_ok=True)
        settings.warehouse_path.with_suffix(settings.warehouse_path.suffix + ".wal").unlink(missing_ok=True)
