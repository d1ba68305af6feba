"""Timezone normalisation and E.164 phone normalisation, against Python references."""

from __future__ import annotations

import datetime as dt
import random
from zoneinfo import ZoneInfo

import duckdb
import phonenumbers
import pytest

from orchestration.ingest import normalize as n
from orchestration.ingest.raw_schema import prepare_connection

UTC = dt.timezone.utc


@pytest.fixture(scope="module")
def con():
    connection = duckdb.connect()
    prepare_connection(connection)
    return connection


def to_utc(con, value: str, zone: str) -> dt.datetime | None:
    return con.execute(f"SELECT {n.timestamp_utc_sql('$1', zone)}", [value]).fetchone()[0]


def reference_utc(local: dt.datetime, zone: str) -> dt.datetime:
    """Python's reading with fold=0: the earlier instant when ambiguous; in a spring-forward gap
    the pre-transition offset, i.e. 02:30 EST = 03:30 EDT (the wall clock shifted forward)."""
    return local.replace(tzinfo=ZoneInfo(zone), fold=0).astimezone(UTC).replace(tzinfo=None)


@pytest.mark.parametrize("value, zone, expected", [
    # New York fall-back 2026-11-01: 01:00-02:00 happens twice; the earlier one is EDT (-4).
    ("2026-11-01 00:59:59.999", "America/New_York", dt.datetime(2026, 11, 1, 4, 59, 59, 999000)),
    ("2026-11-01 01:00:00", "America/New_York", dt.datetime(2026, 11, 1, 5, 0)),
    ("2026-11-01 01:30:00.123", "America/New_York", dt.datetime(2026, 11, 1, 5, 30, 0, 123000)),
    ("2026-11-01 01:59:59", "America/New_York", dt.datetime(2026, 11, 1, 5, 59, 59)),
    ("2026-11-01 02:00:00", "America/New_York", dt.datetime(2026, 11, 1, 7, 0)),
    # The same hour's second pass, written with its offset, is 06:30 UTC.
    ("2026-11-01T01:30:00-05:00", "America/New_York", dt.datetime(2026, 11, 1, 6, 30)),
    # Spring forward 2026-03-08: 02:00-03:00 does not exist; 02:30 reads as 03:30 EDT.
    ("2026-03-08 02:30:00", "America/New_York", dt.datetime(2026, 3, 8, 7, 30)),
    ("2026-03-08 03:00:00", "America/New_York", dt.datetime(2026, 3, 8, 7, 0)),
    # Southern hemisphere: Sydney falls back on 2026-04-05 at 03:00 (AEDT +11 → AEST +10).
    ("2026-04-05 02:30:00", "Australia/Sydney", dt.datetime(2026, 4, 4, 15, 30)),
    ("2026-04-05T02:30:00+10:00", "Australia/Sydney", dt.datetime(2026, 4, 4, 16, 30)),
    ("2026-03-08T14:03:07.123Z", "America/New_York", dt.datetime(2026, 3, 8, 14, 3, 7, 123000)),
    ("2026-03-08 14:03:07+0100", "UTC", dt.datetime(2026, 3, 8, 13, 3, 7)),
    ("2026-03-08 14:03:07+01", "UTC", dt.datetime(2026, 3, 8, 13, 3, 7)),
    ("1772978587123", "America/New_York", dt.datetime(2026, 3, 8, 14, 3, 7, 123000)),
    ("1772978587", "America/New_York", dt.datetime(2026, 3, 8, 14, 3, 7)),
    ("2026-03-08T14:03:07.123456Z", "UTC", dt.datetime(2026, 3, 8, 14, 3, 7, 123456)),
    ("yesterday", "UTC", None),
    ("2026-02-30 10:00", "UTC", None),
])
def test_timestamp_rules(con, value, zone, expected):
    assert to_utc(con, value, zone) == expected


@pytest.mark.parametrize("zone", ["America/New_York", "Europe/London", "Australia/Sydney", "America/Sao_Paulo",
                                  "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Chatham"])
def test_naive_local_times_match_python_on_random_instants_around_transitions(con, zone):
    rng = random.Random(zone)
    tz = ZoneInfo(zone)
    # Every hour boundary of 2025-2027 where the offset changes, plus random times nearby.
    samples = []
    t = dt.datetime(2025, 1, 1, tzinfo=UTC)
    previous = t.astimezone(tz).utcoffset()
    while t < dt.datetime(2027, 1, 1, tzinfo=UTC):
        offset = t.astimezone(tz).utcoffset()
        if offset != previous:
            local = t.astimezone(tz).replace(tzinfo=None)
            for _ in range(40):
                samples.append(local + dt.timedelta(seconds=rng.randint(-3 * 3600, 3 * 3600), microseconds=rng.randint(0, 999) * 1000))
        previous = offset
        t += dt.timedelta(hours=1)
    samples += [dt.datetime(2026, 1, 1) + dt.timedelta(seconds=rng.randint(0, 365 * 86400)) for _ in range(200)]
    values = [s.isoformat(sep=" ", timespec="milliseconds") for s in samples]
    got = con.execute(f"SELECT {n.timestamp_utc_sql('v', zone)} FROM unnest(?) AS t(v)", [values]).fetchall()
    mismatches = [(v, g[0], reference_utc(s, zone)) for v, s, g in zip(values, samples, got) if g[0] != reference_utc(s, zone)]
    assert not mismatches, mismatches[:5]


def test_ambiguous_and_nonexistent_flags(con):
    local = "stl_naive_local(v)"
    rows = con.execute(f"""
        SELECT coalesce({n.is_ambiguous_sql(local, 'America/New_York')}, false),
               coalesce({n.is_nonexistent_sql(local, 'America/New_York')}, false)
        FROM unnest(['2026-11-01 01:30:00', '2026-03-08 02:30:00', '2026-07-01 12:00:00',
                     '2026-11-01T01:30:00-04:00']) AS t(v)""").fetchall()
    assert rows == [(True, False), (False, True), (False, False), (False, False)]


def _phone_samples():
    samples = []
    for region in ("US", "CA", "GB", "DE", "FR", "AU", "IN", "BR"):
        for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE):
            number = phonenumbers.example_number_for_type(region, kind)
            if number is None:
                continue
            e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            for fmt in (phonenumbers.PhoneNumberFormat.NATIONAL, phonenumbers.PhoneNumberFormat.INTERNATIONAL,
                        phonenumbers.PhoneNumberFormat.E164):
                samples.append((phonenumbers.format_number(number, fmt), region, e164))
            samples.append(("00" + e164[1:], region, e164))
    return samples


@pytest.mark.parametrize("raw, region, expected", _phone_samples())
def test_e164_matches_libphonenumber(con, raw, region, expected):
    cc, trunk = n.phone_plan(region)
    assert con.execute("SELECT stl_e164(?, ?, ?)", [raw, cc, trunk]).fetchone()[0] == expected


@pytest.mark.parametrize("raw, expected", [
    ("(415) 555-0123", "+14155550123"), ("415.555.0123", "+14155550123"), ("1-415-555-0123", "+14155550123"),
    ("+1 415 555 0123 ext. 12", "+14155550123"), ("011 44 20 7946 0000", "+442079460000"),
    ("+44 (0)20 7946 0000", "+442079460000"), ("555", None), ("", None), ("n/a", None),
])
def test_e164_human_formats_us_default(con, raw, expected):
    assert con.execute("SELECT stl_e164(nullif(?, ''), '1', '1')", [raw]).fetchone()[0] == expected


# ---------------------------------------------------------------- strict timestamps: zones in values


@pytest.mark.parametrize("value, zone, expected", [
    # A zone written in the value wins over the source's declared zone.
    ("2026-10-14 20:10:32 UTC", "America/New_York", dt.datetime(2026, 10, 14, 20, 10, 32)),
    ("2026-10-14 20:10:32 utc", "America/New_York", dt.datetime(2026, 10, 14, 20, 10, 32)),
    ("2026-10-14 20:10:32GMT", "America/New_York", dt.datetime(2026, 10, 14, 20, 10, 32)),
    ("2026-10-14 20:10:32 Z", "America/New_York", dt.datetime(2026, 10, 14, 20, 10, 32)),
    ("2026-10-14 20:10:32 +00:00", "America/New_York", dt.datetime(2026, 10, 14, 20, 10, 32)),
    ("2026-10-14 20:10:32 +0530", "America/New_York", dt.datetime(2026, 10, 14, 14, 40, 32)),
    ("2026-10-14T20:10:32.25-05", "UTC", dt.datetime(2026, 10, 15, 1, 10, 32, 250000)),
    # IANA names: CEST (+2) in October, CET (+1) in early March, DST-aware.
    ("2026-10-14 20:10:32 Europe/Berlin", "America/New_York", dt.datetime(2026, 10, 14, 18, 10, 32)),
    ("2026-03-08 02:30 Europe/Berlin", "America/New_York", dt.datetime(2026, 3, 8, 1, 30)),
    # Berlin's own transitions: 2026-03-29 02:30 is skipped (read as 03:30 CEST = 01:30 UTC);
    # 2026-10-25 02:30 happens twice (the earlier, CEST, is 00:30 UTC).
    ("2026-03-29 02:30:00 Europe/Berlin", "UTC", dt.datetime(2026, 3, 29, 1, 30)),
    ("2026-10-25 02:30:00 Europe/Berlin", "UTC", dt.datetime(2026, 10, 25, 0, 30)),
    ("2026-10-14 20:10:32 America/New_York", "Europe/Berlin", dt.datetime(2026, 10, 15, 0, 10, 32)),
    ("2026-01-14 20:10:32 America/New_York", "UTC", dt.datetime(2026, 1, 15, 1, 10, 32)),
    ("2026-10-14 20:10:32 Asia/Kolkata", "UTC", dt.datetime(2026, 10, 14, 14, 40, 32)),
    ("2026-10-14 20:10:32 Etc/GMT+5", "UTC", dt.datetime(2026, 10, 15, 1, 10, 32)),  # POSIX sign: UTC-5
    # Years as written in 1970-2099; epoch numbers before 2100-01-01.
    ("1970-01-01 00:00:00Z", "UTC", dt.datetime(1970, 1, 1)),
    ("2099-12-31 23:59:59Z", "UTC", dt.datetime(2099, 12, 31, 23, 59, 59)),
    ("4102444799", "UTC", dt.datetime(2099, 12, 31, 23, 59, 59)),
])
def test_zone_written_in_the_value_is_honoured(con, value, zone, expected):
    assert to_utc(con, value, zone) == expected


@pytest.mark.parametrize("value", [
    # abbreviations: EST/CST/IST/BST mean different offsets in different places; never guessed
    "2026-10-14 20:10:32 EST", "2026-10-14 20:10:32 CST", "2026-10-14 20:10:32 IST",
    "2026-10-14 20:10:32 BST", "2026-10-14 20:10:32 PST", "2026-10-14 20:10:32 CEST",
    "2026-10-14 20:10:32 EST5EDT", "2026-10-14 20:10:32 SystemV/EST5", "2026-10-14 20:10:32 Mars/Olympus",
    "2026-10-14 20:10:32 europe/berlin", "2026-10-14 20:10:32 UTC+02:00", "2026-10-14 20:10:32 +15:00",
    "2026-10-14 20:10:32 Z junk", "2026-10-14Z",
    # special words DuckDB would otherwise read as dates
    "infinity", "-infinity", "epoch", "now", "today", "tomorrow", "allballs",
    # sentinel and out-of-range years
    "9999-12-31 00:00:00", "2999-01-01T10:00:00Z", "294247-01-01 00:00", "0001-01-01 00:00",
    "1969-12-31 23:59:59Z", "2100-01-01 00:00:00", "4102444800", "9999999999999",
])
def test_ambiguous_zones_special_words_and_sentinel_years_are_invalid(con, value):
    assert to_utc(con, value, "America/New_York") is None


@pytest.mark.parametrize("zone", ["America/New_York", "Europe/London", "Australia/Lord_Howe", "Pacific/Chatham"])
def test_iana_suffixed_values_match_python_around_transitions(con, zone):
    """A zone named per value (converted row by row) agrees with Python's fold=0 reading."""
    rng = random.Random("suffix" + zone)
    samples = []
    for instant, _before, after in n.zone_transitions(zone):
        if 2025 <= instant.year <= 2027:
            local = instant + after
            samples += [local + dt.timedelta(seconds=rng.randint(-3 * 3600, 3 * 3600)) for _ in range(40)]
    values = [f"{s.isoformat(sep=' ')} {zone}" for s in samples]
    got = con.execute(f"SELECT {n.timestamp_utc_sql('v', 'UTC')} FROM unnest(?) AS t(v)", [values]).fetchall()
    mismatches = [(v, g[0], reference_utc(s, zone)) for v, s, g in zip(values, samples, got)
                  if g[0] != reference_utc(s, zone)]
    assert len(samples) >= 160 and not mismatches, mismatches[:5]


def test_loader_quarantines_ambiguous_zone_and_reads_utc_suffix_exactly(settings):
    from orchestration.ingest.service import ingest_entity

    (settings.landing_dir / "sources.yaml").write_text("crm: {timezone: America/New_York}\n")
    (settings.landing_dir / "leads_2026-10-14.csv").write_text("\n".join([
        "lead_id,created_at,form_submitted_at,source,score,phone,email,country",
        "L1,2026-10-14 20:10:32 UTC,,web,50,,,",
        "L2,2026-10-14 20:10:32 EST,,web,50,,,",
        "L3,2026-10-14 20:10:32,,web,50,,,",          # naive: New York (EDT) time
        "L4,-infinity,,web,50,,,",
        "L5,2026-10-14 20:10:32 Europe/Berlin,,web,50,,,",
    ]) + "\n")
    con = duckdb.connect(str(settings.warehouse_path))
    ingest_entity(con, settings, "leads", load_time=dt.datetime(2026, 11, 20, 12, 0))
    assert con.execute("SELECT lead_id, created_at FROM raw.leads ORDER BY lead_id").fetchall() == [
        ("L1", dt.datetime(2026, 10, 14, 20, 10, 32)),
        ("L3", dt.datetime(2026, 10, 15, 0, 10, 32)),
        ("L5", dt.datetime(2026, 10, 14, 18, 10, 32)),
    ]
    rejected = con.execute("SELECT source_row, reason, column_name, detail FROM raw.quarantine "
                           "ORDER BY source_row").fetchall()
    assert [(row, reason, column) for row, reason, column, _ in rejected] == [
        (2, "invalid_value", "created_at"), (4, "invalid_value", "created_at")]
    assert rejected[0][3].startswith("'2026-10-14 20:10:32 EST' is not ")
    assert rejected[1][3].startswith("'-infinity' is not ")


@pytest.mark.parametrize("value", [
    "2026-03-08T14:03:07Z", "2026-03-08T14:03:07.123Z", "2026-03-08T14:03:07.123456Z",
    "1970-01-01T00:00:00Z", "2099-12-31T23:59:59.999999Z", "1969-12-31T23:59:59Z", "2100-01-01T00:00:00Z",
    "0001-01-01T00:00:00Z", "9999-12-31T00:00:00.000Z", "2025-02-30T10:00:00.000Z", "2025-13-01T00:00:00Z",
    "2025-01-01T24:00:00.000Z", "2025-01-01T23:60:00Z", "2025-01-01T00:00:60Z", "2025-01-01T00:00:00. 12Z",
    "2025-01-01T00:00:00.-12Z", "2025-01-01T00:00:00.1e3Z", "19a0-01-01T00:00:00Z", "+025-01-01T00:00:00Z",
    "2025-01-01T00:00:00.1234Z", "2025-01-01T0:00:00.000Z", "2025-01-01T00:00:00.000z",
])
def test_the_iso_utc_fast_path_reads_exactly_what_the_regex_path_reads(con, value):
    """Values in (or near) the shapes the GLOB fast path casts directly give the same result as
    with the fast path removed from the macro."""
    regex_only = n.MACROS.split("stl_aware_or_epoch_utc(v) AS ")[1].split(";\n")[0].replace(
        f"WHEN {n._ISO_UTC_FAST} THEN TRY_CAST(v AS TIMESTAMP)", "")
    assert n._ISO_UTC_FAST not in regex_only
    con.execute(f"CREATE OR REPLACE TEMP MACRO regex_only_utc(v) AS {regex_only}")
    fast = con.execute(f"SELECT {n.timestamp_utc_sql('$1', 'UTC')}", [value]).fetchone()[0]
    slow = con.execute("SELECT coalesce(regex_only_utc($1), stl_naive_local($1))", [value]).fetchone()[0]
    assert fast == slow
    if value.startswith("2026-03-08T14:03:07"):  # the plain cases are read, not both NULL
        assert fast is not None
