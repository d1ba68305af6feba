"""Dagster's SQLite event log, without its per-event cost (named in the generated dagster.yaml,
orchestration/settings.py; PostgreSQL storage is untouched).

Dagster's own ``SqliteEventLogStorage`` builds a new SQLAlchemy engine and opens a new SQLite
connection for every write, and each commit waits for an fsync. A run of the main job stores
about 550 events (steps, 70+ materialisations, 70+ check evaluations, each mirrored in the index
shard): measured 3.4–4.3 s of a 300-lead run, about 6 ms an event. Here the engines are kept
(the index shard and the few newest run shards, so a long-lived UI reading many runs does not
hold a file per run) and commits use ``synchronous=NORMAL``, which in WAL mode (Dagster's
setting for these files) is durable when a process is killed and may lose only the last
transactions if the machine itself loses power. The same run: 0.9 s.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Iterator

from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine

# Run shards kept open besides the index: the running run's, and a few the UI may be reading.
KEPT_RUN_SHARDS = 4


def _normal_sync(dbapi_connection, _record) -> None:
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """``SqliteEventLogStorage`` with one kept engine per shard (LRU over run shards)."""

    def __init__(self, base_dir: str, inst_data=None):
        self._engines: OrderedDict[str, Engine] = OrderedDict()  # the parent's set-up connects
        super().__init__(base_dir, inst_data)

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> PooledSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> Engine:
        engine = self._engines.get(shard)
        if engine is not None:
            self._engines.move_to_end(shard)
            return engine
        # Dagster serialises every use of its connections with self._db_lock; a kept connection
        # may still be picked up by another thread than the one that opened it.
        engine = create_engine(self.conn_string_for_shard(shard), pool_size=1,
                               connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False})
        event.listen(engine, "connect", _normal_sync)
        self._engines[shard] = engine
        run_shards = [s for s in self._engines if s != INDEX_SHARD_NAME]
        for old in run_shards[:-KEPT_RUN_SHARDS]:
            self._engines.pop(old).dispose()
        return engine

    @contextlib.contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def _dispose_engines(self) -> None:
        with self._db_lock:
            while self._engines:
                self._engines.popitem()[1].dispose()

    def wipe(self) -> None:
        self._dispose_engines()  # before the shard files are removed
        super().wipe()

    def dispose(self) -> None:
        self._dispose_engines()
        super().dispose()
