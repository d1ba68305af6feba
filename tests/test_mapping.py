"""sources.yaml mappings: renames, value maps, formats, scale, constants, drops, file patterns,
and validation errors that name the file, the key and what is allowed."""

from __future__ import annotations

import datetime as dt
import textwrap

import duckdb
import pytest

from orchestration.ingest.mapping import MappingError, load_sources
from orchestration.ingest.service import ingest_entity
from tests.helpers import LOAD_TIME


def write(settings, relpath: str, content: str):
    path = settings.landing_dir / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(content).lstrip())
    return path


def load(settings, entity):
    con = duckdb.connect(str(settings.warehouse_path))
    return con, ingest_entity(con, settings, entity, load_time=LOAD_TIME)


def test_vendor_leads_with_letter_grades_and_us_dates(settings):
    write(settings, "sources.yaml", """
        crm: {timezone: America/Chicago}
        extracts:
          leads:
            files: ["export/Lead Report*.csv"]
            rename: {Lead ID: lead_id, Created Date: created_at, Lead Source: source, Grade: score_tier,
                     Mobile: phone, Internal Notes: first_name}
            values:
              score_tier: {A: hot, B: warm, C: cold}
              source: {Web: web_form, "Trade Show": event}
            timestamp_formats: {created_at: "%m/%d/%Y %I:%M %p"}
            constants: {country: US}
            drop: [Internal Notes]
    """)
    write(settings, "export/Lead Report 2026-11-02.csv", """
        Lead ID,Created Date,Lead Source,Grade,Mobile,Internal Notes,Owner Alias
        00Q1,11/01/2026 1:05 AM,Web,A,(312) 555-0101,call her,jdoe
        00Q2,11/01/2026 2:30 PM,trade show,c,312.555.0102,,jdoe
        00Q3,13/45/2026 2:30 PM,Partner,B,,,jdoe
    """)
    con, result = load(settings, "leads")
    rows = con.execute("SELECT lead_id, created_at, source, score_tier, phone_e164, first_name, country, _source_file "
                       "FROM raw.leads ORDER BY lead_id").fetchall()
    assert rows == [
        # 01:05 CDT (UTC-5, before the 2026-11-01 02:00 fall-back) and 14:30 CST (UTC-6)
        ("00Q1", dt.datetime(2026, 11, 1, 6, 5), "web_form", "hot", "+13125550101", None, "US",
         "export/Lead Report 2026-11-02.csv"),
        ("00Q2", dt.datetime(2026, 11, 1, 20, 30), "event", "cold", "+13125550102", None, "US",
         "export/Lead Report 2026-11-02.csv"),
    ]
    # An unparseable vendor date keeps its original text, so the quarantine shows what was sent.
    assert con.execute("SELECT reason, column_name, detail FROM raw.quarantine").fetchall() == [
        ("invalid_value", "created_at", "'13/45/2026 2:30 PM' is not " + _timestamp_words(con))]
    assert result.ignored_columns == {"export/Lead Report 2026-11-02.csv": ["Owner Alias"]}


def _timestamp_words(con) -> str:
    detail = con.execute("SELECT detail FROM raw.quarantine").fetchone()[0]
    return detail.split(" is not ", 1)[1]


def test_call_log_with_vendor_vocabulary_scale_and_epoch(settings):
    write(settings, "sources.yaml", """
        extracts:
          calls:
            files: ["dialer/*.jsonl"]
            rename: {id: call_id, startedAt: started_at, dir: direction, result: disposition, ms: duration_seconds,
                     customer: to_number}
            values:
              direction: {outbound-api: outbound, out: outbound, in: inbound}
              disposition: {completed: connected, no-answer: no_answer, canceled: cancelled}
            scale: {duration_seconds: 0.001}
    """)
    write(settings, "dialer/log.jsonl", """
        {"id": "c1", "startedAt": 1793523600000, "dir": "outbound-api", "result": "completed", "ms": 61500, "customer": "+1 312 555 0101"}
        {"id": "c2", "startedAt": "2026-11-01T09:00:00Z", "dir": "IN", "result": "no-answer", "ms": null}
        {"id": "c3", "startedAt": "2026-11-01T09:00:00Z", "dir": "out", "result": "exploded"}
    """)
    con, result = load(settings, "calls")
    assert con.execute("SELECT call_id, started_at, direction, disposition, duration_seconds, to_number_e164 "
                       "FROM raw.calls ORDER BY call_id").fetchall() == [
        ("c1", dt.datetime(2026, 11, 1, 9, 0), "outbound", "connected", 62, "+13125550101"),
        ("c2", dt.datetime(2026, 11, 1, 9, 0), "inbound", "no_answer", None, None),
    ]
    (reason, column, detail), = con.execute("SELECT reason, column_name, detail FROM raw.quarantine").fetchall()
    assert (reason, column) == ("invalid_value", "disposition") and "exploded" in detail


def test_two_exports_of_one_kind_with_their_own_mappings(settings):
    write(settings, "sources.yaml", """
        extracts:
          sms:
            - files: ["vendor_a/*.csv"]
              rename: {Msg: message_id, Sent: sent_at, Dir: direction}
            - files: ["vendor_b/*.csv"]
              rename: {uid: message_id, ts: sent_at}
              constants: {direction: outbound}
    """)
    write(settings, "vendor_a/a.csv", "Msg,Sent,Dir\nA1,2026-11-01T09:00:00Z,inbound\n")
    write(settings, "vendor_b/b.csv", "uid,ts\nB1,2026-11-01T09:01:00Z\n")
    con, _ = load(settings, "sms")
    assert con.execute("SELECT message_id, direction FROM raw.sms ORDER BY 1").fetchall() == \
        [("A1", "inbound"), ("B1", "outbound")]


@pytest.mark.parametrize("yaml_text,key,allowed", [
    ("extracts:\n  leeds: {}\n", "extracts.leeds", "leads"),
    ("extracts:\n  leads: {renames: {}}\n", "extracts.leads", "rename"),
    ("extracts:\n  leads: {rename: {Id: lead_key}}\n", "extracts.leads.rename.Id", "lead_id"),
    ("extracts:\n  calls: {values: {dispo: {a: b}}}\n", "extracts.calls.values.dispo", "disposition"),
    ("extracts:\n  calls: {scale: {direction: 2}}\n", "extracts.calls.scale.direction", "not a number"),
    ("extracts:\n  leads: {timezone: Mars/Olympus}\n", "extracts.leads.timezone", "IANA"),
    ("crm: {timezone: EST5}\nextracts: {}\nbogus: 1\n", "bogus", "allowed"),
    ("extracts:\n  leads: {preset: nosuchvendor}\n", "preset", "unknown preset"),
    ("extracts:\n  leads: {timestamp_formats: {created_at: \"%Y-%m-%d %H:%M %Z\"}}\n", "timestamp_formats.created_at", "%z"),
])
def test_mapping_errors_name_file_key_and_allowed_values(settings, yaml_text, key, allowed):
    (settings.landing_dir / "sources.yaml").write_text(yaml_text)
    with pytest.raises(MappingError) as err:
        load_sources(settings.landing_dir, {}, "UTC")
    message = str(err.value)
    assert str(settings.landing_dir / "sources.yaml") in message
    assert key in message and allowed in message
