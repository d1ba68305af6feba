"""Business time in SQL (models/intermediate/business_time, macros/business_time.sql) against an
independent Python reference, to the second.

One warehouse is written with random teams, reps, schedules and holidays (plus hand-made teams
whose answers are worked out by hand), dbt builds the business-time models on it, and the SQL
that ``business_clock`` emits (taken from ``dbt compile --inline``) is run on a table of test
instants. The reference shares nothing with the SQL but the rules: it walks local dates in
Python, converts shift boundaries with ``zoneinfo`` (fold=0: a gap time moves forward by the
gap, an ambiguous time is the earlier instant), unions the intervals by sorting, and measures
[a, b) against that union directly.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import json
import os
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest

from orchestration.ingest.raw_schema import ensure_raw_schema
from tests.helpers import WAREHOUSE_FILE, run_dbt

pytestmark = pytest.mark.slow  # every test reads the module's dbt build

UTC = dt.timezone.utc
SEED = int(os.environ.get("STL_BUSINESS_TIME_SEED", "20241103"))

# The range the anchor rows pin: earliest lead 2024-01-05 (−2 days), latest event 2025-04-25 (+2).
RANGE_START = dt.datetime(2024, 1, 3, tzinfo=UTC)
RANGE_END = dt.datetime(2025, 4, 28, tzinfo=UTC)  # exclusive: the day after 2025-04-27
ZONES = ["America/New_York", "Europe/London", "Australia/Sydney", "America/Sao_Paulo",
         "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Chatham"]


# ----------------------------------------------------------------------------- the world


@dataclass
class Row:
    weekday: int  # ISO 1..7
    start: int  # seconds after local midnight
    end: int  # 0..86400; <= start: ends the next day
    effective_from: dt.date | None = None
    effective_to: dt.date | None = None
    timezone: str | None = None  # override


@dataclass
class Calendar:
    calendar_id: str
    team_id: str
    rep_id: str | None
    timezone: str  # the zone its rows are read in (team's, or every row's override)
    rows: list[Row] = field(default_factory=list)


@dataclass
class World:
    teams: dict[str, str] = field(default_factory=dict)  # team_id -> zone
    calendars: dict[str, Calendar] = field(default_factory=dict)
    holidays: list[tuple[dt.date, dt.date | None, str | None, str]] = field(default_factory=list)

    def closed_dates(self, team_id: str) -> set[dt.date]:
        out = set()
        for start, end, team, _ in self.holidays:
            if team is None or team == team_id:
                day = start
                while day <= (end or start):
                    out.add(day)
                    day += dt.timedelta(days=1)
        return out


def hms(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def weekly(start: str, end: str, days=range(1, 8), **kw) -> list[Row]:
    def sec(v: str) -> int:
        h, m = v.split(":")
        return int(h) * 3600 + int(m) * 60
    return [Row(d, sec(start), sec(end), **kw) for d in days]


def hand_world(world: World) -> None:
    """Teams whose answers are worked out by hand in test_hand_computed_cases."""
    world.teams.update({"H-NY": "America/New_York", "H-247": "America/New_York",
                        "H-LON": "Europe/London", "H-NONE": "Europe/Paris"})
    world.calendars["team:H-NY"] = Calendar("team:H-NY", "H-NY", None, "America/New_York",
                                            weekly("09:00", "17:00", days=range(1, 6)))
    world.calendars["team:H-247"] = Calendar("team:H-247", "H-247", None, "America/New_York",
                                             weekly("00:00", "24:00"))
    world.calendars["team:H-LON"] = Calendar("team:H-LON", "H-LON", None, "Europe/London",
                                             weekly("22:00", "06:00", days=range(1, 6)))
    world.teams["H-NIGHT"] = "America/New_York"
    world.calendars["team:H-NIGHT"] = Calendar("team:H-NIGHT", "H-NIGHT", None, "America/New_York",
                                               weekly("01:00", "05:00"))
    world.holidays.append((dt.date(2024, 12, 24), dt.date(2024, 12, 26), "H-NY", "Christmas"))
    # H-NONE has no schedule rows: its business time is unknown (NULL), not zero.


def random_rows(rng: random.Random, zone: str | None) -> list[Row]:
    """A random weekly pattern, sometimes in two versions switched by effective dates."""
    def pattern() -> list[Row]:
        kind = rng.choice(["office", "office", "split", "overlap", "overnight", "247", "random", "small_hours"])
        days = sorted(rng.sample(range(1, 8), rng.randint(3, 7)))
        q = 900  # quarter hours, so boundaries land on DST transition times often
        if kind == "247":
            end = rng.choice([86400, 0])  # 00:00-24:00, or 00:00-00:00 (end <= start: 24 h)
            return [Row(d, 0, end) for d in range(1, 8)]
        if kind == "overnight":
            start = rng.randint(18 * 4, 23 * 4) * q
            return [Row(d, start, rng.randint(0, 8 * 4) * q) for d in days]
        if kind == "split":
            a = rng.randint(6 * 4, 10 * 4) * q
            b = a + rng.randint(8, 20) * q
            c = b + rng.randint(0, 8) * q  # 0: touching shifts
            return [r for d in days for r in (Row(d, a, b), Row(d, c, min(c + rng.randint(8, 24) * q, 86400)))]
        if kind == "overlap":
            a = rng.randint(0, 12 * 4) * q
            return [r for d in days for r in (Row(d, a, a + 8 * 3600), Row(d, a + 4 * 3600, a + 12 * 3600))]
        if kind == "small_hours":  # boundaries where clocks change: 00:30-04:00 local
            return [Row(d, rng.randint(2, 16) * q, rng.randint(2, 16) * q) for d in range(1, 8)]
        if kind == "random":
            rows = []
            for d in days:
                for _ in range(rng.randint(1, 3)):
                    rows.append(Row(d, rng.randint(0, 96) * q, rng.randint(0, 96) * q))
            return rows
        start = rng.randint(6 * 4, 11 * 4) * q
        return [Row(d, start, start + rng.randint(16, 40) * q) for d in days]

    rows = pattern()
    if rng.random() < 0.5:  # the schedule changes on a random date
        switch = RANGE_START.date() + dt.timedelta(days=rng.randint(30, 420))
        for r in rows:
            r.effective_to = switch - dt.timedelta(days=1)
        later = pattern()
        for r in later:
            r.effective_from = switch
        rows += later
    if rng.random() < 0.2:  # a row that never applies inside the range
        rows.append(Row(3, 3600, 7200, dt.date(2020, 1, 1), dt.date(2020, 12, 31)))
    # (weekday, start, effective_from) is the contract's key within a calendar: keep one row each.
    unique = {}
    for r in rows:
        r.timezone = zone
        unique.setdefault((r.weekday, r.start, r.effective_from), r)
    return list(unique.values())


def random_world(world: World, rng: random.Random, teams: int = 10, reps: int = 3) -> None:
    for i in range(teams):
        team_id, zone = f"R-{i}", ZONES[i % len(ZONES)]
        world.teams[team_id] = zone
        world.calendars[f"team:{team_id}"] = Calendar(f"team:{team_id}", team_id, None, zone,
                                                      random_rows(rng, None))
    for i in range(reps):
        team_id = f"R-{i}"
        override = rng.choice([None, rng.choice(ZONES)])
        world.calendars[f"rep:P-{i}"] = Calendar(f"rep:P-{i}", team_id, f"P-{i}",
                                                 override or world.teams[team_id],
                                                 random_rows(rng, override))
    random_teams = [t for t in world.teams if t.startswith("R-")]
    for _ in range(12):
        team = rng.choice([None, None, *random_teams])
        # Holidays of all teams fall in 2025, clear of the hand-computed cases in 2024.
        start = (dt.date(2025, 1, 2) + dt.timedelta(days=rng.randint(0, 110)) if team is None
                 else RANGE_START.date() + dt.timedelta(days=rng.randint(-3, 480)))
        length = rng.choice([0, 0, 1, 2, 3])
        end = None if length == 0 and rng.random() < 0.5 else start + dt.timedelta(days=length)
        world.holidays.append((start, end, team, f"holiday {start}"))


# ----------------------------------------------------------------------------- the reference


def to_utc(local: dt.datetime, zone: str) -> dt.datetime:
    """fold=0: a gap time is read with the offset before the change (so it moves forward by the
    gap); an ambiguous time is the first (earlier) of its two instants."""
    return local.replace(tzinfo=ZoneInfo(zone), fold=0).astimezone(UTC)


class Reference:
    """The union of a calendar's open intervals over the range, in UTC, and measures on it."""

    def __init__(self, world: World, cal: Calendar):
        closed = world.closed_dates(cal.team_id)
        raw = []
        day = RANGE_START.date() - dt.timedelta(days=3)
        while day <= RANGE_END.date() + dt.timedelta(days=2):
            if day not in closed:
                midnight = dt.datetime.combine(day, dt.time())
                for r in cal.rows:
                    if (day.isoweekday() == r.weekday
                            and (r.effective_from is None or day >= r.effective_from)
                            and (r.effective_to is None or day <= r.effective_to)):
                        end = r.end if r.end > r.start else r.end + 86400
                        zone = r.timezone or world.teams[cal.team_id]
                        a = to_utc(midnight + dt.timedelta(seconds=r.start), zone)
                        b = to_utc(midnight + dt.timedelta(seconds=end), zone)
                        a, b = max(a, RANGE_START), min(b, RANGE_END)
                        if b > a:
                            raw.append((a, b))
            day += dt.timedelta(days=1)
        raw.sort()
        self.intervals: list[tuple[dt.datetime, dt.datetime]] = []
        for a, b in raw:
            if self.intervals and a <= self.intervals[-1][1]:
                last = self.intervals[-1]
                self.intervals[-1] = (last[0], max(last[1], b))
            else:
                self.intervals.append((a, b))
        self.starts = [a for a, _ in self.intervals]
        self.before = [0.0]
        for a, b in self.intervals:
            self.before.append(self.before[-1] + (b - a).total_seconds())

    def clock(self, t: dt.datetime) -> float:
        """Business seconds from the range start to t."""
        i = bisect.bisect_right(self.starts, t)  # intervals starting at or before t
        if i == 0:
            return 0.0
        a, b = self.intervals[i - 1]
        return self.before[i - 1] + (min(t, b) - a).total_seconds()

    def between(self, a: dt.datetime, b: dt.datetime) -> float:
        """Measure of [a, b) ∩ open time, by direct intersection (not through clock())."""
        return sum(max(0.0, (min(b, e) - max(a, s)).total_seconds()) for s, e in self.intervals
                   if s < b and e > a)

    def is_open(self, t: dt.datetime) -> bool:
        return any(s <= t < e for s, e in self.intervals)


@functools.lru_cache(maxsize=None)
def transitions(zone: str) -> list[dt.datetime]:
    """UTC instants inside the range where the zone's offset changes (hourly scan, then refine)."""
    tz, out = ZoneInfo(zone), []
    t = RANGE_START
    while t < RANGE_END:
        nxt = t + dt.timedelta(hours=1)
        if t.astimezone(tz).utcoffset() != nxt.astimezone(tz).utcoffset():
            out.append(nxt)
        t = nxt
    return out


# ----------------------------------------------------------------------------- warehouse + dbt


def lineage(i: int) -> list:
    return [f"test/{i}.csv", i, dt.date(2025, 4, 21), "test-load", dt.datetime(2025, 4, 21)]


def write_raw(path: Path, world: World) -> None:
    con = duckdb.connect(str(path))
    ensure_raw_schema(con)
    for team_id, zone in world.teams.items():
        con.execute("INSERT INTO raw.teams VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [team_id, f"Team {team_id}", zone, "test", *lineage(0)])
    n = 0
    for cal in world.calendars.values():
        for r in cal.rows:
            n += 1
            con.execute("INSERT INTO raw.schedules VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [cal.team_id, cal.rep_id, r.weekday, hms(r.start), r.start, hms(r.end), r.end,
                         r.effective_from, r.effective_to, r.timezone, *lineage(n)])
    for i, (start, end, team, name) in enumerate(world.holidays):
        con.execute("INSERT INTO raw.holidays VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [start, end, team, name, *lineage(i)])
    # Anchors of the calendar range: the earliest and latest lead, and a later status change.
    for lead_id, created, form in (("L-first", dt.datetime(2024, 1, 5, 12), dt.datetime(2024, 1, 5, 11)),
                                   ("L-last", dt.datetime(2025, 4, 20, 12), None)):
        con.execute("INSERT INTO raw.leads (lead_id, created_at, form_submitted_at, team_id, _source_file, "
                    "_source_row, _extract_date, _load_id, _loaded_at) VALUES (?, ?, ?, 'H-NY', ?, ?, ?, ?, ?)",
                    [lead_id, created, form, *lineage(0)])
    con.execute("INSERT INTO raw.lead_status_history (lead_id, status, changed_at, _source_file, _source_row, "
                "_extract_date, _load_id, _loaded_at) VALUES ('L-last', 'contacted', ?, ?, ?, ?, ?, ?)",
                [dt.datetime(2025, 4, 25, 9), *lineage(0)])
    con.close()


SELECT = ["--select", "+path:models/intermediate/business_time", "--indirect-selection", "cautious"]


# The cross-engine macros, applied to bt_test.conversions (id, zone, local_ts, utc_ts, day).
CONVERSIONS_SQL = """
select
    id,
    {{ local_to_utc('local_ts', 'zone') }} as local_to_utc,
    {{ utc_to_local('utc_ts', 'zone') }} as utc_to_local,
    {{ epoch_seconds('utc_ts') }} as epoch_seconds,
    {{ seconds_between('local_ts', 'utc_ts') }} as seconds_between,
    {{ add_seconds('utc_ts', 90.25) }} as add_seconds,
    {{ date_add_days('day', -3) }} as date_add_days,
    {{ iso_weekday('day') }} as iso_weekday
from bt_test.conversions
"""
SPLIT = "-- next statement --"


def compiled_sql(warehouse: Path, target: Path) -> tuple[str, str]:
    """business_clock over bt_test.instants, and CONVERSIONS_SQL, in one dbt invocation."""
    inline = ("{{ business_clock('bt_test.instants', ['id'], 'calendar_id', 'ts', local_flags=true) }}\n"
              + SPLIT + CONVERSIONS_SQL)
    out = run_dbt(["compile", "--inline", inline, "--output", "json", "--quiet"], warehouse, target)
    assert out.returncode == 0, out.stdout + out.stderr
    clock, conversions = json.loads(out.stdout[out.stdout.index("{"):])["compiled"].split(SPLIT)
    return clock, conversions


# ----------------------------------------------------------------------------- fixture


@dataclass
class Built:
    warehouse: Path
    target: Path
    world: World
    sql: str
    refs: dict[str, Reference]
    results: dict[int, tuple]  # instant id -> row of the compiled business_clock (local_flags=true)
    instants: dict[int, tuple[str, dt.datetime | None]]
    pairs: list[tuple[int, int]]
    conversions_sql: str


def naive(t: dt.datetime | None) -> dt.datetime | None:
    return None if t is None else t.astimezone(UTC).replace(tzinfo=None)


@pytest.fixture(scope="module")
def built(tmp_path_factory, dbt_manifest) -> Built:
    rng = random.Random(SEED)
    world = World()
    hand_world(world)
    random_world(world, rng)
    tmp = tmp_path_factory.mktemp("business_time")
    warehouse, target = tmp / WAREHOUSE_FILE, tmp / "target"
    write_raw(warehouse, world)

    out = run_dbt(["build", *SELECT], warehouse, target)
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-3000:]
    sql, conversions_sql = compiled_sql(warehouse, target)

    # Test instants: random pairs per random calendar, many inside DST transition weeks.
    instants: dict[int, tuple[str, dt.datetime | None]] = {}
    pairs: list[tuple[int, int]] = []
    span = (RANGE_END - RANGE_START).total_seconds()

    def add(cal_id: str, t: dt.datetime | None) -> int:
        instants[len(instants)] = (cal_id, t)
        return len(instants) - 1

    random_cals = [c for c in world.calendars.values() if c.calendar_id.startswith(("team:R", "rep:"))]
    for cal in random_cals:
        shifts = transitions(cal.timezone)
        for _ in range(45):
            if shifts and rng.random() < 0.4:
                a = rng.choice(shifts) + dt.timedelta(seconds=rng.randint(-4 * 86400, 3 * 86400))
            else:
                a = RANGE_START + dt.timedelta(seconds=rng.randint(0, int(span) - 1))
            wait = rng.choice([rng.randint(0, 600), rng.randint(0, 6 * 3600), rng.randint(0, 4 * 86400),
                               rng.randint(0, 20 * 86400), rng.randint(60 * 86400, 100 * 86400)])
            b = min(a + dt.timedelta(seconds=wait), RANGE_END - dt.timedelta(seconds=1))
            a = max(a, RANGE_START)
            pairs.append((add(cal.calendar_id, a), add(cal.calendar_id, b)))
        # Across every DST change of the calendar's zone, a day either side.
        for change in shifts:
            pairs.append((add(cal.calendar_id, change - dt.timedelta(days=1)),
                          add(cal.calendar_id, min(change + dt.timedelta(days=1), RANGE_END - dt.timedelta(seconds=1)))))
        # From the range start itself (F = 0 there).
        pairs.append((add(cal.calendar_id, RANGE_START), add(cal.calendar_id, RANGE_START + dt.timedelta(days=3))))
    refs = {c.calendar_id: Reference(world, c) for c in world.calendars.values()}
    for cal in random_cals:  # interval boundaries exactly (start: open; end: closed)
        for s, e in rng.sample(refs[cal.calendar_id].intervals, min(10, len(refs[cal.calendar_id].intervals))):
            pairs.append((add(cal.calendar_id, s), add(cal.calendar_id, min(e, RANGE_END - dt.timedelta(seconds=1)))))

    con = duckdb.connect(str(warehouse))
    con.execute("CREATE SCHEMA bt_test")
    con.execute("CREATE TABLE bt_test.instants (id INTEGER, calendar_id VARCHAR, ts TIMESTAMP)")
    con.executemany("INSERT INTO bt_test.instants VALUES (?, ?, ?)",
                    [[i, c, naive(t)] for i, (c, t) in instants.items()])
    results = {row[0]: row for row in con.execute(sql).fetchall()}
    con.close()
    return Built(warehouse, target, world, sql, refs, results, instants, pairs, conversions_sql)


def evaluate(built: Built, rows: list[tuple[str, dt.datetime | None]]) -> list[tuple]:
    """Run the compiled business_clock over ad-hoc instants (a fresh table per call)."""
    con = duckdb.connect(str(built.warehouse))
    con.execute("CREATE SCHEMA IF NOT EXISTS bt_test")
    con.execute("CREATE OR REPLACE TABLE bt_test.instants (id INTEGER, calendar_id VARCHAR, ts TIMESTAMP)")
    con.executemany("INSERT INTO bt_test.instants VALUES (?, ?, ?)",
                    [[i, c, naive(t)] for i, (c, t) in enumerate(rows)])
    out = sorted(con.execute(built.sql).fetchall())
    con.close()
    return out


def local(zone: str, *args) -> dt.datetime:
    return to_utc(dt.datetime(*args), zone)


# ----------------------------------------------------------------------------- tests


def test_random_pairs_match_the_reference_to_the_second(built: Built):
    assert len(built.pairs) >= 300
    mismatches = []
    for ia, ib in built.pairs:
        cal_id, a = built.instants[ia]
        _, b = built.instants[ib]
        ref = built.refs[cal_id]
        expected = ref.between(a, b)
        got = built.results[ib][1] - built.results[ia][1]
        if abs(got - expected) > 1e-6 or abs(built.results[ia][1] - ref.clock(a)) > 1e-6:
            mismatches.append((cal_id, a, b, expected, got))
    assert not mismatches, f"{len(mismatches)} of {len(built.pairs)} differ, e.g. {mismatches[:5]}"


def test_long_waits_and_transition_weeks_are_covered(built: Built):
    waits = [(built.instants[b][1] - built.instants[a][1]).total_seconds() for a, b in built.pairs]
    assert sum(w >= 60 * 86400 for w in waits) >= 30
    near = 0
    for a, _ in built.pairs:
        cal_id, t = built.instants[a]
        zone = built.world.calendars[cal_id].timezone
        near += any(abs((t - s).total_seconds()) < 4 * 86400 for s in transitions(zone)) if zone else 0
    assert near >= 50


def test_business_time_flag_and_local_date_match_the_reference(built: Built):
    for i, (cal_id, t) in built.instants.items():
        row = built.results[i]
        cal = built.world.calendars[cal_id]
        if t >= RANGE_END:
            continue
        assert row[2] == built.refs[cal_id].is_open(t), (cal_id, t)
        assert row[3] == (not row[2])
        local_time = t.astimezone(ZoneInfo(cal.timezone))
        assert row[4] == local_time.replace(tzinfo=None), (cal_id, t)
        assert (row[5], row[6]) == (local_time.date(), local_time.isoweekday())
        assert row[7] == (local_time.isoweekday() >= 6)
        assert row[8] == (local_time.date() in built.world.closed_dates(cal.team_id)), (cal_id, t)


def test_cross_engine_conversions_follow_ingestion_rules(built: Built):
    """local_to_utc against zoneinfo (fold=0) every 5 minutes around every DST change of every
    zone, including the 30-minute changes of Lord Howe and Chatham's 02:45 change; the other
    macros on the same rows."""
    rows = []
    for zone in ZONES + ["UTC", "America/Los_Angeles", "Europe/Berlin"]:
        for change in transitions(zone) or [dt.datetime(2024, 6, 1, tzinfo=UTC)]:
            wall = change.astimezone(ZoneInfo(zone)).replace(tzinfo=None, second=0, microsecond=0)
            for k in range(-36, 37):
                local_ts = wall + dt.timedelta(minutes=5 * k)
                utc_ts = change + dt.timedelta(minutes=5 * k, milliseconds=k % 1000)
                rows.append((len(rows), zone, local_ts, naive(utc_ts), local_ts.date()))
    with duckdb.connect(str(built.warehouse)) as con:
        con.execute("CREATE OR REPLACE TABLE bt_test.conversions "
                    "(id INTEGER, zone VARCHAR, local_ts TIMESTAMP, utc_ts TIMESTAMP(6), day DATE)")
        con.executemany("INSERT INTO bt_test.conversions VALUES (?, ?, ?, ?, ?)", rows)
        got = {r[0]: r for r in con.execute(built.conversions_sql).fetchall()}
    epoch = dt.datetime(1970, 1, 1)
    for i, zone, local_ts, utc_ts, day in rows:
        _, to_utc_sql, to_local_sql, epoch_sql, between_sql, added, day_minus_3, weekday = got[i]
        assert to_utc_sql == naive(to_utc(local_ts, zone)), (zone, local_ts)
        assert to_local_sql == utc_ts.replace(tzinfo=UTC).astimezone(ZoneInfo(zone)).replace(tzinfo=None), (zone, utc_ts)
        assert epoch_sql == pytest.approx((utc_ts - epoch).total_seconds(), abs=1e-6)
        assert between_sql == pytest.approx((utc_ts - local_ts).total_seconds(), abs=1e-6)
        assert added == utc_ts + dt.timedelta(seconds=90.25)
        assert (day_minus_3, weekday) == (day - dt.timedelta(days=3), day.isoweekday())


def test_hand_computed_cases(built: Built):
    ny = "America/New_York"
    cases = [
        # Friday 16:30 → Monday 09:15 with Mon–Fri 09:00–17:00: 30 min + 15 min.
        ("team:H-NY", local(ny, 2024, 3, 1, 16, 30), local(ny, 2024, 3, 4, 9, 15), 2700),
        # Inside one day, and both ends outside hours on the same evening.
        ("team:H-NY", local(ny, 2024, 6, 5, 10), local(ny, 2024, 6, 5, 12, 0, 30), 7230),
        ("team:H-NY", local(ny, 2024, 6, 5, 18), local(ny, 2024, 6, 5, 23), 0),
        # Holiday Dec 24–26 (Tue–Thu): Monday 16:00 → Friday 10:00 is 1 h + 1 h.
        ("team:H-NY", local(ny, 2024, 12, 23, 16), local(ny, 2024, 12, 27, 10), 7200),
        # 24/7: the spring-forward Sunday has 23 hours, the fall-back Sunday 25.
        ("team:H-247", local(ny, 2024, 3, 10, 0), local(ny, 2024, 3, 11, 0), 23 * 3600),
        ("team:H-247", local(ny, 2024, 11, 3, 0), local(ny, 2024, 11, 4, 0), 25 * 3600),
        ("team:H-247", local(ny, 2024, 6, 1, 13, 7, 5), local(ny, 2024, 9, 1, 13, 7, 5), 92 * 86400),
        # 01:00–05:00 local: 5 h on the fall-back night (01:00 is the earlier instant), 3 h on
        # the spring-forward night.
        ("team:H-NIGHT", local(ny, 2024, 11, 3, 0), local(ny, 2024, 11, 3, 12), 5 * 3600),
        ("team:H-NIGHT", local(ny, 2024, 3, 10, 0), local(ny, 2024, 3, 10, 12), 3 * 3600),
        # Overnight 22:00–06:00 Mon–Fri in London: Saturday noon → Monday 23:00 is 1 h.
        ("team:H-LON", local("Europe/London", 2024, 6, 1, 12), local("Europe/London", 2024, 6, 3, 23), 3600),
        # ...and the Friday night shift runs into Saturday morning: Sat 05:00 → Sat 12:00 is 1 h.
        ("team:H-LON", local("Europe/London", 2024, 6, 1, 5), local("Europe/London", 2024, 6, 1, 12), 3600),
        # London's fall-back night (Sun 27 Oct 2024 is not a shift start; Mon 28 is): 25 h weekend?
        # No: Fri 22:00 → Sat 06:00 is 8 h; the clock change on Sunday 02:00 is outside any shift.
        ("team:H-LON", local("Europe/London", 2024, 10, 25, 21), local("Europe/London", 2024, 10, 28, 21), 8 * 3600),
    ]
    rows = [(cal, t) for cal, a, b, _ in cases for t in (a, b)]
    got = evaluate(built, rows)
    for k, (cal, a, b, expected) in enumerate(cases):
        assert got[2 * k + 1][1] - got[2 * k][1] == pytest.approx(expected, abs=1e-6), (cal, a, b)


def test_unknown_calendars_missing_instants_and_out_of_range_are_null(built: Built):
    inside = local("America/New_York", 2024, 6, 5, 10)
    got = evaluate(built, [("team:H-NONE", inside), ("team:NOPE", inside), ("team:H-NY", None),
                           ("team:H-NY", dt.datetime(2023, 1, 1, tzinfo=UTC)),
                           ("team:H-NY", RANGE_END + dt.timedelta(hours=1)), ("team:H-NY", inside)])
    assert [r[1:4] for r in got[:5]] == [(None, None, None)] * 5
    assert got[5][1] is not None and got[5][2] is True


def test_flags_for_weekends_and_holidays(built: Built):
    ny = "America/New_York"
    got = evaluate(built, [("team:H-NY", local(ny, 2024, 12, 25, 11)),  # holiday Wednesday
                           ("team:H-NY", local(ny, 2024, 6, 8, 11)),  # Saturday
                           ("team:H-NY", local(ny, 2024, 6, 5, 20, 30))])  # Wednesday evening
    holiday, saturday, evening = got
    assert holiday[2:] == (False, True, dt.datetime(2024, 12, 25, 11), dt.date(2024, 12, 25), 3, False, True, "Christmas")
    assert saturday[2:8] == (False, True, dt.datetime(2024, 6, 8, 11), dt.date(2024, 6, 8), 6, True)
    assert saturday[8] is False
    # 20:30 local is 00:30 UTC the next day: the local date is still the 5th.
    assert evening[2:9] == (False, True, dt.datetime(2024, 6, 5, 20, 30), dt.date(2024, 6, 5), 3, False, False)


def test_calendar_tables_are_consistent(built: Built):
    with duckdb.connect(str(built.warehouse)) as con:
        _check_calendar_tables(con, built)


def _check_calendar_tables(con, built: Built) -> None:
    bounds = con.execute("SELECT calendar_start_date, calendar_end_date, range_start_at, range_end_at "
                         "FROM intermediate.int_business_calendar_bounds").fetchall()
    assert bounds == [(dt.date(2024, 1, 3), dt.date(2025, 4, 27), naive(RANGE_START), naive(RANGE_END))]
    # A 24/7 calendar is open every second of every UTC day, across both DST changes.
    assert con.execute("SELECT min(business_seconds_in_day), max(business_seconds_in_day), count(*) "
                       "FROM intermediate.int_business_calendar_days "
                       "WHERE calendar_id = 'team:H-247' AND utc_day < DATE '2025-01-01'"
                       ).fetchone() == (86400, 86400, (dt.datetime(2025, 1, 1, tzinfo=UTC) - RANGE_START).days)
    # The running total adds up, and agrees with the reference's total per calendar.
    assert con.execute("""
        SELECT count(*) FROM (
            SELECT business_seconds_before_day + business_seconds_in_day AS through,
                   lead(business_seconds_before_day) OVER (PARTITION BY calendar_id ORDER BY utc_day) AS nxt
            FROM intermediate.int_business_calendar_days) WHERE through <> nxt""").fetchone() == (0,)
    totals = dict(con.execute("SELECT calendar_id, sum(business_seconds) FROM intermediate.int_business_intervals "
                              "GROUP BY 1").fetchall())
    for cal_id, ref in built.refs.items():
        assert totals.get(cal_id, 0) == ref.before[-1], cal_id
    # Each calendar has one row per UTC day; unknown teams and teams without schedules none.
    days = dict(con.execute("SELECT calendar_id, count(*) FROM intermediate.int_business_calendar_days GROUP BY 1").fetchall())
    assert set(days) == set(built.world.calendars)
    assert set(days.values()) == {(RANGE_END - RANGE_START).days}


def test_calendar_range_must_cover_every_lead(built: Built, tmp_path):
    """Narrowing the range with vars so a lead falls outside fails the build's test."""
    warehouse = tmp_path / WAREHOUSE_FILE  # a copy, narrowed
    shutil.copy(built.warehouse, warehouse)
    out = run_dbt(["build", "--select", "int_business_calendar_bounds",
                   "--vars", "{business_calendar_start: '2024-02-01'}"], warehouse, tmp_path / "target")
    assert out.returncode != 0
    assert "within_business_calendar" in out.stdout


def test_business_clock_keeps_one_row_per_input_row(built: Built):
    """2M instants over the random calendars: one output row per input row, none without a clock
    (ids repeat: the macro does not aggregate by id)."""
    con = duckdb.connect(str(built.warehouse))
    cals = [c for c in built.world.calendars if c.startswith(("team:R", "rep:"))]
    con.execute(f"""
        CREATE OR REPLACE TABLE bt_test.instants AS
        SELECT i % 1000000 AS id, {cals!r}[1 + i % {len(cals)}] AS calendar_id,
               TIMESTAMP '{naive(RANGE_START)}' + to_seconds((hash(i) % {int((RANGE_END - RANGE_START).total_seconds())})::BIGINT) AS ts
        FROM range(2000000) AS t(i)""")
    count, nulls = con.execute(f"SELECT count(*), count(*) - count(business_clock_seconds) FROM ({built.sql})").fetchone()
    con.close()
    assert (count, nulls) == (2_000_000, 0)
