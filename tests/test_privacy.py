"""Nothing personal leaves the warehouse: composite keys, gate samples, free-text scrubbing, and a
scan of every output of real runs (published DuckDB, Parquet, exports, report, alerts.log, a
webhook) for the CRM ids, rep ids, phones, emails and names of the input."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import re
import string
import threading
from pathlib import Path

import duckdb
import pytest

from orchestration.delivery import privacy
from orchestration.quality.gx_bridge import named_columns
from orchestration.quality.suites import ExpectationSpec

KEY = b"test-key"


# ---------------------------------------------------------------- pure functions


@pytest.mark.parametrize("text, expected", [
    ("call +1 (555) 123-4567 now", "call <phone> now"),
    ("555.123.4567", "<phone>"),
    ("(555) 123-4567", "<phone>"),
    ("555-123-4567 or 5551234567", "<phone> or <phone>"),
    ("+442079460000; 0049 30 1234567", "<phone>; <phone>"),
    ("+442079460000 / 0049 30 1234567", "<phone>"),  # numbers side by side: scrubbed as one
    ("+44 (0)20 7946 0000", "<phone>"),
    ("mail Jane.O'Neil@Example.co.uk, ok", "mail <email>, ok"),
    # dates, times, counts and decimals stay readable, also right next to a phone
    ("2026-10-14 20:10:32 +0530", "2026-10-14 20:10:32 +0530"),
    ("2026-10-14 5551234567", "2026-10-14 <phone>"),
    ("at 20:10 call 555 123 4567", "at 20:10 call <phone>"),
    ("10/14/2026: 1,234 rows, share 0.123456789", "10/14/2026: 1,234 rows, share 0.123456789"),
])
def test_scrub_text(text, expected):
    assert privacy.scrub_text(text) == expected


def test_a_select_star_sample_keeps_named_and_id_columns_with_pseudonyms():
    spec = ExpectationSpec("unexpected_rows_expectation", {
        "unexpected_rows_query": "select * from {batch} where lead_id is not null and lead_id not in (select lead_id from raw.leads)",
        "description": "orphans"})
    row = {"call_id": "C1", "started_at": dt.datetime(2026, 10, 14, 9), "direction": "outbound",
           "from_number": "+12125550100", "to_number": "(212) 555-0199", "to_number_e164": "+12125550199",
           "rep_id": "R007", "lead_id": "L00000036", "note": "ring 212.555.0142"}
    (safe,) = privacy.safe_sample(KEY, [row], None, named_columns(spec))
    assert safe == {"call_id": "C1", "rep_id": privacy.pseudonym(KEY, "R007"),
                    "lead_id": privacy.pseudonym(KEY, "L00000036")}


def test_a_check_naming_a_free_text_column_shows_it_scrubbed():
    spec = ExpectationSpec("expect_column_values_to_not_match_regex", {"column": "note", "regex": "x"})
    rows = [{"call_id": "C1", "note": "ring 212.555.0142", "first_name": "Ada"}]
    assert privacy.safe_sample(KEY, rows, None, named_columns(spec)) == [{"call_id": "C1", "note": "ring <phone>"}]
    assert privacy.safe_sample(KEY, ["ring 212.555.0142"], "note", named_columns(spec)) == ["ring <phone>"]


def test_failing_values_of_personal_columns_are_never_sampled_and_ids_are_pseudonymised():
    assert privacy.safe_sample(KEY, ["ada@example.org"], "email") == []
    assert privacy.safe_sample(KEY, ["Lovelace"], "last_name") == []
    assert privacy.safe_sample(KEY, ["L1", None], "lead_id") == [privacy.pseudonym(KEY, "L1"), None]
    assert privacy.safe_sample(KEY, [{"alert_key": "L1:breach", "lead_id": "L1"}], None, frozenset({"alert_key"})) == [
        {"alert_key": privacy.pseudonym(KEY, "L1") + ":breach", "lead_id": privacy.pseudonym(KEY, "L1")}]
    rep_segment = {"segment_type": "owner_rep", "segment_value": "R007"}
    assert privacy.safe_sample(KEY, [rep_segment], None, frozenset({"segment_type", "segment_value"})) == [
        {"segment_type": "owner_rep", "segment_value": privacy.pseudonym(KEY, "R007")}]


def test_composite_alert_key_is_published_with_the_lead_pseudonym():
    con = duckdb.connect()
    con.execute("CREATE TABLE alerts AS SELECT * FROM (VALUES ('L1:breach', 'L1', 'breach'), "
                "('L2:escalation', 'L2', 'escalation'), ('odd-L3', 'L3', 'breach')) t(alert_key, lead_id, alert_kind)")
    published = con.execute(privacy.published_select(KEY, ["alert_key", "lead_id", "alert_kind"], "alerts")
                            + " ORDER BY alert_kind, alert_key").fetchall()
    p = lambda v: privacy.pseudonym(KEY, v)  # noqa: E731
    assert sorted(published) == sorted([
        (p("L1") + ":breach", p("L1"), "breach"),
        (p("L2") + ":escalation", p("L2"), "escalation"),
        (p("odd-L3"), p("L3"), "breach"),  # not of the documented shape: hashed whole, never shown
    ])


def test_the_pseudonym_lookup_changes_no_value_only_the_work():
    """Publishing hashes each distinct id once (``pseudonym_lookup_sql``); what it publishes is
    what hashing every row gives, also for an id the lookup lacks (hashed in place) and for
    composite keys and rep segment values."""
    con = duckdb.connect()
    con.execute("CREATE TABLE alerts AS SELECT * FROM (VALUES ('L1:breach', 'L1', 'R1', 'breach'), "
                "('L2:escalation', 'L2', 'R1', 'escalation'), ('odd-L3', 'L3', NULL, 'breach')) "
                "t(alert_key, lead_id, owner_rep_id, alert_kind)")
    con.execute("CREATE TABLE segments AS SELECT * FROM (VALUES ('owner_rep', 'R1', 3), ('owner_rep', 'R9', 1), "
                "('source', 'web', 4)) t(segment_type, segment_value, leads)")
    con.execute("CREATE TABLE late AS SELECT * FROM (VALUES ('L1', 'R1'), ('L4', 'R4')) t(lead_id, rep_id)")
    relations = {"alerts": ["alert_key", "lead_id", "owner_rep_id", "alert_kind"],
                 "segments": ["segment_type", "segment_value", "leads"], "late": ["lead_id", "rep_id"]}
    # the lookup is built from alerts and segments only: late's L4 and R4 are not in it
    for statement in privacy.pseudonym_lookup_sql(KEY, [(r, relations[r]) for r in ("alerts", "segments")], "_pz"):
        con.execute(statement)
    assert con.execute("SELECT count(*) FROM _pz_lead_id").fetchone()[0] == 3
    assert sorted(r[0] for r in con.execute("SELECT id FROM _pz_rep_id").fetchall()) == ["R1", "R9"]
    for relation, columns in relations.items():
        hashed = con.execute(privacy.published_select(KEY, columns, relation)).fetchall()
        looked_up = con.execute(privacy.published_select(KEY, columns, relation, lookup="_pz")).fetchall()
        assert sorted(looked_up, key=str) == sorted(hashed, key=str)
    assert (privacy.pseudonym(KEY, "L4"), privacy.pseudonym(KEY, "R4")) in con.execute(
        privacy.published_select(KEY, relations["late"], "late", lookup="_pz")).fetchall()


# ---------------------------------------------------------------- the scan over real runs

DATA_END = dt.date.today() - dt.timedelta(days=2)
PLANTED_PHONES = ["(415) 555-0142", "415.555.0143", "+1 415 555 0144", "+14155550145", "415-555-0146"]
PLANTED_ORPHAN_LEADS = ["CRM-ORPHAN-1", "CRM-ORPHAN-2", "CRM-ORPHAN-3", "CRM-ORPHAN-4", "CRM-ORPHAN-5"]


class _Receiver(http.server.BaseHTTPRequestHandler):
    bodies: list = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        type(self).bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def _records(landing: Path):
    """Every input record as {column: text}, from the CSV and JSON Lines extracts."""
    import csv

    for path in sorted(landing.rglob("*")):
        if path.suffix == ".csv":
            with path.open(newline="") as f:
                yield from csv.DictReader(f)
        elif path.suffix == ".jsonl":
            for line in path.read_text().splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # planted malformed lines: quarantined, never published
                if isinstance(record, dict):
                    yield {k: None if v is None else str(v) for k, v in record.items()}


def _forbidden(landing: Path) -> dict[str, set[str]]:
    found = {"ids": set(), "emails": set(), "phones": set(), "names": set(), "full names": set()}
    for record in _records(landing):
        for column, value in record.items():
            if not value or not column:
                continue
            if column.endswith(("lead_id", "rep_id")):
                found["ids"].add(value.strip())
            elif column in ("email", "from_address", "to_address"):
                found["emails"].add(value.strip().lower())
            elif column in ("phone", "from_number", "to_number"):
                digits = re.sub(r"\D", "", value)
                if len(digits) >= 9:
                    found["phones"].add(digits[-9:])  # the subscriber part, whatever prefix was written
            elif column in ("first_name", "last_name", "full_name"):
                found["names"].update(part for part in value.split() if len(part) >= 3)
                if column == "full_name":
                    found["full names"].add(" ".join(value.split()))
            if column in ("first_name", "last_name") and record.get("first_name") and record.get("last_name"):
                found["full names"].add(f"{record['first_name'].strip()} {record['last_name'].strip()}")
    # A surname that is also a word of the platform's own text ("Lead", "Green") is looked for as
    # part of a full name only; every other name is looked for on its own.
    vocabulary = set()
    for path in [*Path("orchestration").rglob("*.py"), *Path("orchestration").rglob("*.j2")]:
        if "demo" in path.parts:
            continue  # the demo's own name lists
        vocabulary.update(re.findall(r"[A-Za-z]+", path.read_text()))
    found["names"] -= vocabulary
    return found


LETTERS = re.compile(r"[A-Za-z]+")
ASCII_LETTERS = frozenset(string.ascii_letters)
# Two letter runs separated by one space, bounded by non-letters: a full name as written.
WORD_PAIRS = re.compile(r"(?<![A-Za-z])(?=([A-Za-z]+ [A-Za-z]+)(?![A-Za-z]))")


def _leaks(text: str, forbidden: dict[str, set[str]]) -> dict[str, list[str]]:
    """Forbidden values found in ``text``. Names count where non-letters bound them; emails and ids
    anywhere. Set lookups, not one search per value: the shared run's outputs are megabytes."""
    tokens = set(re.findall(r"[A-Za-z0-9][A-Za-z0-9_\-]*", text))
    lowered = text.lower()
    # digits written with separators (555.123.4567, (555) 123-4567) read as one run; decimals
    # (0.133065367) are numbers, not phones
    numbers = re.sub(r"(?<![\d.])\d+\.\d+(?![\d.])", " ", text)
    # ... and digits inside a word are not a phone as written: a pseudonym's hex (p_3a155599015f)
    # holds a run of 9+ digits about once in ten, which matched a real subscriber now and then
    runs = re.findall(r"(?<![A-Za-z0-9_])\d{9,}(?![A-Za-z0-9_])",
                      re.sub(r"(?<=\d)[\s().\-/]{1,3}(?=\d)", "", numbers))
    # an email occurs where some "@" has its local part before and its domain after
    shapes = {(e.index("@"), len(e)) for e in forbidden["emails"]}
    around = {lowered[at - before:at - before + length] for at in (m.start() for m in re.finditer("@", lowered))
              for before, length in shapes if at >= before}
    words, pairs = set(LETTERS.findall(text)), set(WORD_PAIRS.findall(text))
    plain_names = {n for n in forbidden["names"] if LETTERS.fullmatch(n)}
    plain_full = {n for n in forbidden["full names"] if re.fullmatch(r"[A-Za-z]+ [A-Za-z]+", n)}

    def bounded(value: str) -> bool:
        # str.find, then the boundary by hand: a regex with a look-behind first scans the
        # megabytes character by character, for each of the thousands of values
        at = text.find(value)
        while at != -1:
            end = at + len(value)
            if (at == 0 or text[at - 1] not in ASCII_LETTERS) and (end == len(text) or text[end] not in ASCII_LETTERS):
                return True
            at = text.find(value, at + 1)
        return False

    return {
        "ids": sorted(tokens & forbidden["ids"]),
        "emails": sorted(forbidden["emails"] & around),
        "phones": sorted(forbidden["phones"] & {run[i:i + 9] for run in runs for i in range(len(run) - 8)}),
        "names": sorted((plain_names & words) | {n for n in forbidden["names"] - plain_names if bounded(n)}),
        "full names": sorted((plain_full & pairs) | {n for n in forbidden["full names"] - plain_full if bounded(n)}),
    }


def _database_text(con) -> str:
    parts = []
    for schema, table in con.execute("SELECT table_schema, table_name FROM information_schema.tables").fetchall():
        for row in con.execute(f'SELECT * FROM "{schema}"."{table}"').fetchall():
            parts.append("\t".join("" if v is None else str(v) for v in row))
    return "\n".join(parts)


def _parquet_text(path: Path) -> str:
    with duckdb.connect() as con:
        return "\n".join("\t".join("" if v is None else str(v) for v in row)
                         for row in con.execute("SELECT * FROM read_parquet(?)", [str(path)]).fetchall())


def _write_rows(path: Path, header: str, rows: list[dict]) -> None:
    columns = header.split(",")
    lines = [header] + [",".join(row.get(c, "") for c in columns) for row in rows]
    path.write_text("\n".join(lines) + "\n")


def _published_outputs(settings) -> dict[str, str]:
    """The text of everything a run hands out: published DuckDB and Parquet, exports, report, alert log."""
    outputs = {}
    with duckdb.connect(str(settings.published_dir / "speed_to_lead_marts.duckdb"), read_only=True) as con:
        outputs["published duckdb"] = _database_text(con)
    for path in sorted((settings.published_dir / "parquet" / "current").glob("*.parquet")):
        outputs[f"parquet {path.name}"] = _parquet_text(path)
    for path in sorted((settings.output_dir / "exports").iterdir()):
        outputs[f"export {path.name}"] = _parquet_text(path) if path.suffix == ".parquet" else path.read_text()
    outputs["report"] = (settings.output_dir / "leadership_report.html").read_text()
    if settings.alert_log_path.exists():
        outputs["alerts.log"] = settings.alert_log_path.read_text()
    return outputs


def _found(outputs: dict[str, str], forbidden: dict[str, set[str]]) -> dict[str, dict]:
    leaks = {name: {k: v for k, v in _leaks(text, forbidden).items() if v} for name, text in outputs.items()}
    return {name: found for name, found in leaks.items() if found}


def test_the_leak_scan_finds_what_it_looks_for():
    forbidden = {"ids": {"L00000036"}, "emails": {"ada@example.org"}, "phones": {"155550142"},
                 "names": {"Lovelace"}, "full names": {"Ada Lovelace"}}
    text = "x L00000036 y, mail ADA@Example.org; (415) 555-0142 Lovelace,Ada Lovelace"
    assert _leaks(text, forbidden) == {"ids": ["L00000036"], "emails": ["ada@example.org"], "phones": ["155550142"],
                                       "names": ["Lovelace"], "full names": ["Ada Lovelace"]}
    clean = ("xL00000036 mail ada@example.orgx.net is not: Lovelaces, Ada Lovelaces 415 555 014, rate 0.1555501423, "
             "p_0e4155550142a9")
    assert _leaks(clean, forbidden) == {"ids": [], "emails": ["ada@example.org"], "phones": [], "names": [],
                                        "full names": []}


@pytest.mark.slow
def test_no_personal_value_or_crm_id_in_any_published_output(shared_run):
    settings = shared_run.settings
    forbidden = _forbidden(settings.landing_dir)
    assert {k: len(v) > 100 for k, v in forbidden.items()} == {k: True for k in forbidden}
    outputs = _published_outputs(settings)
    assert len(outputs) > 15
    assert _found(outputs, forbidden) == {}
    # Composite keys carry the lead pseudonym.
    with duckdb.connect(str(settings.published_dir / "speed_to_lead_marts.duckdb"), read_only=True) as con:
        alert_keys = con.execute("SELECT alert_key, lead_id, alert_kind FROM marts.fct_sla_alerts").fetchall()
    assert alert_keys and all(key == f"{lead}:{kind}" and lead.startswith("p_") for key, lead, kind in alert_keys)


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory, dbt_manifest):
    """A small demo landing with orphan calls (CRM ids the leads extract lacks, phones in human
    formats) and a schedule of a team that does not exist: the run stops at the blocking gate
    after alerting the log and a webhook. Then a planted critical gate whose failing rows are
    whole lead records (names, emails, phones)."""
    from orchestration.demo.generator import generate
    from orchestration.pipeline import run_main_job
    from orchestration.quality.gates import run_gate
    from orchestration.quality.suites import Suite
    from orchestration.settings import use_settings
    from tests.helpers import DATA_END, make_settings, settings_restored

    server = http.server.HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings = make_settings(tmp_path_factory.mktemp("privacy"),
                             STL_ALERT_WEBHOOK_URL=f"http://127.0.0.1:{server.server_port}/hook",
                             STL_ALERT_WEBHOOK_FORMAT="json")
    try:
        with settings_restored():
            use_settings(settings)
            generate(settings.landing_dir, leads=200, seed=12, days=7, end_date=DATA_END)
            landing = settings.landing_dir
            call_header = next((landing / "calls").glob("*.csv")).read_text().splitlines()[0]
            _write_rows(landing / "calls" / f"calls_{DATA_END}_orphans.csv", call_header, [
                {"call_id": f"CPRIV{i}", "started_at": f"{DATA_END}T15:00:00Z", "ended_at": f"{DATA_END}T15:01:00Z",
                 "direction": "inbound", "from_number": f'"{phone}"', "to_number": "+12125550100",
                 "disposition": "no_answer", "duration_seconds": "0", "lead_id": lead}
                for i, (phone, lead) in enumerate(zip(PLANTED_PHONES, PLANTED_ORPHAN_LEADS))])
            schedules = landing / "schedules" / f"schedules_{DATA_END}_ghost.csv"
            schedule_header = next((landing / "schedules").glob("*")).read_text().splitlines()[0]
            schedules.write_text(schedule_header + "\nT-GHOST,,1,09:00,17:00,,,\n")
            stopped = run_main_job(settings, full_load=True, quiet=True)
            planted = Suite(name="planted_personal_rows", asset=("raw", "leads"), table="raw.leads",
                            description="planted", blocking=True, expectations=(
                                ExpectationSpec("unexpected_rows_expectation", {
                                    "unexpected_rows_query": "select * from {batch} where email is not null",
                                    "description": "planted: leads with an email"}, "error", "planted", "planted",
                                    sample_query="select * from {batch} where email is not null"),
                                ExpectationSpec("expect_column_values_to_be_in_set",
                                                {"column": "email", "value_set": ["no-such-address"]}, "error", "planted"),
                                ExpectationSpec("expect_column_values_to_be_in_set",
                                                {"column": "lead_id", "value_set": ["no-such-id"]}, "error", "planted")))
            planted_outcome, _ = run_gate(planted, settings, run_id="privacy-planted")
        yield settings, stopped, planted_outcome, list(_Receiver.bodies)
    finally:
        server.shutdown()


@pytest.mark.slow
def test_no_personal_value_or_crm_id_in_the_alerts_of_a_stopped_run(stopped_run):
    settings, stopped, planted_outcome, webhook_bodies = stopped_run
    assert not stopped.success and not planted_outcome.passed
    forbidden = _forbidden(settings.landing_dir)
    assert {k: len(v) > 10 for k, v in forbidden.items()} == {k: True for k in forbidden}
    assert set(PLANTED_ORPHAN_LEADS) <= forbidden["ids"]
    outputs = {"alerts.log": settings.alert_log_path.read_text(), "webhook": json.dumps(webhook_bodies, ensure_ascii=False)}
    assert _found(outputs, forbidden) == {}
    # The scan looked at the right things: the planted critical gate, the ghost team's gate and the
    # orphan calls reached the log and the webhook.
    for text in outputs.values():
        assert "planted: leads with an email" in text and "raw_schedules" in text
    assert "CPRIV0" in outputs["alerts.log"]  # the orphan calls' sample names the call, not the caller


@pytest.mark.slow
def test_gate_samples_are_pseudonymous_and_raw_samples_stay_restricted(stopped_run):
    settings, _stopped, planted_outcome, _ = stopped_run
    key = privacy.pseudonym_key(settings)
    by_label = {r.spec.label: r for r in planted_outcome.results}
    rows_sample = by_label["planted: leads with an email"].sample
    assert rows_sample and all(set(row) == {"lead_id", "owner_rep_id", "team_id", "_load_id"} for row in rows_sample)
    assert all(row["lead_id"].startswith("p_") for row in rows_sample)
    emails = by_label["expect_column_values_to_be_in_set(email)"]
    ids = by_label["expect_column_values_to_be_in_set(lead_id)"]
    assert emails.sample == [] and len(emails.restricted_sample) > 0
    assert ids.sample == [privacy.pseudonym(key, v) for v in ids.restricted_sample] and ids.sample
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        restricted = con.execute("SELECT sample FROM restricted.gate_samples WHERE run_id = 'privacy-planted' "
                                 "ORDER BY expectation").fetchall()
        stored = con.execute("SELECT sample FROM quality.expectation_results WHERE run_id = 'privacy-planted'").fetchall()
    assert any("@" in s for (s,) in restricted)  # the raw sample is kept, where only the warehouse sees it
    assert not any("@" in s for (s,) in stored)
