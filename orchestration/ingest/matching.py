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


def _current(table: str, key: str, columns: str) -> str:
    return (f"(SELECT {columns} FROM raw.{table} "
            f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {LATEST_VERSION_ORDER}) = 1)")


# Activities matched per statement: bounds the join state (at 10M leads the extracts hold 59M
# activities, and one statement over all of them spilled more than 24 GB to disk). Each
# activity's match depends only on the leads, so slices give exactly the one-statement result.
SLICE_ACTIVITIES = 4_000_000

_MATCH_COLUMNS = """channel VARCHAR, activity_id VARCHAR, activity_at TIMESTAMP, direction VARCHAR, rep_id VARCHAR,
    outcome VARCHAR, is_automated BOOLEAN, answered_at TIMESTAMP, ended_at TIMESTAMP, crm_lead_id VARCHAR,
    contact_phone_e164 VARCHAR, contact_email_normalized VARCHAR, lead_id VARCHAR, match_method VARCHAR,
    matched_before_lead_created BOOLEAN"""


def _activities_sql(channel: str) -> str:
    table, id_col, time_col, phone, email, outcome, automated, answered, ended = ACTIVITY_SOURCES[channel]
    return (f"SELECT '{channel}' AS channel, {id_col} AS activity_id, {time_col} AS activity_at, direction, rep_id, "
            f"{outcome} AS outcome, {automated} AS is_automated, {answered} AS answered_at, {ended} AS ended_at, "
            f"lead_id AS crm_lead_id, {phone} AS contact_phone_e164, {email} AS contact_email_normalized "
            f"FROM {_current(table, id_col, '*')}")


# One slice of _stl_match_acts (first <= _rid < last) against every current lead.
_MATCH_SLICE = """
    INSERT INTO raw._activity_lead_matches_next
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


def build_matches(con: duckdb.DuckDBPyConnection, slice_activities: int = SLICE_ACTIVITIES) -> None:
    """(Re)build raw.activity_lead_matches from the current raw leads and activities: one channel
    at a time, in slices of at most ``slice_activities``."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE _stl_match_leads AS "
                f"{_current('leads', 'lead_id', 'lead_id, created_at, phone_e164, email_normalized')[1:-1]}")
    # Activities older than every lead with their number or address go to the earliest such lead.
    con.execute("""CREATE OR REPLACE TEMP TABLE _stl_first_by_phone AS
                   SELECT phone_e164, arg_min(lead_id, created_at) AS lead_id FROM _stl_match_leads
                   WHERE phone_e164 IS NOT NULL GROUP BY phone_e164""")
    con.execute("""CREATE OR REPLACE TEMP TABLE _stl_first_by_email AS
                   SELECT email_normalized, arg_min(lead_id, created_at) AS lead_id FROM _stl_match_leads
                   WHERE email_normalized IS NOT NULL GROUP BY email_normalized""")
    try:
        # Built beside the current table and swapped in at the end: a failed or killed build
        # leaves the previous matches (the next run rebuilds them anyway).
        con.execute(f"CREATE OR REPLACE TABLE raw._activity_lead_matches_next ({_MATCH_COLUMNS})")
        for channel in ACTIVITY_SOURCES:
            # A numbered copy (rowids of rows written inside a transaction are not 0..n-1).
            con.execute(f"CREATE OR REPLACE TEMP TABLE _stl_match_acts AS "
                        f"SELECT *, row_number() OVER () - 1 AS _rid FROM ({_activities_sql(channel)})")
            total = con.execute("SELECT count(*) FROM _stl_match_acts").fetchone()[0]
            for first in range(0, total, slice_activities):
                con.execute(_MATCH_SLICE, {"first": first, "last": first + slice_activities})
        con.execute("DROP TABLE IF EXISTS raw.activity_lead_matches")
        con.execute("ALTER TABLE raw._activity_lead_matches_next RENAME TO activity_lead_matches")
    finally:
        con.execute("DROP TABLE IF EXISTS _stl_match_leads; DROP TABLE IF EXISTS _stl_first_by_phone; "
                    "DROP TABLE IF EXISTS _stl_first_by_email; DROP TABLE IF EXISTS _stl_match_acts; "
                    "DROP TABLE IF EXISTS raw._activity_lead_matches_next")


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
