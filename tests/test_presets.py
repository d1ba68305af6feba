"""Vendor presets: each preset's sample exports (tests/fixtures/presets/<vendor>/, written from
the vendor's field documentation) load through the ingestion service with exact values, and what
the preset deliberately leaves unmapped is quarantined with its reason."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pytest
import yaml

from orchestration.ingest import contract as c
from orchestration.ingest import mapping as m
from orchestration.ingest.service import ingest_entity

FIXTURES = Path(__file__).parent / "fixtures" / "presets"
LOAD_TIME = dt.datetime(2026, 11, 25, 12, 0, 0)
UTC = dt.datetime


def land(settings, vendor: str, sources_yaml: str) -> duckdb.DuckDBPyConnection:
    for path in (FIXTURES / vendor).iterdir():
        shutil.copy(path, settings.landing_dir / path.name)
    (settings.landing_dir / "sources.yaml").write_text(sources_yaml)
    return duckdb.connect(str(settings.warehouse_path))


def load(con, settings, entity: str):
    return ingest_entity(con, settings, entity, load_time=LOAD_TIME)


def rows(con, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def quarantined(con, entity: str) -> list[tuple]:
    return rows(con, f"SELECT source_file, source_row, reason, column_name, detail FROM raw.quarantine "
                     f"WHERE entity = '{entity}' ORDER BY source_file, source_row")


# ---------------------------------------------------------------- every preset is valid


@pytest.mark.parametrize("name", m.preset_names())
def test_preset_file_is_valid_and_cites_its_documentation(name):
    preset = m.load_preset(name)  # raises MappingError on an unknown key, entity or column
    raw = yaml.safe_load((m.PRESETS_DIR / f"{name}.yaml").read_text())
    assert raw["name"] == name == preset.name
    assert preset.documentation and all("https://" in d for d in preset.documentation)
    for entity, extract in preset.extracts.items():
        columns = {col.name for col in c.ENTITY_BY_NAME[entity].columns}
        assert {target for _, target in extract.rename} <= columns
        # every value a preset maps to is one the contract accepts for that column
        for column, table in extract.values.items():
            allowed = c.ENTITY_BY_NAME[entity].column(column).allowed
            if allowed:
                assert set(table.values()) <= set(allowed), (entity, column)


def test_the_four_vendor_presets_exist():
    assert m.preset_names() == ["aircall", "hubspot", "salesforce", "twilio"]


def test_preset_values_are_matched_case_insensitively_as_written():
    # YAML would read Yes/No as booleans: the preset quotes them, so the key is the text
    aircall = m.load_preset("aircall").extracts["calls"]
    assert aircall.values["disposition"]["yes"] == "connected"
    assert aircall.values["disposition"]["no"] == "no_answer"
    assert m.load_preset("twilio").extracts["calls"].values["direction"]["outbound-dial"] == "outbound"


# ---------------------------------------------------------------- Salesforce


SALESFORCE_YAML = """
crm: {timezone: America/New_York}
presets: [salesforce]
extracts:
  calls: {timezone: America/New_York}   # Task report times are the exporting user's local time
"""


def test_salesforce_report_exports(settings):
    con = land(settings, "salesforce", SALESFORCE_YAML)
    leads = load(con, settings, "leads")
    assert rows(con, "SELECT lead_id, created_at, source, score_tier, country, phone_e164, email_normalized "
                     "FROM raw.leads ORDER BY lead_id") == [
        # "11/21/2026 2:05 PM" in New York (EST, UTC-5) is 19:05 UTC
        ("00Q5g00000LdA01EAF", UTC(2026, 11, 21, 19, 5), "web", "hot", "US", "+14155550134", "dana.whitfield@example.com"),
        ("00Q5g00000LdA02EAF", UTC(2026, 11, 21, 20, 40), "partner", "warm", "US", "+16175550188", "marcus@example.org"),
        # an unmapped Lead Source passes through as written; an empty Rating stays empty
        ("00Q5g00000LdA03EAF", UTC(2026, 11, 22, 14, 15), "Trade Show", None, "US", "+12125550199", None),
    ]
    assert quarantined(con, "leads") == [
        ("salesforce_leads.csv", 4, "invalid_value", "created_at",
         "'11/31/2026 10:00 AM' is not an ISO-8601 timestamp (offset-aware preferred) or epoch seconds/milliseconds"),
    ]
    assert leads.ignored_columns == {}  # Lead Status and Company / Account are dropped on purpose

    load(con, settings, "calls")
    assert rows(con, "SELECT call_id, started_at, direction, disposition, duration_seconds, lead_id "
                     "FROM raw.calls ORDER BY call_id") == [
        ("00T5g00000TkA01EAF", UTC(2026, 11, 21, 19, 9), "outbound", "voicemail", 38, "00Q5g00000LdA01EAF"),
        ("00T5g00000TkA02EAF", UTC(2026, 11, 21, 19, 31), "outbound", "connected", 412, "00Q5g00000LdA01EAF"),
        ("00T5g00000TkA03EAF", UTC(2026, 11, 21, 21, 2), "outbound", "no_answer", None, "00Q5g00000LdA02EAF"),
    ]
    assert quarantined(con, "calls") == [
        ("salesforce_tasks.csv", 4, "invalid_value", "direction", "'Internal' is not one of inbound, outbound"),
        ("salesforce_tasks.csv", 5, "invalid_value", "disposition",
         "'Spoke to gatekeeper' is not one of connected, voicemail, no_answer, busy, failed, cancelled"),
    ]

    opportunities = load(con, settings, "opportunities")
    assert rows(con, "SELECT opportunity_id, lead_id, created_at, stage, amount, currency, is_won, closed_at "
                     "FROM raw.opportunities ORDER BY opportunity_id") == [
        ("0065g00000OpA01AAF", "00Q5g00000LdA01EAF", UTC(2026, 11, 23, 15, 12), "closed_won", 12500, "USD", True, None),
        ("0065g00000OpA02AAF", "00Q5g00000LdA02EAF", UTC(2026, 11, 24, 16, 0), "negotiation_review", 8000, "USD", False, None),
    ]
    # Close Date is the expected close of an open opportunity: left unmapped and reported
    assert opportunities.ignored_columns == {"salesforce_opportunities.csv": ["Close Date"]}


def test_salesforce_api_export_needs_no_format_and_a_hand_mapping_composes(settings):
    # A Data Loader export: API names, ISO 8601 in UTC; the user maps a custom picklist value on top.
    (settings.landing_dir / "sources.yaml").write_text(
        "presets: [salesforce]\n"
        "extracts:\n  leads:\n    values: {source: {Google Ads: paid_search}}\n")
    (settings.landing_dir / "leads.csv").write_text(
        "Id,CreatedDate,FirstName,LastName,Phone,LeadSource,Rating,CountryCode\n"
        "00Q5g00000LdB01EAF,2026-11-21T19:05:00.000Z,Dana,Whitfield,(415) 555-0134,Google Ads,Hot,US\n"
        "00Q5g00000LdB02EAF,2026-11-21T20:40:00.000Z,Marcus,Oyelaran,617 555 0188,Web,Lukewarm,US\n")
    con = duckdb.connect(str(settings.warehouse_path))
    load(con, settings, "leads")
    assert rows(con, "SELECT lead_id, created_at, source, score_tier, phone_e164 FROM raw.leads ORDER BY 1") == [
        ("00Q5g00000LdB01EAF", UTC(2026, 11, 21, 19, 5), "paid_search", "hot", "+14155550134"),
        # a Rating outside the default picklist passes through unchanged (score_tier is free text)
        ("00Q5g00000LdB02EAF", UTC(2026, 11, 21, 20, 40), "web", "Lukewarm", "+16175550188"),
    ]


# ---------------------------------------------------------------- HubSpot


HUBSPOT_YAML = """
crm: {timezone: America/New_York}
presets: [hubspot]
"""


def test_hubspot_exports_and_api_records(settings):
    con = land(settings, "hubspot", HUBSPOT_YAML)
    load(con, settings, "leads")
    assert rows(con, "SELECT lead_id, created_at, source, first_name, phone_e164, email_normalized "
                     "FROM raw.leads ORDER BY lead_id") == [
        # UI export: "2026-11-21 14:05" in the account timezone (New York) is 19:05 UTC
        ("51234001", UTC(2026, 11, 21, 19, 5), "paid_search", "Dana", "+14155550134", "dana.whitfield@example.com"),
        ("51234002", UTC(2026, 11, 21, 20, 40), "referral", "Marcus", "+16175550188", "marcus@example.org"),
        ("51234003", UTC(2026, 11, 22, 14, 15), "AI Referrals", "Priya", "+12125550199", None),
    ]
    assert quarantined(con, "leads") == [
        ("hubspot_contacts.csv", 4, "missing_required_value", "created_at", "required value is empty"),
    ]

    load(con, settings, "calls")
    assert rows(con, "SELECT call_id, started_at, direction, disposition, duration_seconds, "
                     "from_number_e164, to_number_e164, rep_id, lead_id FROM raw.calls ORDER BY call_id") == [
        # outcome GUIDs to dispositions; hs_call_duration milliseconds to seconds (412400 ms -> 412 s)
        ("70001", UTC(2026, 11, 21, 19, 9, 3), "outbound", "voicemail", 38, "+16175550100", "+14155550134", "9001", "51234001"),
        ("70002", UTC(2026, 11, 21, 19, 16, 1), "outbound", "connected", 412, "+16175550100", "+14155550134", "9001", "51234001"),
        # hs_timestamp as epoch milliseconds (1795357800000) and the outcome as its label
        ("70003", UTC(2026, 11, 22, 14, 30), "inbound", "connected", 95, "+12125550199", "+16175550100", "9002", "51234003"),
        # no outcome logged: loaded with an empty disposition
        ("70005", UTC(2026, 11, 21, 21, 2, 25), "outbound", None, None, "+16175550100", "+16175550188", "9002", "51234002"),
    ]
    assert quarantined(con, "calls") == [
        ("hubspot_calls.jsonl", 4, "invalid_value", "disposition",
         "'e448b440-6d4a-4830-9408-9504e32407e5' is not one of connected, voicemail, no_answer, busy, failed, cancelled"),
    ]

    deals = load(con, settings, "opportunities")
    assert rows(con, "SELECT opportunity_id, lead_id, created_at, stage, amount, currency, is_won "
                     "FROM raw.opportunities ORDER BY opportunity_id") == [
        ("88001", "51234001", UTC(2026, 11, 23, 15, 12), "closed_won", 12500, "USD", True),
        ("88002", "51234002", UTC(2026, 11, 24, 16, 0), "contract_sent", 8000, "USD", False),
    ]
    assert quarantined(con, "opportunities") == [
        ("hubspot_deals.csv", 3, "invalid_value", "amount", "-500 is below the minimum 0"),
    ]
    assert deals.ignored_columns == {"hubspot_deals.csv": ["Close Date"]}


# ---------------------------------------------------------------- Twilio


def test_twilio_call_and_message_logs(settings):
    con = land(settings, "twilio", "presets: [twilio]\n")
    load(con, settings, "calls")
    assert rows(con, "SELECT call_id, started_at, ended_at, direction, disposition, duration_seconds, "
                     "from_number_e164, to_number_e164 FROM raw.calls ORDER BY call_id") == [
        # RFC 2822 dates of the REST API, converted to UTC
        ("CA5d2b0c9e1f4a4b6f8e3d7c1a2b9e0f11", UTC(2026, 11, 21, 19, 9, 3), UTC(2026, 11, 21, 19, 9, 41),
         "outbound", "connected", 38, "+16175550100", "+14155550134"),
        ("CA5d2b0c9e1f4a4b6f8e3d7c1a2b9e0f12", UTC(2026, 11, 21, 21, 2), UTC(2026, 11, 21, 21, 2, 25),
         "outbound", "no_answer", None, "+16175550100", "+16175550188"),
        ("CA5d2b0c9e1f4a4b6f8e3d7c1a2b9e0f13", UTC(2026, 11, 22, 14, 30), UTC(2026, 11, 22, 14, 31, 35),
         "inbound", "connected", 95, "+12125550199", "+16175550100"),
        ("CA5d2b0c9e1f4a4b6f8e3d7c1a2b9e0f15", UTC(2026, 11, 22, 14, 40, 1), UTC(2026, 11, 22, 14, 40, 9),
         "outbound", "busy", None, "+16175550100", "+12125550199"),
    ]
    assert quarantined(con, "calls") == [
        ("twilio_calls_2026-11-21.jsonl", 4, "invalid_value", "disposition",
         "'ringing' is not one of connected, voicemail, no_answer, busy, failed, cancelled"),
    ]

    load(con, settings, "sms")
    assert rows(con, "SELECT message_id, sent_at, direction, delivery_status, from_number_e164, to_number_e164 "
                     "FROM raw.sms ORDER BY message_id") == [
        # BulkExport day file: ISO 8601 in UTC passes through the RFC 2822 format untouched
        ("SM8a1c2e3f4b5d6e7f8091a2b3c4d5e6f1", UTC(2026, 11, 21, 19, 6, 11), "outbound", "delivered", "+16175550100", "+14155550134"),
        ("SM8a1c2e3f4b5d6e7f8091a2b3c4d5e6f2", UTC(2026, 11, 21, 19, 8, 40), "inbound", "received", "+14155550134", "+16175550100"),
        ("SM8a1c2e3f4b5d6e7f8091a2b3c4d5e6f3", UTC(2026, 11, 21, 20, 45, 1), "outbound", "undelivered", "+16175550100", "+16175550188"),
        # a WhatsApp read receipt counts as delivered; the channel prefix does not hide the number
        ("SM8a1c2e3f4b5d6e7f8091a2b3c4d5e6f5", UTC(2026, 11, 21, 22, 10, 2), "outbound", "delivered", "+16175550100", "+12125550199"),
    ]
    assert quarantined(con, "sms") == [
        ("twilio_messages_2026-11-21.jsonl", 4, "invalid_value", "delivery_status",
         "'canceled' is not one of queued, sent, delivered, failed, undelivered, received"),
    ]


def test_twilio_rest_api_csv_with_rfc2822_dates(settings):
    # The same properties as CSV (e.g. a spreadsheet of API records): headers matched case-insensitively.
    (settings.landing_dir / "sources.yaml").write_text("extracts:\n  sms: {preset: twilio}\n")
    (settings.landing_dir / "sms_2026-11-21.csv").write_text(
        "Sid,Date_Sent,Direction,From,To,Status,Body\n"
        "SM01,\"Sat, 21 Nov 2026 19:06:11 +0000\",outbound-api,+16175550100,(415) 555-0134,sent,Hi\n"
        "SM02,\"Sat, 21 Nov 2026 14:08:40 -0500\",inbound,+14155550134,+16175550100,receiving,Ok\n")
    con = duckdb.connect(str(settings.warehouse_path))
    result = load(con, settings, "sms")
    assert rows(con, "SELECT message_id, sent_at, direction, delivery_status, to_number_e164 FROM raw.sms ORDER BY 1") == [
        ("SM01", UTC(2026, 11, 21, 19, 6, 11), "outbound", "sent", "+14155550134"),
        ("SM02", UTC(2026, 11, 21, 19, 8, 40), "inbound", "received", "+16175550100"),
    ]
    assert result.ignored_columns == {}  # Body is dropped: message text is not loaded


# ---------------------------------------------------------------- Aircall


AIRCALL_YAML = """
extracts:
  calls:
    - {preset: aircall, files: ["aircall_calls*"]}
    # the Call History export: the preset maps its documented fields (Call ID (internal), Call
    # direction, Answered); this export's start-time and customer-number headers are mapped by hand
    - preset: aircall
      files: ["aircall_call_history*"]
      rename: {Started at: started_at, Customer number: [to_number, from_number]}
"""


def test_aircall_api_objects_and_call_history_export(settings):
    con = land(settings, "aircall", AIRCALL_YAML)
    result = load(con, settings, "calls")
    assert rows(con, "SELECT call_id, started_at, answered_at, ended_at, direction, disposition, duration_seconds, "
                     "to_number, to_number_e164, from_number, from_number_e164 FROM raw.calls ORDER BY call_id") == [
        # API: Unix epoch seconds; raw_digits in international format, the callee of an outbound
        # call and the caller of an inbound one (only_when by direction); an outbound call's
        # outcome is whether it was answered (fill_by_presence of answered_at)
        ("3916681", UTC(2026, 11, 21, 19, 9, 3), UTC(2026, 11, 21, 19, 9, 11), UTC(2026, 11, 21, 19, 9, 41),
         "outbound", "connected", 38, "+1 415-555-0134", "+14155550134", None, None),
        ("3916682", UTC(2026, 11, 21, 21, 2), None, UTC(2026, 11, 21, 21, 2, 25),
         "outbound", "no_answer", 25, "+1 617-555-0188", "+16175550188", None, None),
        ("3916683", UTC(2026, 11, 22, 14, 30), None, UTC(2026, 11, 22, 14, 31),
         "inbound", "no_answer", 60, None, None, "+1 212-555-0199", "+12125550199"),
        # an anonymous caller: kept, with no E.164 number
        ("3916684", UTC(2026, 11, 22, 14, 35, 30), None, UTC(2026, 11, 22, 14, 35, 33),
         "inbound", "cancelled", 3, None, None, "anonymous", None),
        # Call History export: Answered Yes / No
        ("3916690", UTC(2026, 11, 22, 15, 0), None, None, "outbound", "connected", None, "+1 415-555-0134", "+14155550134",
         None, None),
        ("3916691", UTC(2026, 11, 22, 15, 5), None, None, "outbound", "no_answer", None, "+1 617-555-0188", "+16175550188",
         None, None),
        ("3916692", UTC(2026, 11, 22, 23, 30), None, None, "inbound", "no_answer", None, None, None,
         "+1 212-555-0199", "+12125550199"),
    ]
    assert quarantined(con, "calls") == [
        ("aircall_calls_2026-11-21.jsonl", 5, "invalid_value", "disposition",
         "'abandoned_in_voicebot' is not one of connected, voicemail, no_answer, busy, failed, cancelled"),
    ]
    assert result.unparseable_phones == 1
    # Answered wins over Unanswered Call Reason (the first source present), which is then reported
    assert result.ignored_columns == {"aircall_call_history.csv": ["Unanswered Call Reason"]}


def test_aircall_inbound_calls_match_their_caller_by_phone(settings):
    from orchestration.ingest.matching import build_matches

    con = land(settings, "aircall", AIRCALL_YAML)
    # Two leads whose numbers are customers of the sample: an outbound callee and an inbound caller.
    (settings.landing_dir / "leads.csv").write_text(
        "lead_id,created_at,source,phone\n"
        "L-OUT,2026-11-21T18:00:00Z,web,+1 415-555-0134\nL-IN,2026-11-22T09:00:00Z,web,+1 212-555-0199\n")
    load(con, settings, "calls")
    load(con, settings, "leads")
    build_matches(con)
    assert dict(rows(con, "SELECT activity_id, lead_id || ' by ' || match_method FROM raw.activity_lead_matches "
                          "WHERE activity_id IN ('3916681', '3916683', '3916692')")) == {
        "3916681": "L-OUT by phone", "3916683": "L-IN by phone", "3916692": "L-IN by phone"}


def test_only_when_and_fill_by_presence_are_checked_up_front():
    with pytest.raises(m.MappingError, match="only_when.to_number: expected one condition"):
        m.parse_extract_mapping("sources.yaml", "calls", {"only_when": {"to_number": {"direction": "x", "rep_id": "y"}}})
    with pytest.raises(m.MappingError, match="only_when.to_number.dialled"):
        m.parse_extract_mapping("sources.yaml", "calls", {"only_when": {"to_number": {"dialled": "inbound"}}})
    with pytest.raises(m.MappingError, match="must name another column"):
        m.parse_extract_mapping("sources.yaml", "calls", {"only_when": {"to_number": {"to_number": "x"}}})
    with pytest.raises(m.MappingError, match="fill_by_presence.disposition: expected"):
        m.parse_extract_mapping("sources.yaml", "calls", {"fill_by_presence": {"disposition": {"present": "connected"}}})
    with pytest.raises(m.MappingError, match="fill_by_presence.disposition.of"):
        m.parse_extract_mapping("sources.yaml", "calls", {"fill_by_presence": {"disposition": {"of": "picked_up", "present": "connected"}}})
    parsed = m.parse_extract_mapping("sources.yaml", "calls", {"rename": {"party": ["to_number", "from_number"]},
                                                                "only_when": {"from_number": {"direction": "Inbound"}}})
    assert parsed.sources_for("to_number") == parsed.sources_for("from_number") == ["party"]
    assert parsed.only_when == {"from_number": ("direction", "inbound")}


# ---------------------------------------------------------------- the CRM and the telephony agree


def test_hubspot_leads_and_twilio_activities_share_numbers(settings):
    # The samples describe one organisation: every lead phone in the HubSpot contacts is called or
    # texted in the Twilio logs, so a user combining both presets gets matchable activities.
    con = land(settings, "hubspot", "crm: {timezone: America/New_York}\npresets: [hubspot, twilio]\n")
    for path in (FIXTURES / "twilio").iterdir():
        shutil.copy(path, settings.landing_dir / path.name)
    for entity in ("leads", "calls", "sms"):
        load(con, settings, entity)
    lead_phones = {p for (p,) in rows(con, "SELECT phone_e164 FROM raw.leads")}
    called = {p for (p,) in rows(con, "SELECT to_number_e164 FROM raw.calls WHERE direction = 'outbound' "
                                      "UNION SELECT from_number_e164 FROM raw.calls WHERE direction = 'inbound'")}
    assert lead_phones == {"+14155550134", "+16175550188", "+12125550199"}
    assert lead_phones <= called
    # HubSpot's own call engagements (hubspot_calls.jsonl) and Twilio's log both load as calls:
    # each file through its own preset, chosen by the preset's file patterns
    assert rows(con, "SELECT _source_file, count(*) FROM raw.calls GROUP BY 1 ORDER BY 1") == [
        ("hubspot_calls.jsonl", 4), ("twilio_calls_2026-11-21.jsonl", 4),
    ]
