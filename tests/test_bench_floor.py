"""The benchmark's floor: the hand-written DuckDB query and the pandas pipeline give each lead
incident's first response with the platform's rules, on a landing directory built by hand."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pandas as pd
import pytest

from orchestration.bench import floor_duckdb_sql, floor_pandas, floor_pandas_segments, floor_segments_sql

ZONES = {"leads": "America/New_York", "calls": "UTC", "sms": "UTC", "emails": "UTC"}
LEADS = "lead_id,created_at,form_submitted_at,source,score,country,email,phone,user_agent,is_test"
CALLS = "call_id,started_at,answered_at,ended_at,direction,from_number,to_number,disposition,duration_seconds,lead_id"


def t(day: int, clock: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"2026-11-0{day}T{clock}")


@pytest.fixture
def landing(tmp_path):
    def write(rel, lines):
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")

    write("leads/leads_2026-11-01.csv", [
        LEADS,
        "L1,2026-11-01T09:00:00Z,,web,50,US,a@x.com,+14155550101,,false",
        # naive time in the CRM's zone (EST after the change that night: 10:00 UTC); the form time starts the clock
        "L2,2026-11-01 05:00:00,2026-11-01T09:59:30Z,ads,50,US,b@x.com,,,",
        "L3,2026-11-01T09:00:00Z,,web,50,US,bot@y.com,,Googlebot/2.1,",      # a bot: excluded
        "L4,2026-11-01T11:00:00Z,,web,50,US,c@x.com,+14155550104,,",
        "L5,2026-11-01T12:00:00Z,,web,50,US,c@x.com,+14155550105,,",        # same person within 24 h: L4's incident
        "L6,2026-11-01T13:00:00Z,,web,50,US,f@x.com,,,",
        "L7,2026-11-01T09:00:00Z,,web,abc,US,g@x.com,+14155550107,,",        # invalid score: not loaded
        "L8,2026-11-01T08:00:00Z,,web,50,US,h@x.com,(415) 555-0199,,",
        "L8,2026-11-01T08:00:00Z,,web,50,US,h@x.com,(415) 555-0199,,",      # a duplicate row
        "L1,2026-11-01T09:00:00Z",                                            # malformed
        # 01:30 happens twice that night in New York: the earlier (EDT, 05:30 UTC) is the platform's
        "L10,2026-11-01 01:30:00,,dst,50,US,k@x.com,,,",
    ])
    write("leads/leads_2026-11-03.csv", [
        LEADS,
        "L9,2026-11-03T08:00:00Z,,web,50,US,i@x.com,415 555 0199,,",         # L8's phone, three days later
    ])
    write("calls/calls_2026-11-01.csv", [
        CALLS,
        "C1,2026-11-01T09:03:00Z,,,outbound,+14155550000,+1 415 555 0101,connected,60,",
        "C9,2026-11-01T09:02:00Z,,,outbound,+14155550000,+14155550101,connected,60,",   # corrected below
        "C6a,2026-11-01T08:00:00Z,,,outbound,+14155550000,,connected,60,L6",            # before L6 existed
        "C6b,2026-11-01T13:30:00Z,,,outbound,+14155550000,,no_answer,0,L6",             # not a response
        "C7,2026-11-01T09:01:00Z,,,outbound,+14155550000,+14155550107,connected,60,",   # to the invalid lead
        "C8,2026-11-01T09:00:30Z,2026-11-01T09:00:00Z,,outbound,+14155550000,+14155550101,connected,60,",  # answered before start
    ])
    write("calls/calls_2026-11-03.csv", [
        CALLS,
        "C9,2026-11-01T09:02:00Z,,,outbound,+14155550000,+14155550101,no_answer,0,",    # the current version
        "C10,2026-11-03T09:00:00Z,,,outbound,+14155550000,+14155550199,voicemail,30,",  # L9: most recent with the phone
    ])
    write("sms/sms_2026-11-01.jsonl", [json.dumps(r) for r in [
        {"message_id": "S1", "sent_at": "2026-11-01T09:01:00Z", "direction": "outbound", "to_number": "+14155550101",
         "delivery_status": "delivered", "is_automated": True},                                      # automated
        {"message_id": "S5", "sent_at": 1793534700000, "direction": "outbound", "to_number": "+14155550105",
         "delivery_status": "sent", "is_automated": False},                                          # 12:05 to L5
    ]] + ['{"message_id": "broken"'])
    write("emails/emails_2026-11-01.jsonl", [json.dumps(r) for r in [
        {"email_id": "E1", "sent_at": "2026-11-01T09:02:00Z", "direction": "outbound", "to_address": "a@x.com",
         "delivery_status": "bounced"},                                                              # not a response
        {"email_id": "E2", "sent_at": "2026-11-01T09:59:00Z", "direction": "outbound", "to_address": "B@X.com",
         "delivery_status": "delivered"},                                                            # before the clock
        {"email_id": "E3", "sent_at": "2026-11-01T10:10:00Z", "direction": "outbound", "to_address": " B@X.com",
         "delivery_status": "delivered", "is_automated": "no"},
        {"email_id": "E4", "sent_at": "2026-11-01T10:05:00Z", "direction": "inbound", "from_address": "b@x.com",
         "delivery_status": "received"},                                                             # inbound
        {"email_id": "E10", "sent_at": "2026-11-01T05:40:00Z", "direction": "outbound", "to_address": "k@x.com",
         "delivery_status": "sent"},                                                                 # 10 min after L10
    ]])
    return tmp_path


EXPECTED = {
    "L1": t(1, "09:03:00"), "L2": t(1, "10:10:00"), "L4": t(1, "12:05:00"), "L6": None, "L8": None,
    "L9": t(3, "09:00:00"), "L10": t(1, "05:40:00"),
}


def test_duckdb_floor_finds_each_incidents_first_response(landing):
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"CREATE TABLE r AS {floor_duckdb_sql(landing, ZONES)}")
    got = dict(con.execute("SELECT lead_id, first_response_at FROM r").fetchall())
    assert got == EXPECTED
    assert con.execute("SELECT clock_started_at FROM r WHERE lead_id = 'L2'").fetchone() == (t(1, "09:59:30"),)
    segments = con.execute(floor_segments_sql("r")).fetchall()
    assert segments == [("ads", 1, 630.0, 0.0), ("dst", 1, 600.0, 0.0), ("web", 5, 3600.0, 0.2)]


def test_pandas_floor_gives_the_same_answer(landing):
    responses = floor_pandas(landing, ZONES)
    got = {row.lead_id: (None if pd.isna(row.first_response_at) else row.first_response_at.to_pydatetime())
           for row in responses.itertuples()}
    assert got == EXPECTED
    segments = [tuple(r) for r in floor_pandas_segments(responses).itertuples(index=False)]
    assert segments == [("ads", 1, 630.0, 0.0), ("dst", 1, 600.0, 0.0), ("web", 5, 3600.0, 0.2)]


def test_ingestion_figures_leave_out_gates_and_matching():
    from orchestration.bench import ingestion_figures

    steps = {"raw__calls": 5.0, "raw__calls_gx_raw_calls": 1.0, "raw__sms": 4.0, "raw__activity_lead_matches": 3.0,
             "dbt_models": 14.0}
    rows = {"raw/calls": 100, "raw/sms": 50, "raw/activity_lead_matches": 150}
    assert ingestion_figures(steps, rows) == ({"raw__calls": 5.0, "raw__sms": 4.0}, 150)


def test_the_floor_table_reads_both_ways(capsys):
    from orchestration.bench import print_floor

    floor = {"response_fact_stage_s": 40.0, "platform_incidents": 1000, "ratio_platform_to_duckdb": 8.0,
             "ratio_platform_to_pandas": 0.25,
             "duckdb": {"wall_s": 5.0, "compute_s": 4.5, "peak_rss_mib": 600.0, "rows_per_s": 200_000, "mismatches": 0,
                        "segment_rows_different": 0},
             "pandas": {"wall_s": 160.0, "compute_s": None, "peak_rss_mib": 900.0, "rows_per_s": None,
                        "error": "no comparison: CatalogException"}}
    print_floor(floor)
    out = capsys.readouterr().out
    assert "0 of 1,000; segment rows differing 0" in out
    assert "no comparison: CatalogException" in out
    assert "the platform is 4.00x faster than pandas" in out
    floor["ratio_platform_to_pandas"] = 2.5
    print_floor(floor)
    assert "the platform is 2.50x slower than pandas" in capsys.readouterr().out
