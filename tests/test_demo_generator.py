"""Tests of the demo data generator (orchestration/demo/generator.py).

The checks read the written files back independently of the generator: a small reference
implementation of the contract's row rules (``_reference_rows``) re-derives every quarantine
reason, and the non-quarantined anomalies, response times and the planted conversion gradient
are recomputed from the raw extracts.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
from collections import Counter
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import numpy as np
import pandas as pd
import phonenumbers
import pyarrow.parquet as pq
import pytest

from orchestration.demo.generator import MANIFEST_NAME, SOURCES_YAML, generate
from orchestration.ingest.contract import ENTITY_BY_NAME, QUARANTINE_REASONS
from orchestration.metric_definitions import response_buckets

EVENT_ENTITIES = ("leads", "lead_status_history", "appointments", "opportunities", "calls", "sms", "emails")
EXT = {"leads": "csv", "lead_status_history": "csv", "appointments": "csv", "calls": "csv",
       "sms": "jsonl", "emails": "jsonl", "opportunities": "parquet"}
ZONES = {"crm": ZoneInfo("America/New_York"), "telephony": dt.timezone.utc, "messaging": dt.timezone.utc}
LOAD_TIME = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
BOOLS = {"true", "false", "t", "f", "yes", "no", "y", "n", "1", "0"}
BOT_MARKERS = ("python-requests", "headlesschrome", "bot", "curl/", "scrapy", "go-http-client")
BUCKET_EDGES = [upper for _, _, upper in response_buckets()[:-1]]  # seconds, from the metric definitions


# ------------------------------------------------------------------------------------------
# A reference reading of the extracts, following the contract's rules
# ------------------------------------------------------------------------------------------


def _parse_ts(value, family: str) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    parsed = dt.datetime.fromisoformat(str(value).strip())
    if parsed.tzinfo is None:
        # ambiguous: the earlier instant (fold=0); nonexistent: shifted forward by the gap
        parsed = parsed.replace(tzinfo=ZONES[family])
    return parsed.astimezone(dt.timezone.utc)


def _empty(value) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def _valid(column, value, family) -> bool:
    if isinstance(value, bool) and column.type == "boolean":
        return True
    text = str(value).strip()
    if column.type == "timestamp":
        try:
            _parse_ts(value, family)
        except (ValueError, TypeError):
            return False
    elif column.type == "integer":
        if not re.fullmatch(r"[+-]?\d+", text):
            return False
        number = int(text)
        if (column.minimum is not None and number < column.minimum) or (column.maximum is not None and number > column.maximum):
            return False
    elif column.type == "decimal":
        try:
            number = Decimal(text)
        except InvalidOperation:
            return False
        if column.minimum is not None and number < column.minimum:
            return False
    elif column.type == "boolean":
        if text.lower() not in BOOLS:
            return False
    if column.allowed and text.lower() not in column.allowed:
        return False
    return True


def _raw_rows(path: Path, entity: str):
    """(raw record or None if malformed) per data row of one file."""
    names = [c.name for c in ENTITY_BY_NAME[entity].columns if c.name != "score_tier"]  # the demo CRM grades no tiers
    if path.suffix == ".csv":
        text = path.read_text(encoding="utf-8")
        assert "\r" not in text and not text.startswith("\ufeff")
        lines = text.split("\n")
        assert lines[-1] == ""
        header = lines[0].split(",")
        assert header == names, (path, header)
        for line in lines[1:-1]:
            fields = next(csv.reader([line]))
            yield dict(zip(header, fields)) if len(fields) == len(header) else None
    elif path.suffix == ".jsonl":
        for line in path.read_text(encoding="utf-8").split("\n")[:-1]:
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                yield None
                continue
            yield obj if isinstance(obj, dict) else None
    else:
        yield from pq.read_table(path).to_pylist()


def _reference_rows(landing: Path, entity: str):
    """Kept rows (dicts) and quarantine counts per reason, first applying reason wins."""
    spec = ENTITY_BY_NAME[entity]
    counts = Counter()
    kept = []
    for path in sorted((landing / entity).iterdir()):
        seen = set()
        for rec in _raw_rows(path, entity):
            if rec is None:
                counts["malformed_row"] += 1
                continue
            if any(_empty(rec.get(c)) for c in spec.required_columns):
                counts["missing_required_value"] += 1
                continue
            if any(not _empty(rec.get(c.name)) and not _valid(c, rec.get(c.name), spec.family) for c in spec.columns):
                counts["invalid_value"] += 1
                continue
            if _parse_ts(rec[spec.event_time], spec.family) > LOAD_TIME:
                counts["future_timestamp"] += 1
                continue
            reversed_pair = False
            for a, b in spec.ordered:
                if not _empty(rec.get(a)) and not _empty(rec.get(b)):
                    if _parse_ts(rec[b], spec.family) < _parse_ts(rec[a], spec.family):
                        reversed_pair = True
            if reversed_pair:
                counts["negative_duration"] += 1
                continue
            key = tuple(str(rec.get(k)) for k in spec.key)
            if key in seen:
                counts["duplicate_key"] += 1
                continue
            seen.add(key)
            rec["_file"] = path.name
            kept.append(rec)
    return kept, counts


def _e164(raw, country):
    if _empty(raw):
        return None
    num = phonenumbers.parse(raw, country)
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


class Landing:
    """A generated landing directory read back through the reference rules."""

    def __init__(self, path: Path, manifest: dict):
        self.path = path
        self.manifest = manifest
        self.kept, self.quarantined = {}, {}
        for entity in EVENT_ENTITIES:
            self.kept[entity], self.quarantined[entity] = _reference_rows(path, entity)
        leads = pd.DataFrame(self.kept["leads"])
        leads["created"] = [_parse_ts(v, "crm") for v in leads["created_at"]]
        leads["form"] = [_parse_ts(v, "crm") if not _empty(v) else pd.NaT for v in leads["form_submitted_at"]]
        leads["phone_e164"] = [_e164(p, c) for p, c in zip(leads["phone"], leads["country"])]
        leads["email_norm"] = [e.strip().lower() if not _empty(e) else None for e in leads["email"]]
        ua = leads["user_agent"].fillna("").str.lower()
        leads["is_bot"] = ua.apply(lambda s: any(m in s for m in BOT_MARKERS))
        leads["is_internal"] = (leads["is_test"].fillna("").str.lower() == "true") | \
            leads["email_norm"].fillna("").str.endswith("@speedlead-internal.test")
        leads = leads.sort_values(["created", "lead_id"]).reset_index(drop=True)
        first_phone, first_email = {}, {}
        dup = []
        for row in leads.itertuples():
            phone = row.phone_e164 if isinstance(row.phone_e164, str) else None
            email = row.email_norm if isinstance(row.email_norm, str) else None
            dup.append((phone is not None and phone in first_phone) or (email is not None and email in first_email))
            if phone:
                first_phone.setdefault(phone, row.lead_id)
            if email:
                first_email.setdefault(email, row.lead_id)
        leads["is_duplicate"] = dup
        self.leads = leads
        self.first_phone, self.first_email = first_phone, first_email
        self.activities = self._activities()

    def _activities(self) -> pd.DataFrame:
        rows = []
        for entity, ts in (("calls", "started_at"), ("sms", "sent_at"), ("emails", "sent_at")):
            for r in self.kept[entity]:
                out = r["direction"] == "outbound"
                if entity == "emails":
                    other = (r["to_address"] if out else r["from_address"]) or ""
                    lead = self.first_email.get(other.strip().lower())
                else:
                    lead = self.first_phone.get(r["to_number"] if out else r["from_number"])
                status = r.get("disposition") if entity == "calls" else r.get("delivery_status")
                automated = str(r.get("is_automated", "")).lower() == "true"
                qualifies = out and not automated and (
                    status in ("connected", "voicemail") if entity == "calls" else status in ("delivered", "sent"))
                rows.append({"entity": entity, "time": _parse_ts(r[ts], "telephony"), "lead_id": lead,
                             "outbound": out, "automated": automated, "qualifies": qualifies,
                             "carried_lead_id": r.get("lead_id")})
        return pd.DataFrame(rows)

    def genuine(self) -> pd.DataFrame:
        lv = self.leads
        return lv[~lv.is_bot & ~lv.is_internal & ~lv.is_duplicate]


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Landing:
    path = tmp_path_factory.mktemp("demo")
    manifest = generate(path, leads=3000, seed=11)
    return Landing(path, manifest)


# ------------------------------------------------------------------------------------------
# Tests
# ------------------------------------------------------------------------------------------


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes_and_other_seed_differs(tmp_path):
    a = generate(tmp_path / "a", leads=1000, seed=5)
    b = generate(tmp_path / "b", leads=1000, seed=5)
    c = generate(tmp_path / "c", leads=1000, seed=6)
    da, db, dc = _digest(tmp_path / "a"), _digest(tmp_path / "b"), _digest(tmp_path / "c")
    assert da == db and a == b
    assert set(da) == set(dc)
    differing = [k for k in da if da[k] != dc[k]]
    assert len(differing) > 0.9 * len(da)
    assert (tmp_path / "a" / MANIFEST_NAME).read_text() == json.dumps(a, indent=2, sort_keys=True) + "\n"


def test_files_follow_the_contract_and_layout(landing):
    root, m = landing.path, landing.manifest
    assert (root / "sources.yaml").read_text() == SOURCES_YAML
    start = dt.date.fromisoformat(m["parameters"]["start_date"])
    days = m["parameters"]["days"]
    expected_days = {(start + dt.timedelta(days=i)).isoformat() for i in range(days)}
    for entity in EVENT_ENTITIES:
        files = sorted((root / entity).iterdir())
        names = [c.name for c in ENTITY_BY_NAME[entity].columns]
        got_days = set()
        for f in files:
            match = re.fullmatch(rf"{entity}_(\d{{4}}-\d{{2}}-\d{{2}})\.{EXT[entity]}", f.name)
            assert match, f
            got_days.add(match.group(1))
            if EXT[entity] == "parquet":
                cols = pq.read_schema(f).names
            elif EXT[entity] == "csv":
                cols = f.read_text().split("\n", 1)[0].split(",")
            else:
                cols = list(json.loads(f.read_text().split("\n", 1)[0]).keys())
            assert set(cols) <= set(names), (f, cols)
            assert set(ENTITY_BY_NAME[entity].required_columns) <= set(cols)
        assert got_days <= expected_days
        if EXT[entity] != "jsonl":
            assert got_days == expected_days  # a CSV / Parquet file per day, even when empty
    for entity, rel in (("teams", "teams/teams.csv"), ("reps", "reps/reps.csv"),
                        ("schedules", "schedules/schedules.csv"), ("holidays", "holidays/holidays.csv")):
        frame = pd.read_csv(root / rel, dtype=str, keep_default_na=False)
        contract = ENTITY_BY_NAME[entity]
        assert list(frame.columns) == [c.name for c in contract.columns]
        for col in contract.required_columns:
            assert (frame[col] != "").all(), (entity, col)
        assert len(frame) == m["rows"][entity]
    costs = pq.read_table(root / "campaign_costs/campaign_costs.parquet")
    assert costs.schema.names == [c.name for c in ENTITY_BY_NAME["campaign_costs"].columns]
    assert costs.num_rows == m["rows"]["campaign_costs"]
    opp = pq.read_schema(next((root / "opportunities").iterdir()))
    assert str(opp.field("created_at").type) == "timestamp[ms, tz=UTC]"


def test_timestamp_formats(landing):
    crm_naive = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$")
    crm_aware = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{2}:\d{2}$")
    utc = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
    naive = aware = 0
    for r in landing.kept["leads"]:
        if crm_naive.match(r["created_at"]):
            naive += 1
        else:
            assert crm_aware.match(r["created_at"]), r["created_at"]
            aware += 1
            # the offset is the right one for that instant in America/New_York
            parsed = dt.datetime.fromisoformat(r["created_at"])
            assert parsed.utcoffset() == parsed.astimezone(ZoneInfo("America/New_York")).utcoffset()
    # kept rows are exactly the clean rows, which the manifest counts
    assert aware == landing.manifest["anomalies"]["offset_aware_rows"]["leads"]
    assert 0.05 < aware / (naive + aware) < 0.3
    for r in landing.kept["calls"][:2000]:
        assert utc.match(r["started_at"]) and utc.match(r["ended_at"])


def test_row_counts_in_manifest_equal_rows_in_files(landing):
    con = duckdb.connect()
    for entity in EVENT_ENTITIES:
        folder = landing.path / entity
        if EXT[entity] == "csv":
            n = sum(f.read_text().count("\n") - 1 for f in folder.iterdir())
        elif EXT[entity] == "jsonl":
            n = sum(f.read_text().count("\n") for f in folder.iterdir())
        else:
            n = con.execute(f"select count(*) from read_parquet('{folder}/*.parquet')").fetchone()[0]
        assert n == landing.manifest["rows"][entity], entity
        assert n == len(landing.kept[entity]) + sum(landing.quarantined[entity].values())


def test_planted_quarantine_is_exactly_what_the_contract_rules_find(landing):
    planted = landing.manifest["planted_quarantine"]
    for entity in EVENT_ENTITIES:
        found = {r: landing.quarantined[entity].get(r, 0) for r in planted[entity]}
        assert found == planted[entity], entity
        assert set(planted[entity]) <= set(QUARANTINE_REASONS)
    for entity in ("leads", "lead_status_history", "calls", "sms", "emails"):
        assert planted[entity]["malformed_row"] > 0
    for entity in EVENT_ENTITIES:
        for reason in ("missing_required_value", "invalid_value", "future_timestamp", "duplicate_key"):
            assert planted[entity][reason] > 0, (entity, reason)
    for entity in ("calls", "appointments", "opportunities"):
        assert planted[entity]["negative_duration"] > 0


def test_activities_per_lead_and_lead_id_only_sometimes(landing):
    m = landing.manifest
    per_lead = sum(m["rows"][e] for e in ("calls", "sms", "emails")) / m["rows"]["leads"]
    assert 5 <= per_lead <= 10
    acts = landing.activities
    carried = acts.carried_lead_id.notna() & (acts.carried_lead_id != "")
    assert 0.1 < carried.mean() < 0.6
    assert carried.sum() == sum(m["anomalies"]["activities_with_lead_id"].values())
    # the lead_id a row carries agrees with the person it went to
    both = acts[carried & acts.lead_id.notna()]
    leads = landing.leads.set_index("lead_id")
    same_person = [
        lid == lead or (leads.loc[lid, "phone_e164"] == leads.loc[lead, "phone_e164"]) or
        (leads.loc[lid, "email_norm"] == leads.loc[lead, "email_norm"])
        for lid, lead in zip(both.carried_lead_id, both.lead_id)]
    assert np.mean(same_person) == 1.0


def test_non_quarantined_anomalies_match_the_manifest(landing):
    m, leads, acts = landing.manifest, landing.leads, landing.activities
    anomalies = m["anomalies"]
    assert leads.is_bot.sum() == anomalies["bot_leads"] > 0
    assert leads.is_internal.sum() == anomalies["internal_test_leads"] > 0
    assert leads.is_duplicate.sum() == anomalies["duplicate_submission_leads"] > 0
    unknown = acts[acts.lead_id.isna()].groupby("entity").size().to_dict()
    assert {e: unknown.get(e, 0) for e in ("calls", "sms", "emails")} == anomalies["unknown_contact_activities"]
    created = leads.set_index("lead_id")["created"]
    matched = acts[acts.lead_id.notna()]
    before = matched[matched.time.values < created.loc[matched.lead_id].values]
    counted = before.groupby("entity").size().to_dict()
    assert {e: counted.get(e, 0) for e in ("calls", "sms", "emails")} == anomalies["activities_before_lead"]
    assert sum(anomalies["activities_before_lead"].values()) > 0
    assert sum(m["lead_kinds"].values()) == m["parameters"]["leads"]
    assert len(leads) == m["parameters"]["leads"]
    # bots arrive in bursts
    bots = leads[leads.is_bot].sort_values("created")
    gaps = bots.created.diff().dt.total_seconds().dropna()
    assert (gaps < 300).mean() > 0.8


def test_double_booked_appointments_are_the_only_overlaps(landing):
    appts = pd.DataFrame(landing.kept["appointments"])
    appts["start"] = [_parse_ts(v, "crm") for v in appts.scheduled_start_at]
    appts["end"] = [_parse_ts(v, "crm") for v in appts.scheduled_end_at]
    overlaps = 0
    for _, g in appts.sort_values("start").groupby("rep_id"):
        starts, ends = g.start.tolist(), g.end.tolist()
        for i in range(len(starts)):
            for j in range(i + 1, len(starts)):
                if starts[j] >= ends[i]:
                    break
                overlaps += 1
    assert overlaps == landing.manifest["anomalies"]["double_booked_appointments"] > 0


def test_phone_numbers_are_plausible_and_formats_vary(landing):
    leads = landing.leads
    sample = leads[leads.phone.notna() & (leads.phone != "")].head(800)
    for raw, country in zip(sample.phone, sample.country):
        assert phonenumbers.is_valid_number(phonenumbers.parse(raw, country)), (raw, country)
    shapes = {re.sub(r"\d", "9", p) for p in sample.phone}
    assert len(shapes) >= 8
    assert any(p.startswith("(") for p in sample.phone) and any(p.startswith("+1 ") for p in sample.phone)
    uk = leads[leads.country == "GB"].phone.dropna()
    assert any(p.startswith("0044 ") for p in uk) and any(p.startswith("07") for p in uk)


def test_seasonality_growth_and_surges(landing):
    leads = landing.genuine().copy()
    zone = {r["region"]: r["timezone"] for r in landing.manifest["regions"]}
    local = [c.astimezone(ZoneInfo(zone[r])) for c, r in zip(leads.created, leads.region)]
    hour = np.array([x.hour for x in local])
    weekday = np.array([x.weekday() for x in local])
    days = landing.manifest["parameters"]["days"]
    weekdays = days * 5 / 7
    day_rate = ((weekday < 5) & (hour >= 9) & (hour < 17)).sum() / (weekdays * 8)
    night_rate = ((hour >= 0) & (hour < 6)).sum() / (days * 6)
    weekend_rate = ((weekday >= 5) & (hour >= 9) & (hour < 17)).sum() / ((days - weekdays) * 8)
    assert day_rate > 5 * night_rate
    assert day_rate > 1.8 * weekend_rate
    # surges: ~10x the usual rate of that region in the same UTC hours on other weekdays
    assert landing.manifest["surges"]
    for s in landing.manifest["surges"]:
        start = dt.datetime.fromisoformat(s["start_utc"])
        end = dt.datetime.fromisoformat(s["end_utc"])
        region = leads[leads.region == s["region"]]
        inside = ((region.created >= start) & (region.created < end)).sum()
        others = []
        for k in range(-14, 15):
            if k == 0:
                continue
            a, b = start + dt.timedelta(days=k), end + dt.timedelta(days=k)
            if a.weekday() < 5:
                others.append(((region.created >= a) & (region.created < b)).sum())
        assert inside == s["leads"] or inside >= 0.9 * s["leads"]
        assert inside > 4 * max(np.mean(others), 1.0), (s, others)


def _first_response(landing: Landing, qualifying: bool) -> pd.Series:
    acts = landing.activities
    sel = acts.outbound & ~acts.automated & acts.lead_id.notna()
    if qualifying:
        sel &= acts.qualifies
    return acts[sel].groupby("lead_id").time.min()


def test_response_times_are_worse_after_hours(landing):
    leads = landing.genuine()
    leads = leads[leads.team_id != "T-247"]
    first = _first_response(landing, qualifying=False)
    tz = {t["team_id"]: ZoneInfo(t["timezone"]) for t in landing.manifest["teams"]}
    inside, outside = [], []
    for lid, created, team in zip(leads.lead_id, leads.created, leads.team_id):
        if lid not in first.index:
            continue
        minutes = (first[lid] - created).total_seconds() / 60
        local = created.astimezone(tz[team])
        if local.weekday() < 5 and 10 <= local.hour < 16:
            inside.append(minutes)
        elif local.weekday() >= 5 or local.hour >= 20 or local.hour < 6:
            outside.append(minutes)
    assert len(inside) > 200 and len(outside) > 200
    assert np.median(outside) > 10 * np.median(inside)
    assert np.median(inside) < 30


def test_conversion_falls_with_first_qualifying_response_time(landing):
    leads = landing.genuine()
    first = _first_response(landing, qualifying=True)
    converted = {r["lead_id"] for r in landing.kept["opportunities"]}
    start = leads.form.where(leads.form.notna(), leads.created)
    buckets, conv = [], []
    for lid, s in zip(leads.lead_id, start):
        if lid in first.index:
            elapsed = (first[lid] - s).total_seconds()
            buckets.append(int(np.searchsorted(BUCKET_EDGES, elapsed, side="right")))
        else:
            buckets.append(5)
        conv.append(lid in converted)
    frame = pd.DataFrame({"bucket": buckets, "converted": conv})
    rate = frame.groupby("bucket").converted.mean()
    counts = frame.groupby("bucket").size()
    assert (counts > 100).all()
    assert rate[0] > 2 * rate[5]
    assert rate[0] > rate[2] > rate[5]
    overall = frame.converted.mean()
    assert 0.06 < overall < 0.18
    truth = landing.manifest["truth"]["by_bucket"]
    for b, t in enumerate(truth):
        assert abs(counts.get(b, 0) - t["leads"]) <= 0.05 * len(frame), (b, counts.get(b, 0), t["leads"])
    effect = landing.manifest["effect"]
    assert [b["odds_ratio"] for b in effect["buckets"]][0] == 1.0
    assert {"intercept", "source_log_odds", "score_tier_log_odds"} <= set(effect)


def test_dst_fall_back_rows_are_counted(tmp_path):
    m = generate(tmp_path, leads=1500, seed=3, end_date=dt.date(2025, 11, 20), days=30)
    assert m["dst_ambiguous_naive_rows"] > 0
    ny = ZoneInfo("America/New_York")
    ambiguous_text = 0
    for entity, cols in (("leads", ("created_at", "form_submitted_at")), ("lead_status_history", ("changed_at",)),
                         ("appointments", ("booked_at", "scheduled_start_at", "scheduled_end_at"))):
        for f in (tmp_path / entity).iterdir():
            for row in csv.DictReader(io.StringIO(f.read_text())):
                for c in cols:
                    v = row.get(c) or ""
                    if re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}", v):  # naive
                        t = dt.datetime.fromisoformat(v)
                        if t.replace(tzinfo=ny, fold=0).utcoffset() != t.replace(tzinfo=ny, fold=1).utcoffset():
                            ambiguous_text += 1
    # every counted row has an ambiguous naive value; first-pass values are ambiguous text too
    assert ambiguous_text >= m["dst_ambiguous_naive_rows"]
    reference = Landing(tmp_path, m)
    for entity in EVENT_ENTITIES:
        assert {r: reference.quarantined[entity].get(r, 0) for r in QUARANTINE_REASONS if r != "empty_file"} == \
            {r: m["planted_quarantine"][entity].get(r, 0) for r in QUARANTINE_REASONS if r != "empty_file"}


def test_no_messy_data_when_messy_share_is_zero(tmp_path):
    m = generate(tmp_path, leads=1000, seed=2, messy_share=0.0)
    assert m["planted_quarantine_total"] == 0
    assert m["anomalies"]["bot_leads"] == m["anomalies"]["internal_test_leads"] == 0
    assert m["anomalies"]["duplicate_submission_leads"] == 0
    assert sum(m["anomalies"]["unknown_contact_activities"].values()) == 0
    for entity in ("leads", "calls", "sms"):
        _, counts = _reference_rows(tmp_path, entity)
        assert sum(counts.values()) == 0


def test_regenerating_removes_stale_files_only(tmp_path):
    generate(tmp_path, leads=1000, seed=1, days=40)
    foreign = tmp_path / "leads" / "leads_notes.txt"
    foreign.write_text("keep me")
    other = tmp_path / "crm_export" / "leads_2020-01-01.csv"
    other.parent.mkdir()
    other.write_text("keep me too")
    m = generate(tmp_path, leads=1000, seed=1, days=30, end_date=dt.date(2026, 6, 30))
    days = {p.name[len("leads_"):-4] for p in (tmp_path / "leads").glob("leads_*.csv")}
    start = dt.date.fromisoformat(m["parameters"]["start_date"])
    assert days == {(start + dt.timedelta(days=i)).isoformat() for i in range(30)}
    assert foreign.read_text() == "keep me" and other.read_text() == "keep me too"
    assert len(list((tmp_path / "calls").iterdir())) == 30


def test_organisation_dimensions(landing):
    root, m = landing.path, landing.manifest
    teams = pd.read_csv(root / "teams/teams.csv", dtype=str)
    assert 4 <= len(teams) <= 6 and teams.timezone.nunique() >= 4
    assert "Australia/Sydney" in set(teams.timezone)
    sched = pd.read_csv(root / "schedules/schedules.csv", dtype=str, keep_default_na=False)
    overnight = sched[sched.end_local < sched.start_local]
    assert len(overnight) >= 7
    assert (sched.rep_id != "").any() and (sched.effective_from != "").any() and (sched.effective_to != "").any()
    hol = pd.read_csv(root / "holidays/holidays.csv", dtype=str, keep_default_na=False)
    assert (hol.end_date != "").any() and (hol.team_id == "").any() and (hol.team_id != "").any()
    reps = pd.read_csv(root / "reps/reps.csv", dtype=str, keep_default_na=False)
    assert set(reps.team_id) == set(teams.team_id)
    owners = {r["owner_rep_id"] for r in landing.kept["leads"]}
    assert owners <= set(reps.rep_id)
    assert m["rows"]["reps"] == len(reps)


# ============================================================================================
# Unit tests of the generator's pure helpers (hand-computed values)
# ============================================================================================


def test_planted_buckets_have_the_metric_definitions_edges():
    from orchestration.demo import catalog

    assert [(lo, hi) for _, lo, hi in catalog.BUCKETS] == [(lo, hi) for _, lo, hi in response_buckets()]
    assert [lab for lab, _, _ in catalog.BUCKETS][:-1] == [lab for lab, _, _ in response_buckets()][:-1]


def test_categorical_and_bucket_of():
    from orchestration.demo.activities import bucket_of
    from orchestration.demo.draws import categorical

    u = np.array([0.0, 0.1999, 0.2, 0.49, 0.5, 0.999])
    assert categorical((2, 3, 5), u).tolist() == [0, 0, 1, 1, 2, 2]
    ms = np.array([0, 299_999, 300_000, 899_999, 3_600_000, 86_399_999, 86_400_000, 10 ** 10])
    assert bucket_of(ms).tolist() == [0, 0, 1, 1, 3, 4, 5, 5]


def test_conversion_probability_is_the_planted_logistic_model():
    from orchestration.demo.responses import conversion_probability

    # reference cell (0-5m, paid_search, warm): logistic(-1.60); 24h+, referral, hot:
    # logistic(-1.60 + log 0.20 + 0.55 + 0.55) = logistic(-2.109438)
    p = conversion_probability(np.array([0, 5]), np.array([0, 3]), np.array([1, 2]))
    assert p == pytest.approx([0.167981615, 0.108182885], abs=1e-9)


def test_rolling_target_carries_need_over_closed_days_and_takes_the_weekly_maximum():
    from orchestration.demo.roster import rolling_target

    need = np.array([np.nan, 2.5, np.nan, np.nan, 7.1, 1.0, 1.0, 1.0, 1.0, 1.0])
    assert rolling_target(need, 10).tolist() == [3, 8, 8, 8, 8, 8, 8, 8, 3, 3]  # at least MIN_REPS_PER_TEAM
    assert rolling_target(np.full(4, np.nan), 4).tolist() == [3, 3, 3, 3]


def test_pack_slots_books_each_rep_in_order_of_wish():
    from orchestration.demo.funnel import pack_slots

    order, rank, last, start = pack_slots(np.array([0, 0, 1, 0]), np.array([0, 0, 60, 90]),
                                          next_free=np.array([30, 0]), slot=30)
    assert order.tolist() == [0, 1, 3, 2]
    assert rank.tolist() == [0, 1, 2, 0]
    assert last.tolist() == [False, False, True, True]
    assert start.tolist() == [30, 60, 90, 60]  # rep 0 busy until 30; then back to back; rep 1 free
    _, _, _, start = pack_slots(np.array([0, 0]), np.array([0, 200]), next_free=np.array([0]), slot=30)
    assert start.tolist() == [0, 200]


def test_previous_status_and_first_per_lead():
    from orchestration.demo.replies import first_per_lead
    from orchestration.demo.world import previous_codes

    prev = previous_codes(np.array([1, 1, 1, 4, 4, 7]), np.array([0, 1, 2, 0, 3, 0]))
    assert prev.tolist() == [-1, 0, 1, -1, 0, -1]
    assert first_per_lead(np.array([5, 3, 5, 3, 9]), np.array([50, 40, 20, 45, 1])).tolist() == [1, 2, 4]


def test_special_lead_counts_holidays_and_test_addresses():
    from orchestration.demo.anomalies import test_lead_email
    from orchestration.demo.arrivals import holiday_days, special_lead_count
    from orchestration.demo.org import Holiday

    assert special_lead_count(1000, 0.02, 0.15) == 3
    assert special_lead_count(10, 0.01, 0.05) == 1  # messy at all: at least one
    assert special_lead_count(1000, 0.0, 0.15) == 0
    holidays = [Holiday(dt.date(2026, 1, 1), dt.date(2026, 1, 1), "", "New Year's Day"),
                Holiday(dt.date(2026, 11, 26), dt.date(2026, 11, 27), "T-NYC", "Thanksgiving"),
                Holiday(dt.date(2026, 12, 24), dt.date(2026, 12, 26), "T-LON", "Christmas shutdown")]
    assert holiday_days(holidays, "T-NYC").tolist() == [20454, 20783, 20784]
    assert [test_lead_email(k, "7") for k in range(3)] == [
        "test+7@speedlead-internal.test", "brightpath.qa7@outlook.com", "qa.7@speedlead-internal.test"]


def test_iso_utc():
    from orchestration.demo.textfmt import iso_utc

    assert iso_utc(0) == "1970-01-01T00:00:00.000Z"
    assert iso_utc(1_700_000_000_123) == "2023-11-14T22:13:20.123Z"


def _sink(tmp_path):
    from orchestration.demo.org import TzTable, to_ms
    from orchestration.demo.sink import Lookups, Sink

    t0 = to_ms(dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc))
    tz = TzTable("America/New_York", t0 - 86_400_000, t0 + 30 * 86_400_000)
    lookups = Lookups(rep_ids=["R00001", "R00002"], team_ids=["T-NYC"], campaigns=["spring, sale"])
    return Sink(tmp_path, t0, 30, dt.date(2026, 3, 1), 42, 0.0, tz, lookups), t0


def test_sink_column_specs_produce_the_contract_text(tmp_path):
    import pyarrow as pa

    sink, _ = _sink(tmp_path)
    sent = 1_772_978_587_123  # 2026-03-08T14:03:07.123Z
    names, cols, meta = sink._format("sms", {
        "sent": np.array([sent, sent + 1000]), "direction": np.array([0, 1]), "from": np.array([14155550123, 0]),
        "to": np.array([447700900123, 14155550123]), "rep": np.array([1, -1]), "status": np.array([0, 4]),
        "auto": np.array([1, 0]), "lead": np.array([42, -1]), "tag": np.array([0, 2]), "no": np.array([0, 1]),
        "_event": np.array([sent, sent + 1000])})
    text = dict(zip(names, [c.to_pylist() for c in cols]))
    assert names == [c.name for c in ENTITY_BY_NAME["sms"].columns if c.name != "score_tier"]
    assert text["sent_at"] == ["2026-03-08T14:03:07.123Z", "2026-03-08T14:03:08.123Z"]
    assert text["direction"] == ["outbound", "inbound"]
    assert text["from_number"] == ["+14155550123", None]
    assert text["to_number"] == ["+447700900123", "+14155550123"]
    assert text["rep_id"] == ["R00002", None]
    assert text["delivery_status"] == ["delivered", "received"]
    assert text["is_automated"] == ["true", "false"]
    assert text["lead_id"] == ["L00000043", None]
    assert all(re.fullmatch(r"SM[0-9a-f]{32}", m) for m in text["message_id"])
    assert text["message_id"][0] != text["message_id"][1]
    assert meta["plain"].tolist() == [True, False]  # tagged rows are never copied into bad rows
    assert sink.with_lead_id["sms"] == 1 and dict(sink.tags["sms"]) == {0: 1, 2: 1}
    # CRM timestamps: New York wall-clock time, naive or with the offset (EDT from 07:00 UTC that day)
    names, cols, meta = sink._format("lead_status_history", {
        "g": np.array([6, 6]), "status": np.array([0, 1]), "changed": np.array([sent, sent]),
        "prev": np.array([-1, 0]), "rep": np.array([-1, 0]), "aware": np.array([False, True]),
        "_event": np.array([sent, sent])})
    text = dict(zip(names, [c.to_pylist() for c in cols]))
    assert text == {"lead_id": ["L00000007", "L00000007"], "status": ["new", "working"],
                    "changed_at": ["2026-03-08 10:03:07.123", "2026-03-08T10:03:07.123-04:00"],
                    "previous_status": [None, "new"], "rep_id": [None, "R00001"]}
    assert sink.aware_rows["lead_status_history"] == 1
    assert isinstance(cols[0], pa.Array)

