"""The demo organisation's calendar: timezones, holidays, schedules and the business clock.

All times inside the generator are integer milliseconds since the Unix epoch, UTC.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from . import catalog as C
from .textfmt import DAY_MS, MINUTE_MS

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def to_ms(value: dt.datetime) -> int:
    return (value - EPOCH) // dt.timedelta(milliseconds=1)


def date_ms(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days * DAY_MS


class TzTable:
    """UTC offsets of one zone between two instants, looked up vectorised."""

    def __init__(self, zone: str, lo_ms: int, hi_ms: int):
        self.zone = zone
        step = 15 * MINUTE_MS
        grid = np.arange(lo_ms - DAY_MS, hi_ms + DAY_MS, step, dtype=np.int64)
        utc = pd.DatetimeIndex(grid.astype("datetime64[ms]")).tz_localize("UTC")
        local = utc.tz_convert(zone).tz_localize(None)
        offsets = (local.values.astype("datetime64[ms]").astype(np.int64) - grid)
        change = np.flatnonzero(np.diff(offsets)) + 1
        self.times = np.concatenate([[np.iinfo(np.int64).min], grid[change]])
        self.offsets = np.concatenate([[offsets[0]], offsets[change]]).astype(np.int64)
        # Fall-back transitions: [T, T + (before - after)) is the repeated hour's second pass.
        falls = [(int(self.times[i]), int(self.offsets[i - 1] - self.offsets[i]))
                 for i in range(1, len(self.times)) if self.offsets[i] < self.offsets[i - 1]]
        self.fall_start = np.array([f[0] for f in falls], np.int64)
        self.fall_end = np.array([f[0] + f[1] for f in falls], np.int64)

    def offset(self, ms: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(self.times, ms, side="right") - 1
        return self.offsets[idx]

    def local(self, ms: np.ndarray) -> np.ndarray:
        return ms + self.offset(ms)

    def second_pass_of_repeated_hour(self, ms: np.ndarray) -> np.ndarray:
        """True where the wall-clock time is ambiguous and this is its later (standard) instant."""
        if len(self.fall_start) == 0:
            return np.zeros(len(ms), bool)
        idx = np.searchsorted(self.fall_start, ms, side="right") - 1
        ok = idx >= 0
        idx = np.maximum(idx, 0)
        return ok & (ms < self.fall_end[idx])

    def naive_readback(self, ms: np.ndarray) -> np.ndarray:
        """The instant an ingestion reading the naive wall time (earlier on ambiguity) gets."""
        back = ms.copy()
        amb = self.second_pass_of_repeated_hour(ms)
        if amb.any():
            idx = np.searchsorted(self.fall_start, ms[amb], side="right") - 1
            back[amb] -= self.fall_end[idx] - self.fall_start[idx]
        return back


# --------------------------------------------------------------------------------------------
# Holidays
# --------------------------------------------------------------------------------------------


def _easter(year: int) -> dt.date:
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month, day = divmod(h + l_ - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    """n-th (1-based; -1 = last) ISO weekday-1 (0=Mon) of a month."""
    if n > 0:
        first = dt.date(year, month, 1)
        return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    last = nxt - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


def _observed_us(day: dt.date) -> dt.date:
    if day.weekday() == 5:
        return day - dt.timedelta(days=1)
    if day.weekday() == 6:
        return day + dt.timedelta(days=1)
    return day


def _observed_monday(day: dt.date) -> dt.date:
    return day + dt.timedelta(days=(7 - day.weekday()) % 7) if day.weekday() >= 5 else day


@dataclass(frozen=True)
class Holiday:
    start: dt.date
    end: dt.date  # inclusive
    team_id: str  # "" = every team
    name: str


def holidays_for(years: range) -> list[Holiday]:
    us_teams = ("T-NYC", "T-CHI", "T-LAX")
    out: list[Holiday] = []
    for y in years:
        out.append(Holiday(dt.date(y, 1, 1), dt.date(y, 1, 1), "", "New Year's Day"))
        out.append(Holiday(dt.date(y, 12, 25), dt.date(y, 12, 25), "", "Christmas Day"))
        us = [
            (_nth_weekday(y, 1, 0, 3), 1, "Martin Luther King Jr. Day"),
            (_nth_weekday(y, 2, 0, 3), 1, "Presidents' Day"),
            (_nth_weekday(y, 5, 0, -1), 1, "Memorial Day"),
            (_observed_us(dt.date(y, 6, 19)), 1, "Juneteenth"),
            (_observed_us(dt.date(y, 7, 4)), 1, "Independence Day"),
            (_nth_weekday(y, 9, 0, 1), 1, "Labor Day"),
            (_nth_weekday(y, 11, 3, 4), 2, "Thanksgiving"),
        ]
        for team in us_teams:
            for start, length, name in us:
                out.append(Holiday(start, start + dt.timedelta(days=length - 1), team, name))
        easter = _easter(y)
        out += [
            Holiday(easter - dt.timedelta(days=2), easter - dt.timedelta(days=2), "T-LON", "Good Friday"),
            Holiday(easter + dt.timedelta(days=1), easter + dt.timedelta(days=1), "T-LON", "Easter Monday"),
            Holiday(_nth_weekday(y, 5, 0, 1), _nth_weekday(y, 5, 0, 1), "T-LON", "Early May bank holiday"),
            Holiday(_nth_weekday(y, 5, 0, -1), _nth_weekday(y, 5, 0, -1), "T-LON", "Spring bank holiday"),
            Holiday(_nth_weekday(y, 8, 0, -1), _nth_weekday(y, 8, 0, -1), "T-LON", "Summer bank holiday"),
            Holiday(dt.date(y, 12, 24), dt.date(y, 12, 26), "T-LON", "Christmas shutdown"),
            Holiday(_observed_monday(dt.date(y, 1, 26)), _observed_monday(dt.date(y, 1, 26)), "T-SYD", "Australia Day"),
            Holiday(easter - dt.timedelta(days=2), easter + dt.timedelta(days=1), "T-SYD", "Easter (Good Friday to Easter Monday)"),
            Holiday(dt.date(y, 4, 25), dt.date(y, 4, 25), "T-SYD", "Anzac Day"),
            Holiday(_nth_weekday(y, 6, 0, 2), _nth_weekday(y, 6, 0, 2), "T-SYD", "King's Birthday"),
            Holiday(_nth_weekday(y, 10, 0, 1), _nth_weekday(y, 10, 0, 1), "T-SYD", "Labour Day"),
            Holiday(dt.date(y, 12, 26), dt.date(y, 12, 26), "T-SYD", "Boxing Day"),
        ]
    return sorted(out, key=lambda h: (h.start, h.team_id, h.name))


# --------------------------------------------------------------------------------------------
# Schedules
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shift:
    team_id: str
    rep_id: str  # "" = the team's schedule
    weekday: int  # ISO 1..7, the day the shift starts on
    start: str  # HH:MM local
    end: str  # HH:MM local; <= start means next day; 24:00 = midnight
    effective_from: dt.date | None = None
    effective_to: dt.date | None = None
    timezone: str = ""  # override of the team's zone
    weekday_style: str = "number"  # how the weekday is written: number | abbrev


WEEKDAY_ABBREV = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def schedules(change_date: dt.date, part_time_rep: str) -> list[Shift]:
    rows: list[Shift] = []
    before = change_date - dt.timedelta(days=1)
    for wd in range(1, 6):
        rows.append(Shift("T-NYC", "", wd, "08:00", "18:00", None, before))
        rows.append(Shift("T-NYC", "", wd, "08:00", "20:00", change_date, None))
        rows.append(Shift("T-CHI", "", wd, "08:00", "17:00"))
        rows.append(Shift("T-LAX", "", wd, "07:00", "12:00"))
        rows.append(Shift("T-LAX", "", wd, "12:30", "17:00"))
        rows.append(Shift("T-LON", "", wd, "09:00", "17:30"))
        rows.append(Shift("T-SYD", "", wd, "08:30", "17:30", weekday_style="abbrev"))
    rows.append(Shift("T-NYC", "", 6, "09:00", "13:00"))
    rows.append(Shift("T-LAX", "", 6, "09:00", "13:00"))
    rows.append(Shift("T-SYD", "", 6, "09:00", "12:00", weekday_style="abbrev"))
    for wd in range(1, 8):
        rows.append(Shift("T-247", "", wd, "06:00", "14:00"))
        rows.append(Shift("T-247", "", wd, "14:00", "22:00"))
        rows.append(Shift("T-247", "", wd, "22:00", "06:00"))
    # A part-time rep of the West Coast team who works from Denver, Mon-Wed mornings.
    for wd in (1, 2, 3):
        rows.append(Shift("T-LAX", part_time_rep, wd, "10:00", "14:00", timezone="America/Denver"))
    return rows


def _hm(value: str) -> dt.timedelta:
    h, m = value.split(":")
    return dt.timedelta(hours=int(h), minutes=int(m))


def _local_to_ms(day: dt.date, offset: dt.timedelta, zone: ZoneInfo) -> int:
    naive = dt.datetime.combine(day, dt.time()) + offset
    return to_ms(naive.replace(tzinfo=zone))  # fold=0: the earlier instant on ambiguity


def _subtract(intervals: list[tuple[int, int]], cuts: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out = []
    for s, e in intervals:
        pieces = [(s, e)]
        for cs, ce in cuts:
            nxt = []
            for ps, pe in pieces:
                if ce <= ps or cs >= pe:
                    nxt.append((ps, pe))
                    continue
                if ps < cs:
                    nxt.append((ps, cs))
                if ce < pe:
                    nxt.append((ce, pe))
            pieces = nxt
        out += pieces
    return out


def _merge(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for s, e in sorted(intervals):
        if e <= s:
            continue
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def open_intervals(shifts: list[Shift], team_zone: str, team_id: str, holidays: list[Holiday],
                   first_day: dt.date, last_day: dt.date) -> list[tuple[int, int]]:
    """UTC [start, end) ms intervals when a schedule (a team's or a rep's rows) is open."""
    iv: list[tuple[int, int]] = []
    day = first_day
    while day <= last_day:
        for sh in shifts:
            if sh.weekday != day.isoweekday():
                continue
            if sh.effective_from and day < sh.effective_from:
                continue
            if sh.effective_to and day > sh.effective_to:
                continue
            zone = ZoneInfo(sh.timezone or team_zone)
            s, e = _hm(sh.start), _hm(sh.end)
            if e <= s:
                e += dt.timedelta(days=1)
            iv.append((_local_to_ms(day, s, zone), _local_to_ms(day, e, zone)))
        day += dt.timedelta(days=1)
    zone = ZoneInfo(team_zone)
    cuts = []
    for h in holidays:
        if h.team_id in ("", team_id):
            cuts.append((_local_to_ms(h.start, dt.timedelta(0), zone),
                         _local_to_ms(h.end + dt.timedelta(days=1), dt.timedelta(0), zone)))
    return _merge(_subtract(_merge(iv), cuts))


class BusinessClock:
    """Cumulative open time of several schedules ("groups"), vectorised across groups.

    ``position(g, t)`` is the open milliseconds of group g before instant t; ``instant(g, b)``
    is its inverse (the first instant at which b open milliseconds have passed; a position on
    a closing boundary maps to the next opening)."""

    BIG = np.int64(1) << np.int64(43)

    def __init__(self, groups: list[list[tuple[int, int]]]):
        starts, ends, cum, gids = [], [], [], []
        self.lo, self.hi = [], []
        for g, iv in enumerate(groups):
            s = np.array([a for a, _ in iv], np.int64)
            e = np.array([b for _, b in iv], np.int64)
            c = np.concatenate([[0], np.cumsum(e - s)[:-1]]) if len(s) else np.zeros(0, np.int64)
            self.lo.append(sum(len(x) for x in starts))
            starts.append(s)
            ends.append(e)
            cum.append(c.astype(np.int64))
            gids.append(np.full(len(s), g, np.int64))
            self.hi.append(self.lo[-1] + len(s))
        self.starts = np.concatenate(starts)
        self.ends = np.concatenate(ends)
        self.cum = np.concatenate(cum)
        g = np.concatenate(gids)
        self.lens = self.ends - self.starts
        self.cum_end = self.cum + self.lens
        self.start_key = g * self.BIG + self.starts
        self.cum_end_key = g * self.BIG + self.cum_end
        self.lo = np.array(self.lo, np.int64)
        self.hi = np.array(self.hi, np.int64)

    def position(self, g: np.ndarray, t: np.ndarray) -> np.ndarray:
        g = np.asarray(g, np.int64)
        i = np.searchsorted(self.start_key, g * self.BIG + t, side="right") - 1
        before = i < self.lo[g]
        i = np.maximum(i, self.lo[g])
        pos = self.cum[i] + np.clip(t - self.starts[i], 0, self.lens[i])
        return np.where(before, 0, pos)

    def instant(self, g: np.ndarray, b: np.ndarray) -> np.ndarray:
        g = np.asarray(g, np.int64)
        i = np.searchsorted(self.cum_end_key, g * self.BIG + b, side="right")
        beyond = i >= self.hi[g]
        last = self.hi[g] - 1
        i = np.minimum(i, last)
        t = self.starts[i] + (b - self.cum[i])
        t_beyond = self.ends[last] + (b - self.cum_end[last])
        return np.where(beyond, t_beyond, t)

    def is_open(self, g: np.ndarray, t: np.ndarray) -> np.ndarray:
        g = np.asarray(g, np.int64)
        i = np.searchsorted(self.start_key, g * self.BIG + t, side="right") - 1
        ok = i >= self.lo[g]
        i = np.maximum(i, 0)
        return ok & (t < self.ends[i])

    def add(self, g: np.ndarray, t: np.ndarray, business_ms: np.ndarray) -> np.ndarray:
        return self.instant(g, self.position(g, t) + business_ms.astype(np.int64))


def team_zones() -> list[str]:
    return [t.timezone for t in C.TEAMS]
