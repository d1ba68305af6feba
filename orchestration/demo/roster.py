"""The sales reps: headcount that follows the arrivals, attrition, schedules and contact details."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from . import catalog
from . import people
from .draws import categorical
from .org import BusinessClock, open_intervals, schedules
from .textfmt import HOUR_MS

NOT_TERMINATED = 10 ** 6  # termination day of a rep who stays


def team_phone_space(spaces: dict, team) -> people.PhoneSpace:
    region = team.region if team.region != "us_national" else "us_east"
    return spaces[people.space_name(team.country, region)]


def rolling_target(need: np.ndarray, days: int) -> np.ndarray:
    """Reps a team needs per day: the last known need carried forward (the first one backwards
    over leading closed days), then the maximum over a week centred on the day, rounded up."""
    if np.isnan(need).all():
        need = np.zeros(days)
    last_known = np.maximum.accumulate(np.where(~np.isnan(need), np.arange(days), -1))
    first = np.flatnonzero(last_known >= 0)
    last_known[last_known < 0] = first[0] if len(first) else 0
    filled = np.nan_to_num(need[np.maximum(last_known, 0)])
    week_max = np.array([filled[max(0, d - 3): d + 4].max() for d in range(days)])
    return np.maximum(catalog.MIN_REPS_PER_TEAM, np.ceil(week_max)).astype(np.int64)


class Roster:
    """Reps by index (hiring order): team, hire and termination day, speed, schedule group.

    ``group`` is the rep's schedule: the team's, or its own for the part-time rep (group
    ``len(catalog.TEAMS)``); ``clock`` is the business clock of every group."""

    def __init__(self, world, rng):
        days, n_teams = world.days, len(catalog.TEAMS)
        hours = days * 24
        team_hour = world.arrivals.leads_per_team_hour()
        hour_edges = world.t0 + np.arange(hours + 1, dtype=np.int64) * HOUR_MS
        open_share = np.zeros((hours, n_teams))  # share of each hour the team is open
        for team in range(n_teams):
            position = world.team_clock.position(np.full(hours + 1, team), hour_edges)
            open_share[:, team] = np.diff(position) / HOUR_MS
        team_day = team_hour.reshape(days, 24, n_teams).sum(axis=1)
        open_hours = open_share.reshape(days, 24, n_teams).sum(axis=1)
        need = np.where(open_hours > 0.5,
                        team_day / np.maximum(open_hours, 0.5) / catalog.TARGET_LEADS_PER_REP_HOUR, np.nan)
        target = np.zeros((days, n_teams), np.int64)
        for team in range(n_teams):
            target[:, team] = rolling_target(need[:, team], days)
        self._hire_and_leave(target, days, rng)
        n = len(self.team)
        self.ids = [f"R{k + 1:05d}" for k in range(n)]
        self.mu = catalog.REP_MU_MEAN + catalog.REP_MU_SD * rng.standard_normal(n)
        self.arm = None
        if world.experiment:
            # Reps randomised half and half with their own random stream (the main stream, and so
            # everything else, is untouched); the treated arm starts answering faster.
            arm_rng = np.random.default_rng([world.seed, catalog.EXPERIMENT_STREAM])
            self.arm = (arm_rng.permutation(n) < n // 2).astype(np.int64)
            self.mu = self.mu + np.log(catalog.EXPERIMENT_FIRST_ATTEMPT_RATIO) * self.arm
        self.capacity = rng.integers(15, 41, n)
        self.group = self.team.copy()
        self.group[self.part_time] = n_teams
        self.shifts = schedules(world.change_date, self.ids[self.part_time])
        part_time_intervals = open_intervals([s for s in self.shifts if s.rep_id], "America/Los_Angeles", "T-LAX",
                                             world.holidays, world.first_cal_day, world.last_cal_day)
        self.clock = BusinessClock(world.team_intervals + [part_time_intervals])
        # active reps per team and day, nominal load per team (leads per on-duty rep-hour)
        self.active_count = np.zeros((days, n_teams), np.int64)
        for d in range(days):
            active = (self.hired_day <= d) & (self.term_day > d)
            self.active_count[d] = np.bincount(self.team[active], minlength=n_teams)
        load = team_hour / np.repeat(self.active_count, 24, axis=0)
        nominal = (open_share * load).sum(axis=0) / np.maximum(open_share.sum(axis=0), 1e-9)
        self.nominal_load = np.maximum(nominal, 1e-6)

    def _hire_and_leave(self, target: np.ndarray, days: int, rng) -> None:
        """Initial staff, daily attrition and replacements up to each day's target."""
        reps = []  # [hired day, team, sequence, termination day or None]
        seq = 0
        part_time_seq = None
        for team in range(len(catalog.TEAMS)):
            active = []
            for _ in range(int(target[0, team])):
                reps.append([-int(rng.integers(30, 1500)), team, seq, None])
                active.append(len(reps) - 1)
                seq += 1
            protected = active[0] if catalog.TEAMS[team].team_id == "T-LAX" else None
            for d in range(days):
                leave = rng.random(len(active)) < catalog.REP_DAILY_ATTRITION
                stay = []
                for rep, leaves in zip(active, leave):
                    if leaves and rep != protected:
                        reps[rep][3] = d
                    else:
                        stay.append(rep)
                active = stay
                while len(active) < target[d, team]:
                    reps.append([d, team, seq, None])
                    active.append(len(reps) - 1)
                    seq += 1
            if protected is not None:
                part_time_seq = reps[protected][2]
        order = sorted(range(len(reps)), key=lambda i: (reps[i][0], reps[i][1], reps[i][2]))
        self.hired_day = np.array([reps[i][0] for i in order], np.int64)
        self.team = np.array([reps[i][1] for i in order], np.int64)
        self.term_day = np.array([reps[i][3] if reps[i][3] is not None else NOT_TERMINATED for i in order],
                                 np.int64)
        self.part_time = next(k for k, i in enumerate(order) if reps[i][2] == part_time_seq)

    def add_contact_details(self, spaces: dict, rng) -> None:
        """Names, company email addresses and phone numbers of the reps and the team lines."""
        n = len(self.team)
        country = np.array([catalog.COUNTRIES.index(catalog.TEAMS[t].country) for t in self.team], np.int64)
        first, last, _ = people.people(people.NameBook(), country, rng)
        self.first_names = first.to_pylist()
        self.last_names = last.to_pylist()
        taken: dict[str, int] = {}
        emails = []
        for first_name, last_name in zip(self.first_names, self.last_names):
            base = f"{people._ascii_lower(first_name)}.{people._ascii_lower(last_name)}"
            k = taken.get(base, 0)
            taken[base] = k + 1
            emails.append(f"{base}{k + 1 if k else ''}@{catalog.COMPANY_DOMAIN}")
        self.email = pa.array(emails, pa.string())
        self.nsn = np.zeros(n, np.int64)
        self.phone = np.zeros(n, np.int64)
        self.team_line = np.zeros(len(catalog.TEAMS), np.int64)
        for t, team in enumerate(catalog.TEAMS):
            members = self.team == t
            space = team_phone_space(spaces, team)
            self.nsn[members] = space.nsn(catalog.IDX_REP + np.flatnonzero(members))
            self.phone[members] = space.e164(self.nsn[members])
        for t, team in enumerate(catalog.TEAMS):
            space = team_phone_space(spaces, team)
            self.team_line[t] = space.e164(space.nsn(np.array([catalog.IDX_COMPANY + t])))[0]
        self.country = country

    def active_by_team(self, day: int) -> list[np.ndarray]:
        active = (self.hired_day <= day) & (self.term_day > day)
        return [np.flatnonzero(active & (self.team == t)) for t in range(len(catalog.TEAMS))]

    def assign_owner(self, team: np.ndarray, day: int, rng) -> np.ndarray:
        """An active rep of each lead's team; the part-time rep gets a reduced share."""
        active = self.active_by_team(day)
        owner = np.zeros(len(team), np.int64)
        u = rng.random(len(team))
        for t in range(len(catalog.TEAMS)):
            rows = np.flatnonzero(team == t)
            if len(rows) == 0:
                continue
            pool = active[t]
            weight = np.where(pool == self.part_time, catalog.PART_TIME_REP_WEIGHT, 1.0)
            owner[rows] = pool[categorical(weight, u[rows])]
        return owner

    def teammate(self, rep: np.ndarray, day: int, rng) -> np.ndarray:
        """A random active rep of each rep's team (possibly the rep)."""
        active = self.active_by_team(day)
        out = rep.copy()
        u = rng.random(len(rep))
        for t in range(len(catalog.TEAMS)):
            rows = np.flatnonzero(self.team[rep] == t)
            if len(rows):
                pool = active[t]
                out[rows] = pool[(u[rows] * len(pool)).astype(np.int64)]
        return out
