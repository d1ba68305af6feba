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

from zoneinfo import ZoneInfo

import pyarrow as pa
import sqlalchemy as sa

from orchestration.ingest import contract as c
from orchestration.ingest.loader import Batch, ContractError

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
                schema: str | None = None, timezone: str = "UTC") -> list[Batch]:
    """The entity's rows from the database as one batch (none if the table does not exist).
    ``timezone``: the source family's zone, in which naive timestamp columns are wall times."""
    engine = sa.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        if not inspector.has_table(entity.name, schema=schema):
            return []
        table = sa.Table(entity.name, sa.MetaData(), autoload_with=engine, schema=schema)
        by_lower = {col.name.lower(): col for col in table.columns}
        for required in entity.required_columns:
            if required not in by_lower:
                raise ContractError(f"sql:{entity.name}", "missing required column", required)
        # SQLite keeps datetimes as text and SQLAlchemy parses them while reading: a bad value
        # would crash the read instead of being quarantined, so read those columns as text.
        as_text = engine.dialect.name == "sqlite"
        selected = [
            (sa.type_coerce(by_lower[col.name], sa.String())
             if as_text and isinstance(by_lower[col.name].type, (sa.DateTime, sa.Date, sa.Time))
             else by_lower[col.name]).label(col.name)
            for col in entity.columns if col.name in by_lower
        ]
        query = sa.select(*selected)
        identity = f"sql:{entity.name}"
        supersedes = identity + "@"
        if window and entity.event_time and entity.event_time in by_lower:
            column = by_lower[entity.event_time]
            # Partitions are UTC days. Aware bounds for timezone-aware columns (the server would
            # otherwise read naive bounds in its session zone); wall-clock bounds in the source
            # zone for naive columns, whose values are wall times there.
            start = dt.datetime.combine(window[0], dt.time(), tzinfo=dt.timezone.utc)
            end = dt.datetime.combine(window[1] + dt.timedelta(days=1), dt.time(), tzinfo=dt.timezone.utc)
            if not getattr(column.type, "timezone", False):
                zone = ZoneInfo(timezone)
                start, end = (bound.astimezone(zone).replace(tzinfo=None) for bound in (start, end))
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
