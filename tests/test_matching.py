"""Telephony and messaging records matched to leads by CRM id, E.164 phone, email."""

from __future__ import annotations

import duckdb

from orchestration.ingest.matching import build_matches, match_rates
from orchestration.ingest.service import ingest_entity
from tests.helpers import LOAD_TIME, write


def _ingested(settings) -> duckdb.DuckDBPyConnection:
    """The warehouse with the landing directory's leads and activities loaded."""
    con = duckdb.connect(str(settings.warehouse_path))
    for entity in ("leads", "calls", "sms", "emails"):
        ingest_entity(con, settings, entity, load_time=LOAD_TIME)
    return con


def test_matching_rules(settings):
    write(settings, "leads.csv", "\n".join([
        "lead_id,created_at,phone,email,country",
        "L1,2026-11-01T09:00:00Z,(415) 555-0123,Ann@Example.com,US",
        "L2,2026-11-03T09:00:00Z,415-555-0123,,US",          # the same person again, two days later
        "L3,2026-11-01T09:00:00Z,020 7946 0000,bob@example.co.uk,GB",
    ]) + "\n")
    write(settings, "calls.csv", "\n".join([
        "call_id,started_at,direction,from_number,to_number,lead_id",
        "C1,2026-11-01T09:01:00Z,outbound,+18005550000,+1 415 555 0123,",    # → L1 by phone
        "C2,2026-11-03T09:02:00Z,outbound,+18005550000,4155550123,",         # → L2 (latest lead before it)
        "C3,2026-11-01T08:00:00Z,outbound,+18005550000,+14155550123,",       # before any lead → L1, flagged
        "C4,2026-11-01T09:05:00Z,inbound,+44 20 7946 0000,+18005550000,",    # inbound: from side → L3
        "C5,2026-11-01T09:05:00Z,outbound,+18005550000,+12125559999,",       # unknown number
        "C6,2026-11-01T09:05:00Z,outbound,+18005550000,+12125559999,L3",     # CRM id wins
        "C7,2026-11-01T09:05:00Z,outbound,+18005550000,+14155550123,L404",   # unknown CRM id → phone
    ]) + "\n")
    write(settings, "emails.csv", "\n".join([
        "email_id,sent_at,direction,from_address,to_address",
        "E1,2026-11-01T09:03:00Z,outbound,rep@corp.test, ann@EXAMPLE.com ",
        "E2,2026-11-01T09:04:00Z,inbound,nobody@nowhere.test,rep@corp.test",
    ]) + "\n")
    con = _ingested(settings)
    build_matches(con)
    got = con.execute("""SELECT activity_id, lead_id, match_method, matched_before_lead_created
                         FROM raw.activity_lead_matches ORDER BY activity_id""").fetchall()
    assert got == [
        ("C1", "L1", "phone", False), ("C2", "L2", "phone", False), ("C3", "L1", "phone", True),
        ("C4", "L3", "phone", False), ("C5", None, "unmatched", False), ("C6", "L3", "crm_id", False),
        ("C7", "L1", "phone", False), ("E1", "L1", "email", False), ("E2", None, "unmatched", False),
    ]
    rates = match_rates(con)
    assert rates["call"] == {"activities": 7, "by_crm_id": 1, "by_phone": 5, "by_email": 0, "unmatched": 1,
                             "before_lead_created": 1, "match_rate": round(6 / 7, 4)}
    assert rates["email"]["match_rate"] == 0.5


def test_matching_uses_the_current_version_of_a_lead(settings):
    write(settings, "leads_2026-11-01.csv", "lead_id,created_at,phone\nL1,2026-11-01T09:00:00Z,+14155550123\n")
    write(settings, "leads_2026-11-02.csv", "lead_id,created_at,phone\nL1,2026-11-01T09:00:00Z,+14155559999\n")
    write(settings, "sms.jsonl", '{"message_id": "m1", "sent_at": "2026-11-02T10:00:00Z", "direction": "outbound", "to_number": "+14155559999"}\n'
                                 '{"message_id": "m2", "sent_at": "2026-11-02T10:00:00Z", "direction": "outbound", "to_number": "+14155550123"}\n')
    con = _ingested(settings)
    build_matches(con)
    assert con.execute("SELECT activity_id, lead_id FROM raw.activity_lead_matches ORDER BY 1").fetchall() == [
        ("m1", "L1"), ("m2", None)]


def test_matching_in_slices_gives_the_one_statement_result(settings):
    """Slices bound the join state; each activity's match depends only on the leads, so any slice
    size gives the same table (here one activity per slice against all of them at once)."""
    write(settings, "leads.csv", "lead_id,created_at,phone,email,country\n"
          "L1,2026-11-01T09:00:00Z,(415) 555-0123,ann@example.com,US\n"
          "L2,2026-11-03T09:00:00Z,415-555-0123,,US\n")
    write(settings, "calls.csv", "call_id,started_at,direction,from_number,to_number,lead_id\n"
          "C1,2026-11-01T09:01:00Z,outbound,+18005550000,+1 415 555 0123,\n"
          "C2,2026-11-03T09:02:00Z,outbound,+18005550000,4155550123,\n"
          "C3,2026-11-01T08:00:00Z,outbound,+18005550000,+14155550123,\n"
          "C4,2026-11-01T09:05:00Z,outbound,+18005550000,+12125559999,L1\n")
    write(settings, "sms.csv", "message_id,sent_at,direction,from_number,to_number,delivery_status\n"
          "S1,2026-11-03T10:00:00Z,outbound,+18005550000,+14155550123,delivered\n"
          "S2,2026-11-01T10:00:00Z,inbound,+14155550123,+18005550000,delivered\n")
    con = _ingested(settings)
    query = "SELECT * FROM raw.activity_lead_matches ORDER BY channel, activity_id"
    build_matches(con)
    whole = con.execute(query).fetchall()
    build_matches(con, slice_activities=1)
    assert con.execute(query).fetchall() == whole
    assert [(r[1], r[12]) for r in whole] == [("C1", "L1"), ("C2", "L2"), ("C3", "L1"), ("C4", "L1"),
                                             ("S1", "L2"), ("S2", "L1")]


def test_matching_inside_the_callers_transaction_is_undone_with_it(settings):
    write(settings, "leads.csv", "lead_id,created_at,phone,email,country\nL1,2026-11-01T09:00:00Z,(415) 555-0123,,US\n")
    write(settings, "calls.csv", "call_id,started_at,direction,from_number,to_number,lead_id\n"
          "C1,2026-11-01T09:01:00Z,outbound,+18005550000,+1 415 555 0123,\n")
    con = _ingested(settings)
    build_matches(con)
    con.execute("BEGIN")
    con.execute("DELETE FROM raw.leads")
    build_matches(con)
    assert con.execute("SELECT lead_id FROM raw.activity_lead_matches").fetchall() == [(None,)]
    con.execute("ROLLBACK")
    assert con.execute("SELECT lead_id FROM raw.activity_lead_matches").fetchall() == [("L1",)]
