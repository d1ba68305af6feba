"""Ingestion from a SQL source database (orchestration/ingest/sql_source.py), on SQLite and PostgreSQL.

Every expectation below is computed by hand from the rows the tests write:

- leads on PostgreSQL carry TIMESTAMP WITH TIME ZONE values (any offset → that UTC instant);
  on SQLite naive wall times, read as America/New_York (the crm family's timezone): EDT is
  UTC-4 until 2026-11-01 02:00, EST UTC-5 after; 01:30 that night happens twice and ingestion
  takes the earlier (EDT) instant;
- calls carry naive times on both backends (TEXT on SQLite, TIMESTAMP on PostgreSQL); the
  telephony family has no timezone configured, so they are UTC.
"""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import duckdb
import pytest
import sqlalchemy as sa

from orchestration.ingest import contract as c
from orchestration.ingest.service import ingest_entity
from orchestration.ingest.sql_source import read_entity

from tests.helpers import make_settings

UTC = dt.timezone.utc
NY = ZoneInfo("America/New_York")
LOAD_TIME = dt.datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # fixed, so future_timestamp is exact
DAY = dt.date(2026, 11, 1)  # the partition used by the window tests
WINDOW = (DAY, DAY)


def _ts(*args) -> dt.datetime:
    return dt.datetime(*args)


# ---------------------------------------------------------------- source data

# lead_id: (PostgreSQL timestamptz value, SQLite naive New York wall time, expected UTC in raw)
LEAD_TIMES = {
    # The fall-back hour: 01:30 EDT (05:30Z) and 01:30 EST (06:30Z) both exist; naive → earlier.
    "L1": (_ts(2026, 11, 1, 1, 30, 0, 123000).replace(tzinfo=NY),  # fold=0: EDT, -04:00
           _ts(2026, 11, 1, 1, 30, 0, 123000), _ts(2026, 11, 1, 5, 30, 0, 123000)),
    # Summer: EDT; on PostgreSQL written with a +02:00 offset.
    "L2": (_ts(2026, 7, 15, 15, 4, 5, 678000).replace(tzinfo=dt.timezone(dt.timedelta(hours=2))),
           _ts(2026, 7, 15, 9, 4, 5, 678000), _ts(2026, 7, 15, 13, 4, 5, 678000)),
    # After the transition the same day: EST.
    "L3": (_ts(2026, 11, 1, 17, 0).replace(tzinfo=UTC), _ts(2026, 11, 1, 12, 0), _ts(2026, 11, 1, 17, 0)),
    "L4": (_ts(2026, 10, 31, 14, 0).replace(tzinfo=UTC), _ts(2026, 10, 31, 10, 0), _ts(2026, 10, 31, 14, 0)),
    # Quarantined: no lead_id (missing_required_value), score above 100 (invalid_value),
    # created after the load time (future_timestamp).
    None: (_ts(2026, 11, 1, 8, 0).replace(tzinfo=UTC), _ts(2026, 11, 1, 3, 0), None),
    "L5": (_ts(2026, 10, 31, 15, 0).replace(tzinfo=UTC), _ts(2026, 10, 31, 11, 0), None),
    "L6": (_ts(2026, 12, 25, 12, 0).replace(tzinfo=UTC), _ts(2026, 12, 25, 7, 0), None),
}
LEAD_VALUES = {  # source, score, country, phone, email, is_test
    "L1": ("paid_search", 80, "US", "(212) 555-0101", " Ann@Example.COM ", False),
    "L2": ("organic", 55, "GB", "020 7946 0000", "bob@example.co.uk", False),
    "L3": ("referral", 0, "us", "+1 646 555 0199", None, True),
    "L4": ("event", 100, None, "212.555.0102", "dee@example.com", None),
    None: ("organic", 10, "US", None, None, False),
    "L5": ("partner", 150, "US", None, None, False),
    "L6": ("organic", 20, "US", None, None, False),
}

# What raw.leads holds after a full load: the key, the UTC instant, typed and normalised values.
EXPECTED_LEADS = {
    "L1": (_ts(2026, 11, 1, 5, 30, 0, 123000), "paid_search", 80, "US", "+12125550101", "ann@example.com", False),
    "L2": (_ts(2026, 7, 15, 13, 4, 5, 678000), "organic", 55, "GB", "+442079460000", "bob@example.co.uk", False),
    "L3": (_ts(2026, 11, 1, 17, 0), "referral", 0, "us", "+16465550199", None, True),
    "L4": (_ts(2026, 10, 31, 14, 0), "event", 100, None, "+12125550102", "dee@example.com", None),
}
LOAD_TS = "2026-11-20 12:00:00.000000"
EXPECTED_LEAD_QUARANTINE = [  # (lead_id in the raw record, reason, column, detail)
    (None, "missing_required_value", "lead_id", "required value is empty"),
    ("L5", "invalid_value", "score", "150 is above the maximum 100"),
    ("L6", "future_timestamp", "created_at", f"2026-12-25T12:00:00.000Z is after the load time {LOAD_TS}Z"),
]

# call_id: started_at, answered_at, ended_at, direction, from, to, disposition, duration, lead_id (all UTC)
CALLS = {
    "C1": (_ts(2026, 11, 1, 9, 15, 0, 250000), _ts(2026, 11, 1, 9, 15, 10, 250000), _ts(2026, 11, 1, 9, 20, 0, 250000),
           "outbound", "+1 212 555 0100", "(212) 555-0101", "connected", 290, "L1"),
    "C2": (_ts(2026, 11, 1, 11, 0), None, None, "sideways", "+1 212 555 0100", None, "no_answer", 0, None),
    "C3": (_ts(2026, 11, 1, 10, 0), None, _ts(2026, 11, 1, 9, 59), "outbound", None, None, "failed", None, None),
    # The last millisecond before the window and its first excluded instant.
    "C4": (_ts(2026, 10, 31, 23, 59, 59, 999000), None, _ts(2026, 11, 1, 0, 1), "INBOUND", "(646) 555-0199",
           None, "voicemail", 61, None),
    "C5": (_ts(2026, 11, 2, 0, 0), None, None, "outbound", None, None, "busy", 0, None),
}
EXPECTED_CALLS = {  # started, answered, ended, direction, from_e164, to_e164, disposition, duration, lead
    "C1": (_ts(2026, 11, 1, 9, 15, 0, 250000), _ts(2026, 11, 1, 9, 15, 10, 250000), _ts(2026, 11, 1, 9, 20, 0, 250000),
           "outbound", "+12125550100", "+12125550101", "connected", 290, "L1"),
    "C4": (_ts(2026, 10, 31, 23, 59, 59, 999000), None, _ts(2026, 11, 1, 0, 1), "inbound", "+16465550199",
           None, "voicemail", 61, None),
    "C5": (_ts(2026, 11, 2, 0, 0), None, None, "outbound", None, None, "busy", 0, None),
}
EXPECTED_CALL_QUARANTINE = [
    ("C2", "invalid_value", "direction", "'sideways' is not one of inbound, outbound"),
    ("C3", "negative_duration", "ended_at", "ended_at is before started_at"),
]


# ---------------------------------------------------------------- fixtures and helpers


class Source:
    """A source database of one backend, with the tables the tests write."""

    def __init__(self, backend: str, url: str):
        self.backend, self.url = backend, url
        self.engine = sa.create_engine(url)

    @property
    def postgres(self) -> bool:
        return self.backend == "postgresql"

    def leads_table(self, metadata: sa.MetaData, schema: str | None = None) -> sa.Table:
        return sa.Table(
            "leads", metadata,
            sa.Column("lead_id", sa.String(20)),  # nullable: the CRM lets a broken record through
            sa.Column("created_at", sa.DateTime(timezone=self.postgres)),
            sa.Column("source", sa.String(30)),
            sa.Column("score", sa.Integer),
            sa.Column("country", sa.String(2)),
            sa.Column("phone", sa.String(30)),
            sa.Column("email", sa.String(80)),
            sa.Column("is_test", sa.Boolean),
            sa.Column("crm_internal_flag", sa.String(10)),  # not in the contract: not read
            schema=schema,
        )

    def calls_table(self, metadata: sa.MetaData) -> sa.Table:
        # SQLite: timestamps as ISO text, as a telephony export would have them.
        ts = sa.DateTime() if self.postgres else sa.Text()
        return sa.Table(
            "calls", metadata,
            sa.Column("call_id", sa.String(20)),
            sa.Column("started_at", ts), sa.Column("answered_at", ts), sa.Column("ended_at", ts),
            sa.Column("direction", sa.String(10)),
            sa.Column("from_number", sa.String(30)), sa.Column("to_number", sa.String(30)),
            sa.Column("disposition", sa.String(20)),
            sa.Column("duration_seconds", sa.Integer),
            sa.Column("lead_id", sa.String(20)),
        )

    def lead_rows(self) -> list[dict]:
        rows = []
        for lead_id, (aware, naive, _expected) in LEAD_TIMES.items():
            source, score, country, phone, email, is_test = LEAD_VALUES[lead_id]
            rows.append(dict(lead_id=lead_id, created_at=aware if self.postgres else naive, source=source,
                             score=score, country=country, phone=phone, email=email, is_test=is_test,
                             crm_internal_flag="x"))
        return rows

    def call_rows(self) -> list[dict]:
        def ts(value):
            if value is None or self.postgres:
                return value
            return value.isoformat(timespec="milliseconds")

        return [dict(call_id=call_id, started_at=ts(v[0]), answered_at=ts(v[1]), ended_at=ts(v[2]),
                     direction=v[3], from_number=v[4], to_number=v[5], disposition=v[6],
                     duration_seconds=v[7], lead_id=v[8])
                for call_id, v in CALLS.items()]

    def create(self, *tables: str) -> dict[str, sa.Table]:
        metadata = sa.MetaData()
        made = {}
        if "leads" in tables:
            made["leads"] = self.leads_table(metadata)
        if "calls" in tables:
            made["calls"] = self.calls_table(metadata)
        metadata.create_all(self.engine)
        with self.engine.begin() as conn:
            if "leads" in made:
                conn.execute(made["leads"].insert(), self.lead_rows())
            if "calls" in made:
                conn.execute(made["calls"].insert(), self.call_rows())
        return made

    def execute(self, statement, params=None) -> None:
        with self.engine.begin() as conn:
            conn.execute(statement, params or {})


def _open(backend: str, url: str):
    src = Source(backend, url)
    if src.postgres:  # one database per session: start every test from an empty one
        src.execute(sa.text("DROP SCHEMA IF EXISTS crm_replica CASCADE"))
        metadata = sa.MetaData()
        metadata.reflect(src.engine)
        metadata.drop_all(src.engine)
    return src


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def source(request, tmp_path):
    """The source database, once per backend."""
    if request.param == "sqlite":
        src = _open("sqlite", f"sqlite:///{tmp_path / 'source.db'}")
    else:
        src = _open("postgresql", request.getfixturevalue("postgres_url"))
    yield src
    src.engine.dispose()


@pytest.fixture
def sqlite_source(tmp_path):
    src = _open("sqlite", f"sqlite:///{tmp_path / 'source.db'}")
    yield src
    src.engine.dispose()


@pytest.fixture
def pg_source(postgres_url):
    src = _open("postgresql", postgres_url)
    yield src
    src.engine.dispose()


def _with_session_timezone(src: Source, zone: str) -> str:
    url = sa.make_url(src.url)
    if "options" in url.query:
        pytest.skip("the test database URL already sets connection options")
    return url.update_query_dict({"options": f"-c timezone={zone}"}).render_as_string(hide_password=False)


@pytest.fixture
def con():
    connection = duckdb.connect()
    yield connection
    connection.close()


def settings_for(tmp_path, url: str, **env):
    return make_settings(tmp_path, STL_SOURCE_DATABASE_URL=url, STL_SOURCE_TIMEZONES="crm=America/New_York", **env)


def ingest(con, settings, entity: str, window=None):
    return ingest_entity(con, settings, entity, window=window, load_time=LOAD_TIME)


def raw_rows(con, table: str, key: str, columns: str) -> dict:
    """``raw.<table>`` by its key: {key: the other columns}; fails on a duplicated key."""
    rows = con.execute(f"SELECT {key}, {columns} FROM raw.{table} ORDER BY {key}").fetchall()
    out = {row[0]: tuple(row[1:]) for row in rows}
    assert len(out) == len(rows), f"duplicate {table} in raw: {[r[0] for r in rows]}"
    return out


def raw_leads(con) -> dict:
    return raw_rows(con, "leads", "lead_id", "created_at, source, score, country, phone_e164, email_normalized, is_test")


def raw_calls(con) -> dict:
    return raw_rows(con, "calls", "call_id", "started_at, answered_at, ended_at, direction, from_number_e164, "
                    "to_number_e164, disposition, duration_seconds, lead_id")


def lineage(con, entity: str) -> list[tuple]:
    return con.execute(
        f"SELECT DISTINCT _source_file, _extract_date, _load_id FROM raw.{entity} ORDER BY ALL").fetchall()


def quarantined(con, entity: str, key: str) -> list[tuple]:
    rows = con.execute(
        "SELECT raw_record, reason, column_name, detail, source_file FROM raw.quarantine WHERE entity = ?",
        [entity]).fetchall()
    out = [(json.loads(r[0])[key], r[1], r[2], r[3], r[4]) for r in rows]
    return sorted(out, key=lambda r: (r[0] or "", r[1]))


def accounting(con) -> list[tuple]:
    return con.execute(
        "SELECT identity, entity, source_kind, status, rows_read, rows_loaded, rows_quarantined, extract_date "
        "FROM raw.ingested_files ORDER BY identity").fetchall()


def only_file(result):
    assert len(result.files) == 1, result.files
    return result.files[0]


# ---------------------------------------------------------------- full load


def test_full_load_types_normalises_and_quarantines(source, con, tmp_path):
    source.create("leads", "calls")
    settings = settings_for(tmp_path, source.url)

    leads = ingest(con, settings, "leads")
    f = only_file(leads)
    assert (f.identity, f.status, f.rows_read, f.rows_loaded, f.rows_quarantined) == ("sql:leads", "loaded", 7, 4, 3)
    assert f.reasons == {"future_timestamp": 1, "invalid_value": 1, "missing_required_value": 1}
    assert raw_leads(con) == EXPECTED_LEADS
    assert lineage(con, "leads") == [("sql:leads", None, leads.load_id)]
    assert quarantined(con, "leads", "lead_id") == [(*q, "sql:leads") for q in EXPECTED_LEAD_QUARANTINE]
    # Naive values are counted; the one in the repeated hour (L1, SQLite only) is flagged.
    assert leads.naive_timestamps == (0 if source.postgres else 4)
    assert leads.ambiguous_local_times == (0 if source.postgres else 1)
    assert leads.ignored_columns == {}

    calls = ingest(con, settings, "calls")
    f = only_file(calls)
    assert (f.identity, f.status, f.rows_read, f.rows_loaded, f.rows_quarantined) == ("sql:calls", "loaded", 5, 3, 2)
    assert f.reasons == {"invalid_value": 1, "negative_duration": 1}
    assert raw_calls(con) == EXPECTED_CALLS
    assert quarantined(con, "calls", "call_id") == [(*q, "sql:calls") for q in EXPECTED_CALL_QUARANTINE]
    assert calls.naive_timestamps == 3 + 2 + 1  # C1 three times, C4 two, C5 one

    # Per-source accounting: rows_read = rows_loaded + rows_quarantined, matching the tables.
    assert accounting(con) == [
        ("sql:calls", "calls", "sql", "loaded", 5, 3, 2, None),
        ("sql:leads", "leads", "sql", "loaded", 7, 4, 3, None),
    ]
    for identity, _e, _k, _s, read, loaded, quarantine, _d in accounting(con):
        assert read == loaded + quarantine
        entity = identity.removeprefix("sql:")
        assert con.execute(f"SELECT count(*) FROM raw.{entity} WHERE _source_file = ?", [identity]).fetchone()[0] == loaded
        assert con.execute("SELECT count(*) FROM raw.quarantine WHERE source_file = ?", [identity]).fetchone()[0] == quarantine


def test_raw_record_of_a_quarantined_row_keeps_the_source_values_as_text(source, con, tmp_path):
    source.create("leads")
    ingest(con, settings_for(tmp_path, source.url), "leads")
    record = json.loads(con.execute(
        "SELECT raw_record FROM raw.quarantine WHERE reason = 'invalid_value'").fetchone()[0])
    assert record["lead_id"] == "L5"
    # As the source has it: the instant with its offset (PostgreSQL), the wall time (SQLite).
    created = dt.datetime.fromisoformat(record["created_at"])
    if source.postgres:
        assert created.utcoffset() is not None and created == _ts(2026, 10, 31, 15, 0).replace(tzinfo=UTC)
    else:
        assert created == _ts(2026, 10, 31, 11, 0)
    assert record["score"] == "150"
    assert record["is_test"] == "false"
    assert record["form_submitted_at"] is None  # not a column of the source table


# ---------------------------------------------------------------- idempotency


def test_same_ingest_twice_changes_nothing(source, con, tmp_path):
    source.create("leads")
    settings = settings_for(tmp_path, source.url)
    first = ingest(con, settings, "leads")
    before = (raw_leads(con), lineage(con, "leads"), quarantined(con, "leads", "lead_id"), accounting(con))

    second = ingest(con, settings, "leads")
    f = only_file(second)
    assert (f.identity, f.status, f.rows_read, f.rows_loaded, f.rows_quarantined) == ("sql:leads", "unchanged", 0, 0, 0)
    assert (raw_leads(con), lineage(con, "leads"), quarantined(con, "leads", "lead_id"), accounting(con)) == before
    assert lineage(con, "leads") == [("sql:leads", None, first.load_id)]
    assert con.execute("SELECT count(*) FROM raw.load_history").fetchone()[0] == 1
    assert con.execute("SELECT count(*) FROM raw.leads").fetchone()[0] == 4
    assert con.execute("SELECT count(*) FROM raw.quarantine").fetchone()[0] == 3


def test_a_changed_row_replaces_the_earlier_load(source, con, tmp_path):
    tables = source.create("leads")
    settings = settings_for(tmp_path, source.url)
    first = ingest(con, settings, "leads")
    source.execute(tables["leads"].update().where(tables["leads"].c.lead_id == "L2")
                   .values(source="partner", score=60))

    second = ingest(con, settings, "leads")
    f = only_file(second)
    assert (f.identity, f.status, f.rows_read, f.rows_loaded, f.rows_quarantined) == ("sql:leads", "replaced", 7, 4, 3)
    expected = dict(EXPECTED_LEADS)
    expected["L2"] = (expected["L2"][0], "partner", 60, *expected["L2"][3:])
    assert raw_leads(con) == expected  # no duplicates, the new value in, the old one gone
    assert lineage(con, "leads") == [("sql:leads", None, second.load_id)]
    assert second.load_id != first.load_id
    assert quarantined(con, "leads", "lead_id") == [(*q, "sql:leads") for q in EXPECTED_LEAD_QUARANTINE]
    assert accounting(con) == [("sql:leads", "leads", "sql", "replaced", 7, 4, 3, None)]
    assert con.execute("SELECT identity, status FROM raw.load_history ORDER BY loaded_at, status").fetchall() == [
        ("sql:leads", "loaded"), ("sql:leads", "replaced")]


# ---------------------------------------------------------------- partition windows


def test_window_reads_one_day_then_a_full_load_supersedes_it(source, con, tmp_path):
    source.create("leads", "calls")
    settings = settings_for(tmp_path, source.url)
    identity = "sql:leads@2026-11-01..2026-11-01"

    windowed = ingest(con, settings, "leads", window=WINDOW)
    f = only_file(windowed)
    # 2026-11-01 UTC: L1 (05:30Z), L3 (17:00Z) and the lead without an id (08:00Z).
    assert (f.identity, f.status, f.rows_read, f.rows_loaded, f.rows_quarantined) == (identity, "loaded", 3, 2, 1)
    assert raw_leads(con) == {k: EXPECTED_LEADS[k] for k in ("L1", "L3")}
    assert lineage(con, "leads") == [(identity, DAY, windowed.load_id)]
    assert quarantined(con, "leads", "lead_id") == [(*EXPECTED_LEAD_QUARANTINE[0], identity)]
    assert accounting(con) == [(identity, "leads", "sql", "loaded", 3, 2, 1, DAY)]

    # The same window again: unchanged.
    assert only_file(ingest(con, settings, "leads", window=WINDOW)).status == "unchanged"

    full = ingest(con, settings, "leads")
    f = only_file(full)
    assert (f.identity, f.status, f.rows_read, f.rows_loaded, f.rows_quarantined) == ("sql:leads", "loaded", 7, 4, 3)
    assert raw_leads(con) == EXPECTED_LEADS  # L1 and L3 once each
    assert lineage(con, "leads") == [("sql:leads", None, full.load_id)]
    assert quarantined(con, "leads", "lead_id") == [(*q, "sql:leads") for q in EXPECTED_LEAD_QUARANTINE]
    assert accounting(con) == [("sql:leads", "leads", "sql", "loaded", 7, 4, 3, None)]


def test_window_bounds_are_half_open_utc_days(source, con, tmp_path):
    source.create("calls")
    settings = settings_for(tmp_path, source.url)
    identity = "sql:calls@2026-11-01..2026-11-01"

    f = only_file(ingest(con, settings, "calls", window=WINDOW))
    # C1, C2, C3 start on 2026-11-01; C4 (23:59:59.999 the day before) and C5 (00:00 the day after) do not.
    assert (f.identity, f.rows_read, f.rows_loaded, f.rows_quarantined) == (identity, 3, 1, 2)
    assert raw_calls(con) == {"C1": EXPECTED_CALLS["C1"]}
    assert quarantined(con, "calls", "call_id") == [(*q, identity) for q in EXPECTED_CALL_QUARANTINE]

    # A window of two days, and the earlier one-day identity left as it was.
    two_days = (dt.date(2026, 10, 31), DAY)
    f = only_file(ingest(con, settings, "calls", window=two_days))
    assert (f.identity, f.rows_read, f.rows_loaded) == ("sql:calls@2026-10-31..2026-11-01", 4, 2)
    assert [row[:5] for row in accounting(con)] == [
        ("sql:calls@2026-10-31..2026-11-01", "calls", "sql", "loaded", 4),
        (identity, "calls", "sql", "loaded", 3),
    ]

    # The full load supersedes both windows: every call once.
    f = only_file(ingest(con, settings, "calls"))
    assert (f.identity, f.rows_read, f.rows_loaded, f.rows_quarantined) == ("sql:calls", 5, 3, 2)
    assert raw_calls(con) == EXPECTED_CALLS
    assert quarantined(con, "calls", "call_id") == [(*q, "sql:calls") for q in EXPECTED_CALL_QUARANTINE]
    assert [row[0] for row in accounting(con)] == ["sql:calls"]


def test_an_empty_window_is_recorded_with_no_rows(source, con, tmp_path):
    source.create("calls")
    f = only_file(ingest(con, settings_for(tmp_path, source.url), "calls",
                         window=(dt.date(2026, 6, 1), dt.date(2026, 6, 1))))
    assert (f.identity, f.status, f.rows_read, f.rows_loaded, f.rows_quarantined) == (
        "sql:calls@2026-06-01..2026-06-01", "loaded", 0, 0, 0)
    assert raw_calls(con) == {}


# ---------------------------------------------------------------- missing tables, schema


def test_a_table_missing_from_the_source_is_skipped(source, con, tmp_path):
    source.create("calls")  # no leads table
    settings = settings_for(tmp_path, source.url)
    assert read_entity(source.url, c.ENTITY_BY_NAME["leads"], None) == []
    assert read_entity(source.url, c.ENTITY_BY_NAME["leads"], WINDOW) == []

    result = ingest(con, settings, "leads")
    assert result.files == []
    assert result.total("rows_read") == 0
    assert raw_leads(con) == {}
    assert accounting(con) == []
    assert con.execute("SELECT count(*) FROM raw.quarantine").fetchone()[0] == 0
    assert ingest(con, settings, "leads", window=WINDOW).files == []
    assert ingest(con, settings, "reps").files == []


@pytest.mark.postgres
def test_postgres_schema_setting_selects_the_schema(pg_source, con, tmp_path):
    source = pg_source
    source.execute(sa.text("CREATE SCHEMA crm_replica"))
    metadata = sa.MetaData()
    replica = source.leads_table(metadata, schema="crm_replica")
    decoy = source.leads_table(metadata)  # same name in the default schema: must not be read
    metadata.create_all(source.engine)
    rows = source.lead_rows()
    source.execute(replica.insert(), rows)
    source.execute(decoy.insert(), [{**rows[0], "lead_id": "DECOY"}])

    settings = settings_for(tmp_path, source.url, STL_SOURCE_DATABASE_SCHEMA="crm_replica")
    f = only_file(ingest(con, settings, "leads"))
    assert (f.identity, f.rows_read, f.rows_loaded, f.rows_quarantined) == ("sql:leads", 7, 4, 3)
    assert raw_leads(con) == EXPECTED_LEADS


@pytest.mark.postgres
def test_postgres_timestamptz_read_in_a_non_utc_session(pg_source, con, tmp_path):
    """The session's TimeZone changes the offset psycopg2 returns, never the instant stored."""
    source = pg_source
    ny_url = _with_session_timezone(source, "America/New_York")
    source.create("leads")
    batch = read_entity(ny_url, c.ENTITY_BY_NAME["leads"], None)[0]
    times = dict(zip(batch.rows.column("lead_id").to_pylist(), batch.rows.column("created_at").to_pylist()))
    assert times["L1"] == "2026-11-01T01:30:00.123000-04:00"
    assert times["L3"] == "2026-11-01T12:00:00-05:00"

    f = only_file(ingest(con, settings_for(tmp_path, ny_url), "leads"))
    assert (f.rows_read, f.rows_loaded, f.rows_quarantined) == (7, 4, 3)
    assert raw_leads(con) == EXPECTED_LEADS


# ---------------------------------------------------------------- windows in UTC days, unparseable DATETIMEs


@pytest.mark.postgres
def test_postgres_window_is_utc_days_whatever_the_session_timezone(pg_source):
    source = pg_source
    ny_url = _with_session_timezone(source, "America/New_York")
    source.create("leads")
    # 2026-11-02 02:00Z is 2026-11-01 21:00 in New York: not in the UTC day 2026-11-01.
    late = source.leads_table(sa.MetaData())
    source.execute(late.insert(), [{"lead_id": "L7", "created_at": _ts(2026, 11, 2, 2, 0).replace(tzinfo=UTC),
                                    "score": 5}])
    batch = read_entity(ny_url, c.ENTITY_BY_NAME["leads"], WINDOW)[0]
    assert sorted(filter(None, batch.rows.column("lead_id").to_pylist())) == ["L1", "L3"]


def test_sqlite_window_of_naive_local_times_is_utc_days(sqlite_source, con, tmp_path):
    source = sqlite_source
    source.create("leads")
    # Naive 2026-11-01 21:00 in New York (EST) is 2026-11-02 02:00Z: it belongs to the 2026-11-02 window.
    late = source.leads_table(sa.MetaData())
    source.execute(late.insert(), [{"lead_id": "L7", "created_at": _ts(2026, 11, 1, 21, 0), "score": 5}])
    settings = settings_for(tmp_path, source.url)
    ingest(con, settings, "leads", window=WINDOW)
    ingest(con, settings, "leads", window=(dt.date(2026, 11, 2), dt.date(2026, 11, 2)))
    assert con.execute("SELECT _source_file FROM raw.leads WHERE lead_id = 'L7'").fetchall() == [
        ("sql:leads@2026-11-02..2026-11-02",)]


def test_sqlite_datetime_column_with_unparseable_values_is_quarantined_not_fatal(sqlite_source, con, tmp_path):
    source = sqlite_source
    source.create("leads")
    # SQLite stores anything in a DATETIME column; the contract accepts epoch seconds.
    source.execute(sa.text("INSERT INTO leads (lead_id, created_at) VALUES ('BAD', 'yesterday'), "
                           "('EPOCH', 1793607000)"))
    result = ingest(con, settings_for(tmp_path, source.url), "leads")
    f = only_file(result)
    assert (f.rows_read, f.rows_loaded, f.rows_quarantined) == (9, 5, 4)
    assert ("BAD", "invalid_value", "created_at") in [q[:3] for q in quarantined(con, "leads", "lead_id")]
    # 1793607000 = 2026-11-02 08:10:00Z
    assert con.execute("SELECT created_at FROM raw.leads WHERE lead_id = 'EPOCH'").fetchone()[0] == _ts(2026, 11, 2, 8, 10)


def test_a_table_without_a_required_column_is_a_contract_error(sqlite_source, con, tmp_path):
    from orchestration.ingest.loader import ContractError

    source = sqlite_source
    source.execute(sa.text("CREATE TABLE calls (call_id TEXT, direction TEXT)"))
    with pytest.raises(ContractError) as error:
        ingest(con, settings_for(tmp_path, source.url), "calls")
    assert (error.value.file, error.value.column) == ("sql:calls", "started_at")
