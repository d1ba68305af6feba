"""Telephony and messaging records matched to leads by CRM id, E.164 phone, email."""

from __future__ import annotations

import csv

import duckdb
import pytest

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


def test_matching_uses_the_current_version_of_an_activity(settings):
    """A call delivered again with a corrected number is matched by its latest version only, and
    once (a table of single versions takes the shortcut without ranking, this one must not)."""
    write(settings, "leads.csv", "lead_id,created_at,phone\nL1,2026-11-01T09:00:00Z,+14155550123\n"
                                 "L2,2026-11-01T09:00:00Z,+14155559999\n")
    write(settings, "calls_2026-11-01.csv", "call_id,started_at,direction,to_number\n"
                                            "C1,2026-11-01T10:00:00Z,outbound,+14155550123\n"
                                            "C2,2026-11-01T10:00:00Z,outbound,+14155550123\n")
    write(settings, "calls_2026-11-02.csv", "call_id,started_at,direction,to_number\n"
                                            "C1,2026-11-01T10:00:00Z,outbound,+14155559999\n")
    con = _ingested(settings)
    build_matches(con)
    assert con.execute("SELECT activity_id, lead_id FROM raw.activity_lead_matches ORDER BY 1").fetchall() == [
        ("C1", "L2"), ("C2", "L1")]


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
    assert build_matches(con, slice_activities=1, full=True).mode == "full"
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


def _csv_rows(path) -> list[list[str]]:
    with open(path, newline="") as f:
        return list(csv.reader(f))


def _write_csv(path, rows: list[list[str]]) -> None:
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)


def _matches(con) -> list[tuple]:
    return con.execute("SELECT * FROM raw.activity_lead_matches ORDER BY channel, activity_id").fetchall()


@pytest.mark.slow  # a month of daily loads and matchings, each against a full rebuild (14 s)
def test_daily_incremental_matching_gives_the_full_rebuild_row_for_row(settings):
    """Day by day, as the daily schedule loads extracts: each run matches only what changed and
    the table equals a full rebuild, through a corrected lead (its phone changes: the old number's
    activities move, a late call to the new one joins it), a corrected file (a re-delivered
    calls file with one number changed) and a late activity for an old lead."""
    import datetime as dt
    import re

    from orchestration.demo.generator import generate

    generate(settings.landing_dir, leads=300, seed=4, days=6)
    day_of = re.compile(r"_(\d{4}-\d{2}-\d{2})\.")
    days = sorted({dt.date.fromisoformat(m.group(1)) for p in settings.landing_dir.rglob("*")
                   if (m := day_of.search(p.name))})
    con = duckdb.connect(str(settings.warehouse_path))
    runs = []

    def load_day(day: dt.date, step: int) -> None:
        for entity in ("leads", "calls", "sms", "emails"):
            ingest_entity(con, settings, entity, (day, day), load_time=LOAD_TIME + dt.timedelta(minutes=step))
        runs.append(build_matches(con, slice_activities=50))  # in slices, as at scale
        incremental = _matches(con)
        assert build_matches(con, full=True).mode == "full"
        assert incremental == _matches(con), f"day {day}: incremental matching differs from the full rebuild"

    # A call that names, by CRM id, a lead delivered only three days later.
    write(settings, f"calls/calls_extra_{days[0]}.csv", "call_id,started_at,direction,from_number,to_number,lead_id\n"
          f"EARLY-1,{days[0]}T09:00:00Z,outbound,+18005550000,+12125550100,L-LATE\n")
    write(settings, f"leads/leads_extra_{days[3]}.csv", f"lead_id,created_at,phone\nL-LATE,{days[0]}T08:00:00Z,\n")
    for step, day in enumerate(days):
        load_day(day, step)
        early = con.execute("SELECT lead_id FROM raw.activity_lead_matches WHERE activity_id = 'EARLY-1'").fetchone()
        assert early == (("L-LATE",) if day >= days[3] else (None,))
    # The second day doubles the rows: all is rematched (MOSTLY_CHANGED); from the third on, only what changed.
    assert [r.mode for r in runs[:2]] == ["full", "full"] and all(r.mode == "incremental" for r in runs[2:])
    assert 0 < sum(runs[-1].rematched.values()) < con.execute("SELECT count(*) FROM raw.activity_lead_matches").fetchone()[0]

    # The first day's lead with the most phone-matched activities gets a new number.
    lead_id, old_phone, activities = con.execute("""
        SELECT m.lead_id, any_value(m.contact_phone_e164), count(*) FROM raw.activity_lead_matches m
        WHERE m.match_method = 'phone' GROUP BY m.lead_id ORDER BY 3 DESC, 1 LIMIT 1""").fetchone()
    created_at = con.execute("SELECT min(created_at) FROM raw.leads WHERE lead_id = ?", [lead_id]).fetchone()[0]
    late = days[-1] + dt.timedelta(days=1)
    write(settings, f"leads/leads_{late}.csv",
          f"lead_id,created_at,phone\n{lead_id},{created_at:%Y-%m-%dT%H:%M:%S}Z,+14155550199\n")
    # A late call to the new number, an hour after the lead was created, in the next day's file.
    write(settings, f"calls/calls_{late}.csv", "call_id,started_at,direction,from_number,to_number,disposition\n"
          f"LATE-1,{created_at + dt.timedelta(hours=1):%Y-%m-%dT%H:%M:%S}Z,outbound,+18005550000,+14155550199,connected\n")
    load_day(late, len(days))
    owner = dict(con.execute("SELECT activity_id, lead_id FROM raw.activity_lead_matches WHERE match_method <> "
                             "'crm_id' AND contact_phone_e164 IN (?, '+14155550199')", [old_phone]).fetchall())
    assert owner.pop("LATE-1") == lead_id
    assert owner and lead_id not in owner.values()  # the old number's activities left the lead
    assert runs[-1].mode == "incremental" and sum(runs[-1].rematched.values()) >= activities

    # A corrected file: the second day's calls again, the first outbound call to another lead's
    # number, the last call withdrawn.
    path = next((settings.landing_dir / "calls").glob(f"calls_{days[1]}.*"))
    header, *rows = _csv_rows(path)
    col = {name: i for i, name in enumerate(header)}
    other_lead, other = con.execute("SELECT lead_id, phone_e164 FROM raw.leads WHERE phone_e164 IS NOT NULL "
                                    "AND lead_id <> ? ORDER BY lead_id LIMIT 1", [lead_id]).fetchone()
    changed = next(r for r in rows if r[col["direction"]] == "outbound" and not r[col["lead_id"]])
    changed[col["to_number"]] = other
    withdrawn = rows.pop()[col["call_id"]]
    _write_csv(path, [header, *rows])
    load_day(days[1], len(days) + 1)
    assert runs[-1].mode == "incremental"
    got = dict(con.execute("SELECT activity_id, lead_id FROM raw.activity_lead_matches WHERE activity_id IN (?, ?)",
                           [changed[col["call_id"]], withdrawn]).fetchall())
    assert got == {changed[col["call_id"]]: other_lead}

    # A corrected leads file: a lead delivered once, whose activities matched by phone, now with
    # another number (its earlier row is gone: only the loader's retraction log remembers it).
    source, moved_lead = con.execute("""
        SELECT any_value(l._source_file), l.lead_id FROM raw.leads l JOIN raw.activity_lead_matches m
          ON m.lead_id = l.lead_id AND m.match_method = 'phone'
        GROUP BY l.lead_id HAVING count(DISTINCT l._source_file) = 1 ORDER BY count(*) DESC, 2 LIMIT 1""").fetchone()
    path = settings.landing_dir / source
    header, *rows = _csv_rows(path)
    col = {name: i for i, name in enumerate(header)}
    next(r for r in rows if r[col["lead_id"]] == moved_lead)[col["phone"]] = "+14155550177"
    _write_csv(path, [header, *rows])
    day = dt.date.fromisoformat(day_of.search(path.name).group(1))
    load_day(day, len(days) + 2)
    assert runs[-1].mode == "incremental"
    assert con.execute("SELECT count(*) FROM raw.activity_lead_matches WHERE lead_id = ? AND match_method = 'phone'",
                       [moved_lead]).fetchone()[0] == 0


def test_a_reload_of_most_rows_rebuilds_all_matches(settings):
    """Incremental only while it pays: when most input rows are new since the last matching (a
    first big backfill after a small start), one full pass replaces deleting and re-inserting."""
    write(settings, "leads/leads_2026-11-01.csv", "lead_id,created_at,phone\nL1,2026-11-01T09:00:00Z,+14155550123\n")
    write(settings, "calls/calls_2026-11-01.csv", "call_id,started_at,direction,from_number,to_number\n"
          "C1,2026-11-01T09:01:00Z,outbound,+18005550000,+14155550123\n")
    con = _ingested(settings)
    assert build_matches(con).mode == "full"
    rows = "".join(f"C{i},2026-11-02T09:0{i % 10}:00Z,outbound,+18005550000,+14155550123\n" for i in range(2, 6))
    write(settings, "calls/calls_2026-11-02.csv", "call_id,started_at,direction,from_number,to_number\n" + rows)
    import datetime as dt
    ingest_entity(con, settings, "calls", load_time=LOAD_TIME + dt.timedelta(hours=1))
    run = build_matches(con)
    assert (run.mode, run.reason) == ("full", "most rows changed since the previous matching")
    assert con.execute("SELECT count(*) FROM raw.activity_lead_matches WHERE lead_id = 'L1'").fetchone()[0] == 5
