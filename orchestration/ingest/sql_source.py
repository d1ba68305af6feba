"""Reading extracts from a SQL database (a CRM replica, a telephony reporting DB) via SQLAlchemy.

A table named like an entity (``leads``, ``calls`` …; optionally in ``STL_SOURCE_DATABASE_SCHEMA``
) is an extract of that entity; tables that do not exist are skipped. Every value is turned into
text the way a file would carry it (timestamps as ISO-8601: with their offset when the database
returns an aware value, naive otherwise), so the same validation and quarantine apply.

Identity and idempotency: a full load reads the whole table as ``sql:<table>`` and supersedes any
earlier windowed loads of it; a partition run reads the rows whose event time falls in the window
(UTC days) as ``sql:<table>@<first>..<last>``. The fingerprint is a hash of the rows read, so
re-reading unchanged rows changes nothing, and changed rows replace that identity's earlier load.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib

import pyarrow as pa
import sqlalchemy as sa

from orchestration.ingest import contract as c
from orchestration.ingest.loader import Batch

FETCH_SIZE = 50_000


def _as_text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.isoformat(sep="T")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return repr(value)
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def read_entity(url: str, entity: c.Entity, window: tuple[dt.date, dt.date] | None,
                schema: str | None = None) -> list[Batch]:
    """The entity's rows from the database as one batch (none if the table does not exist)."""
    engine = sa.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        if not inspector.has_table(entity.name, schema=schema):
            return []
        table = sa.Table(entity.name, sa.MetaData(), autoload_with=engine, schema=schema)
        wanted = [col.name for col in entity.columns]
        by_lower = {col.name.lower(): col for col in table.columns}
        selected = [by_lower[name].label(name) for name in wanted if name in by_lower]
        query = sa.select(*selected)
        identity = f"sql:{entity.name}"
        supersedes = identity + "@"
        if window and entity.event_time and entity.event_time in by_lower:
            start = dt.datetime.combine(window[0], dt.time())
            end = dt.datetime.combine(window[1] + dt.timedelta(days=1), dt.time())
            column = by_lower[entity.event_time]
            query = query.where(column >= start, column < end)
            identity = f"sql:{entity.name}@{window[0].isoformat()}..{window[1].isoformat()}"
            supersedes = None
        digest = hashlib.sha256()
        columns: dict[str, list] = {label.name: [] for label in selected}
        names = list(columns)
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=FETCH_SIZE).execute(query)
            for row in result:
                texts = [_as_text(v) for v in row]
                digest.update(repr(texts).encode())
                for name, text in zip(names, texts):
                    columns[name].append(text)
        rows = pa.table({name: pa.array(values, pa.string()) for name, values in columns.items()})
        return [Batch(identity, "sql", digest.hexdigest(), rows=rows, supersedes_prefix=supersedes,
                      extract_date=window[1] if window and supersedes is None else None)]
    finally:
        engine.dispose()
