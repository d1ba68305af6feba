"""Nothing personal leaves the warehouse: composite keys, gate samples, free-text scrubbing, and a
scan of every output of real runs (published DuckDB, Parquet, exports, report, alerts.log, a
webhook) for the CRM ids, rep ids, phones, emails and names of the input."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import re
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
