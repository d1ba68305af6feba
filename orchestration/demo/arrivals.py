"""Lead arrivals: the hourly plan for the window (with surges) and one day's leads.

``ArrivalPlan`` draws how many genuine leads arrive per day, UTC hour and region; ``genuine_leads``
draws one day's genuine leads and their attributes; ``assemble`` merges them with the day's
special leads (``anomalies.py``), orders them by creation time and gives them ids, owners and
phone numbers.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import catalog
from . import people
from .draws import categorical, lognormal_ms
from .sink import TAG_BOT, TAG_DUPLICATE_SUBMISSION, TAG_NONE, TAG_TEST
from .textfmt import DAY_MS, HOUR_MS, MINUTE_MS, iso_utc

# Lead kinds inside the simulation
GENUINE, DUPLICATE_SUBMISSION, BOT, INTERNAL_TEST = 0, 1, 2, 3
KIND_TAG = {DUPLICATE_SUBMISSION: TAG_DUPLICATE_SUBMISSION, BOT: TAG_BOT, INTERNAL_TEST: TAG_TEST}


def special_lead_count(leads: int, messy_share: float, share: float) -> int:
    """Leads of one anomaly kind: at least one whenever the data is messy at all."""
    return max(1, round(leads * messy_share * share)) if messy_share > 0 else 0


class ArrivalPlan:
    """Genuine leads per (day, UTC hour, region): a multinomial draw over the arrival intensity."""

    def __init__(self, world, rng):
        days, n_regions = world.days, len(catalog.REGIONS)
        hours = days * 24
        mid = world.t0 + np.arange(hours, dtype=np.int64) * HOUR_MS + HOUR_MS // 2
        growth = np.exp(math.log(catalog.GROWTH_PER_YEAR) * (mid - world.t0) / (365 * DAY_MS))
        intensity = np.zeros((hours, n_regions))
        self.local_hour = np.zeros((hours, n_regions), np.int64)
        self.local_weekday = np.zeros((hours, n_regions), np.int64)
        self.holiday = np.zeros((hours, n_regions), bool)
        for r in range(n_regions):
            local = world.region_tz[r].local(mid)
            hour = (local // HOUR_MS) % 24
            local_day = local // DAY_MS
            weekday = (local_day + 3) % 7
            team_id = catalog.TEAMS[catalog.REGION_TEAM[r]].team_id
            holiday = np.isin(local_day, holiday_days(world.holidays, team_id))
            self.local_hour[:, r] = hour
            self.local_weekday[:, r] = weekday
            self.holiday[:, r] = holiday
            intensity[:, r] = (catalog.REGION_SHARE[r] * np.asarray(catalog.HOUR_FACTOR)[hour]
                               * np.asarray(catalog.WEEKDAY_FACTOR)[weekday]
                               * np.where(holiday, catalog.HOLIDAY_FACTOR, 1.0) * growth)
        base = intensity.copy()
        self.surges = self._plant_surges(intensity, days, rng)
        m = world.messy
        self.n_bot = special_lead_count(world.n_leads, m, catalog.MESSY_BOT_LEADS)
        self.n_test = special_lead_count(world.n_leads, m, catalog.MESSY_TEST_LEADS)
        self.n_dup = special_lead_count(world.n_leads, m, catalog.MESSY_DUPLICATE_LEADS)
        self.n_genuine = world.n_leads - self.n_bot - self.n_test - self.n_dup
        self.counts = rng.multinomial(self.n_genuine, intensity.ravel() / intensity.sum()).reshape(
            days, 24, n_regions)
        scale = self.n_genuine / intensity.sum()
        self.surge_info = []
        for start_hour, r in sorted(self.surges):
            cells = slice(start_hour, start_hour + catalog.SURGE_HOURS)
            start = world.t0 + start_hour * HOUR_MS
            self.surge_info.append({
                "region": catalog.REGIONS[r],
                "team_id": catalog.TEAMS[catalog.REGION_TEAM[r]].team_id,
                "start_utc": iso_utc(start),
                "end_utc": iso_utc(start + catalog.SURGE_HOURS * HOUR_MS),
                "local_start_hour": int(self.local_hour[start_hour, r]),
                "multiplier": catalog.SURGE_MULTIPLIER,
                "expected_leads_without_surge": round(float(base[cells, r].sum() * scale), 2),
                "leads": int(self.counts.reshape(hours, n_regions)[cells, r].sum()),
            })

    def _plant_surges(self, intensity: np.ndarray, days: int, rng) -> list[tuple[int, int]]:
        """~10x the normal rate for 4 hours on a weekday late morning of one region, in place."""
        hours = days * 24
        wanted = max(1, round(days / 45))
        taken = np.zeros(intensity.shape, bool)
        surges = []
        for _ in range(200):
            if len(surges) >= wanted:
                break
            r = int(categorical(catalog.REGION_SHARE, rng.random()))
            start_hour = int(rng.integers(9, 13))
            candidates = np.flatnonzero((self.local_hour[:, r] == start_hour) & (self.local_weekday[:, r] < 5)
                                        & ~self.holiday[:, r])
            candidates = candidates[candidates + catalog.SURGE_HOURS <= hours]
            if len(candidates) == 0:
                continue
            c = int(candidates[rng.integers(len(candidates))])
            if taken[max(0, c - 24): c + catalog.SURGE_HOURS + 24, r].any():
                continue
            taken[c: c + catalog.SURGE_HOURS, r] = True
            intensity[c: c + catalog.SURGE_HOURS, r] *= catalog.SURGE_MULTIPLIER
            surges.append((c, r))
        return surges

    def leads_per_team_hour(self) -> np.ndarray:
        """Expected genuine leads per (UTC hour, team), the 24/7 desk's share included."""
        hours = self.counts.shape[0] * 24
        per_region = self.counts.reshape(hours, len(catalog.REGIONS)).astype(np.float64)
        team_hour = np.zeros((hours, len(catalog.TEAMS)))
        for r in range(len(catalog.REGIONS)):
            desk_share = catalog.REGION_247_SHARE[r]
            team_hour[:, catalog.REGION_TEAM[r]] += per_region[:, r] * (1 - desk_share)
            team_hour[:, catalog.TEAM_247] += per_region[:, r] * desk_share
        return team_hour


def holiday_days(holidays, team_id: str) -> np.ndarray:
    """Sorted days since 1970-01-01 on which a holiday of the team (or of every team) falls."""
    epoch = dt.date(1970, 1, 1)
    days = set()
    for h in holidays:
        if h.team_id in ("", team_id):
            for k in range((h.end - h.start).days + 1):
                days.add((h.start - epoch).days + k)
    return np.array(sorted(days), np.int64)


# ---------------------------------------------------------------- one day's genuine leads
def genuine_leads(world, day: int, day_start: int, rng) -> dict:
    regions = len(catalog.REGIONS)
    cell = np.repeat(np.arange(24 * regions), world.arrivals.counts[day].ravel())
    n = len(cell)
    leads = {
        "kind": np.full(n, GENUINE, np.int64),
        "created": day_start + (cell // regions) * HOUR_MS + rng.integers(0, HOUR_MS, n),
        "region": cell % regions,
    }
    leads.update(genuine_attributes(world, leads["region"], rng))
    return leads


def genuine_attributes(world, region, rng) -> dict:
    n = len(region)
    desk_share = np.asarray(catalog.REGION_247_SHARE)[region]
    team = np.where(rng.random(n) < desk_share, catalog.TEAM_247, np.asarray(catalog.REGION_TEAM)[region])
    country_cdf = np.cumsum(np.asarray(catalog.REGION_COUNTRY_P), axis=1)[region]
    country = np.minimum((rng.random(n)[:, None] >= country_cdf).sum(axis=1), len(catalog.COUNTRIES) - 1)
    source = categorical(catalog.SOURCE_P, rng.random(n))
    campaign = campaigns(source, rng)
    score = np.clip(np.rint(np.asarray(catalog.SCORE_MEAN_BY_SOURCE)[source]
                            + catalog.SCORE_SD * rng.standard_normal(n)), 0, 100).astype(np.int64)
    web = np.asarray(catalog.WEB_SOURCES)[source]
    has_form = rng.random(n) < np.where(web, catalog.FORM_PRESENT_P_WEB, catalog.FORM_PRESENT_P_OTHER)
    return {
        "team": team, "country": country, "source": source, "campaign": campaign, "score": score,
        "has_form": has_form, **contact(world, country, rng, n),
        "ua_code": np.where(has_form, categorical([w for _, w in catalog.USER_AGENTS], rng.random(n)), -1),
        "is_test": np.where(rng.random(n) < 0.7, 0, -1),
        "aware": rng.random(n) < catalog.OFFSET_AWARE_SHARE,
        "latency": intake_latency(rng, n),
    }


def contact(world, country, rng, n) -> dict:
    has_email = rng.random(n) < 0.95
    has_phone = (rng.random(n) < 0.96) | ~has_email
    first, last, email = people.people(world.name_book, country, rng)
    case = rng.random(n)
    email = pc.if_else(pa.array(case < 0.01), pc.utf8_upper(email),
                       pc.if_else(pa.array(case < 0.04), pc.utf8_capitalize(email), email))
    email = pc.if_else(pa.array(has_email), email, pa.scalar(None, pa.string()))
    return {"first": first, "last": last, "email": email, "has_email": has_email, "has_phone": has_phone}


def intake_latency(rng, n) -> np.ndarray:
    """Form submission to CRM record, ms: seconds usually, a slow integration sometimes."""
    latency = np.clip(lognormal_ms(rng, n, 15_000, 0.8), 800, 600_000)
    slow = rng.random(n) < 0.03
    latency = np.where(slow, np.clip(lognormal_ms(rng, n, 40 * MINUTE_MS, 1.0), 10 * MINUTE_MS, 8 * HOUR_MS),
                       latency)
    return latency.astype(np.int64)


def campaigns(source, rng) -> np.ndarray:
    """A campaign of each lead's source, by campaign weight (-1 for a source without any)."""
    out = np.full(len(source), -1, np.int64)
    u = rng.random(len(source))
    for s in range(len(catalog.SOURCES)):
        of_source = [i for i, c in enumerate(catalog.CAMPAIGNS) if c[1] == s]
        rows = source == s
        if of_source and rows.any():
            weights = [catalog.CAMPAIGNS[i][2] for i in of_source]
            out[rows] = np.asarray(of_source)[categorical(weights, u[rows])]
    return out


# ---------------------------------------------------------------- the day's leads together
def assemble(world, day: int, parts: list[dict], rng) -> dict:
    """One table of the day's leads (parts[0] genuine), by creation time, with ids and owners.

    A duplicate submission's ``orig`` points at its original in the genuine part and is
    re-pointed to the original's row after sorting."""
    leads = {}
    for key in parts[0]:
        values = [p.get(key) for p in parts]
        if isinstance(values[0], np.ndarray):
            leads[key] = np.concatenate([v if v is not None else np.full(len(p["kind"]), -1, np.int64)
                                         for v, p in zip(values, parts)])
        else:
            leads[key] = pa.concat_arrays([v if v is not None else pa.nulls(len(p["kind"]), pa.string())
                                           for v, p in zip(values, parts)])
    leads["orig"] = np.concatenate([p.get("orig", np.full(len(p["kind"]), -1, np.int64)) for p in parts])
    order = np.argsort(leads["created"], kind="stable")
    row_of = np.empty_like(order)
    row_of[order] = np.arange(len(order))
    leads = {k: (v[order] if isinstance(v, np.ndarray) else v.take(pa.array(order))) for k, v in leads.items()}
    leads["orig"] = np.where(leads["orig"] >= 0, row_of[np.maximum(leads["orig"], 0)], -1)
    n = len(order)
    leads["g"] = world.next_lead + np.arange(n, dtype=np.int64)
    world.next_lead += n
    leads["team"] = np.where(leads["team"] >= 0, leads["team"], 0)
    leads["owner"] = world.roster.assign_owner(leads["team"], day, rng)
    leads["group"] = world.roster.group[leads["owner"]]
    kind = leads["kind"]
    leads["tag"] = np.select([kind == k for k in KIND_TAG], list(KIND_TAG.values()), TAG_NONE).astype(np.int64)
    _phones_and_forms(world, leads, rng)
    leads["email_lc"] = pc.utf8_lower(leads["email"])
    return leads


def _phones_and_forms(world, leads: dict, rng) -> None:
    """Phone numbers (a duplicate keeps its original's), form times and user agents."""
    n = len(leads["g"])
    nsn = np.zeros(n, np.int64)
    e164 = np.zeros(n, np.int64)
    has_phone = leads["has_phone"].astype(bool)
    for c, country in enumerate(catalog.COUNTRIES):
        for r, region in enumerate(catalog.REGIONS):
            rows = np.flatnonzero(has_phone & (leads["country"] == c) & (leads["region"] == r)
                                  & (leads["kind"] != DUPLICATE_SUBMISSION))
            if len(rows) == 0:
                continue
            space = world.spaces[people.space_name(country, region)]
            nsn[rows] = space.nsn(leads["g"][rows])
            e164[rows] = space.e164(nsn[rows])
    dup = np.flatnonzero((leads["kind"] == DUPLICATE_SUBMISSION) & has_phone)
    nsn[dup] = nsn[leads["orig"][dup]]
    e164[dup] = e164[leads["orig"][dup]]
    phone, _ = people.format_phones(nsn, leads["country"], world.phone_space_by_country(), rng, has_phone)
    leads["phone"] = phone
    leads["phone_e164"] = e164
    leads["has_phone"] = has_phone
    leads["has_email"] = leads["has_email"].astype(bool)
    leads["has_form"] = leads["has_form"].astype(bool)
    leads["form"] = np.where(leads["has_form"], leads["created"] - leads["latency"], -1)
    agents = [agent for agent, _ in catalog.USER_AGENTS]
    code = leads["ua_code"]
    agent_index = np.where(code >= 100, len(agents) + code - 100, code)
    leads["ua"] = pc.take(pa.array(agents + list(catalog.BOT_USER_AGENTS)),
                          pa.array(np.maximum(agent_index, 0), mask=~leads["has_form"] | (agent_index < 0)))
