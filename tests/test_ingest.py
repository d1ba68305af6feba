"""Ingestion from the landing directory: contract, quarantine reasons, accounting, idempotency."""

from __future__ import annotations

import datetime as dt
import gzip
import os

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestration.ingest.batches import ContractError
from orchestration.ingest.service import ingest_entity
from tests.helpers import LOAD_TIME, write

LEADS_HEADER = "lead_id,created_at,form_submitted_at,source,score,phone,email,country"


def ingest(settings, entity, con=None, **kw):
    con = con or duckdb.connect(str(settings.warehouse_path))
    return con, ingest_entity(con, settings, entity, load_time=LOAD_TIME, **kw)


def quarantine(con):
    return con.execute("SELECT source_row, reason, column_name, detail FROM raw.quarantine "
                       "ORDER BY source_file, source_row NULLS LAST").fetchall()


def test_each_quarantine_reason_with_its_column(settings):
    write(settings, "leads/leads_2026-11-01.csv", "\n".join([
        LEADS_HEADER,
        "L1,2026-11-01T09:00:00Z,,web,50,,,",          # good
        ",2026-11-01T09:00:00Z,,web,50,,,",            # missing lead_id
        "L3,2026-11-01T09:00:00Z,,web,high,,,",        # score not an integer
        "L4,2026-11-01T09:00:00Z,,web,140,,,",         # score above 100
        "L5,2099-01-01T00:00:00Z,,web,50,,,",          # future-dated
        "L6,2026-11-01T09:00:00Z,x,web",               # too few fields
        "L1,2026-11-01T10:00:00Z,,web,50,,,",          # duplicate key in this file
        "L8,not a date,,web,50,,,",                    # unparseable timestamp
    ]) + "\n")
    write(settings, "calls/calls_2026-11-01.csv", "\n".join([
        "call_id,started_at,answered_at,ended_at,direction,disposition",
        "C1,2026-11-01T09:00:00Z,2026-11-01T09:00:05Z,2026-11-01T09:03:00Z,outbound,connected",
        "C2,2026-11-01T09:00:00Z,,2026-11-01T08:59:00Z,outbound,no_answer",   # ended before started
        "C3,2026-11-01T09:00:00Z,,,sideways,no_answer",                         # direction not allowed
        "C4,2026-11-01T09:00:00Z,,,outbound,hung_up",                           # disposition not allowed
    ]) + "\n")
    con, leads = ingest(settings, "leads")
    assert quarantine(con) == [
        (2, "missing_required_value", "lead_id", "required value is empty"),
        (3, "invalid_value", "score", "'high' is not a whole number"),
        (4, "invalid_value", "score", "140 is above the maximum 100"),
        (5, "future_timestamp", "created_at", "2099-01-01T00:00:00.000Z is after the load time 2026-11-20 12:00:00.000000Z"),
        (6, "duplicate_key", "lead_id", "same key as an earlier row of this file"),
        (7, "invalid_value", "created_at", "'not a date' is not an ISO-8601 timestamp (offset-aware preferred) or epoch seconds/milliseconds"),
        (None, "malformed_row", None, "MISSING COLUMNS: Expected Number of Columns: 8 Found: 4"),
    ]
    assert con.execute("SELECT lead_id FROM raw.leads").fetchall() == [("L1",)]
    (f,) = leads.files
    assert (f.rows_read, f.rows_loaded, f.rows_quarantined) == (8, 1, 7)
    malformed_line = con.execute("SELECT source_line, raw_record FROM raw.quarantine WHERE reason = 'malformed_row'").fetchone()
    assert malformed_line == (7, "L6,2026-11-01T09:00:00Z,x,web")

    con.execute("DELETE FROM raw.quarantine")
    _, calls = ingest(settings, "calls", con)
    assert quarantine(con) == [
        (2, "negative_duration", "ended_at", "ended_at is before started_at"),
        (3, "invalid_value", "direction", "'sideways' is not one of inbound, outbound"),
        (4, "invalid_value", "disposition", "'hung_up' is not one of connected, voicemail, no_answer, busy, failed, cancelled"),
    ]
    assert calls.reasons() == {"invalid_value": 2, "negative_duration": 1}


def test_jsonl_malformed_lines_and_missing_keys(settings):
    write(settings, "sms/sms_2026-11-01.jsonl", "\n".join([
        '{"message_id": "m1", "sent_at": "2026-11-01T09:00:00.250Z", "direction": "outbound", "is_automated": true}',
        '{"message_id": "m2", "sent_at": "2026-11-01T09:00:00Z"',       # truncated object
        '["not", "an", "object"]',
        '{"message_id": "m4", "direction": "inbound"}',                 # sent_at key left out
        "",
        '{"message_id": "m5", "sent_at": 1793523600123, "direction": "inbound", "is_automated": "no"}',
    ]) + "\n")
    con, result = ingest(settings, "sms")
    rows = con.execute("SELECT source_row, source_line, reason, column_name FROM raw.quarantine ORDER BY source_line").fetchall()
    assert rows == [(2, 2, "malformed_row", None), (3, 3, "malformed_row", None), (4, 4, "missing_required_value", "sent_at")]
    loaded = con.execute("SELECT message_id, sent_at, is_automated FROM raw.sms ORDER BY message_id").fetchall()
    assert loaded == [("m1", dt.datetime(2026, 11, 1, 9, 0, 0, 250000), True),
                      ("m5", dt.datetime(2026, 11, 1, 9, 0, 0, 123000), False)]
    assert (result.total("rows_read"), result.total("rows_loaded"), result.total("rows_quarantined")) == (5, 2, 3)


def test_bom_crlf_gzip_and_parquet_read_like_plain_csv(settings):
    body = LEADS_HEADER + "\nL1,2026-11-01T09:00:00.123Z,,web,50,(415) 555-0123,A@X.com,US\nL2,2026-11-02 08:00:00,,ads,10,,,\n"
    write(settings, "leads_plain.csv", body)
    write(settings, "leads_bom_crlf.csv", b"\xef\xbb\xbf" + body.replace("\n", "\r\n").encode())
    write(settings, "leads_gz.csv.gz", gzip.compress(body.encode()))
    table = pa.table({"lead_id": ["L1", "L2"], "created_at": ["2026-11-01T09:00:00.123Z", "2026-11-02 08:00:00"],
                      "source": ["web", "ads"], "score": [50, 10], "phone": ["(415) 555-0123", None],
                      "email": ["A@X.com", None], "country": ["US", None]})
    pq.write_table(table, settings.landing_dir / "leads_parquet.parquet")
    con, result = ingest(settings, "leads")
    assert {f.identity: (f.rows_read, f.rows_loaded) for f in result.files} == {
        "leads_plain.csv": (2, 2), "leads_bom_crlf.csv": (2, 2), "leads_gz.csv.gz": (2, 2), "leads_parquet.parquet": (2, 2)}
    per_file = con.execute("""
        SELECT _source_file, list(struct_pack(lead_id, created_at, score, phone_e164, email_normalized) ORDER BY lead_id)
        FROM raw.leads GROUP BY 1""").fetchall()
    values = {name: rows for name, rows in per_file}
    assert len({str(v) for v in values.values()}) == 1, values
    first = values["leads_plain.csv"][0]
    assert first == {"lead_id": "L1", "created_at": dt.datetime(2026, 11, 1, 9, 0, 0, 123000), "score": 50,
                     "phone_e164": "+14155550123", "email_normalized": "a@x.com"}


def test_empty_file_and_header_only(settings):
    write(settings, "leads_2026-11-01.csv", b"")
    write(settings, "leads_2026-11-02.csv", LEADS_HEADER + "\n")
    con, result = ingest(settings, "leads")
    status = {f.identity: (f.status, f.rows_read) for f in result.files}
    assert status == {"leads_2026-11-01.csv": ("empty", 0), "leads_2026-11-02.csv": ("loaded", 0)}
    assert con.execute("SELECT source_file, reason FROM raw.quarantine").fetchall() == [("leads_2026-11-01.csv", "empty_file")]


@pytest.mark.parametrize("name, content, problem, column", [
    ("leads_missing.csv", "lead_id,source\nL1,web\n", "missing required column", "created_at"),
    ("leads.xlsx", "PK\x03\x04 not really", "unsupported file format", None),
    ("leads_latin1.csv", b"lead_id,created_at,source\nL1,2026-11-01,caf\xe9\n", "unreadable", None),
    ("leads_broken.parquet", b"PAR1 this is not parquet", "unreadable Parquet", None),
])
def test_file_level_errors_name_the_file_and_leave_the_warehouse_as_it_was(settings, name, content, problem, column):
    write(settings, "leads_good.csv", LEADS_HEADER + "\nL1,2026-11-01T09:00:00Z,,web,50,,,\n")
    con, _ = ingest(settings, "leads")
    before = con.execute("SELECT count(*) FROM raw.leads").fetchone(), con.execute("SELECT count(*) FROM raw.ingested_files").fetchone()
    write(settings, "leads_good.csv", LEADS_HEADER + "\nL1,2026-11-01T09:00:00Z,,web,50,,,\nL2,2026-11-01T09:00:00Z,,web,50,,,\n")
    write(settings, name, content)
    with pytest.raises(ContractError) as error:
        ingest(settings, "leads", con)
    assert error.value.file == name and problem in error.value.problem and error.value.column == column
    assert name in str(error.value)
    after = con.execute("SELECT count(*) FROM raw.leads").fetchone(), con.execute("SELECT count(*) FROM raw.ingested_files").fetchone()
    assert after == before  # the changed good file did not land either: one transaction


def test_reingesting_the_same_file_changes_nothing_and_a_corrected_file_replaces_it(settings):
    path = write(settings, "calls/calls_2026-11-01.csv", "\n".join([
        "call_id,started_at,direction,disposition",
        "C1,2026-11-01T09:00:00Z,outbound,connected",
        "C2,2026-11-01T09:05:00Z,outbound,bogus",
    ]) + "\n")
    con, first = ingest(settings, "calls")
    snapshot = lambda: (con.execute("SELECT * EXCLUDE (_loaded_at, _load_id) FROM raw.calls ORDER BY ALL").fetchall(),
                        con.execute("SELECT source_file, source_row, reason FROM raw.quarantine ORDER BY ALL").fetchall())
    state = snapshot()
    _, second = ingest(settings, "calls", con)
    assert [f.status for f in second.files] == ["unchanged"] and snapshot() == state
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))  # touched, same bytes
    _, third = ingest(settings, "calls", con)
    assert [f.status for f in third.files] == ["unchanged"] and snapshot() == state

    write(settings, "calls/calls_2026-11-01.csv", "\n".join([
        "call_id,started_at,direction,disposition",
        "C1,2026-11-01T09:00:00Z,outbound,voicemail",
        "C2,2026-11-01T09:05:00Z,outbound,no_answer",
    ]) + "\n")
    _, fourth = ingest(settings, "calls", con)
    assert [(f.status, f.rows_loaded, f.rows_quarantined) for f in fourth.files] == [("replaced", 2, 0)]
    assert con.execute("SELECT call_id, disposition FROM raw.calls ORDER BY 1").fetchall() == [("C1", "voicemail"), ("C2", "no_answer")]
    assert con.execute("SELECT count(*) FROM raw.quarantine").fetchone() == (0,)
    history = con.execute("SELECT status FROM raw.load_history ORDER BY loaded_at, status").fetchall()
    assert [h[0] for h in history] == ["loaded", "replaced"]


def test_partition_window_picks_dated_files_and_every_snapshot(settings):
    for day in ("2026-11-01", "2026-11-02"):
        write(settings, f"calls/calls_{day}.csv", f"call_id,started_at,direction\nC{day},{day}T09:00:00Z,outbound\n")
    write(settings, "teams.csv", "team_id,timezone\nT1,Europe/Berlin\nT2,Mars/Olympus\n")
    con, calls = ingest(settings, "calls", window=(dt.date(2026, 11, 2), dt.date(2026, 11, 2)))
    assert [f.identity for f in calls.files] == ["calls/calls_2026-11-02.csv"]
    assert con.execute("SELECT _extract_date FROM raw.calls").fetchall() == [(dt.date(2026, 11, 2),)]
    _, teams = ingest(settings, "teams", con, window=(dt.date(2026, 11, 2), dt.date(2026, 11, 2)))
    assert teams.reasons() == {"invalid_value": 1}  # Mars/Olympus is no IANA zone


def test_rows_read_equals_loaded_plus_quarantined_for_every_file(settings):
    import random

    rng = random.Random(3)
    lines = [LEADS_HEADER]
    for i in range(500):
        kind = rng.random()
        created = f"2026-10-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:00:00Z"
        if kind < 0.05:
            lines.append(f"L{i},{created}")                      # malformed
        elif kind < 0.1:
            lines.append(f"L{i},{created},,web,abc,,,")          # invalid
        elif kind < 0.15:
            lines.append(f"L{i - 1},{created},,web,1,,,")        # maybe a duplicate
        else:
            lines.append(f"L{i},{created},,web,{rng.randint(0, 100)},,,")
    write(settings, "leads_random.csv", "\n".join(lines) + "\n")
    con, result = ingest(settings, "leads")
    (f,) = result.files
    assert f.rows_read == 500 == f.rows_loaded + f.rows_quarantined
    assert con.execute("SELECT count(*) FROM raw.leads").fetchone()[0] == f.rows_loaded
    assert con.execute("SELECT count(*) FROM raw.quarantine").fetchone()[0] == f.rows_quarantined
    assert con.execute("SELECT rows_read, rows_loaded, rows_quarantined FROM raw.ingested_files").fetchone() == (
        f.rows_read, f.rows_loaded, f.rows_quarantined)


# ---------------------------------------------------------------- slices


def _warehouse_rows(con):
    """Every raw row, rejected row and file record, without the load's id and time."""
    return {
        "leads": con.execute("SELECT * EXCLUDE (_load_id, _loaded_at) FROM raw.leads ORDER BY ALL").fetchall(),
        "sms": con.execute("SELECT * EXCLUDE (_load_id, _loaded_at) FROM raw.sms ORDER BY ALL").fetchall(),
        "quarantine": con.execute("SELECT * EXCLUDE (load_id, quarantined_at) FROM raw.quarantine ORDER BY ALL").fetchall(),
        "files": con.execute("SELECT * EXCLUDE (load_id, loaded_at) FROM raw.ingested_files ORDER BY ALL").fetchall(),
    }


def _mixed_extracts(settings):
    for day in range(1, 4):
        write(settings, f"leads/leads_2026-11-0{day}.csv", "\n".join([
            LEADS_HEADER,
            f"A{day},2026-11-0{day}T09:00:00Z,,web,50,(415) 555-01{day}0,a{day}@x.com,US",
            f"B{day},2026-11-0{day} 08:00:00,,ads,abc,,,",      # invalid score
            f"A{day},2026-11-0{day}T10:00:00Z,,web,1,,,",       # duplicate key in this file
            f"C{day},2026-11-0{day}T09:00:00Z",                 # malformed
            f"D{day},2026-11-0{day}T11:00:00Z,,web,7,,,",
        ]) + "\n")
        write(settings, f"sms/sms_2026-11-0{day}.jsonl", "\n".join([
            f'{{"message_id": "m{day}", "sent_at": "2026-11-0{day}T09:00:00Z", "direction": "outbound"}}',
            '{"message_id": "broken"',
            f'{{"message_id": "m{day}", "sent_at": "2026-11-0{day}T09:05:00Z", "direction": "outbound"}}',
        ]) + "\n")
    table = pa.table({"lead_id": ["P1", "P2", "P1"], "created_at": ["2026-11-04T09:00:00Z"] * 3,
                      "source": ["web", "web", "ads"], "score": [1, 2, 3]})
    pq.write_table(table, settings.landing_dir / "leads" / "leads_2026-11-04.parquet")


def test_slices_load_exactly_what_one_slice_loads(settings, tmp_path, monkeypatch):
    """Every file its own slice (a one-byte slice size) gives the same rows, rejects and
    accounting as everything in one slice."""
    from orchestration.ingest import loader, validation

    _mixed_extracts(settings)
    whole = duckdb.connect(str(tmp_path / "whole.duckdb"))
    ingest(settings, "leads", whole)
    ingest(settings, "sms", whole)

    slices = []
    real = validation.validate_and_insert
    monkeypatch.setattr(validation, "validate_and_insert", lambda *a, **k: slices.append(1) or real(*a, **k))
    monkeypatch.setattr(loader, "SLICE_BYTES", 1)
    sliced = duckdb.connect(str(tmp_path / "sliced.duckdb"))
    _, leads = ingest(settings, "leads", sliced)
    _, sms = ingest(settings, "sms", sliced)
    assert len(slices) == 4 + 3  # one per file
    assert _warehouse_rows(sliced) == _warehouse_rows(whole)
    assert {f.identity: (f.rows_read, f.rows_loaded) for f in leads.files} == {
        "leads/leads_2026-11-01.csv": (5, 2), "leads/leads_2026-11-02.csv": (5, 2), "leads/leads_2026-11-03.csv": (5, 2),
        "leads/leads_2026-11-04.parquet": (3, 2)}
    assert sms.reasons() == {"duplicate_key": 3, "malformed_row": 3}


def test_a_bad_file_in_a_later_slice_rolls_back_the_earlier_slices(settings, monkeypatch):
    from orchestration.ingest import loader, validation

    slices = []
    real = validation.validate_and_insert
    monkeypatch.setattr(validation, "validate_and_insert", lambda *a, **k: slices.append(1) or real(*a, **k))
    monkeypatch.setattr(loader, "SLICE_BYTES", 1)
    for day in range(1, 4):
        write(settings, f"leads/leads_2026-11-0{day}.csv", f"{LEADS_HEADER}\nL{day},2026-11-01T09:00:00Z,,web,50,,,\n")
    # A gzip file cut short: its header reads, so it is only found out when DuckDB reads it, in
    # the last slice.
    body = LEADS_HEADER + "\n" + "".join(f"G{i},2026-11-01T09:00:00Z,,web,50,,,\n" for i in range(50_000))
    packed = gzip.compress(body.encode())
    write(settings, "leads/leads_2026-11-04.csv.gz", packed[: len(packed) // 2])
    con = duckdb.connect(str(settings.warehouse_path))
    with pytest.raises(ContractError) as error:
        ingest(settings, "leads", con)
    assert error.value.file == "leads/leads_2026-11-04.csv.gz" and "unreadable" in error.value.problem
    assert len(slices) == 3  # three slices were validated and inserted before the bad one was read
    for table in ("raw.leads", "raw.quarantine", "raw.ingested_files", "raw.load_history"):
        assert con.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,), table
    (settings.landing_dir / "leads/leads_2026-11-04.csv.gz").unlink()
    _, result = ingest(settings, "leads", con)  # the connection has no aborted transaction left
    assert result.total("rows_loaded") == 3


def test_mixed_line_endings_in_a_later_slice_restart_the_load_once(settings, monkeypatch):
    from orchestration.ingest import loader

    attempts = []
    real = loader._load_slices
    monkeypatch.setattr(loader, "_load_slices", lambda *a, **k: attempts.append(1) or real(*a, **k))
    monkeypatch.setattr(loader, "SLICE_BYTES", 1)
    write(settings, "leads/leads_2026-11-01.csv", f"{LEADS_HEADER}\nL1,2026-11-01T09:00:00Z,,web,50,,,\n")
    write(settings, "leads/leads_2026-11-02.csv",
          f"{LEADS_HEADER}\r\nL2,2026-11-02T09:00:00Z,,web,50,,,US\nL3,2026-11-02T09:00:00Z,,web,50,,,US\r\n")
    write(settings, "leads/leads_2026-11-03.csv", LEADS_HEADER + "\r\nL4,2026-11-03T09:00:00Z,,web,50,,,\r\n")
    con, result = ingest(settings, "leads")
    assert len(attempts) == 2  # the parser stopped on the mixed file once; the load restarted once
    assert {f.identity: f.rows_loaded for f in result.files} == {
        "leads/leads_2026-11-01.csv": 1, "leads/leads_2026-11-02.csv": 2, "leads/leads_2026-11-03.csv": 1}
    assert con.execute("SELECT lead_id, _source_row FROM raw.leads ORDER BY 1").fetchall() == [
        ("L1", 1), ("L2", 1), ("L3", 2), ("L4", 1)]
    assert con.execute("SELECT count(*) FROM raw.ingested_files").fetchone() == (3,)


def test_csv_files_read_in_one_statement_keep_their_own_rows_numbers_and_rejects(settings):
    """Files with one header are read by one scan: every row keeps its file and its row number
    in that file (rows as parsed; a rejected line is named by its line), a rejected line is counted against its own file, and a source column named
    like the scan's file column is an ordinary (ignored) column."""
    header = LEADS_HEADER + ",filename"
    write(settings, "leads/leads_2026-11-01.csv", f"{header}\nA1,2026-11-01T09:00:00Z,,web,1,,,,x\n"
                                                  "A2,2026-11-01T09:00:00Z,,web,2,,,,x\n")
    write(settings, "leads/leads_2026-11-02.csv", f"{header}\nB1,2026-11-02T09:00:00Z,,web,1,,,,x\nBROKEN,1\n"
                                                  "B3,2026-11-02T09:00:00Z,,web,3,,,,x\nA1,2026-11-02T09:00:00Z,,web,4,,,,x\n")
    write(settings, "leads/leads_2026-11-03.csv", f"{header}\nC1,2026-11-03T09:00:00Z,,web,1,,,,x\n")
    con, result = ingest(settings, "leads")
    assert {f.identity: (f.rows_read, f.rows_loaded, f.rows_quarantined) for f in result.files} == {
        "leads/leads_2026-11-01.csv": (2, 2, 0), "leads/leads_2026-11-02.csv": (4, 3, 1),
        "leads/leads_2026-11-03.csv": (1, 1, 0)}
    assert con.execute("SELECT _source_file, _source_row, lead_id FROM raw.leads ORDER BY 1, 2").fetchall() == [
        ("leads/leads_2026-11-01.csv", 1, "A1"), ("leads/leads_2026-11-01.csv", 2, "A2"),
        ("leads/leads_2026-11-02.csv", 1, "B1"), ("leads/leads_2026-11-02.csv", 2, "B3"),
        ("leads/leads_2026-11-02.csv", 3, "A1"), ("leads/leads_2026-11-03.csv", 1, "C1")]
    assert con.execute("SELECT source_file, source_line, reason FROM raw.quarantine").fetchall() == [
        ("leads/leads_2026-11-02.csv", 3, "malformed_row")]
    assert result.ignored_columns == {f"leads/leads_2026-11-0{d}.csv": ["filename"] for d in (1, 2, 3)}


def test_a_file_that_stops_the_parser_among_others_is_named_or_read_from_an_lf_copy(settings, monkeypatch):
    """One scan over several files fails as a whole: the load restarts with each read alone, so
    an unreadable file is named and a file with mixed line endings is read from an LF copy."""
    from orchestration.ingest import loader

    attempts = []
    real = loader._load_slices
    monkeypatch.setattr(loader, "_load_slices", lambda *a, **k: attempts.append(1) or real(*a, **k))
    for day in (1, 2, 3):
        write(settings, f"leads/leads_2026-11-0{day}.csv", f"{LEADS_HEADER}\nL{day},2026-11-0{day}T09:00:00Z,,web,5,,,\n")
    write(settings, "leads/leads_2026-11-02.csv",
          f"{LEADS_HEADER}\r\nL2,2026-11-02T09:00:00Z,,web,50,,,US\nL5,2026-11-02T09:00:00Z,,web,50,,,US\r\n")
    con, result = ingest(settings, "leads")
    assert con.execute("SELECT lead_id, _source_file, _source_row FROM raw.leads ORDER BY 1").fetchall() == [
        ("L1", "leads/leads_2026-11-01.csv", 1), ("L2", "leads/leads_2026-11-02.csv", 1),
        ("L3", "leads/leads_2026-11-03.csv", 1), ("L5", "leads/leads_2026-11-02.csv", 2)]
    assert len(attempts) == 3  # together; each alone (the mixed file stops the parser); from an LF copy

    rows = "".join(f"T{i},2026-11-04T09:00:00Z,,web,5,,,\n" for i in range(50_000))
    whole = gzip.compress(f"{LEADS_HEADER}\n{rows}".encode())
    write(settings, "leads/leads_2026-11-04.csv.gz", whole[:len(whole) // 2])  # cut off in transfer
    write(settings, "leads/leads_2026-11-05.csv.gz", gzip.compress(f"{LEADS_HEADER}\nL6,2026-11-05T09:00:00Z,,web,5,,,\n".encode()))
    with pytest.raises(ContractError) as error:
        ingest(settings, "leads", con)
    assert error.value.file == "leads/leads_2026-11-04.csv.gz" and "unreadable CSV" in error.value.problem
    assert con.execute("SELECT count(*) FROM raw.leads").fetchone() == (4,)


def test_an_unreadable_jsonl_file_read_with_others_is_named(settings):
    for day in range(1, 4):
        write(settings, f"sms/sms_2026-11-0{day}.jsonl",
              f'{{"message_id": "m{day}", "sent_at": "2026-11-0{day}T09:00:00Z"}}\n')
    write(settings, "sms/sms_2026-11-02.jsonl", b'{"message_id": "m2", "note": "caf\xe9"}\n')
    con = duckdb.connect(str(settings.warehouse_path))
    with pytest.raises(ContractError) as error:
        ingest(settings, "sms", con)
    assert error.value.file == "sms/sms_2026-11-02.jsonl" and "unreadable JSON Lines" in error.value.problem
    assert con.execute("SELECT count(*) FROM raw.sms").fetchone() == (0,)


def test_csv_row_numbers_follow_the_file_in_a_large_file(settings):
    """Parsed rows reach the input in the file's order (their row numbers come from row ids):
    a file large enough for DuckDB to parse in parallel, a rejected line in the middle and a
    duplicate at the end that must lose to its first occurrence."""
    n = 300_000
    rows = [f"L{i},2026-11-01T09:00:00Z,,web,{i % 100},,," for i in range(n)]
    rows.insert(n // 2, "BROKEN,2026-11-01T09:00:00Z")
    rows.append("L5,2026-11-01T10:00:00Z,,web,1,,,")
    write(settings, "leads/leads_2026-11-01.csv", LEADS_HEADER + "\n" + "\n".join(rows) + "\n")
    con, result = ingest(settings, "leads")
    assert (result.total("rows_read"), result.total("rows_loaded")) == (n + 2, n)
    assert con.execute("SELECT count(*) FROM raw.leads WHERE _source_row <> CAST(lead_id[2:] AS BIGINT) + 1"
                       ).fetchone() == (0,)
    assert con.execute("SELECT reason, source_row, source_line FROM raw.quarantine ORDER BY reason").fetchall() == [
        ("duplicate_key", n + 1, None), ("malformed_row", None, n // 2 + 2)]
