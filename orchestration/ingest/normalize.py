"""Set-based normalisation in DuckDB: text values → typed, UTC, E.164, lower-cased.

Every extract is read as text first; these SQL builders turn a text column into its typed value
and say when a non-empty value fails to parse. Doing it in SQL keeps ingestion vectorised
(millions of rows per second) instead of a Python loop per value.

Timestamp rules (docs/data_contract.md) — strict: a value is read whole or not at all, never by
silently dropping what follows the time:
- offset-aware ISO-8601 (``Z``, ``+02:00``, ``-0500``, ``+01``) is converted to UTC;
- a time followed by ``UTC``/``GMT``/``Z`` (any case) is UTC; followed by a space and an IANA zone
  name (``Europe/Berlin``, ``America/New_York``, ``Etc/GMT+5``) it is that zone's wall time,
  converted with the same DST conventions as naive values (below);
- any other suffix is invalid — notably zone abbreviations (``EST``, ``CST``, ``IST``, ``BST``):
  they mean different offsets in different countries, so guessing would shift the value silently;
- ``infinity``, ``epoch``, ``now`` and other special words are invalid, and so is a year (as
  written) outside 1970-2099, or an epoch number at or after 2100-01-01;
- a naive value is local time in the source family's declared timezone. In the repeated hour of
  a fall-back transition it is ambiguous: we take the EARLIER instant (the daylight-time one,
  like Python's ``fold=0``; the step back is the zone's own offset change, so 30-minute shifts
  work too). In the skipped hour of a spring-forward transition it does not
  exist: we shift it forward by the gap (02:30 → 03:30), as a wall clock would;
- 10 or 13 digits are Unix epoch seconds or milliseconds;
- microseconds are kept (so milliseconds always are). Stored as TIMESTAMP holding UTC.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

import duckdb
import phonenumbers

from orchestration.ingest import contract as c

# The accepted shapes, as full-match patterns: cheap to test (no captures), so every value pays
# a few matches and only the branch it falls in does the extraction work.
# Years as written are 1970-2099: the DST transition tables cover exactly that, and a sentinel
# such as 9999 or 0001 is a placeholder, not a time (one such appointment once exploded a mart).
_DATE = r"(?:19[7-9]\d|20\d\d)-\d{2}-\d{2}"
_DATE_TIME = rf"{_DATE}[T ]\d{{1,2}}:\d{{2}}(?::\d{{2}}(?:\.\d+)?)?"
_NAIVE = rf"{_DATE}|{_DATE_TIME}"
_UTC_SUFFIXED = rf"({_DATE_TIME})\s*(?i:z|utc|gmt)"
_OFFSET_SUFFIXED = rf"{_DATE_TIME}\s*[+-](?:0\d|1[0-4])(?::?[0-5]\d)?"  # real offsets span -12 to +14 h
_IANA_SUFFIXED = rf"({_DATE_TIME}) ([A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+)+)"
# The shape most exports use, ISO-8601 in UTC with a 'Z' (seconds, milliseconds or microseconds),
# is tested with GLOB and the year range and cast directly: 0.31 against 1.12 s for 2.6M values
# on one thread. Within these shapes DuckDB's cast accepts exactly what the regex path does (a
# value it cannot cast is NULL there as well; tests/test_normalize.py holds hostile cases).
_D2 = "[0-9][0-9]"
_ISO_UTC_GLOB = f"{_D2}{_D2}-{_D2}-{_D2}T{_D2}:{_D2}:{_D2}"
_ISO_UTC_FAST = (f"(v GLOB '{_ISO_UTC_GLOB}Z' OR v GLOB '{_ISO_UTC_GLOB}.[0-9][0-9][0-9]Z' "
                 f"OR v GLOB '{_ISO_UTC_GLOB}.[0-9][0-9][0-9][0-9][0-9][0-9]Z') AND v >= '1970' AND v < '2100'")
# Epoch numbers are held to the same years: 4102444800 s is 2100-01-01 UTC.
_EPOCH_LIMIT_S = 4102444800


def quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@lru_cache(maxsize=None)
def iana_zone_names() -> tuple[str, ...]:
    """Area/Location zone names DuckDB's ICU knows (so a named zone can never make timezone() fail).

    ICU also knows bare ids such as EST, IST (= Asia/Kolkata) and BST (= Asia/Dhaka): exactly the
    ambiguous abbreviations we refuse, so names without a slash are left out, as are the POSIX
    relics SystemV/*."""
    with duckdb.connect() as con:
        names = con.execute("SELECT name FROM pg_timezone_names() WHERE contains(name, '/') "
                            "AND NOT starts_with(name, 'SystemV/') ORDER BY name").fetchall()
    return tuple(name for (name,) in names)


# Installed on every ingestion connection. No scalar subqueries: DuckDB runs those as correlated
# joins, 30x slower than inline expressions on a million values. The zone names are one string
# constant, not a list literal: a macro is expanded wherever it is used (about ten times per
# timestamp column), and binding ten copies of a 555-element list cost 50 ms per column and
# statement, most of a small extract's load.
MACROS = rf"""
CREATE OR REPLACE TEMP MACRO stl_iana_zone(v) AS
    CASE WHEN contains({quote("|" + "|".join(iana_zone_names()) + "|")}, '|' || regexp_extract(v, '^{_IANA_SUFFIXED}$', 2) || '|')
         THEN regexp_extract(v, '^{_IANA_SUFFIXED}$', 2) END;
-- UTC offset of an IANA zone at a UTC instant.
CREATE OR REPLACE TEMP MACRO stl_zone_offset(zone, utc) AS
    CAST(timezone(zone, timezone('UTC', utc)) AS TIMESTAMP) - utc;
-- Wall time in a zone given per row → UTC, Python's fold=0: the earlier instant of a repeated
-- time, the pre-transition offset in a skipped one (02:30 → 03:30). The offsets a day before and
-- after bracket any single transition near the value; the right one is the one that round-trips.
CREATE OR REPLACE TEMP MACRO stl_zoned_to_utc_with(wall, zone, before, after) AS
    CASE WHEN stl_zone_offset(zone, wall - before) = before THEN wall - before
         WHEN stl_zone_offset(zone, wall - after) = after THEN wall - after
         ELSE wall - before END;
CREATE OR REPLACE TEMP MACRO stl_zoned_to_utc(wall, zone) AS stl_zoned_to_utc_with(
    wall, zone, stl_zone_offset(zone, wall - INTERVAL 1 DAY), stl_zone_offset(zone, wall + INTERVAL 1 DAY));
-- Every value that carries its own zone (or is an epoch number) → UTC; NULL for naive values and
-- for anything that is not a timestamp.
CREATE OR REPLACE TEMP MACRO stl_aware_or_epoch_utc(v) AS CASE
    WHEN {_ISO_UTC_FAST} THEN TRY_CAST(v AS TIMESTAMP)
    WHEN regexp_full_match(v, '{_NAIVE}') THEN NULL
    WHEN regexp_full_match(v, '\d{{13}}') AND TRY_CAST(v AS BIGINT) < {_EPOCH_LIMIT_S * 1000}
        THEN make_timestamp(TRY_CAST(v AS BIGINT) * 1000)
    WHEN regexp_full_match(v, '\d{{10}}') AND TRY_CAST(v AS BIGINT) < {_EPOCH_LIMIT_S}
        THEN make_timestamp(TRY_CAST(v AS BIGINT) * 1000000)
    WHEN regexp_full_match(v, '{_UTC_SUFFIXED}') THEN TRY_CAST(regexp_extract(v, '^{_UTC_SUFFIXED}$', 1) AS TIMESTAMP)
    -- DuckDB's own offset parsing, once the shape is known to be exactly date, time, offset
    WHEN regexp_full_match(v, '{_OFFSET_SUFFIXED}')
        THEN CAST(TRY_CAST(regexp_replace(v, '\s+([+-]\d)', '\1') AS TIMESTAMPTZ) AS TIMESTAMP)
    WHEN regexp_full_match(v, '{_IANA_SUFFIXED}') THEN CASE WHEN stl_iana_zone(v) IS NOT NULL
        THEN stl_zoned_to_utc(TRY_CAST(regexp_extract(v, '^{_IANA_SUFFIXED}$', 1) AS TIMESTAMP), stl_iana_zone(v)) END END;
-- A value without any zone: its wall time, to be read in the source's declared timezone.
CREATE OR REPLACE TEMP MACRO stl_naive_local(v) AS
    CASE WHEN regexp_full_match(v, '{_NAIVE}') THEN TRY_CAST(v AS TIMESTAMP) END;
CREATE OR REPLACE TEMP MACRO stl_boolean(v) AS CASE
    WHEN lower(v) IN ('true', 't', 'yes', 'y', '1') THEN TRUE
    WHEN lower(v) IN ('false', 'f', 'no', 'n', '0') THEN FALSE END;
CREATE OR REPLACE TEMP MACRO stl_local_time_seconds(v) AS CASE
    WHEN regexp_full_match(v, '\d{{1,2}}:\d{{2}}(:\d{{2}})?') THEN (
        SELECT CASE WHEN h * 3600 + m * 60 + s <= 86400 AND m < 60 AND s < 60 THEN h * 3600 + m * 60 + s END
        FROM (SELECT TRY_CAST(split_part(v, ':', 1) AS INTEGER) AS h,
                     TRY_CAST(split_part(v, ':', 2) AS INTEGER) AS m,
                     coalesce(TRY_CAST(nullif(split_part(v, ':', 3), '') AS INTEGER), 0) AS s)) END;
CREATE OR REPLACE TEMP MACRO stl_weekday(v) AS CASE
    WHEN regexp_full_match(v, '[1-7]') THEN v::INTEGER
    ELSE list_position(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], left(lower(v), 3))
         * CASE WHEN lower(v) IN ('mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun', 'monday', 'tuesday',
                 'wednesday', 'thursday', 'friday', 'saturday', 'sunday') THEN 1 END END;
CREATE OR REPLACE TEMP MACRO stl_email(v) AS CASE
    WHEN regexp_full_match(trim(lower(v)), '[^@\s]+@[^@\s]+\.[^@\s]+') THEN trim(lower(v)) END;
CREATE OR REPLACE TEMP MACRO stl_e164(v, cc, trunk) AS (
    SELECT CASE WHEN regexp_full_match(n, '\+[1-9]\d{{6,14}}') THEN n END
    FROM (SELECT CASE
            WHEN d IS NULL OR d = '' THEN NULL
            WHEN starts_with(d, '+') THEN '+' || replace(d[2:], '+', '')
            WHEN starts_with(d, '00') THEN '+' || d[3:]
            WHEN cc = '1' AND starts_with(d, '011') THEN '+' || d[4:]
            WHEN trunk <> '' AND starts_with(d, trunk) THEN '+' || cc || d[length(trunk) + 1:]
            ELSE '+' || cc || d END AS n
          FROM (SELECT regexp_replace(regexp_replace(replace(lower(v), '(0)', ''), '\s*(ext\.?|x|#|;ext=).*$', ''),
                                      '[^0-9+]', '', 'g') AS d)));
"""


@lru_cache(maxsize=None)
def phone_plan(region: str) -> tuple[str, str]:
    """(country calling code, national trunk prefix) of a region, from libphonenumber metadata."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region.upper())
    if metadata is None:
        raise ValueError(f"unknown phone region {region!r} (expected an ISO 3166 alpha-2 code)")
    return str(metadata.country_code), metadata.national_prefix or ""


def phone_plans_table_sql() -> str:
    """VALUES list of every region's plan, joined to leads that name their country."""
    rows = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        cc, trunk = phone_plan(region)
        rows.append(f"('{region}', '{cc}', '{trunk}')")
    return "SELECT * FROM (VALUES " + ", ".join(rows) + ") AS t(region, cc, trunk)"


@lru_cache(maxsize=None)
def zone_transitions(zone: str, first_year: int = 1970, last_year: int = 2100) -> tuple[tuple, ...]:
    """(utc instant, offset before, offset after) of every offset change of an IANA zone."""
    tz = ZoneInfo(zone)
    offset = lambda t: t.astimezone(tz).utcoffset()  # noqa: E731
    found = []
    t = dt.datetime(first_year, 1, 1, tzinfo=dt.timezone.utc)
    end = dt.datetime(last_year, 1, 1, tzinfo=dt.timezone.utc)
    step = dt.timedelta(days=1)
    while t < end:
        before, after = offset(t), offset(t + step)
        if before != after:  # bisect the day to the second
            lo, hi = t, t + step
            while hi - lo > dt.timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                lo, hi = (mid, hi) if offset(mid) == before else (lo, mid)
            found.append((hi.replace(tzinfo=None), before, after))
        t += step
    return tuple(found)


def _local_windows(zone: str, folds: bool) -> list[tuple[dt.datetime, dt.datetime, int]]:
    """Local wall-time windows [start, end) that occur twice (folds) or never (gaps), with the
    size of the offset change in seconds."""
    windows = []
    for instant, before, after in zone_transitions(zone):
        change = int((before - after).total_seconds())
        if folds and change > 0:  # clocks go back: [instant+after, instant+before) happens twice
            windows.append((instant + after, instant + before, change))
        if not folds and change < 0:  # clocks go forward: [instant+before, instant+after) is skipped
            windows.append((instant + before, instant + after, -change))
    return windows


def _constant_list(values, sql_type: str) -> str:
    """A list as one text constant cast to ``sql_type[]``: it binds as a single value, where a
    list literal binds an expression per element (every time the enclosing macro is expanded)."""
    return f"CAST('[{', '.join('NULL' if v is None else str(v) for v in values)}]' AS {sql_type}[])"


def _window_case(local: str, windows, then: str, default: str) -> str:
    """SQL: ``then`` (with {seconds}) when ``local`` lies in one of the windows, else ``default``.

    Windows are indexed by year in list literals, so a value costs a list lookup and two
    comparisons whatever the number of transitions (no 100-arm CASE per row)."""
    if not windows:
        return default
    by_year: dict[int, list] = {}
    for window in windows:
        by_year.setdefault(window[0].year, []).append(window)
    first, last = min(by_year), max(by_year)
    idx = f"(year({local}) - {first - 1})"
    arms = []
    for k in range(max(len(v) for v in by_year.values())):
        pick = [by_year.get(y, [])[k] if len(by_year.get(y, [])) > k else None for y in range(first, last + 1)]
        starts = _constant_list((w[0] if w else None for w in pick), "TIMESTAMP")
        ends = _constant_list((w[1] if w else None for w in pick), "TIMESTAMP")
        sizes = _constant_list((w[2] if w else None for w in pick), "INTEGER")
        value = then.format(seconds=f"{sizes}[{idx}]")
        arms.append(f"WHEN {local} >= {starts}[{idx}] AND {local} < {ends}[{idx}] THEN {value}")
    return f"(CASE {' '.join(arms)} ELSE {default} END)"


def local_to_utc_sql(local: str, zone: str) -> str:
    """UTC of the naive wall time ``local`` in ``zone``, with this module's DST conventions.

    DuckDB's timezone(zone, t) reads t in the zone (a skipped time moves forward by the gap)
    but takes the LATER instant of a repeated time; inside a repeated window we step back by the
    zone's offset change. The windows come from the zone's transitions, computed once in Python,
    so the SQL needs one timezone conversion per value and no per-row transition search."""
    if zone == "UTC":
        return local
    back = _window_case(local, _local_windows(zone, folds=True), "to_seconds({seconds})", "INTERVAL 0 SECOND")
    return f"CAST(timezone({quote(zone)}, {local}) - {back} AS TIMESTAMP)"


def is_ambiguous_sql(local: str, zone: str) -> str:
    return _window_case(local, _local_windows(zone, folds=True), "TRUE", "FALSE") if zone != "UTC" else "FALSE"


def is_nonexistent_sql(local: str, zone: str) -> str:
    return _window_case(local, _local_windows(zone, folds=False), "TRUE", "FALSE") if zone != "UTC" else "FALSE"


def timestamp_utc_sql(raw: str, zone: str) -> str:
    """UTC TIMESTAMP of a text timestamp: offset-aware, epoch, or naive local time in ``zone``."""
    naive = local_to_utc_sql(f"stl_naive_local({raw})", zone)
    return f"coalesce(stl_aware_or_epoch_utc({raw}), {naive})"


def typed_sql(column: c.Column, raw: str, timezone: str) -> str:
    """SQL expression giving the typed value of ``raw`` (a trimmed, NULL-if-empty text)."""
    t = column.type
    if t == c.TIMESTAMP:
        return timestamp_utc_sql(raw, timezone)
    if t == c.DATE:
        return f"TRY_CAST({raw} AS DATE)"
    if t == c.INTEGER:
        # '12.0' is an integer; '12.5' is not.
        return (f"CASE WHEN TRY_CAST({raw} AS DOUBLE) = trunc(TRY_CAST({raw} AS DOUBLE)) "
                f"THEN TRY_CAST(TRY_CAST({raw} AS DOUBLE) AS BIGINT) END")
    if t == c.DECIMAL:
        return f"TRY_CAST({raw} AS DECIMAL(18, 4))"
    if t == c.BOOLEAN:
        return f"stl_boolean({raw})"
    if t == c.LOCAL_TIME:
        return (f"CASE WHEN stl_local_time_seconds({raw}) IS NOT NULL THEN "
                f"lpad((stl_local_time_seconds({raw}) // 3600)::VARCHAR, 2, '0') || ':' || "
                f"lpad((stl_local_time_seconds({raw}) % 3600 // 60)::VARCHAR, 2, '0') || ':' || "
                f"lpad((stl_local_time_seconds({raw}) % 60)::VARCHAR, 2, '0') END")
    if t == c.WEEKDAY:
        return f"stl_weekday({raw})"
    if t == c.TIMEZONE:
        return f"CASE WHEN {raw} IN (SELECT name FROM _stl_timezones) THEN {raw} END"
    if column.allowed:
        return f"CASE WHEN lower({raw}) IN ({', '.join(quote(v) for v in column.allowed)}) THEN lower({raw}) END"
    return raw  # string, phone, email: kept as given; normalised copies sit beside them


SQL_TYPES = {
    c.STRING: "VARCHAR", c.TIMESTAMP: "TIMESTAMP", c.DATE: "DATE", c.LOCAL_TIME: "VARCHAR",
    c.INTEGER: "BIGINT", c.DECIMAL: "DECIMAL(18, 4)", c.BOOLEAN: "BOOLEAN", c.PHONE: "VARCHAR",
    c.EMAIL: "VARCHAR", c.TIMEZONE: "VARCHAR", c.WEEKDAY: "INTEGER",
}


def companion_columns(column: c.Column) -> list[tuple[str, str]]:
    """Derived columns stored next to a contract column: (name, SQL type)."""
    if column.type == c.PHONE:
        return [(f"{column.name}_e164", "VARCHAR")]
    if column.type == c.EMAIL:
        return [(f"{column.name}_normalized", "VARCHAR")]
    if column.type == c.LOCAL_TIME:
        return [(f"{column.name}_seconds", "INTEGER")]
    return []


def companion_sql(column: c.Column, raw: str, cc: str, trunk: str) -> list[str]:
    if column.type == c.PHONE:
        return [f"stl_e164({raw}, {cc}, {trunk})"]
    if column.type == c.EMAIL:
        return [f"stl_email({raw})"]
    if column.type == c.LOCAL_TIME:
        return [f"stl_local_time_seconds({raw})"]
    return []


def describe_invalid(column: c.Column) -> str:
    """Human wording of what a valid value of this column looks like."""
    if column.allowed:
        return "one of " + ", ".join(column.allowed)
    return {
        c.TIMESTAMP: "an ISO-8601 timestamp (offset-aware preferred) or epoch seconds/milliseconds",
        c.DATE: "a date YYYY-MM-DD",
        c.INTEGER: "a whole number",
        c.DECIMAL: "a number",
        c.BOOLEAN: "true/false, yes/no, 1/0",
        c.LOCAL_TIME: "a local time HH:MM[:SS] up to 24:00",
        c.WEEKDAY: "an ISO weekday 1-7 or a day name",
        c.TIMEZONE: "an IANA timezone name",
    }.get(column.type, "text")


def is_checked(column: c.Column) -> bool:
    """Whether a non-empty value can be invalid (phones and emails never quarantine a row)."""
    return column.type not in (c.STRING, c.PHONE, c.EMAIL) or bool(column.allowed)
