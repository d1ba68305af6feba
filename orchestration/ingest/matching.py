"""Matching telephony and messaging records to leads.

Calls, SMS and emails name the other party by phone number or address, rarely by CRM id. Each
activity is matched, in this order, by:
1. ``crm_id``: its ``lead_id`` names a lead that exists;
2. ``phone``: the other party's E.164 number (the ``to`` side of an outbound record, the ``from``
   side of an inbound one) equals a lead's ``phone_e164``;
3. ``email``: the other party's lower-cased address equals a lead's ``email_normalized``.
When several leads share the number or address (repeat submissions), the activity goes to the
most recent lead created at or before it; an activity older than every such lead goes to the
earliest one and is flagged ``matched_before_lead_created`` (an integrity anomaly the gates count).
Unmatched activities stay in the table with ``match_method = 'unmatched'``: nothing is dropped.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import duckdb

# Raw tables hold every loaded version of a record (daily extracts repeat and correct rows);
# the current version is the one loaded last, then the latest extract date, file and row.
LATEST_VERSION_ORDER = "_loaded_at DESC, _extract_date DESC NULLS LAST, _source_file DESC, _source_row DESC"

_OTHER_PHONE = "CASE direction WHEN 'outbound' THEN to_number_e164 ELSE from_number_e164 END"
_OTHER_EMAIL = "CASE direction WHEN 'outbound' THEN to_address_normalized ELSE from_address_normalized END"

# channel: (table, id column, time column, the other party's phone and email, outcome,
# automated flag, answered and ended times). Carried into the match table so the dbt models
# read one table of activities instead of joining three extracts to their matches again.
ACTIVITY_SOURCES = {
    "call": ("calls", "call_id", "started_at", _OTHER_PHONE, "NULL", "disposition", "FALSE",
             "answered_at", "ended_at"),
    "sms": ("sms", "message_id", "sent_at", _OTHER_PHONE, "NULL", "delivery_status", "is_automated",
            "NULL::TIMESTAMP", "NULL::TIMESTAMP"),
    "email": ("emails", "email_id", "sent_at", "NULL", _OTHER_EMAIL, "delivery_status", "is_automated",
              "NULL::TIMESTAMP", "NULL::TIMESTAMP"),
}


def _current(con: duckdb.DuckDBPyConnection, table: str, key: str, columns: str, where: str = "TRUE") -> str:
    """The current version of the rows ``where`` selects. Rows holding one version of each
    record need no ranking: for 2.6M calls, counting their distinct keys took 0.21 s and the
    unranked copy 0.28 s, against 1.95 s for the ranked one; a first full load is that case."""
    if con.execute(f"SELECT count(*) = count(DISTINCT {key}) FROM raw.{table} WHERE {where}").fetchone()[0]:
        return f"(SELECT {columns} FROM raw.{table} WHERE {where})"
    return (f"(SELECT {columns} FROM raw.{table} WHERE {where} "
            f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {LATEST_VERSION_ORDER}) = 1)")


# Activities matched per statement: bounds the join state (at 10M leads the extracts hold 59M
# activities, and one statement over all of them spilled more than 24 GB to disk). Each
# activity's match depends only on the leads, so slices give exactly the one-statement result.
SLICE_ACTIVITIES = 4_000_000

_MATCH_COLUMNS = """channel VARCHAR, activity_id VARCHAR, activity_at TIMESTAMP, direction VARCHAR, rep_id VARCHAR,
    outcome VARCHAR, is_automated BOOLEAN, answered_at TIMESTAMP, ended_at TIMESTAMP, crm_lead_id VARCHAR,
    contact_phone_e164 VARCHAR, contact_email_normalized VARCHAR, lead_id VARCHAR, match_method VARCHAR,
    matched_before_lead_created BOOLEAN"""


def _activities_sql(con: duckdb.DuckDBPyConnection, channel: str, where: str = "TRUE") -> str:
    table, id_col, time_col, phone, email, outcome, automated, answered, ended = ACTIVITY_SOURCES[channel]
    return (f"SELECT '{channel}' AS channel, {id_col} AS activity_id, {time_col} AS activity_at, direction, rep_id, "
            f"{outcome} AS outcome, {automated} AS is_automated, {answered} AS answered_at, {ended} AS ended_at, "
            f"lead_id AS crm_lead_id, {phone} AS contact_phone_e164, {email} AS contact_email_normalized "
            f"FROM {_current(con, table, id_col, '*', where)}")


# One slice of _stl_match_acts (first <= _rid < last) against every current lead.
_MATCH_SLICE = """
    WITH leads AS (SELECT * FROM _stl_match_leads),
    acts AS (SELECT * FROM _stl_match_acts WHERE _rid >= $first AND _rid < $last),
    by_phone_before AS (
        SELECT a._rid, l.lead_id
        FROM (SELECT * FROM acts WHERE contact_phone_e164 IS NOT NULL) a
        ASOF JOIN (SELECT * FROM leads WHERE phone_e164 IS NOT NULL) l
          ON a.contact_phone_e164 = l.phone_e164 AND a.activity_at >= l.created_at),
    by_email_before AS (
        SELECT a._rid, l.lead_id
        FROM (SELECT * FROM acts WHERE contact_email_normalized IS NOT NULL) a
        ASOF JOIN (SELECT * FROM leads WHERE email_normalized IS NOT NULL) l
          ON a.contact_email_normalized = l.email_normalized AND a.activity_at >= l.created_at)
    SELECT a.channel, a.activity_id, a.activity_at, a.direction, a.rep_id, a.outcome, a.is_automated,
           a.answered_at, a.ended_at, a.crm_lead_id, a.contact_phone_e164, a.contact_email_normalized,
           coalesce(ci.lead_id, pb.lead_id, pf.lead_id, eb.lead_id, ef.lead_id) AS lead_id,
           CASE WHEN ci.lead_id IS NOT NULL THEN 'crm_id'
                WHEN coalesce(pb.lead_id, pf.lead_id) IS NOT NULL THEN 'phone'
                WHEN coalesce(eb.lead_id, ef.lead_id) IS NOT NULL THEN 'email'
                ELSE 'unmatched' END AS match_method,
           ci.lead_id IS NULL AND pb.lead_id IS NULL
               AND (pf.lead_id IS NOT NULL OR (eb.lead_id IS NULL AND ef.lead_id IS NOT NULL))
               AS matched_before_lead_created
    FROM acts a
    LEFT JOIN leads ci ON ci.lead_id = a.crm_lead_id
    LEFT JOIN by_phone_before pb ON pb._rid = a._rid
    LEFT JOIN _stl_first_by_phone pf ON pf.phone_e164 = a.contact_phone_e164
    LEFT JOIN by_email_before eb ON eb._rid = a._rid
    LEFT JOIN _stl_first_by_email ef ON ef.email_normalized = a.contact_email_normalized
"""

MATCHES = "raw.activity_lead_matches"
# What the last matching had seen of each input, so the next one matches only what changed.
STATE = "raw.activity_lead_match_state"
# Rows of the matching's inputs that a corrected file replaced since the last matching (the
# loader deletes them): their keys, and when they had been loaded. The next matching consumes it.
RETRACTED = "raw.activity_lead_match_retracted"
_RETRACTED_COLUMNS = ("entity VARCHAR, record_id VARCHAR, phone_e164 VARCHAR, email_normalized VARCHAR, "
                      "loaded_at TIMESTAMP")
# Bump when the rules above change: a state recorded by other rules is not used (all is rematched).
MATCHER_VERSION = "1"
MOSTLY_CHANGED = 0.5  # share of the inputs' rows new or retracted above which all is rematched
_INPUTS = ("leads", *(source[0] for source in ACTIVITY_SOURCES.values()))
_STATE_COLUMNS = "entity VARCHAR, loaded_through TIMESTAMP, rows_through BIGINT, matcher_version VARCHAR"
_ID_COLUMN = {source[0]: source[1] for source in ACTIVITY_SOURCES.values()}
_EPOCH = "TIMESTAMP '0001-01-01'"
_TEMP_TABLES = ("_stl_match_leads", "_stl_first_by_phone", "_stl_first_by_email", "_stl_match_acts",
                "_stl_changed_keys", "_stl_rematch", "_stl_rematched")


@dataclass(frozen=True)
class MatchRun:
    """What a matching did: ``full`` (every activity) or ``incremental`` (only the activities that
    are new or changed, or share a CRM id, phone or email with a new or changed lead)."""
    mode: str
    rematched: dict[str, int]  # channel → activities matched by this run
    reason: str  # why full, or what an incremental run started from


def build_matches(con: duckdb.DuckDBPyConnection, slice_activities: int = SLICE_ACTIVITIES,
                  full: bool = False) -> MatchRun:
    """Bring raw.activity_lead_matches up to date with the current raw leads and activities: one
    channel at a time, in slices of at most ``slice_activities``.

    An activity's match depends only on its own current version and on the leads that share its
    CRM id, phone or email. So when the previous matching's state still describes the raw tables
    (rows are only ever added: each load appends versions), only these are matched again: the
    activities with rows loaded since, and those whose CRM id, phone or email is held by any
    version of a lead with rows loaded since (a corrected phone frees the old number's activities
    too). The result is the full rebuild's, row for row (tests/test_matching.py); ``full=True``,
    a missing or foreign state, or raw rows that are no longer the ones counted rebuild it all."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE _stl_match_leads AS "
                f"{_current(con, 'leads', 'lead_id', 'lead_id, created_at, phone_e164, email_normalized')[1:-1]}")
    # Activities older than every lead with their number or address go to the earliest such lead.
    con.execute("""CREATE OR REPLACE TEMP TABLE _stl_first_by_phone AS
                   SELECT phone_e164, arg_min(lead_id, created_at) AS lead_id FROM _stl_match_leads
                   WHERE phone_e164 IS NOT NULL GROUP BY phone_e164""")
    con.execute("""CREATE OR REPLACE TEMP TABLE _stl_first_by_email AS
                   SELECT email_normalized, arg_min(lead_id, created_at) AS lead_id FROM _stl_match_leads
                   WHERE email_normalized IS NOT NULL GROUP BY email_normalized""")
    try:
        watermarks, reason = (None, "asked for a full rebuild") if full else _previous_state(con)
        if watermarks is None:
            return MatchRun("full", _rebuild_all(con, slice_activities), reason)
        with _transaction(con):  # the matches and the state that describes them change together
            rematched = _rematch_changed(con, watermarks, slice_activities)
            _record_state(con)
        return MatchRun("incremental", rematched, reason)
    finally:
        con.execute("; ".join(f"DROP TABLE IF EXISTS {t}" for t in _TEMP_TABLES)
                    + "; DROP TABLE IF EXISTS raw._activity_lead_matches_next")


def record_retracted(con: duckdb.DuckDBPyConnection, entity: str, where: str) -> None:
    """Called by the loader just before it deletes the rows ``where`` selects (a corrected file
    replaces its earlier rows): note what the next matching must look at again."""
    if entity == "leads":
        keys = "lead_id, phone_e164, email_normalized"
    elif entity in _INPUTS:
        keys = f"{_ID_COLUMN[entity]}, NULL, NULL"
    else:
        return
    con.execute(f"CREATE TABLE IF NOT EXISTS {RETRACTED} ({_RETRACTED_COLUMNS})")
    con.execute(f"INSERT INTO {RETRACTED} SELECT '{entity}', {keys}, _loaded_at FROM raw.{entity} WHERE {where}")


def _match_into(con: duckdb.DuckDBPyConnection, table: str, channel: str, which: str, slice_activities: int) -> int:
    """Match the current version of the channel's activities ``which`` selects (a SQL condition
    on the raw table's rows) into ``table``; returns how many."""
    # A numbered copy (rowids of rows written inside a transaction are not 0..n-1).
    con.execute(f"CREATE OR REPLACE TEMP TABLE _stl_match_acts AS SELECT *, row_number() OVER () - 1 AS _rid "
                f"FROM ({_activities_sql(con, channel, which)})")
    total = con.execute("SELECT count(*) FROM _stl_match_acts").fetchone()[0]
    for first in range(0, total, slice_activities):
        con.execute(f"INSERT INTO {table} {_MATCH_SLICE}", {"first": first, "last": first + slice_activities})
    return total


def _rebuild_all(con: duckdb.DuckDBPyConnection, slice_activities: int) -> dict[str, int]:
    # Built beside the current table and swapped in at the end: a failed or killed build leaves
    # the previous matches and their state (the next run rebuilds or catches up from it).
    con.execute(f"CREATE OR REPLACE TABLE raw._activity_lead_matches_next ({_MATCH_COLUMNS})")
    counts = {channel: _match_into(con, "raw._activity_lead_matches_next", channel, "TRUE", slice_activities)
              for channel in ACTIVITY_SOURCES}
    with _transaction(con):
        con.execute(f"DROP TABLE IF EXISTS {MATCHES}")
        con.execute(f"ALTER TABLE raw._activity_lead_matches_next RENAME TO {MATCHES.split('.')[1]}")
        _record_state(con)
    return counts


def _rematch_changed(con: duckdb.DuckDBPyConnection, watermarks: dict[str, str], slice_activities: int) -> dict[str, int]:
    # Every version of every lead with rows loaded since: the keys whose activities may move.
    # (and of every lead a corrected file retracted rows of, with the retracted rows' own keys).
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _stl_changed_keys AS
        WITH changed AS (SELECT lead_id FROM raw.leads WHERE _loaded_at > {watermarks['leads']}
                         UNION SELECT record_id FROM {RETRACTED} WHERE entity = 'leads')
        SELECT lead_id, phone_e164, email_normalized FROM raw.leads WHERE lead_id IN (SELECT lead_id FROM changed)
        UNION ALL
        SELECT record_id, phone_e164, email_normalized FROM {RETRACTED} WHERE entity = 'leads'""")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _stl_rematched ({_MATCH_COLUMNS})")
    counts = {}
    for channel, (table, id_col, *_) in ACTIVITY_SOURCES.items():
        con.execute(f"""CREATE OR REPLACE TEMP TABLE _stl_rematch AS
            SELECT {id_col} AS activity_id FROM raw.{table} WHERE _loaded_at > {watermarks[table]}
            UNION
            SELECT record_id FROM {RETRACTED} WHERE entity = '{table}'
            UNION
            SELECT activity_id FROM {MATCHES} WHERE channel = '{channel}' AND (
                crm_lead_id IN (SELECT lead_id FROM _stl_changed_keys)
                OR contact_phone_e164 IN (SELECT phone_e164 FROM _stl_changed_keys WHERE phone_e164 IS NOT NULL)
                OR contact_email_normalized IN (SELECT email_normalized FROM _stl_changed_keys
                                                WHERE email_normalized IS NOT NULL))""")
        counts[channel] = _match_into(con, "_stl_rematched", channel,
                                      f"{id_col} IN (SELECT activity_id FROM _stl_rematch)", slice_activities)
        con.execute(f"DELETE FROM {MATCHES} WHERE channel = '{channel}' "
                    f"AND activity_id IN (SELECT activity_id FROM _stl_rematch)")
    con.execute(f"INSERT INTO {MATCHES} SELECT * FROM _stl_rematched")
    return counts


def _previous_state(con: duckdb.DuckDBPyConnection) -> tuple[dict[str, str] | None, str]:
    """Per input table, the SQL literal of the last load the previous matching saw, or None (and
    why) when its state cannot be built on."""
    con.execute(f"CREATE TABLE IF NOT EXISTS {RETRACTED} ({_RETRACTED_COLUMNS})")
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                        "WHERE table_schema = 'raw'").fetchall()}
    if not {"activity_lead_matches", "activity_lead_match_state"} <= tables:
        return None, "no previous matching"
    state = {r[0]: r for r in con.execute(f"SELECT entity, loaded_through, rows_through, matcher_version "
                                           f"FROM {STATE}").fetchall()}
    if set(state) != set(_INPUTS) or any(r[3] != MATCHER_VERSION for r in state.values()):
        return None, "the previous matching was made by other rules"
    watermarks, changed, total = {}, 0, 0
    for table in _INPUTS:
        _, loaded_through, rows_through, _ = state[table]
        mark = f"TIMESTAMP '{loaded_through}'" if loaded_through is not None else _EPOCH
        # Rows are appended, later, or retracted by a corrected file (and logged); other counts
        # up to the mark mean the table was rewritten (a reset, a delete, a load stamped in the past).
        kept, retracted, new = con.execute(
            f"SELECT (SELECT count(*) FROM raw.{table} WHERE _loaded_at <= {mark}), "
            f"(SELECT count(*) FROM {RETRACTED} WHERE entity = '{table}' AND loaded_at <= {mark}), "
            f"(SELECT count(*) FROM raw.{table} WHERE _loaded_at > {mark})").fetchone()
        if kept + retracted != rows_through:
            return None, f"raw.{table} changed under the previous matching"
        watermarks[table] = mark
        changed, total = changed + new + retracted, total + kept + new
    # A reload of most of the history (a SQL source's snapshot replacing its earlier rows): one
    # pass over everything is cheaper than deleting and re-inserting nearly every match.
    if changed > MOSTLY_CHANGED * total:
        return None, "most rows changed since the previous matching"
    return watermarks, "the previous matching's state"


def _record_state(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"CREATE TABLE IF NOT EXISTS {STATE} ({_STATE_COLUMNS})")
    con.execute(f"CREATE TABLE IF NOT EXISTS {RETRACTED} ({_RETRACTED_COLUMNS})")
    con.execute(f"DELETE FROM {RETRACTED}")  # consumed: these matches account for them
    con.execute(f"DELETE FROM {STATE}")
    for table in _INPUTS:
        con.execute(f"INSERT INTO {STATE} SELECT '{table}', max(_loaded_at), count(*), '{MATCHER_VERSION}' "
                    f"FROM raw.{table}")


@contextmanager
def _transaction(con: duckdb.DuckDBPyConnection):
    """A transaction of its own, or the caller's when one is open (it commits or undoes all).
    Inside a transaction DuckDB's transaction id stays put; each autocommit statement gets a new
    one (a BEGIN to probe would abort the caller's transaction)."""
    if con.execute("SELECT txid_current()").fetchone() == con.execute("SELECT txid_current()").fetchone():
        yield
        return
    con.execute("BEGIN")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def match_rates(con: duckdb.DuckDBPyConnection) -> dict[str, dict]:
    """Per channel: activities, matched by each method, unmatched, match rate."""
    rows = con.execute("""
        SELECT channel, count(*) AS activities,
               count_if(match_method = 'crm_id'), count_if(match_method = 'phone'),
               count_if(match_method = 'email'), count_if(match_method = 'unmatched'),
               count_if(matched_before_lead_created)
        FROM raw.activity_lead_matches GROUP BY channel ORDER BY channel""").fetchall()
    return {
        r[0]: {"activities": r[1], "by_crm_id": r[2], "by_phone": r[3], "by_email": r[4], "unmatched": r[5],
               "before_lead_created": r[6], "match_rate": round((r[1] - r[5]) / r[1], 4) if r[1] else None}
        for r in rows
    }
