"""Demo data generator: a realistic, messy, reproducible landing directory.

``generate(landing_dir, leads=..., seed=...)`` writes the extracts a CRM, a telephony system
and a messaging platform would export for a growing sales organisation, following the data
contract (``orchestration/ingest/contract.py``), plus ``_demo_manifest.json``, which records what
was planted: row counts, the deliberately broken rows per quarantine reason, the anomalies that
ingestion keeps, and the true parameters of the response-time -> conversion effect.

The simulation runs one UTC day of lead arrivals at a time, vectorised with numpy; rows wait in a
per-day buffer until their day can no longer grow and are then written once (see ``sink.py``).
Layout, formats and the planted effect are documented in ``docs/demo_data.md``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm import tqdm

from . import catalog as C
from . import people as P
from .org import (BusinessClock, TzTable, WEEKDAY_ABBREV, date_ms, holidays_for, open_intervals,
                  schedules)
from .sink import (EVENT_ENTITIES, EXT, FORMAT, QUARANTINE_ORDER, TAG_BEFORE_LEAD, TAG_BOT, TAG_NONE,
                   TAG_DUPLICATE_SUBMISSION, TAG_TEST, TAG_UNKNOWN_CONTACT, LEAD_STATUSES,
                   OPP_STAGES, APPOINTMENT_STATUSES, Lookups, Sink)
from .textfmt import DAY_MS, HOUR_MS, MINUTE_MS, csv_escape_py

MANIFEST_NAME = "_demo_manifest.json"
MANIFEST_VERSION = 1
SOURCES_YAML = """\
# Timezone of naive timestamps, per source family
crm: {timezone: America/New_York}
telephony: {timezone: UTC}
messaging: {timezone: UTC}
"""
DIMENSION_FILES = {
    "teams": "teams/teams.csv",
    "reps": "reps/reps.csv",
    "schedules": "schedules/schedules.csv",
    "holidays": "holidays/holidays.csv",
    "campaign_costs": "campaign_costs/campaign_costs.parquet",
}
MAX_LEADS = 20_000_000
# Written only with experiment=True; not a DIMENSION_FILES entry, so that the manifest (and every
# file) of a run without it stays exactly as before.
EXPERIMENT_FILE = "experiment_assignments/experiment_assignments.csv"

# Channel / outcome codes used inside the simulation (the sink maps them to text)
CALL, SMS, EMAIL = 0, 1, 2
D_CONNECTED, D_VOICEMAIL, D_NO_ANSWER, D_BUSY, D_FAILED = range(5)
S_DELIVERED, S_SENT, S_FAILED, S_UNDELIVERED, S_RECEIVED = range(5)
E_DELIVERED, E_SENT, E_BOUNCED, E_FAILED, E_RECEIVED = range(5)
OUT, IN = 0, 1
ST = {s: i for i, s in enumerate(LEAD_STATUSES)}
AP = {s: i for i, s in enumerate(APPOINTMENT_STATUSES)}
STG = {s: i for i, s in enumerate(OPP_STAGES)}
BUCKET_EDGES_MS = np.array([b[2] * 1000 for b in C.BUCKETS[:-1]], np.int64)
SLOT_MS = 30 * MINUTE_MS


def default_days(leads: int) -> int:
    return int(np.clip(round(leads / 300), 30, 365))


def bucket_of(elapsed_ms: np.ndarray) -> np.ndarray:
    return np.searchsorted(BUCKET_EDGES_MS, elapsed_ms, side="right")


def _cat(p, u):
    """Categorical draw: index of u in the cumulative probabilities p."""
    c = np.cumsum(np.asarray(p, np.float64))
    c /= c[-1]
    return np.minimum(np.searchsorted(c, u, side="right"), len(c) - 1)


def _lognormal_ms(rng, n, median_ms, sigma):
    return np.exp(np.log(median_ms) + sigma * rng.standard_normal(n))


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


class _Acts:
    """Column pieces of one activity kind, concatenated at the end of a day."""

    def __init__(self, names):
        self.names = names
        self.parts = {k: [] for k in names}
        self.n = 0

    def add(self, **cols):
        n = None
        for v in cols.values():
            if isinstance(v, (np.ndarray, pa.Array)):
                n = len(v)
                break
        if not n:
            return
        for k in self.names:
            v = cols[k]
            if isinstance(v, (np.ndarray, pa.Array)):
                self.parts[k].append(v)
            elif isinstance(v, str):
                self.parts[k].append(pa.array([v] * n, pa.string()))
            else:
                self.parts[k].append(np.full(n, v, np.int64))
        self.n += n

    def build(self):
        out = {}
        for k, parts in self.parts.items():
            if isinstance(parts[0], np.ndarray):
                out[k] = np.concatenate(parts).astype(np.int64)
            else:
                out[k] = pa.concat_arrays([p.cast(pa.string()) for p in parts])
        return out


CALL_COLS = ("started", "answered", "ended", "direction", "from", "to", "rep", "disp", "dur", "lead", "tag", "lidx")
SMS_COLS = ("sent", "direction", "from", "to", "rep", "status", "auto", "lead", "tag", "lidx")
EMAIL_COLS = ("sent", "direction", "from_addr", "to_addr", "rep", "status", "auto", "lead", "tag", "lidx")


# ============================================================================================
# Setup: the organisation and the arrival plan
# ============================================================================================


class World:
    def __init__(self, leads: int, seed: int, days: int, end_date: dt.date, messy_share: float,
                 experiment: bool = False):
        self.n_leads = leads
        self.seed = seed
        self.experiment = experiment
        self.days = days
        self.end_date = end_date
        self.start_date = end_date - dt.timedelta(days=days - 1)
        self.messy = messy_share
        self.t0 = date_ms(self.start_date)
        self.t1 = self.t0 + days * DAY_MS
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0]))

        lo, hi = self.t0 - 15 * DAY_MS, self.t1 + 140 * DAY_MS
        self.crm_tz = TzTable(C.CRM_TIMEZONE, lo, hi)
        self.region_tz = [TzTable(z, lo, hi) for z in C.REGION_TZ]

        years = range(self.start_date.year - 1, end_date.year + 2)
        self.all_holidays = holidays_for(years)
        # The holiday table covers every calendar year the window touches (as a CRM keeps it).
        self.holidays = [h for h in self.all_holidays
                         if h.end.year >= self.start_date.year and h.start.year <= end_date.year]
        self.change_date = self.start_date + dt.timedelta(days=days // 2)
        self.first_cal_day = self.start_date - dt.timedelta(days=10)
        self.last_cal_day = end_date + dt.timedelta(days=130)
        team_shifts = schedules(self.change_date, "")
        self.team_iv = [
            open_intervals([s for s in team_shifts if s.team_id == t.team_id and not s.rep_id],
                           t.timezone, t.team_id, self.holidays, self.first_cal_day, self.last_cal_day)
            for t in C.TEAMS
        ]
        self.team_clock = BusinessClock(self.team_iv)

        self._plan_counts(rng)
        self._build_roster(rng)
        self.spaces = P.build_spaces()
        self.book = P.NameBook()
        self._build_rep_details(rng)
        self._plan_specials(rng)

        self.g_next = 0
        self.counters = {"calls": 0, "sms": 0, "emails": 0, "appointments": 0, "opportunities": 0,
                         "unknown": 0, "tests": 0, "bots": 0}
        self.appt_pointer = np.zeros(len(self.rep_team), np.int64)
        self.campaign_leads = np.zeros((days, len(C.CAMPAIGNS)), np.int64)
        nb = len(C.BUCKETS)
        self.truth = {k: np.zeros(nb, np.int64) for k in
                      ("leads", "converted", "contacted", "booked", "sms_reply", "sms_received")}
        self.truth_by_source = np.zeros((len(C.SOURCES), 2), np.int64)
        self.truth_by_tier = np.zeros((3, 2), np.int64)
        self.rt_in_hours = []  # samples of first-attempt delay (minutes) in vs out of hours
        self.rt_after_hours = []
        self.double_booked = 0
        self.before_lead_planned = 0
        self.unknown_planned = 0
        self.test_kinds = {"is_test_and_internal_email": 0, "is_test_only": 0, "internal_email_only": 0}

    # ---------------------------------------------------------------- arrivals
    def _plan_counts(self, rng):
        days, R = self.days, len(C.REGIONS)
        H = days * 24
        mid = self.t0 + np.arange(H, dtype=np.int64) * HOUR_MS + HOUR_MS // 2
        growth = np.exp(math.log(C.GROWTH_PER_YEAR) * (mid - self.t0) / (365 * DAY_MS))
        intensity = np.zeros((H, R))
        self.region_local_hour = np.zeros((H, R), np.int64)
        self.region_local_wd = np.zeros((H, R), np.int64)
        self.region_holiday = np.zeros((H, R), bool)
        epoch = dt.date(1970, 1, 1)
        for r in range(R):
            loc = self.region_tz[r].local(mid)
            lh = (loc // HOUR_MS) % 24
            ld = loc // DAY_MS
            wd = (ld + 3) % 7
            team_id = C.TEAMS[C.REGION_TEAM[r]].team_id
            hol_days = set()
            for h in self.holidays:
                if h.team_id in ("", team_id):
                    for k in range((h.end - h.start).days + 1):
                        hol_days.add((h.start - epoch).days + k)
            hol = np.isin(ld, np.array(sorted(hol_days), np.int64))
            self.region_local_hour[:, r] = lh
            self.region_local_wd[:, r] = wd
            self.region_holiday[:, r] = hol
            intensity[:, r] = (C.REGION_SHARE[r] * np.asarray(C.HOUR_FACTOR)[lh] * np.asarray(C.WEEKDAY_FACTOR)[wd]
                               * np.where(hol, C.HOLIDAY_FACTOR, 1.0) * growth)
        base = intensity.copy()
        # surges: ~10x the normal rate for 4 hours on a weekday late morning of one region
        n_surges = max(1, round(days / 45))
        taken = np.zeros((H, R), bool)
        self.surges = []
        for _ in range(200):
            if len(self.surges) >= n_surges:
                break
            r = int(_cat(C.REGION_SHARE, rng.random()))
            start_h = int(rng.integers(9, 13))
            cand = np.flatnonzero((self.region_local_hour[:, r] == start_h) & (self.region_local_wd[:, r] < 5)
                                  & ~self.region_holiday[:, r])
            cand = cand[cand + C.SURGE_HOURS <= H]
            if len(cand) == 0:
                continue
            c = int(cand[rng.integers(len(cand))])
            if taken[max(0, c - 24): c + C.SURGE_HOURS + 24, r].any():
                continue
            taken[c: c + C.SURGE_HOURS, r] = True
            intensity[c: c + C.SURGE_HOURS, r] *= C.SURGE_MULTIPLIER
            self.surges.append((c, r))
        m = self.messy
        self.n_bot = max(1, round(self.n_leads * m * C.MESSY_BOT_LEADS)) if m > 0 else 0
        self.n_test = max(1, round(self.n_leads * m * C.MESSY_TEST_LEADS)) if m > 0 else 0
        self.n_dup = max(1, round(self.n_leads * m * C.MESSY_DUPLICATE_LEADS)) if m > 0 else 0
        self.n_genuine = self.n_leads - self.n_bot - self.n_test - self.n_dup
        p = intensity.ravel() / intensity.sum()
        self.counts = rng.multinomial(self.n_genuine, p).reshape(days, 24, R)
        scale = self.n_genuine / intensity.sum()
        self.surge_info = []
        for c, r in sorted(self.surges):
            cells = slice(c, c + C.SURGE_HOURS)
            got = int(self.counts.reshape(H, R)[cells, r].sum())
            start = self.t0 + c * HOUR_MS
            self.surge_info.append({
                "region": C.REGIONS[r],
                "team_id": C.TEAMS[C.REGION_TEAM[r]].team_id,
                "start_utc": _iso_utc(start),
                "end_utc": _iso_utc(start + C.SURGE_HOURS * HOUR_MS),
                "local_start_hour": int(self.region_local_hour[c, r]),
                "multiplier": C.SURGE_MULTIPLIER,
                "expected_leads_without_surge": round(float(base[cells, r].sum() * scale), 2),
                "leads": got,
            })
        self.intensity_base = base

    def _plan_specials(self, rng):
        days = self.days
        gen_day = self.counts.sum(axis=(1, 2))
        self.dup_per_day = (rng.multinomial(self.n_dup, gen_day / gen_day.sum()) if self.n_dup
                            else np.zeros(days, np.int64))
        self.test_per_day = (rng.multinomial(self.n_test, np.full(days, 1.0 / days)) if self.n_test
                             else np.zeros(days, np.int64))
        bursts = []
        left = self.n_bot
        while left > 0:
            size = int(min(left, rng.integers(15, 61)))
            day = int(rng.integers(days))
            start = self.t0 + day * DAY_MS + int(rng.integers(0, DAY_MS - 30 * MINUTE_MS))
            dur = max(MINUTE_MS, size * int(rng.integers(5_000, 25_000)))  # a few to 25 minutes
            region = int(_cat(C.REGION_SHARE, rng.random()))
            bursts.append((day, start, dur, size, region))
            left -= size
        self.bot_bursts = sorted(bursts)

    # ---------------------------------------------------------------- reps
    def _build_roster(self, rng):
        days, nT = self.days, len(C.TEAMS)
        H = days * 24
        per_region_hour = self.counts.reshape(H, len(C.REGIONS)).astype(np.float64)
        team_hour = np.zeros((H, nT))
        for r in range(len(C.REGIONS)):
            s = C.REGION_247_SHARE[r]
            team_hour[:, C.REGION_TEAM[r]] += per_region_hour[:, r] * (1 - s)
            team_hour[:, C.TEAM_247] += per_region_hour[:, r] * s
        hours = self.t0 + np.arange(H + 1, dtype=np.int64) * HOUR_MS
        open_frac = np.zeros((H, nT))
        for t in range(nT):
            pos = self.team_clock.position(np.full(H + 1, t), hours)
            open_frac[:, t] = np.diff(pos) / HOUR_MS
        team_day = team_hour.reshape(days, 24, nT).sum(axis=1)
        open_day = open_frac.reshape(days, 24, nT).sum(axis=1)
        need = np.where(open_day > 0.5, team_day / np.maximum(open_day, 0.5) / C.TARGET_LEADS_PER_REP_HOUR, np.nan)
        target = np.zeros((days, nT), np.int64)
        for t in range(nT):
            col = need[:, t]
            if np.isnan(col).all():
                col = np.zeros(days)
            idx = np.where(~np.isnan(col), np.arange(days), -1)
            idx = np.maximum.accumulate(idx)
            first = np.flatnonzero(idx >= 0)
            idx[idx < 0] = first[0] if len(first) else 0
            filled = np.nan_to_num(col[np.maximum(idx, 0)])
            win = np.array([filled[max(0, d - 3): d + 4].max() for d in range(days)])
            target[:, t] = np.maximum(C.MIN_REPS_PER_TEAM, np.ceil(win)).astype(np.int64)
        reps = []  # (hired_day, team, seq, term_day)
        seq = 0
        for t in range(nT):
            active = []
            for _ in range(int(target[0, t])):
                reps.append([-int(rng.integers(30, 1500)), t, seq, None])
                active.append(len(reps) - 1)
                seq += 1
            protected = active[0] if C.TEAMS[t].team_id == "T-LAX" else None
            for d in range(days):
                leave = rng.random(len(active)) < C.REP_DAILY_ATTRITION
                keep = []
                for rep_i, lv in zip(active, leave):
                    if lv and rep_i != protected:
                        reps[rep_i][3] = d
                    else:
                        keep.append(rep_i)
                active = keep
                while len(active) < target[d, t]:
                    reps.append([d, t, seq, None])
                    active.append(len(reps) - 1)
                    seq += 1
            if protected is not None:
                self._part_time_seq = reps[protected][2]
        order = sorted(range(len(reps)), key=lambda i: (reps[i][0], reps[i][1], reps[i][2]))
        self.rep_hired = np.array([reps[i][0] for i in order], np.int64)
        self.rep_team = np.array([reps[i][1] for i in order], np.int64)
        self.rep_term = np.array([reps[i][3] if reps[i][3] is not None else 10 ** 6 for i in order], np.int64)
        self.rep_ids = [f"R{k + 1:05d}" for k in range(len(order))]
        self.part_time_rep = next(k for k, i in enumerate(order) if reps[i][2] == self._part_time_seq)
        self.rep_mu = C.REP_MU_MEAN + C.REP_MU_SD * rng.standard_normal(len(order))
        self.rep_arm = None
        if self.experiment:
            # Reps randomised half and half with their own random stream (the main stream, and so
            # everything else, is untouched); the treated arm starts answering faster.
            arm_rng = np.random.default_rng([self.seed, C.EXPERIMENT_STREAM])
            self.rep_arm = (arm_rng.permutation(len(order)) < len(order) // 2).astype(np.int64)
            self.rep_mu = self.rep_mu + np.log(C.EXPERIMENT_FIRST_ATTEMPT_RATIO) * self.rep_arm
        self.rep_capacity = rng.integers(15, 41, len(order))
        self.rep_group = self.rep_team.copy()
        self.rep_group[self.part_time_rep] = len(C.TEAMS)
        self.shifts = schedules(self.change_date, self.rep_ids[self.part_time_rep])
        part_iv = open_intervals([s for s in self.shifts if s.rep_id], "America/Los_Angeles", "T-LAX",
                                 self.holidays, self.first_cal_day, self.last_cal_day)
        self.clock = BusinessClock(self.team_iv + [part_iv])
        # active reps per team and day, nominal load per team (leads per on-duty rep-hour)
        self.active_count = np.zeros((days, nT), np.int64)
        for d in range(days):
            act = (self.rep_hired <= d) & (self.rep_term > d)
            self.active_count[d] = np.bincount(self.rep_team[act], minlength=nT)
        load = team_hour / np.repeat(self.active_count, 24, axis=0)
        self.nominal_load = (open_frac * load).sum(axis=0) / np.maximum(open_frac.sum(axis=0), 1e-9)
        self.nominal_load = np.maximum(self.nominal_load, 1e-6)

    def _build_rep_details(self, rng):
        n = len(self.rep_team)
        country = np.array([C.COUNTRIES.index(C.TEAMS[t].country) for t in self.rep_team], np.int64)
        first, last, _ = P.people(P.NameBook(), country, rng)
        self.rep_first = first.to_pylist()
        self.rep_last = last.to_pylist()
        used: dict[str, int] = {}
        emails = []
        for f, l_ in zip(self.rep_first, self.rep_last):
            base = f"{P._ascii_lower(f)}.{P._ascii_lower(l_)}"
            k = used.get(base, 0)
            used[base] = k + 1
            emails.append(f"{base}{k + 1 if k else ''}@{C.COMPANY_DOMAIN}")
        self.rep_email = pa.array(emails, pa.string())
        nsn = np.zeros(n, np.int64)
        e164 = np.zeros(n, np.int64)
        for t, team in enumerate(C.TEAMS):
            sel = self.rep_team == t
            sp = self.spaces[P.space_name(team.country, team.region if team.region != "us_national" else "us_east")]
            nsn[sel] = sp.nsn(C.IDX_REP + np.flatnonzero(sel))
            e164[sel] = sp.e164(nsn[sel])
        self.rep_nsn = nsn
        self.rep_phone = e164
        self.rep_country = country
        self.team_line = np.zeros(len(C.TEAMS), np.int64)
        for t, team in enumerate(C.TEAMS):
            sp = self.spaces[P.space_name(team.country, team.region if team.region != "us_national" else "us_east")]
            self.team_line[t] = sp.e164(sp.nsn(np.array([C.IDX_COMPANY + t])))[0]

    def active_reps(self, day: int) -> list[np.ndarray]:
        act = (self.rep_hired <= day) & (self.rep_term > day)
        return [np.flatnonzero(act & (self.rep_team == t)) for t in range(len(C.TEAMS))]

    def assign_owner(self, team: np.ndarray, day: int, rng) -> np.ndarray:
        active = self.active_reps(day)
        owner = np.zeros(len(team), np.int64)
        u = rng.random(len(team))
        for t in range(len(C.TEAMS)):
            rows = np.flatnonzero(team == t)
            if len(rows) == 0:
                continue
            pool = active[t]
            w = np.where(pool == self.part_time_rep, C.PART_TIME_REP_WEIGHT, 1.0)
            owner[rows] = pool[_cat(w, u[rows])]
        return owner

    def teammate(self, rep: np.ndarray, day: int, rng) -> np.ndarray:
        active = self.active_reps(day)
        out = rep.copy()
        u = rng.random(len(rep))
        for t in range(len(C.TEAMS)):
            rows = np.flatnonzero(self.rep_team[rep] == t)
            if len(rows):
                pool = active[t]
                out[rows] = pool[(u[rows] * len(pool)).astype(np.int64)]
        return out

    # ============================================================================================
    # One day of lead arrivals
    # ============================================================================================

    def simulate_day(self, d: int, sink: Sink) -> None:
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 1, d]))
        day0 = self.t0 + d * DAY_MS
        L = self._arrivals(d, day0, rng)
        n = len(L["created"])
        if n == 0:
            return
        calls, sms, emails = _Acts(CALL_COLS), _Acts(SMS_COLS), _Acts(EMAIL_COLS)
        status_rows = []
        self._auto_touches(L, rng, sms, emails)
        gen = np.flatnonzero(L["kind"] == 0)
        sim = self._respond(d, L, gen, rng, calls, sms, emails, status_rows)
        self._specials(d, L, rng, calls, sms, emails, status_rows)
        self._replies(d, L, gen, sim, rng, calls, sms, emails)
        self._before_lead(d, L, gen, rng, calls, sms, emails)
        self._unknown_contacts(d, day0, n, rng, calls, sms, emails)

        # ----- leads
        lead_cols = {k: L[k] for k in ("g", "created", "form", "source", "campaign", "score", "region",
                                       "country", "owner", "team", "email", "phone", "first", "last",
                                       "ua", "is_test", "aware", "tag")}
        sink.add("leads", lead_cols, L["created"])
        # ----- status history
        if status_rows:
            lidx = np.concatenate([s[0] for s in status_rows])
            code = np.concatenate([s[1] for s in status_rows])
            when = np.concatenate([s[2] for s in status_rows])
            rep = np.concatenate([s[3] for s in status_rows])
            order = np.lexsort((when, lidx))
            lidx, code, when, rep = lidx[order], code[order], when[order], rep[order]
            prev = np.full(len(code), -1, np.int64)
            same = np.concatenate([[False], lidx[1:] == lidx[:-1]])
            prev[1:][same[1:]] = code[:-1][same[1:]]
            sink.add("lead_status_history", {
                "g": L["g"][lidx], "status": code, "changed": when, "prev": prev, "rep": rep,
                "aware": rng.random(len(code)) < C.OFFSET_AWARE_SHARE,
            }, when)
        # ----- activities
        for name, acts, no_key in (("calls", calls, "started"), ("sms", sms, "sent"), ("emails", emails, "sent")):
            if acts.n == 0:
                continue
            cols = acts.build()
            cols.pop("lidx")
            cols["no"] = self.counters[name] + np.arange(acts.n, dtype=np.int64)
            self.counters[name] += acts.n
            sink.add(name, cols, cols[no_key])
        if sim is not None:
            for name in ("appointments", "opportunities"):
                rows = sim[name]
                if rows is not None:
                    sink.add(name, rows, rows["booked"] if name == "appointments" else rows["created"])
        # campaign volume for the cost extract
        camp = L["campaign"]
        ok = camp >= 0
        self.campaign_leads[d] += np.bincount(camp[ok], minlength=len(C.CAMPAIGNS))

    # ---------------------------------------------------------------- arrivals of the day
    def _arrivals(self, d, day0, rng):
        R = len(C.REGIONS)
        cnt = self.counts[d].ravel()
        cell = np.repeat(np.arange(24 * R), cnt)
        parts = []
        # genuine
        ng = len(cell)
        g = {
            "kind": np.zeros(ng, np.int64),
            "created": day0 + (cell // R) * HOUR_MS + rng.integers(0, HOUR_MS, ng),
            "region": cell % R,
        }
        g.update(self._attributes(g["region"], rng))
        parts.append(g)
        # duplicate submissions: the same person again, minutes to hours later
        nd = int(self.dup_per_day[d])
        cand = np.flatnonzero(g["has_email"] | g["has_phone"])
        if nd and len(cand):
            orig = cand[rng.integers(0, len(cand), nd)]
            delay = np.clip(_lognormal_ms(rng, nd, 25 * MINUTE_MS, 1.2), 30_000, 2 * DAY_MS).astype(np.int64)
            created = np.minimum(g["created"][orig] + delay, self.t1 - 1 - rng.integers(0, 60_000, nd))
            created = np.maximum(created, g["created"][orig] + 1)
            dup = {k: (v[orig] if isinstance(v, np.ndarray) else v.take(pa.array(orig))) for k, v in g.items()}
            dup["kind"] = np.full(nd, 1, np.int64)
            dup["created"] = created
            dup["latency"] = np.clip(_lognormal_ms(rng, nd, 12_000, 0.7), 800, 300_000).astype(np.int64)
            dup["orig"] = orig
            case = rng.random(nd)
            em = dup["email"]
            em = pc.if_else(pa.array(case < 0.15), pc.utf8_upper(em), pc.if_else(pa.array(case < 0.35), pc.utf8_capitalize(em), em))
            dup["email"] = em
            dup["aware"] = rng.random(nd) < C.OFFSET_AWARE_SHARE
            parts.append(dup)
        # bot bursts
        for (bd, start, dur, size, region) in self.bot_bursts:
            if bd != d:
                continue
            b = {
                "kind": np.full(size, 2, np.int64),
                "created": start + np.sort(rng.integers(0, dur, size)),
                "region": np.full(size, region, np.int64),
            }
            b.update(self._bot_attributes(b["region"], rng))
            parts.append(b)
        # internal test leads, during East Coast office hours
        nt = int(self.test_per_day[d])
        if nt:
            t = {
                "kind": np.full(nt, 3, np.int64),
                "created": day0 + 13 * HOUR_MS + rng.integers(0, 8 * HOUR_MS, nt),
                "region": np.zeros(nt, np.int64),
            }
            t.update(self._test_attributes(nt, rng))
            parts.append(t)
        keys = parts[0].keys()
        L = {}
        for k in keys:
            vals = [p.get(k) for p in parts]
            if isinstance(vals[0], np.ndarray):
                L[k] = np.concatenate([v if v is not None else np.full(len(p["kind"]), -1, np.int64)
                                       for v, p in zip(vals, parts)])
            else:
                L[k] = pa.concat_arrays([v if v is not None else pa.nulls(len(p["kind"]), pa.string())
                                         for v, p in zip(vals, parts)])
        # the "orig" pointer of duplicates indexes the genuine part (offset 0)
        L["orig"] = np.concatenate([p.get("orig", np.full(len(p["kind"]), -1, np.int64)) for p in parts])
        order = np.argsort(L["created"], kind="stable")
        inv = np.empty_like(order)
        inv[order] = np.arange(len(order))
        L = {k: (v[order] if isinstance(v, np.ndarray) else v.take(pa.array(order))) for k, v in L.items()}
        L["orig"] = np.where(L["orig"] >= 0, inv[np.maximum(L["orig"], 0)], -1)
        n = len(order)
        L["g"] = self.g_next + np.arange(n, dtype=np.int64)
        self.g_next += n
        L["team"] = np.where(L["team"] >= 0, L["team"], 0)
        L["owner"] = self.assign_owner(L["team"], d, rng)
        L["group"] = self.rep_group[L["owner"]]
        L["tag"] = np.select([L["kind"] == 1, L["kind"] == 2, L["kind"] == 3],
                             [TAG_DUPLICATE_SUBMISSION, TAG_BOT, TAG_TEST], TAG_NONE).astype(np.int64)
        self._phones(L, rng)
        L["email_lc"] = pc.utf8_lower(L["email"])
        return L

    def _attributes(self, region, rng):
        n = len(region)
        R = np.asarray(region)
        s247 = np.asarray(C.REGION_247_SHARE)[R]
        team = np.where(rng.random(n) < s247, C.TEAM_247, np.asarray(C.REGION_TEAM)[R])
        cp = np.cumsum(np.asarray(C.REGION_COUNTRY_P), axis=1)[R]
        country = np.minimum((rng.random(n)[:, None] >= cp).sum(axis=1), len(C.COUNTRIES) - 1)
        source = _cat(C.SOURCE_P, rng.random(n))
        campaign = self._campaigns(source, rng)
        score = np.clip(np.rint(np.asarray(C.SCORE_MEAN_BY_SOURCE)[source] + C.SCORE_SD * rng.standard_normal(n)), 0, 100).astype(np.int64)
        web = np.asarray(C.WEB_SOURCES)[source]
        has_form = rng.random(n) < np.where(web, C.FORM_PRESENT_P_WEB, C.FORM_PRESENT_P_OTHER)
        return {
            "team": team, "country": country, "source": source, "campaign": campaign, "score": score,
            "has_form": has_form, **self._contact(country, rng, n),
            "ua_code": np.where(has_form, _cat([w for _, w in C.USER_AGENTS], rng.random(n)), -1),
            "is_test": np.where(rng.random(n) < 0.7, 0, -1),
            "aware": rng.random(n) < C.OFFSET_AWARE_SHARE,
            "latency": self._latency(rng, n),
        }

    def _contact(self, country, rng, n):
        has_email = rng.random(n) < 0.95
        has_phone = (rng.random(n) < 0.96) | ~has_email
        first, last, email = P.people(self.book, country, rng)
        case = rng.random(n)
        email = pc.if_else(pa.array(case < 0.01), pc.utf8_upper(email),
                           pc.if_else(pa.array(case < 0.04), pc.utf8_capitalize(email), email))
        email = pc.if_else(pa.array(has_email), email, pa.scalar(None, pa.string()))
        return {"first": first, "last": last, "email": email, "has_email": has_email, "has_phone": has_phone}

    @staticmethod
    def _latency(rng, n):
        lat = np.clip(_lognormal_ms(rng, n, 15_000, 0.8), 800, 600_000)
        slow = rng.random(n) < 0.03
        lat = np.where(slow, np.clip(_lognormal_ms(rng, n, 40 * MINUTE_MS, 1.0), 10 * MINUTE_MS, 8 * HOUR_MS), lat)
        return lat.astype(np.int64)

    def _campaigns(self, source, rng):
        out = np.full(len(source), -1, np.int64)
        u = rng.random(len(source))
        for s in range(len(C.SOURCES)):
            idx = [i for i, c in enumerate(C.CAMPAIGNS) if c[1] == s]
            rows = source == s
            if idx and rows.any():
                w = [C.CAMPAIGNS[i][2] for i in idx]
                out[rows] = np.asarray(idx)[_cat(w, u[rows])]
        return out

    def _bot_attributes(self, region, rng):
        n = len(region)
        R = np.asarray(region)
        main_country = np.array([0, 0, 0, 2, 3])[R]
        source = np.array([0, 5, 2])[rng.integers(0, 3, n)]
        k = self.counters["bots"] + np.arange(n)
        self.counters["bots"] += n
        letters = P.random_letters(rng, n, 5, 9)
        email = pc.binary_join_element_wise(
            P.random_letters(rng, n, 4, 8), pc.cast(pa.array(k), pa.string()), pa.scalar("@"),
            pa.array(np.asarray(C.BOT_EMAIL_DOMAINS)[rng.integers(0, len(C.BOT_EMAIL_DOMAINS), n)].tolist()), "")
        has_email = rng.random(n) < 0.9
        return {
            "team": np.where(rng.random(n) < np.asarray(C.REGION_247_SHARE)[R], C.TEAM_247, np.asarray(C.REGION_TEAM)[R]),
            "country": main_country, "source": source, "campaign": self._campaigns(source, rng),
            "score": rng.integers(0, 31, n), "has_form": np.ones(n, bool),
            "first": letters, "last": P.random_letters(rng, n, 5, 10),
            "email": pc.if_else(pa.array(has_email), email, pa.scalar(None, pa.string())),
            "has_email": has_email, "has_phone": rng.random(n) < 0.6,
            "ua_code": 100 + rng.integers(0, len(C.BOT_USER_AGENTS), n),
            "is_test": np.zeros(n, np.int64),
            "aware": rng.random(n) < C.OFFSET_AWARE_SHARE,
            "latency": rng.integers(150, 2500, n),
        }

    def _test_attributes(self, n, rng):
        k = self.counters["tests"] + np.arange(n)
        self.counters["tests"] += n
        sub = _cat([0.5, 0.25, 0.25], rng.random(n))
        for s, name in enumerate(self.test_kinds):
            self.test_kinds[name] += int((sub == s).sum())
        ks = [str(x + 1) for x in k]
        email = [f"test+{x}@{C.INTERNAL_TEST_DOMAIN}" if s == 0 else
                 (f"brightpath.qa{x}@outlook.com" if s == 1 else f"qa.{x}@{C.INTERNAL_TEST_DOMAIN}")
                 for s, x in zip(sub, ks)]
        source = _cat(C.SOURCE_P, rng.random(n))
        return {
            "team": np.full(n, C.TEAM_INDEX["T-NYC"], np.int64), "country": np.zeros(n, np.int64),
            "source": source, "campaign": np.full(n, -1, np.int64), "score": np.full(n, 50, np.int64),
            "has_form": np.ones(n, bool),
            "first": pa.array(["Test"] * n), "last": pa.array([C.TEST_LAST_NAMES[i % len(C.TEST_LAST_NAMES)] for i in k]),
            "email": pa.array(email), "has_email": np.ones(n, bool), "has_phone": rng.random(n) < 0.7,
            "ua_code": np.zeros(n, np.int64), "is_test": np.where(sub < 2, 1, 0),
            "aware": rng.random(n) < C.OFFSET_AWARE_SHARE, "latency": rng.integers(1000, 20_000, n),
        }

    def _phones(self, L, rng):
        n = len(L["g"])
        nsn = np.zeros(n, np.int64)
        e164 = np.zeros(n, np.int64)
        has = L["has_phone"].astype(bool)
        for c_i, c in enumerate(C.COUNTRIES):
            for r_i, r in enumerate(C.REGIONS):
                rows = np.flatnonzero(has & (L["country"] == c_i) & (L["region"] == r_i) & (L["kind"] != 1))
                if len(rows) == 0:
                    continue
                sp = self.spaces[P.space_name(c, r)]
                nsn[rows] = sp.nsn(L["g"][rows])
                e164[rows] = sp.e164(nsn[rows])
        dup = np.flatnonzero((L["kind"] == 1) & has)
        nsn[dup] = nsn[L["orig"][dup]]
        e164[dup] = e164[L["orig"][dup]]
        by_country = {ci: self.spaces[P.space_name(c, "us_east")] for ci, c in enumerate(C.COUNTRIES)}
        phone, _ = P.format_phones(nsn, L["country"], by_country, rng, has)
        L["phone"] = phone
        L["phone_e164"] = e164
        L["has_phone"] = has
        L["has_email"] = L["has_email"].astype(bool)
        L["has_form"] = L["has_form"].astype(bool)
        L["form"] = np.where(L["has_form"], L["created"] - L["latency"], -1)
        ua_all = [u for u, _ in C.USER_AGENTS]
        code = L["ua_code"]
        ua_idx = np.where(code >= 100, len(ua_all) + code - 100, code)
        L["ua"] = pc.take(pa.array(ua_all + list(C.BOT_USER_AGENTS)),
                          pa.array(np.maximum(ua_idx, 0), mask=~L["has_form"] | (ua_idx < 0)))

    # ---------------------------------------------------------------- automated first touch
    def _auto_touches(self, L, rng, sms, emails):
        n = len(L["g"])
        team_line = self.team_line[L["team"]]
        rows = np.flatnonzero(L["has_phone"] & (rng.random(n) < C.AUTO_SMS_P))
        if len(rows):
            k = len(rows)
            st = _cat(list(C.SMS_STATUS_P_OUT.values()), rng.random(k))
            sms.add(sent=L["created"][rows] + rng.integers(2000, 40_000, k), direction=OUT,
                    **{"from": team_line[rows], "to": L["phone_e164"][rows]}, rep=-1, status=st, auto=1,
                    lead=np.where(rng.random(k) < C.LEAD_ID_SHARE["auto_sms"], L["g"][rows], -1),
                    tag=0, lidx=rows)
        rows = np.flatnonzero(L["has_email"] & (rng.random(n) < C.AUTO_EMAIL_P))
        if len(rows):
            k = len(rows)
            st = _cat(list(C.EMAIL_STATUS_P_OUT.values()), rng.random(k))
            emails.add(sent=L["created"][rows] + rng.integers(1000, 120_000, k), direction=OUT,
                       from_addr=f"hello@{C.COMPANY_DOMAIN}", to_addr=L["email_lc"].take(pa.array(rows)),
                       rep=-1, status=st, auto=1,
                       lead=np.where(rng.random(k) < C.LEAD_ID_SHARE["auto_email"], L["g"][rows], -1),
                       tag=0, lidx=rows)

    # ---------------------------------------------------------------- human activity helpers
    def _call_rows(self, rng, start, disp):
        k = len(start)
        ring = np.select([disp == D_CONNECTED, disp == D_VOICEMAIL, disp == D_NO_ANSWER, disp == D_BUSY],
                         [rng.integers(4000, 25_000, k), rng.integers(20_000, 32_000, k),
                          rng.integers(25_000, 45_000, k), rng.integers(2000, 6000, k)],
                         rng.integers(300, 2000, k))
        talk = np.where(disp == D_CONNECTED, np.clip(_lognormal_ms(rng, k, 240_000, 0.9), 15_000, 2 * HOUR_MS),
                        np.where(disp == D_VOICEMAIL, rng.integers(15_000, 60_000, k), 0)).astype(np.int64)
        answered = np.where((disp == D_CONNECTED) | (disp == D_VOICEMAIL), start + ring, -1)
        ended = np.where(answered >= 0, answered + talk, start + ring)
        dur = np.where(answered >= 0, np.rint(talk / 1000), 0).astype(np.int64)
        return answered, ended, dur

    def _outcomes(self, rng, channel, elapsed):
        """Disposition / status code per attempt and whether it qualifies as a response."""
        k = len(channel)
        b = bucket_of(np.maximum(elapsed, 0))
        u = rng.random(k)
        pc_ = np.asarray(C.CALL_CONNECT_P)[b]
        vm = pc_ + (1 - pc_) * C.CALL_VOICEMAIL_SHARE_OF_UNCONNECTED
        miss = _cat(C.CALL_MISS_SPLIT, rng.random(k)) + D_NO_ANSWER
        disp = np.where(u < pc_, D_CONNECTED, np.where(u < vm, D_VOICEMAIL, miss))
        sms_st = _cat(list(C.SMS_STATUS_P_OUT.values()), rng.random(k))
        em_st = _cat(list(C.EMAIL_STATUS_P_OUT.values()), rng.random(k))
        code = np.select([channel == CALL, channel == SMS], [disp, sms_st], em_st)
        qual = np.where(channel == CALL, disp <= D_VOICEMAIL, code <= 1)  # delivered/sent = 0/1
        return code, qual

    def _channels(self, rng, L, idx, p):
        ch = _cat(p, rng.random(len(idx)))
        hp = L["has_phone"][idx]
        he = L["has_email"][idx]
        ch = np.where((ch != EMAIL) & ~hp, EMAIL, ch)
        ch = np.where((ch == EMAIL) & ~he, CALL, ch)
        return ch

    def _emit(self, rng, L, idx, t, ch, code, rep, calls, sms, emails, d, tag=0, lead_share=None):
        """Write outbound human activities of leads ``idx`` at times ``t``."""
        for c, acts in ((CALL, calls), (SMS, sms), (EMAIL, emails)):
            sel = ch == c
            if not sel.any():
                continue
            li, tt, cc, rr = idx[sel], t[sel], code[sel], rep[sel]
            k = len(li)
            share = lead_share if lead_share is not None else C.LEAD_ID_SHARE[("call", "sms", "email")[c]]
            lead = np.where(rng.random(k) < share, L["g"][li], -1)
            if c == CALL:
                answered, ended, dur = self._call_rows(rng, tt, cc)
                rep_w = np.where(rng.random(k) < 0.88, rr, -1)
                calls.add(started=tt, answered=answered, ended=ended, direction=OUT,
                          **{"from": self.rep_phone[rr], "to": L["phone_e164"][li]}, rep=rep_w, disp=cc,
                          dur=dur, lead=lead, tag=tag, lidx=li)
            elif c == SMS:
                sms.add(sent=tt, direction=OUT, **{"from": self.rep_phone[rr], "to": L["phone_e164"][li]},
                        rep=np.where(rng.random(k) < 0.92, rr, -1), status=cc, auto=0, lead=lead, tag=tag, lidx=li)
            else:
                emails.add(sent=tt, direction=OUT, from_addr=self.rep_email.take(pa.array(rr)),
                           to_addr=L["email_lc"].take(pa.array(li)), rep=np.where(rng.random(k) < 0.95, rr, -1),
                           status=cc, auto=0, lead=lead, tag=tag, lidx=li)

    # ---------------------------------------------------------------- human response of genuine leads
    def _respond(self, d, L, gen, rng, calls, sms, emails, status_rows):
        n = len(gen)
        if n == 0:
            return None
        created = L["created"][gen]
        start = np.where(L["form"][gen] >= 0, L["form"][gen], created)
        group = L["group"][gen]
        owner = L["owner"][gen]
        team = L["team"][gen]
        score = L["score"][gen]
        tier = np.searchsorted([40, 70], score, side="right")
        source = L["source"][gen]
        # load: leads arriving for the team in the same UTC hour, per active rep, vs the team norm
        hour = np.clip((L["created"] - (self.t0 + d * DAY_MS)) // HOUR_MS, 0, 23)
        cnt = np.bincount(L["team"] * 24 + hour, minlength=len(C.TEAMS) * 24)
        load = cnt[team * 24 + hour[gen]] / np.maximum(self.active_count[d][team], 1) / self.nominal_load[team]
        in_hours = self.clock.is_open(group, created)
        tier_shift = np.array([C.RT_TIER_SHIFT[t] for t in C.TIERS])[tier]
        mu = self.rep_mu[owner] + tier_shift + C.LOAD_ELASTICITY * np.log(np.clip(load, 0.3, 25.0)) * in_hours
        minutes = np.exp(mu + C.RT_SIGMA * rng.standard_normal(n))
        backlog = np.exp(np.log(C.AFTER_HOURS_BACKLOG_MEDIAN_MIN) + C.AFTER_HOURS_BACKLOG_SIGMA * rng.standard_normal(n))
        minutes = minutes + np.where(in_hours, 0.0, backlog)
        delay = np.maximum(minutes * MINUTE_MS, 20_000).astype(np.int64)
        first_attempt = self.clock.add(group, created, delay)
        if len(self.rt_in_hours) < 200_000:
            cal_min = (first_attempt - created) / MINUTE_MS
            self.rt_in_hours.extend(cal_min[in_hours][:2000].tolist())
            self.rt_after_hours.extend(cal_min[~in_hours][:2000].tolist())
        never = rng.random(n) < np.array([C.NEVER_ATTEMPT_P[t] for t in C.TIERS])[tier]

        q_time = np.full(n, -1, np.int64)
        first_qual = np.zeros(n, bool)
        connect_end = np.full(n, -1, np.int64)  # end of the first connected call
        voicemails = []  # (local index, end time)
        t = first_attempt.copy()
        active = np.flatnonzero(~never)
        for k in range(C.MAX_ATTEMPTS):
            if len(active) == 0:
                break
            li = gen[active]
            ch = self._channels(rng, L, li, C.FIRST_CHANNEL_P)
            code, qual = self._outcomes(rng, ch, t[active] - start[active])
            self._emit(rng, L, li, t[active], ch, code, owner[active], calls, sms, emails, d)
            if k == 0:
                first_qual[active] = qual
            q_time[active[qual]] = t[active[qual]]
            self._note_calls(active, ch, code, t[active], connect_end, voicemails, rng, calls)
            rest = active[~qual]
            rest = rest[rng.random(len(rest)) >= C.ATTEMPT_GIVE_UP_P]
            gap = (_lognormal_ms(rng, len(rest), 60 * MINUTE_MS * 2 ** k, 0.8)).astype(np.int64)
            t[rest] = self.clock.add(group[rest], t[rest], gap)
            active = rest
        reached = q_time >= 0
        bucket = np.where(reached, bucket_of(q_time - start), len(C.BUCKETS) - 1)
        # ---- the planted effect: P(opportunity) = logistic(b0 + log OR[bucket] + source + tier)
        logit = (C.CONVERSION_INTERCEPT + np.log(np.asarray(C.BUCKET_ODDS_RATIO))[bucket]
                 + np.array([C.SOURCE_LOG_ODDS[s] for s in C.SOURCES])[source]
                 + np.array([C.TIER_LOG_ODDS[t] for t in C.TIERS])[tier])
        opp = rng.random(n) < _sigmoid(logit)

        # ---- follow-ups after the first qualifying response
        fr = np.flatnonzero(reached)
        nf = rng.poisson(np.where(opp[fr], C.FOLLOW_UP_MEAN["converted"], C.FOLLOW_UP_MEAN["other"]))
        rep_idx = np.repeat(fr, nf)
        if len(rep_idx):
            gaps = _lognormal_ms(rng, len(rep_idx), 6 * HOUR_MS, 1.0).astype(np.int64)
            csum = np.cumsum(gaps)
            first_of = np.repeat(np.cumsum(nf) - nf, nf)
            within = csum - (csum[first_of] - gaps[first_of])
            pos = self.clock.position(group[rep_idx], q_time[rep_idx]) + within
            ft = self.clock.instant(group[rep_idx], pos)
            ch = self._channels(rng, L, gen[rep_idx], C.FOLLOW_UP_CHANNEL_P)
            code, _ = self._outcomes(rng, ch, ft - start[rep_idx])
            rep = np.where(rng.random(len(rep_idx)) < 0.9, owner[rep_idx], self.teammate(owner[rep_idx], d, rng))
            self._emit(rng, L, gen[rep_idx], ft, ch, code, rep, calls, sms, emails, d)
            self._note_calls(rep_idx, ch, code, ft, connect_end, voicemails, rng, calls)

        # ---- converted leads always had a conversation: add one where there was none
        callback = np.zeros(n, bool)
        need = np.flatnonzero(opp & (connect_end < 0))
        if len(need):
            via_rep = need[reached[need] & L["has_phone"][gen[need]]]
            if len(via_rep):
                tt = self.clock.add(group[via_rep], q_time[via_rep],
                                    _lognormal_ms(rng, len(via_rep), 90 * MINUTE_MS, 0.8).astype(np.int64))
                ch = np.full(len(via_rep), CALL)
                code = np.full(len(via_rep), D_CONNECTED)
                self._emit(rng, L, gen[via_rep], tt, ch, code, owner[via_rep], calls, sms, emails, d)
                self._note_calls(via_rep, ch, code, tt, connect_end, voicemails, rng, calls)
            inbound = np.setdiff1d(need, via_rep)
            if len(inbound):
                # the lead gets in touch: calls in, or (no phone on file) answers by email
                tt = created[inbound] + np.maximum(_lognormal_ms(rng, len(inbound), 20 * HOUR_MS, 0.8), 60_000).astype(np.int64)
                tt = np.maximum(tt, np.where(q_time[inbound] >= 0, q_time[inbound] + 60_000, 0))
                li = gen[inbound]
                ph = L["has_phone"][li]
                by_call = inbound[ph]
                if len(by_call):
                    tc = tt[ph]
                    answered, ended, dur = self._call_rows(rng, tc, np.full(len(tc), D_CONNECTED))
                    calls.add(started=tc, answered=answered, ended=ended, direction=IN,
                              **{"from": L["phone_e164"][gen[by_call]], "to": self.rep_phone[owner[by_call]]},
                              rep=owner[by_call], disp=D_CONNECTED, dur=dur, lead=-1, tag=0, lidx=gen[by_call])
                    connect_end[by_call] = ended
                by_mail = inbound[~ph]
                if len(by_mail):
                    te = tt[~ph]
                    emails.add(sent=te, direction=IN, from_addr=L["email_lc"].take(pa.array(gen[by_mail])),
                               to_addr=self.rep_email.take(pa.array(owner[by_mail])), rep=owner[by_mail],
                               status=E_RECEIVED, auto=0, lead=-1, tag=0, lidx=gen[by_mail])
                    connect_end[by_mail] = te
                callback[inbound] = True

        contacted = connect_end >= 0
        # ---- appointments
        p_book = np.where(opp, C.BOOKING_P_OPP, np.asarray(C.BOOKING_P_NO_OPP)[bucket])
        booked = contacted & (rng.random(n) < p_book)
        bk = np.flatnonzero(booked)
        appt_end = np.full(n, -1, np.int64)
        appt_completed = np.zeros(n, bool)
        if len(bk):
            booked_at = connect_end[bk] + rng.integers(20_000, 600_000, len(bk))
            s_at, e_at = self._appointment_slots(owner[bk], group[bk], booked_at, rng)
            u = rng.random(len(bk))
            st_opp = np.asarray([AP["completed"], AP["rescheduled"], AP["no_show"]])[_cat([0.85, 0.10, 0.05], u)]
            st_no = np.asarray([AP["completed"], AP["no_show"], AP["cancelled"], AP["rescheduled"]])[_cat([0.45, 0.30, 0.20, 0.05], u)]
            st = np.where(opp[bk], st_opp, st_no)
            st = np.where(s_at >= self.t1, AP["scheduled"], st)
            no = self.counters["appointments"] + np.arange(len(bk), dtype=np.int64)
            self.counters["appointments"] += len(bk)
            appts = {"no": no, "g": L["g"][gen[bk]], "rep": owner[bk], "booked": booked_at,
                     "start": s_at, "end": e_at, "status": st,
                     "aware": rng.random(len(bk)) < C.OFFSET_AWARE_SHARE}
            appt_end[bk] = e_at
            appt_completed[bk] = st == AP["completed"]
        else:
            appts = None

        # ---- opportunities
        op = np.flatnonzero(opp)
        opp_created = np.full(n, -1, np.int64)
        if len(op):
            base = np.where(appt_completed[op], appt_end[op], connect_end[op])
            created_o = base + np.maximum(_lognormal_ms(rng, len(op), 5 * HOUR_MS, 1.0), 10 * MINUTE_MS).astype(np.int64)
            u = rng.random(len(op))
            stage = np.where(u < 0.35, STG["closed_won"], np.where(u < 0.65, STG["closed_lost"],
                             np.asarray([STG["qualification"], STG["proposal"], STG["negotiation"]])[rng.integers(0, 3, len(op))]))
            closed = created_o + _lognormal_ms(rng, len(op), 12 * DAY_MS, 0.7).astype(np.int64)
            is_closed = (stage >= STG["closed_won"]) & (closed < self.t1)
            stage = np.where((stage >= STG["closed_won"]) & ~is_closed,
                             np.where(rng.random(len(op)) < 0.5, STG["proposal"], STG["negotiation"]), stage)
            won = np.where(is_closed, (stage == STG["closed_won"]).astype(np.int64), -1)
            country = L["country"][gen[op]]
            median = np.array([9000.0, 11000.0, 7000.0, 12500.0])[country]
            cents = np.rint(np.exp(np.log(median) + 0.8 * rng.standard_normal(len(op))) * 100).astype(np.int64)
            no = self.counters["opportunities"] + np.arange(len(op), dtype=np.int64)
            self.counters["opportunities"] += len(op)
            opps = {"no": no, "g": L["g"][gen[op]], "created": created_o, "stage": stage,
                                  "cents": cents, "currency": country, "closed": np.where(is_closed, closed, -1),
                                  "won": won}
            opp_created[op] = created_o
        else:
            opps = None

        # ---- status history of genuine leads
        S = lambda idx, code, when, rep: status_rows.append((gen[idx], np.full(len(idx), ST[code]), when.astype(np.int64), rep))
        allidx = np.arange(n)
        S(allidx, "new", created, np.full(n, -1))
        w = np.flatnonzero(~never & ~first_qual)
        t_work = first_attempt[w] + rng.integers(5000, 60_000, len(w))
        S(w, "working", t_work, owner[w])
        last = created.copy()
        last[w] = t_work
        c_idx = np.flatnonzero(reached | callback)
        c_time = np.where(reached[c_idx], q_time[c_idx], connect_end[c_idx]) + rng.integers(5000, 120_000, len(c_idx))
        c_time = np.maximum(c_time, last[c_idx] + 1000)
        S(c_idx, "contacted", c_time, owner[c_idx])
        last[c_idx] = c_time
        qi = np.flatnonzero(contacted)
        qualified = opp[qi] | booked[qi] | (rng.random(len(qi)) < 0.35)
        q_t = np.maximum(connect_end[qi] + _lognormal_ms(rng, len(qi), 40 * MINUTE_MS, 1.0).astype(np.int64), last[qi] + 1000)
        S(qi[qualified], "qualified", q_t[qualified], owner[qi[qualified]])
        S(qi[~qualified], "unqualified", q_t[~qualified], owner[qi[~qualified]])
        last[qi] = q_t
        if len(op):
            cv = np.maximum(opp_created[op] + rng.integers(1000, 60_000, len(op)), last[op] + 1000)
            S(op, "converted", cv, owner[op])
            last[op] = cv
        nu = np.flatnonzero(reached & ~contacted)
        S(nu, "nurture", np.maximum(q_time[nu] + 21 * DAY_MS, last[nu] + HOUR_MS), owner[nu])
        ur = np.flatnonzero(~reached & ~callback)
        S(ur, "unresponsive", np.maximum(created[ur] + 14 * DAY_MS, last[ur] + HOUR_MS), owner[ur])

        # ---- truth for the manifest
        nb = len(C.BUCKETS)
        self.truth["leads"] += np.bincount(bucket, minlength=nb)
        self.truth["converted"] += np.bincount(bucket[opp], minlength=nb)
        self.truth["contacted"] += np.bincount(bucket[contacted], minlength=nb)
        self.truth["booked"] += np.bincount(bucket[booked], minlength=nb)
        np.add.at(self.truth_by_source, (source, opp.astype(np.int64)), 1)
        np.add.at(self.truth_by_tier, (tier, opp.astype(np.int64)), 1)
        return {"bucket": bucket, "owner": owner, "group": group, "voicemails": voicemails, "reached": reached,
                "appointments": appts, "opportunities": opps}

    def _note_calls(self, local, ch, code, t, connect_end, voicemails, rng, calls):
        """Track the first connected call (its end) and voicemails of the leads ``local``."""
        is_call = ch == CALL
        if not is_call.any():
            return
        # recompute the end exactly as _call_rows did: take it from the rows just added
        ended = calls.parts["ended"][-1]
        lidx = calls.parts["lidx"][-1]
        started = calls.parts["started"][-1]
        disp = calls.parts["disp"][-1]
        # rows just added belong to local[is_call] in the same order
        loc = local[is_call]
        conn = disp == D_CONNECTED
        cur = connect_end[loc[conn]]
        connect_end[loc[conn]] = np.where(cur < 0, ended[conn], np.minimum(cur, ended[conn]))
        vm = disp == D_VOICEMAIL
        if vm.any():
            voicemails.append((lidx[vm], ended[vm], loc[vm]))

    def _appointment_slots(self, rep, group, booked_at, rng):
        earliest = booked_at + rng.integers(18 * HOUR_MS, 4 * DAY_MS, len(rep))
        e_b = self.clock.position(group, earliest)
        e_b = -(-e_b // SLOT_MS) * SLOT_MS
        order = np.lexsort((np.arange(len(rep)), e_b, rep))
        r_s = rep[order]
        e_s = np.maximum(e_b[order], self.appt_pointer[r_s])
        newg = np.concatenate([[True], r_s[1:] != r_s[:-1]])
        gstart = np.maximum.accumulate(np.where(newg, np.arange(len(r_s)), 0))
        rank = np.arange(len(r_s)) - gstart
        gid = np.cumsum(newg)
        BIG = np.int64(1) << np.int64(44)
        v = e_s - rank * SLOT_MS + gid * BIG
        start_b = np.maximum.accumulate(v) - gid * BIG + rank * SLOT_MS
        last_of = np.concatenate([newg[1:], [True]])
        self.appt_pointer[r_s[last_of]] = start_b[last_of] + SLOT_MS
        # planted double bookings: the next appointment of the same rep moved onto this one
        if self.messy > 0:
            # both appointments of a pair must be written (booked within the window)
            written = booked_at[order] < self.t1
            cand = np.flatnonzero(~last_of & (rank % 3 == 0) & written & np.roll(written, -1))
            k = int(rng.binomial(len(cand), min(1.0, self.messy * 0.5))) if len(cand) else 0
            if k == 0 and self.double_booked == 0 and len(cand):
                k = 1
            if k:
                pick = np.sort(rng.choice(cand, size=k, replace=False))
                start_b[pick + 1] = start_b[pick]
                self.double_booked += k
        s_sorted = self.clock.instant(group[order], start_b)
        start = np.empty_like(s_sorted)
        start[order] = s_sorted
        end = start + SLOT_MS
        return start, end

    # ---------------------------------------------------------------- non-genuine leads
    def _specials(self, d, L, rng, calls, sms, emails, status_rows):
        kind = L["kind"]
        idx = np.flatnonzero(kind != 0)
        if len(idx) == 0:
            return
        status_rows.append((idx, np.full(len(idx), ST["new"]), L["created"][idx], np.full(len(idx), -1)))
        bots = np.flatnonzero((kind == 2) & L["has_phone"])
        if len(bots):
            try_call = bots[rng.random(len(bots)) < 0.4]
            if len(try_call):
                owner = L["owner"][try_call]
                tt = self.clock.add(L["group"][try_call], L["created"][try_call],
                                    _lognormal_ms(rng, len(try_call), 30 * MINUTE_MS, 1.0).astype(np.int64))
                code = np.where(rng.random(len(try_call)) < 0.6, D_FAILED, D_NO_ANSWER)
                self._emit(rng, L, try_call, tt, np.full(len(try_call), CALL), code, owner, calls, sms, emails, d)
                status_rows.append((try_call, np.full(len(try_call), ST["unqualified"]),
                                    tt + rng.integers(60_000, 600_000, len(try_call)), owner))

    # ---------------------------------------------------------------- replies and callbacks
    def _replies(self, d, L, gen, sim, rng, calls, sms, emails):
        if sim is None:
            return
        n_all = len(L["g"])
        bucket_all = np.full(n_all, -1, np.int64)
        bucket_all[gen] = sim["bucket"]
        # SMS: the lead answers the first delivered SMS (automated or human)
        if sms.n:
            cols = {k: np.concatenate(v) for k, v in sms.parts.items() if k in ("sent", "status", "lidx", "from", "direction", "rep")}
            ok = (cols["status"] == S_DELIVERED) & (cols["direction"] == OUT) & (bucket_all[cols["lidx"]] >= 0)
            if ok.any():
                li = cols["lidx"][ok]
                order = np.lexsort((cols["sent"][ok], li))
                li_s = li[order]
                first = np.concatenate([[True], li_s[1:] != li_s[:-1]])
                pick = np.flatnonzero(ok)[order[first]]
                lead = cols["lidx"][pick]
                b = bucket_all[lead]
                self.truth["sms_received"] += np.bincount(b, minlength=len(C.BUCKETS))
                rep_reply = rng.random(len(pick)) < np.asarray(C.SMS_REPLY_P)[b]
                self.truth["sms_reply"] += np.bincount(b[rep_reply], minlength=len(C.BUCKETS))
                pick, lead = pick[rep_reply], lead[rep_reply]
                if len(pick):
                    when = cols["sent"][pick] + np.maximum(_lognormal_ms(rng, len(pick), 6 * MINUTE_MS, 1.2), 10_000).astype(np.int64)
                    sms.add(sent=when, direction=IN, **{"from": L["phone_e164"][lead], "to": cols["from"][pick]},
                            rep=cols["rep"][pick], status=S_RECEIVED, auto=0, lead=-1, tag=0, lidx=lead)
                    two = rng.random(len(pick)) < 0.3
                    if two.any():
                        w2 = when[two] + _lognormal_ms(rng, int(two.sum()), 40 * MINUTE_MS, 1.0).astype(np.int64)
                        sms.add(sent=w2, direction=IN, **{"from": L["phone_e164"][lead[two]], "to": cols["from"][pick[two]]},
                                rep=cols["rep"][pick[two]], status=S_RECEIVED, auto=0, lead=-1, tag=0, lidx=lead[two])
        # email replies
        if emails.n:
            sent = np.concatenate(emails.parts["sent"])
            status = np.concatenate(emails.parts["status"])
            lidx = np.concatenate(emails.parts["lidx"])
            direction = np.concatenate(emails.parts["direction"])
            rep = np.concatenate(emails.parts["rep"])
            frm = pa.concat_arrays([p.cast(pa.string()) for p in emails.parts["from_addr"]])
            ok = (status == E_DELIVERED) & (direction == OUT) & (bucket_all[lidx] >= 0)
            ok &= rng.random(len(ok)) < C.EMAIL_REPLY_P / 2.5
            pick = np.flatnonzero(ok)
            if len(pick):
                lead = lidx[pick]
                when = sent[pick] + np.maximum(_lognormal_ms(rng, len(pick), 2 * HOUR_MS, 1.0), 60_000).astype(np.int64)
                emails.add(sent=when, direction=IN, from_addr=L["email_lc"].take(pa.array(lead)),
                           to_addr=frm.take(pa.array(pick)), rep=rep[pick], status=E_RECEIVED, auto=0, lead=-1,
                           tag=0, lidx=lead)
        # call-backs after a voicemail
        for lidx, ended, loc in sim["voicemails"]:
            back = rng.random(len(lidx)) < C.VOICEMAIL_CALLBACK_P
            if not back.any():
                continue
            li, en, lo = lidx[back], ended[back], loc[back]
            tt = en + np.maximum(_lognormal_ms(rng, len(li), 3 * HOUR_MS, 1.0), 60_000).astype(np.int64)
            owner = sim["owner"][lo]
            open_ = self.clock.is_open(sim["group"][lo], tt)
            disp = np.where(open_, D_CONNECTED, D_NO_ANSWER)
            answered, ended2, dur = self._call_rows(rng, tt, disp)
            calls.add(started=tt, answered=answered, ended=ended2, direction=IN,
                      **{"from": L["phone_e164"][li], "to": self.rep_phone[owner]},
                      rep=np.where(open_, owner, -1), disp=disp, dur=dur, lead=-1, tag=0, lidx=li)

    # ---------------------------------------------------------------- planted activity anomalies
    def _before_lead(self, d, L, gen, rng, calls, sms, emails):
        if self.messy <= 0 or len(gen) == 0:
            return
        k = int(rng.binomial(len(gen), self.messy * C.MESSY_BEFORE_LEAD))
        if k == 0 and self.before_lead_planned == 0:
            k = 1
        cand = gen[(L["created"][gen] - 6 * HOUR_MS) >= self.t0]
        if len(cand) == 0:
            return
        pick = np.sort(rng.choice(cand, size=min(k, len(cand)), replace=False))
        tt = L["created"][pick] - rng.integers(MINUTE_MS, 6 * HOUR_MS, len(pick))
        ch = self._channels(rng, L, pick, (0.5, 0.3, 0.2))
        code = np.select([ch == CALL, ch == SMS], [np.where(rng.random(len(pick)) < 0.7, D_NO_ANSWER, D_BUSY),
                                                    np.where(rng.random(len(pick)) < 0.5, S_FAILED, S_UNDELIVERED)],
                         np.where(rng.random(len(pick)) < 0.7, E_BOUNCED, E_FAILED))
        self._emit(rng, L, pick, tt, ch, code, L["owner"][pick], calls, sms, emails, d, tag=TAG_BEFORE_LEAD,
                   lead_share=0.5)
        self.before_lead_planned += len(pick)

    def _unknown_numbers(self, k):
        idx = C.IDX_UNKNOWN + self.counters["unknown"] + np.arange(k)
        self.counters["unknown"] += k
        sp = self.spaces["US_central"]
        return sp.e164(sp.nsn(idx))

    def _unknown_contacts(self, d, day0, n_leads, rng, calls, sms, emails):
        if self.messy <= 0:
            return
        k = int(rng.poisson(self.messy * C.MESSY_UNKNOWN_CONTACT * n_leads))
        if k == 0 and self.unknown_planned == 0:
            k = 3
        if k == 0:
            return
        self.unknown_planned += k
        kind = _cat((0.45, 0.30, 0.25), rng.random(k))
        when = day0 + rng.integers(0, DAY_MS, k)
        active = np.concatenate(self.active_reps(d))
        rep = active[rng.integers(0, len(active), k)]
        c = np.flatnonzero(kind == 0)
        if len(c):
            disp = np.where(rng.random(len(c)) < 0.4, D_CONNECTED, D_NO_ANSWER)
            answered, ended, dur = self._call_rows(rng, when[c], disp)
            calls.add(started=when[c], answered=answered, ended=ended, direction=IN,
                      **{"from": self._unknown_numbers(len(c)), "to": self.rep_phone[rep[c]]},
                      rep=np.where(disp == D_CONNECTED, rep[c], -1), disp=disp, dur=dur, lead=-1,
                      tag=TAG_UNKNOWN_CONTACT, lidx=-1 * np.ones(len(c), np.int64))
        s = np.flatnonzero(kind == 1)
        if len(s):
            st = np.where(rng.random(len(s)) < 0.6, S_DELIVERED, S_UNDELIVERED)
            sms.add(sent=when[s], direction=OUT, **{"from": self.rep_phone[rep[s]], "to": self._unknown_numbers(len(s))},
                    rep=rep[s], status=st, auto=0, lead=-1, tag=TAG_UNKNOWN_CONTACT, lidx=-1 * np.ones(len(s), np.int64))
        e = np.flatnonzero(kind == 2)
        if len(e):
            nums = self.counters["unknown"] + np.arange(len(e))
            self.counters["unknown"] += len(e)
            first = np.asarray([x.lower() for x in C.FIRST_NAMES["US"]])[rng.integers(0, len(C.FIRST_NAMES["US"]), len(e))]
            dom = np.asarray(C.UNKNOWN_EMAIL_DOMAINS)[rng.integers(0, len(C.UNKNOWN_EMAIL_DOMAINS), len(e))]
            addr = pa.array([f"{f}{x}@{dm}" for f, x, dm in zip(first, nums, dom)], pa.string())
            emails.add(sent=when[e], direction=IN, from_addr=addr, to_addr=self.rep_email.take(pa.array(rep[e])),
                       rep=rep[e], status=E_RECEIVED, auto=0, lead=-1, tag=TAG_UNKNOWN_CONTACT,
                       lidx=-1 * np.ones(len(e), np.int64))


def _iso_utc(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# ============================================================================================
# Files outside the simulation loop
# ============================================================================================


def _owned_files(landing_dir: Path) -> list[Path]:
    """Files a previous run of the generator wrote (by exact name pattern), nothing else."""
    found: list[Path] = []
    for entity in EVENT_ENTITIES:
        folder = landing_dir / entity
        if folder.is_dir():
            pat = re.compile(rf"^{re.escape(entity)}_\d{{4}}-\d{{2}}-\d{{2}}\.{EXT[FORMAT[entity]]}$")
            found += [f for f in folder.iterdir() if f.is_file() and pat.match(f.name)]
    for rel in (*DIMENSION_FILES.values(), EXPERIMENT_FILE):
        if (landing_dir / rel).is_file():
            found.append(landing_dir / rel)
    for name in (MANIFEST_NAME, "sources.yaml"):
        if (landing_dir / name).is_file():
            found.append(landing_dir / name)
    return sorted(found)


def clean_landing(landing_dir: Path) -> int:
    files = _owned_files(landing_dir)
    for f in files:
        f.unlink()
    return len(files)


def _write_csv(path: Path, header: list[str], rows: list[list]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(header)]
    for r in rows:
        lines.append(",".join(csv_escape_py(None if v is None else str(v)) for v in r))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")
    return len(rows)


def _write_dimensions(world: World, landing_dir: Path) -> dict[str, int]:
    rows = {}
    rows["teams"] = _write_csv(landing_dir / DIMENSION_FILES["teams"], ["team_id", "team_name", "timezone", "region"],
                               [[t.team_id, t.name, t.timezone, t.region] for t in C.TEAMS])
    rng = np.random.default_rng(np.random.SeedSequence([world.seed, 5]))
    by_country = {ci: world.spaces[P.space_name(c, "us_east")] for ci, c in enumerate(C.COUNTRIES)}
    phones, _ = P.format_phones(world.rep_nsn, world.rep_country, by_country, rng, np.ones(len(world.rep_nsn), bool))
    phones = phones.to_pylist()
    rep_rows = []
    for i, rep_id in enumerate(world.rep_ids):
        hired = world.start_date + dt.timedelta(days=int(world.rep_hired[i]))
        term = int(world.rep_term[i])
        term_on = world.start_date + dt.timedelta(days=term) if term < 10 ** 6 else None
        rep_rows.append([rep_id, C.TEAMS[world.rep_team[i]].team_id, f"{world.rep_first[i]} {world.rep_last[i]}",
                         world.rep_email[i].as_py(), phones[i], hired.isoformat(),
                         term_on.isoformat() if term_on else None, "false" if term_on else "true",
                         int(world.rep_capacity[i])])
    rows["reps"] = _write_csv(landing_dir / DIMENSION_FILES["reps"],
                              ["rep_id", "team_id", "full_name", "email", "phone", "hired_on", "terminated_on",
                               "is_active", "max_concurrent_leads"], rep_rows)
    sched_rows = []
    for sh in world.shifts:
        wd = WEEKDAY_ABBREV[sh.weekday - 1] if sh.weekday_style == "abbrev" else sh.weekday
        sched_rows.append([sh.team_id, sh.rep_id or None, wd, sh.start, sh.end,
                           sh.effective_from.isoformat() if sh.effective_from else None,
                           sh.effective_to.isoformat() if sh.effective_to else None, sh.timezone or None])
    rows["schedules"] = _write_csv(landing_dir / DIMENSION_FILES["schedules"],
                                   ["team_id", "rep_id", "weekday", "start_local", "end_local", "effective_from",
                                    "effective_to", "timezone"], sched_rows)
    hol_rows = [[h.start.isoformat(), h.end.isoformat() if h.end != h.start else None, h.team_id or None, h.name]
                for h in world.holidays]
    rows["holidays"] = _write_csv(landing_dir / DIMENSION_FILES["holidays"],
                                  ["start_date", "end_date", "team_id", "name"], hol_rows)
    return rows


def _write_costs(world: World, landing_dir: Path) -> int:
    from .sink import cents_to_decimal

    rng = np.random.default_rng(np.random.SeedSequence([world.seed, 6]))
    paid = [i for i, c in enumerate(C.CAMPAIGNS) if c[3] is not None]
    days = world.days
    camp, date, cents, source = [], [], [], []
    for i in paid:
        name, s, _, cpl = C.CAMPAIGNS[i]
        leads = world.campaign_leads[:, i].astype(np.float64)
        noise = np.exp(0.15 * rng.standard_normal(days))
        cost = cpl * np.maximum(leads, 0.3) * noise
        camp += [name] * days
        date.append(np.arange(days))
        cents.append(np.rint(cost * 100).astype(np.int64))
        source += [C.SOURCES[s]] * days
    epoch_day = (world.start_date - dt.date(1970, 1, 1)).days
    table = pa.table({
        "campaign": pa.array(camp, pa.string()),
        "cost_date": pa.array((np.concatenate(date) + epoch_day).astype(np.int32), pa.date32()),
        "cost": cents_to_decimal(np.concatenate(cents)),
        "currency": pa.array(["USD"] * len(camp), pa.string()),
        "source": pa.array(source, pa.string()),
    })
    path = landing_dir / DIMENSION_FILES["campaign_costs"]
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return table.num_rows


def _effect_parameters() -> dict:
    return {
        "outcome": "lead converted to an opportunity (a row in opportunities with its lead_id)",
        "population": "genuine leads: not duplicate submissions, bot leads or internal test leads",
        "model": "logit P(opportunity) = intercept + log(odds_ratio[bucket]) + source_log_odds[source] + score_tier_log_odds[tier]",
        "clock_start": "form_submitted_at when present, else created_at",
        "first_qualifying_response": (
            "first outbound, non-automated activity that reached the person: a call with disposition connected or "
            "voicemail, an SMS with delivery_status delivered or sent, an email with delivery_status delivered or sent"),
        "elapsed": "calendar time from clock_start to the first qualifying response",
        "buckets": [{"label": lab, "lower_seconds": lo, "upper_seconds": hi, "odds_ratio": orr}
                    for (lab, lo, hi), orr in zip(C.BUCKETS, C.BUCKET_ODDS_RATIO)],
        "intercept": C.CONVERSION_INTERCEPT,
        "reference": {"bucket": C.BUCKETS[0][0], "source": "paid_search", "score_tier": "warm"},
        "source_log_odds": dict(C.SOURCE_LOG_ODDS),
        "score_tier_log_odds": dict(C.TIER_LOG_ODDS),
        "score_tiers": {t: list(b) for t, b in zip(C.TIERS, C.TIER_BOUNDS)},
        "confounding": ("hot leads are answered faster (response-time log shift {}), cold slower; compare "
                        "buckets within score tier and source".format(C.RT_TIER_SHIFT)),
        "contact": {
            "definition": "a connected call (either direction) or, for leads without a phone, an inbound email",
            "outbound_call_connect_probability_by_elapsed_bucket": list(C.CALL_CONNECT_P),
            "voicemail_share_of_unconnected": C.CALL_VOICEMAIL_SHARE_OF_UNCONNECTED,
            "converted_leads_always_contacted": True,
        },
        "booking": {
            "probability_if_converted": C.BOOKING_P_OPP,
            "probability_if_contacted_not_converted_by_bucket": list(C.BOOKING_P_NO_OPP),
        },
        "sms_reply_probability_by_bucket": list(C.SMS_REPLY_P),
        "response_time_model": {
            "first_attempt_business_minutes": "LogNormal(rep_mu + tier_shift + load_elasticity*log(load_ratio) [in hours only], sigma)",
            "rep_mu_mean": C.REP_MU_MEAN, "rep_mu_sd": C.REP_MU_SD, "sigma": C.RT_SIGMA,
            "tier_shift": dict(C.RT_TIER_SHIFT), "load_elasticity": C.LOAD_ELASTICITY,
            "load_ratio": "leads arriving for the team in that UTC hour per active rep, over the team's average while open",
            "after_hours_backlog_median_minutes": C.AFTER_HOURS_BACKLOG_MEDIAN_MIN,
            "never_attempted_probability_by_tier": dict(C.NEVER_ATTEMPT_P),
            "max_attempts": C.MAX_ATTEMPTS, "give_up_probability_after_failed_attempt": C.ATTEMPT_GIVE_UP_P,
        },
    }


def _write_experiment(world: World, landing_dir: Path) -> int:
    arms = C.EXPERIMENT_ARMS
    return _write_csv(landing_dir / EXPERIMENT_FILE,
                      ["experiment_id", "unit_type", "unit_id", "arm", "started_on", "ended_on"],
                      [[C.EXPERIMENT_ID, "rep", rep_id, arms[int(a)], world.start_date.isoformat(),
                        world.end_date.isoformat()] for rep_id, a in zip(world.rep_ids, world.rep_arm)])


def _experiment_manifest(world: World) -> dict:
    return {"experiment_id": C.EXPERIMENT_ID, "unit_type": "rep", "arms": list(C.EXPERIMENT_ARMS),
            "control_arm": C.EXPERIMENT_ARMS[0], "reps_per_arm": [int((world.rep_arm == k).sum()) for k in (0, 1)],
            "first_attempt_business_time_ratio": C.EXPERIMENT_FIRST_ATTEMPT_RATIO,
            "note": "the treated arm's rep_mu is shifted by log(ratio); conversion changes only through "
                    "the response-time buckets (the planted effect), calendar time also includes after-hours waits"}


def _manifest(world: World, sink: Sink, dims: dict[str, int], cost_rows: int) -> dict:
    truth = world.truth
    buckets = []
    for i, (lab, _, _) in enumerate(C.BUCKETS):
        n = int(truth["leads"][i])
        buckets.append({
            "bucket": lab, "leads": n, "converted": int(truth["converted"][i]),
            "conversion_rate": round(int(truth["converted"][i]) / n, 4) if n else None,
            "contacted": int(truth["contacted"][i]), "booked": int(truth["booked"][i]),
            "received_delivered_sms": int(truth["sms_received"][i]), "sms_replied": int(truth["sms_reply"][i]),
        })
    n_gen = int(truth["leads"].sum())
    conv = int(truth["converted"].sum())
    rows = dict(sink.rows)
    rows.update(dims)
    rows["campaign_costs"] = cost_rows
    planted = {e: dict(v) for e, v in sink.planted.items()}
    for e in ("teams", "reps", "schedules", "holidays", "campaign_costs"):
        planted[e] = {r: 0 for r in QUARANTINE_ORDER}
    tags = sink.tags
    act = ("calls", "sms", "emails")
    in_h = np.array(world.rt_in_hours) if world.rt_in_hours else np.zeros(1)
    out_h = np.array(world.rt_after_hours) if world.rt_after_hours else np.zeros(1)
    dst_total = int(sum(sink.dst_rows.values()))
    return {
        "generator": "orchestration.demo.generator",
        "manifest_version": MANIFEST_VERSION,
        "parameters": {
            "leads": world.n_leads, "seed": world.seed, "days": world.days,
            "start_date": world.start_date.isoformat(), "end_date": world.end_date.isoformat(),
            "messy_share": world.messy,
        },
        "window": {"start_utc": _iso_utc(world.t0), "end_utc_exclusive": _iso_utc(world.t1),
                   "note": "events after the window end are not written (the export happened at its end)"},
        "sources": {"crm": C.CRM_TIMEZONE, "telephony": "UTC", "messaging": "UTC"},
        "layout": {
            **{e: {"path": f"{e}/{e}_YYYY-MM-DD.{EXT[FORMAT[e]]}", "format": FORMAT[e]} for e in EVENT_ENTITIES},
            **{e: {"path": p, "format": p.rsplit(".", 1)[1]} for e, p in DIMENSION_FILES.items()},
        },
        "files": dict(sink.files),
        "rows": rows,
        "planted_quarantine": planted,
        "planted_quarantine_total": int(sum(sum(v.values()) for v in planted.values())),
        "lead_kinds": {"genuine": world.n_genuine, "duplicate_submission": world.n_dup, "bot": world.n_bot,
                       "internal_test": world.n_test},
        "anomalies": {
            "duplicate_submission_leads": int(tags["leads"].get(TAG_DUPLICATE_SUBMISSION, 0)),
            "bot_leads": int(tags["leads"].get(TAG_BOT, 0)),
            "bot_bursts": [{"start_utc": _iso_utc(s), "minutes": dur // MINUTE_MS, "leads": size,
                            "region": C.REGIONS[r]} for (_, s, dur, size, r) in world.bot_bursts],
            "internal_test_leads": int(tags["leads"].get(TAG_TEST, 0)),
            "internal_test_lead_kinds": dict(world.test_kinds),
            "activities_before_lead": {e: int(tags[e].get(TAG_BEFORE_LEAD, 0)) for e in act},
            "unknown_contact_activities": {e: int(tags[e].get(TAG_UNKNOWN_CONTACT, 0)) for e in act},
            "activities_with_lead_id": dict(sink.with_lead_id),
            "double_booked_appointments": world.double_booked,
            "offset_aware_rows": dict(sink.aware_rows),
            "dst_ambiguous_naive_rows_by_entity": dict(sink.dst_rows),
            "dst_ambiguous_naive_values": {e: dict(v) for e, v in sink.dst_values.items()},
        },
        "dst_ambiguous_naive_rows": dst_total,
        "effect": _effect_parameters(),
        "truth": {
            "genuine_leads": n_gen, "converted": conv,
            "conversion_rate": round(conv / n_gen, 4) if n_gen else None,
            "by_bucket": buckets,
            "by_source": {s: {"leads": int(world.truth_by_source[i].sum()), "converted": int(world.truth_by_source[i, 1])}
                          for i, s in enumerate(C.SOURCES)},
            "by_score_tier": {t: {"leads": int(world.truth_by_tier[i].sum()), "converted": int(world.truth_by_tier[i, 1])}
                              for i, t in enumerate(C.TIERS)},
            "opportunities_not_written_after_window": int(sink.dropped_after_window["opportunities"]),
            "first_attempt_median_minutes": {"lead_arrived_in_hours": round(float(np.median(in_h)), 2),
                                             "lead_arrived_after_hours": round(float(np.median(out_h)), 2)},
        },
        "teams": [{"team_id": t.team_id, "name": t.name, "timezone": t.timezone, "region": t.region,
                   "reps": int((world.rep_team == i).sum())} for i, t in enumerate(C.TEAMS)],
        "regions": [{"region": r, "timezone": z, "share": s, "team_id": C.TEAMS[C.REGION_TEAM[i]].team_id,
                     "share_to_24_7_desk": C.REGION_247_SHARE[i]}
                    for i, (r, z, s) in enumerate(zip(C.REGIONS, C.REGION_TZ, C.REGION_SHARE))],
        "schedule_change": {"team_id": "T-NYC", "effective_from": world.change_date.isoformat(),
                            "weekday_hours_before": "08:00-18:00", "weekday_hours_after": "08:00-20:00"},
        "part_time_rep": {"rep_id": world.rep_ids[world.part_time_rep], "team_id": "T-LAX", "timezone": "America/Denver"},
        "surges": world.surge_info,
        "lead_statuses": list(LEAD_STATUSES),
        "opportunity_stages": list(OPP_STAGES),
        "company_domain": C.COMPANY_DOMAIN,
        "internal_test_domain": C.INTERNAL_TEST_DOMAIN,
        "bot_user_agent_markers": list(C.BOT_MARKERS),
    }


def generate(landing_dir: Path, leads: int = 5000, seed: int = 42, days: int | None = None,
             end_date: dt.date = dt.date(2026, 10, 31), messy_share: float = 0.02,
             progress: bool = False, experiment: bool = False) -> dict:
    """Write the demo extracts; return the manifest (also written to landing_dir/_demo_manifest.json).

    ``experiment`` also writes an experiment_assignments extract (reps randomised to two
    notification arms, the treated arm answering faster) and records it under ``experiment``;
    without it the output is byte-identical to a generator that knows no experiments."""
    landing_dir = Path(landing_dir)
    if not 10 <= leads <= MAX_LEADS:
        raise ValueError(f"leads must be between 10 and {MAX_LEADS}")
    if days is None:
        days = default_days(leads)
    if days < 1:
        raise ValueError("days must be at least 1")
    if not 0.0 <= messy_share <= 0.2:
        raise ValueError("messy_share must be between 0 and 0.2")
    landing_dir.mkdir(parents=True, exist_ok=True)
    clean_landing(landing_dir)
    world = World(int(leads), int(seed), int(days), end_date, float(messy_share), bool(experiment))
    lookups = Lookups(rep_ids=world.rep_ids, team_ids=[t.team_id for t in C.TEAMS],
                      campaigns=[c[0] for c in C.CAMPAIGNS])
    sink = Sink(landing_dir, world.t0, world.days, world.start_date, world.seed, world.messy, world.crm_tz, lookups)
    (landing_dir / "sources.yaml").write_text(SOURCES_YAML, encoding="utf-8", newline="\n")
    dims = _write_dimensions(world, landing_dir)
    for d in tqdm(range(world.days), desc="demo data", unit="day", disable=not progress):
        world.simulate_day(d, sink)
        sink.flush_through(d - 1)
    sink.flush_through(world.days - 1)
    cost_rows = _write_costs(world, landing_dir)
    manifest = _manifest(world, sink, dims, cost_rows)
    if experiment:
        manifest["rows"]["experiment_assignments"] = _write_experiment(world, landing_dir)
        manifest["planted_quarantine"]["experiment_assignments"] = {r: 0 for r in QUARANTINE_ORDER}
        manifest["layout"]["experiment_assignments"] = {"path": EXPERIMENT_FILE, "format": "csv"}
        manifest["experiment"] = _experiment_manifest(world)
    (landing_dir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n",
                                             encoding="utf-8", newline="\n")
    return manifest
