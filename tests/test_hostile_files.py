"""Hostile and broken files: every written row is loaded or quarantined (counted here with
Python's csv module, independently of the platform), no phantom rows, errors name their file."""

from __future__ import annotations

import csv
import io

import duckdb
import pytest

from orchestration.ingest.batches import ContractError
from orchestration.ingest.record_count import count_csv_records
from orchestration.ingest.service import ingest_entity
from tests.helpers import LOAD_TIME, write

HEADER = "lead_id,created_at,source,first_name"


def leads_csv(first: int, n: int) -> str:
    rows = [HEADER] + [f"L{i},2026-10-{1 + i % 28:02d}T09:00:00Z,web,\"Name, {i}\"" for i in range(first, first + n)]
    return "\n".join(rows) + "\n"


def load(settings, entity="leads", con=None):
    con = con or duckdb.connect(str(settings.warehouse_path))
    return con, ingest_entity(con, settings, entity, load_time=LOAD_TIME)


def python_records(text: str) -> int:
    return sum(1 for row in csv.reader(io.StringIO(text, newline="")) if row) - 1


def accounting(con):
    return con.execute("SELECT identity, rows_read, rows_loaded, rows_quarantined FROM raw.ingested_files "
                       "ORDER BY identity").fetchall()


@pytest.mark.parametrize("position", [0, 11])
def test_file_cut_inside_a_quoted_field_loses_no_row(settings, position):
    """The broken file sits first or after the tenth file of the entity: same outcome either way."""
    texts = {}
    for i in range(12):
        text = leads_csv(i * 10, 10)
        if i == position:  # cut inside the last row's quoted name: the quote never closes
            text = text[: text.rindex('"Name')] + '"Name, cut'
        texts[f"leads/leads_2026-10-{i + 1:02d}.csv"] = text
        write(settings, f"leads/leads_2026-10-{i + 1:02d}.csv", text)
    con, result = load(settings)
    broken = f"leads/leads_2026-10-{position + 1:02d}.csv"
    for identity, read, loaded, quarantined in accounting(con):
        assert read == loaded + quarantined
        assert read == 10, identity  # counted independently: 10 records per file, the cut one too
        assert quarantined == (1 if identity == broken else 0)
    (reason, line, detail), = con.execute(
        "SELECT reason, source_line, detail FROM raw.quarantine WHERE source_file = ?", [broken]).fetchall()
    assert reason == "malformed_row" and line == 11 and "quote" in detail
    assert con.execute("SELECT count(*) FROM raw.leads").fetchone()[0] == 119


def test_glob_characters_in_file_names_are_literal(settings):
    names = ["leads_2026-10-10.csv", "leads_2026-10-11.csv", "leads_2026-10-16.csv",
             "leads_2026-10-1*.csv", "leads_2026-10-1[6].csv", "leads_2026-10-1?.csv", "leads_{a,b}.csv"]
    for i, name in enumerate(names):
        write(settings, f"leads/{name}", leads_csv(i * 100, 5))
    con, _ = load(settings)
    rows = con.execute("SELECT _source_file, count(*), min(lead_id) FROM raw.leads GROUP BY 1 ORDER BY 1").fetchall()
    assert {r[0]: r[1] for r in rows} == {f"leads/{name}": 5 for name in names}
    assert con.execute("SELECT count(*), count(DISTINCT lead_id) FROM raw.leads").fetchone() == (35, 35)
    # A new file with a pattern-like name is read on its own: no phantom rows from its "matches".
    write(settings, "leads/leads_2026-10-*.csv", leads_csv(900, 3))
    con, result = load(settings, con=con)
    assert result.total("rows_read") == 3
    assert con.execute("SELECT count(*) FROM raw.leads").fetchone()[0] == 38


def test_a_duplicated_column_is_an_error_naming_it(settings):
    write(settings, "leads/leads_2026-10-01.csv", "lead_id,created_at,Source,source\nL1,2026-10-01T09:00:00Z,a,b\n")
    with pytest.raises(ContractError) as err:
        load(settings)
    assert "leads/leads_2026-10-01.csv" in str(err.value) and "'source'" in str(err.value)


def test_mixed_line_endings_load_every_row(settings):
    text = HEADER + "\r\nL1,2026-10-01T09:00:00Z,web,a\nL2,2026-10-01T09:00:00Z,web,b\r\nL3,2026-10-01T09:00:00Z,web,\"c\r\nd\"\n"
    write(settings, "leads/leads_2026-10-01.csv", text)
    con, result = load(settings)
    read, loaded, quarantined = result.total("rows_read"), result.total("rows_loaded"), result.total("rows_quarantined")
    assert read == python_records(text) == 3
    assert loaded + quarantined == 3
    assert con.execute("SELECT count(*) FROM raw.leads").fetchone()[0] + \
        con.execute("SELECT count(*) FROM raw.quarantine").fetchone()[0] == 3


def test_a_bad_file_is_named_and_nothing_of_the_entity_is_half_loaded(settings):
    write(settings, "leads/leads_2026-10-01.csv", leads_csv(0, 4))
    write(settings, "leads/leads_2026-10-02.csv", "lead_id,source\nL9,web\n")  # no created_at
    con = duckdb.connect(str(settings.warehouse_path))
    with pytest.raises(ContractError) as err:
        load(settings, con=con)
    assert str(err.value).startswith("leads/leads_2026-10-02.csv: missing required column")
    assert "created_at" in str(err.value)
    assert con.execute("SELECT count(*) FROM raw.leads").fetchone()[0] == 0
    # The same connection still works (no aborted transaction left behind).
    (settings.landing_dir / "leads/leads_2026-10-02.csv").unlink()
    _, result = load(settings, con=con)
    assert result.total("rows_loaded") == 4


def test_a_jsonl_gz_that_is_not_gzip_names_its_file(settings):
    write(settings, "sms/sms_2026-10-01.jsonl.gz", b'{"message_id": "S1"}\n')
    with pytest.raises(ContractError) as err:
        load(settings, "sms")
    assert "sms/sms_2026-10-01.jsonl.gz" in str(err.value) and "gzip" in str(err.value)


def test_far_future_appointment_is_quarantined(settings):
    write(settings, "appointments/appointments_2026-10-01.csv", "\n".join([
        "appointment_id,lead_id,booked_at,scheduled_start_at,status",
        "A1,L1,2026-10-01T09:00:00Z,2026-12-01T09:00:00Z,scheduled",
        "A2,L1,2026-10-01T09:00:00Z,2031-01-01T09:00:00Z,scheduled",
    ]) + "\n")
    con, result = load(settings, "appointments")
    assert result.total("rows_loaded") == 1
    assert con.execute("SELECT reason, column_name FROM raw.quarantine").fetchall() == \
        [("future_timestamp", "scheduled_start_at")]


@pytest.mark.parametrize("text,records", [
    ("a,b\n", 0),
    ("a,b\n1,2\n\n3,4", 2),
    ('a,b\n"x\ny",2\r\n"q""q",3\r\n', 2),
    ('a,b\n1,"open\n2,3\n', 1),
])
def test_independent_record_count(tmp_path, text, records):
    path = tmp_path / "f.csv"
    path.write_bytes(text.encode())
    assert count_csv_records(path).records == records


def test_glob_characters_are_literal_for_json_lines_and_parquet(settings):
    import pyarrow as pa
    import pyarrow.parquet as pq

    for name in ("sms_2026-10-1*.jsonl", "sms_2026-10-10.jsonl", "sms_[a].jsonl"):
        write(settings, f"sms/{name}", f'{{"message_id": "{name}", "sent_at": "2026-10-10T09:00:00Z", '
                                       '"direction": "outbound"}\n')
    for name in ("opportunities_?.parquet", "opportunities_1.parquet"):
        path = settings.landing_dir / "opportunities" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({"opportunity_id": [name], "lead_id": ["L1"], "created_at": ["2026-10-10T09:00:00Z"]}),
                       path)
    con, _ = load(settings, "sms")
    load(settings, "opportunities", con=con)
    assert sorted(r[0] for r in con.execute("SELECT message_id FROM raw.sms").fetchall()) == \
        ["sms_2026-10-1*.jsonl", "sms_2026-10-10.jsonl", "sms_[a].jsonl"]
    assert sorted(r[0] for r in con.execute("SELECT opportunity_id FROM raw.opportunities").fetchall()) == \
        ["opportunities_1.parquet", "opportunities_?.parquet"]


def test_a_header_only_snapshot_redelivered_loads_as_empty(settings):
    write(settings, "schedules/schedules.csv", "team_id,weekday,start_local,end_local\nT1,1,09:00,17:00\n")
    con, _ = load(settings, "schedules")
    write(settings, "schedules/schedules.csv", "team_id,weekday,start_local,end_local\n")
    _, result = load(settings, "schedules", con=con)
    assert (result.total("rows_read"), result.total("rows_loaded")) == (0, 0)
    assert con.execute("SELECT count(*) FROM raw.schedules").fetchone()[0] == 0


def _reference_count(data: bytes) -> tuple[int, bool, int, int]:
    """The record rules byte by byte, in plain Python: the count the vectorised one must give."""
    in_quotes, records, lines, has_bytes = False, 0, 0, False
    start_line, start_offset = 1, 0
    for i, b in enumerate(data):
        if b == 0x22:
            in_quotes = not in_quotes
        if b == 0x0A:
            lines += 1
            if not in_quotes:
                records += has_bytes
                has_bytes, start_line, start_offset = False, lines + 1, i + 1
        elif b != 0x0D:
            has_bytes = True
    records += has_bytes
    return max(records - 1, 0), in_quotes, start_line, start_offset


@pytest.mark.parametrize("chunk", [1, 3, 7, 1 << 26])
def test_record_count_matches_the_byte_by_byte_rules(tmp_path, monkeypatch, chunk):
    """Random files of quotes, separators, CR, LF and text, read in chunks that split quotes,
    CRLF pairs and records anywhere."""
    import random

    from orchestration.ingest import record_count

    monkeypatch.setattr(record_count, "CHUNK_BYTES", chunk)
    rng = random.Random(chunk)
    alphabet = [b'"', b",", b"\r", b"\n", b"\r\n", b"a", b"bc", b" ", b'""', b"\n\n"]
    for case in range(150):
        data = b"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        path = tmp_path / f"f{case}.csv"
        path.write_bytes(data)
        got = count_csv_records(path)
        assert (got.records, got.open_quote_at_end, got.last_record_line, got.last_record_offset) == \
            _reference_count(data), data
