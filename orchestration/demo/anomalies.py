"""Planted anomalies that ingestion keeps: special leads and odd activities.

Special leads are duplicate submissions, bot bursts and internal test leads (planned for the
window by ``SpecialLeadPlan``, drawn per day by ``special_leads``); the odd activities are
touches before the lead existed and contacts with numbers or addresses that match no lead.
The manifest counts all of them under ``anomalies``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import catalog
from . import people
from .activities import (CALL, D_BUSY, D_CONNECTED, D_FAILED, D_NO_ANSWER, E_BOUNCED, E_FAILED, E_RECEIVED, IN,
                         OUT, S_DELIVERED, S_FAILED, S_UNDELIVERED, SMS, Day, call_timing, choose_channels,
                         emit_outbound)
from .arrivals import BOT, DUPLICATE_SUBMISSION, INTERNAL_TEST, campaigns
from .draws import categorical, lognormal_ms
from .sink import TAG_BEFORE_LEAD, TAG_UNKNOWN_CONTACT
from .textfmt import DAY_MS, HOUR_MS, MINUTE_MS

TEST_LEAD_KINDS = ("is_test_and_internal_email", "is_test_only", "internal_email_only")


class SpecialLeadPlan:
    """How many duplicate submissions and test leads arrive per day, and the bot bursts."""

    def __init__(self, world, rng):
        days, arrivals = world.days, world.arrivals
        genuine_per_day = arrivals.counts.sum(axis=(1, 2))
        self.duplicates_per_day = (rng.multinomial(arrivals.n_dup, genuine_per_day / genuine_per_day.sum())
                                   if arrivals.n_dup else np.zeros(days, np.int64))
        self.tests_per_day = (rng.multinomial(arrivals.n_test, np.full(days, 1.0 / days)) if arrivals.n_test
                              else np.zeros(days, np.int64))
        bursts = []  # (day, start ms, duration ms, size, region)
        left = arrivals.n_bot
        while left > 0:
            size = int(min(left, rng.integers(15, 61)))
            day = int(rng.integers(days))
            start = world.t0 + day * DAY_MS + int(rng.integers(0, DAY_MS - 30 * MINUTE_MS))
            duration = max(MINUTE_MS, size * int(rng.integers(5_000, 25_000)))  # a few to 25 minutes
            region = int(categorical(catalog.REGION_SHARE, rng.random()))
            bursts.append((day, start, duration, size, region))
            left -= size
        self.bot_bursts = sorted(bursts)


# ---------------------------------------------------------------- special leads of a day
def special_leads(world, day: int, day_start: int, genuine: dict, rng) -> list[dict]:
    """The day's duplicate submissions, bot bursts and internal test leads, as lead parts."""
    parts = []
    duplicates = _duplicate_submissions(world, day, genuine, rng)
    if duplicates is not None:
        parts.append(duplicates)
    for (burst_day, start, duration, size, region) in world.specials.bot_bursts:
        if burst_day != day:
            continue
        bots = {
            "kind": np.full(size, BOT, np.int64),
            "created": start + np.sort(rng.integers(0, duration, size)),
            "region": np.full(size, region, np.int64),
        }
        bots.update(_bot_attributes(world, bots["region"], rng))
        parts.append(bots)
    n_tests = int(world.specials.tests_per_day[day])
    if n_tests:  # during East Coast office hours
        tests = {
            "kind": np.full(n_tests, INTERNAL_TEST, np.int64),
            "created": day_start + 13 * HOUR_MS + rng.integers(0, 8 * HOUR_MS, n_tests),
            "region": np.zeros(n_tests, np.int64),
        }
        tests.update(_test_attributes(world, n_tests, rng))
        parts.append(tests)
    return parts


def _duplicate_submissions(world, day: int, genuine: dict, rng) -> dict | None:
    """The same person again, minutes to hours later (``orig``: row in ``genuine``)."""
    n = int(world.specials.duplicates_per_day[day])
    reachable = np.flatnonzero(genuine["has_email"] | genuine["has_phone"])
    if not n or not len(reachable):
        return None
    orig = reachable[rng.integers(0, len(reachable), n)]
    delay = np.clip(lognormal_ms(rng, n, 25 * MINUTE_MS, 1.2), 30_000, 2 * DAY_MS).astype(np.int64)
    created = np.minimum(genuine["created"][orig] + delay, world.t1 - 1 - rng.integers(0, 60_000, n))
    created = np.maximum(created, genuine["created"][orig] + 1)
    dup = {k: (v[orig] if isinstance(v, np.ndarray) else v.take(pa.array(orig))) for k, v in genuine.items()}
    dup["kind"] = np.full(n, DUPLICATE_SUBMISSION, np.int64)
    dup["created"] = created
    dup["latency"] = np.clip(lognormal_ms(rng, n, 12_000, 0.7), 800, 300_000).astype(np.int64)
    dup["orig"] = orig
    case = rng.random(n)
    email = dup["email"]
    dup["email"] = pc.if_else(pa.array(case < 0.15), pc.utf8_upper(email),
                              pc.if_else(pa.array(case < 0.35), pc.utf8_capitalize(email), email))
    dup["aware"] = rng.random(n) < catalog.OFFSET_AWARE_SHARE
    return dup


def _bot_attributes(world, region, rng) -> dict:
    n = len(region)
    main_country = np.array([0, 0, 0, 2, 3])[region]
    source = np.array([0, 5, 2])[rng.integers(0, 3, n)]
    number = world.counters["bots"] + np.arange(n)
    world.counters["bots"] += n
    first = people.random_letters(rng, n, 5, 9)
    domains = catalog.BOT_EMAIL_DOMAINS
    email = pc.binary_join_element_wise(
        people.random_letters(rng, n, 4, 8), pc.cast(pa.array(number), pa.string()), pa.scalar("@"),
        pa.array(np.asarray(domains)[rng.integers(0, len(domains), n)].tolist()), "")
    has_email = rng.random(n) < 0.9
    return {
        "team": np.where(rng.random(n) < np.asarray(catalog.REGION_247_SHARE)[region], catalog.TEAM_247,
                         np.asarray(catalog.REGION_TEAM)[region]),
        "country": main_country, "source": source, "campaign": campaigns(source, rng),
        "score": rng.integers(0, 31, n), "has_form": np.ones(n, bool),
        "first": first, "last": people.random_letters(rng, n, 5, 10),
        "email": pc.if_else(pa.array(has_email), email, pa.scalar(None, pa.string())),
        "has_email": has_email, "has_phone": rng.random(n) < 0.6,
        "ua_code": 100 + rng.integers(0, len(catalog.BOT_USER_AGENTS), n),
        "is_test": np.zeros(n, np.int64),
        "aware": rng.random(n) < catalog.OFFSET_AWARE_SHARE,
        "latency": rng.integers(150, 2500, n),
    }


def test_lead_email(kind: int, number: str) -> str:
    """Address of an internal test lead of ``TEST_LEAD_KINDS[kind]``."""
    if kind == 0:
        return f"test+{number}@{catalog.INTERNAL_TEST_DOMAIN}"
    if kind == 1:
        return f"brightpath.qa{number}@outlook.com"
    return f"qa.{number}@{catalog.INTERNAL_TEST_DOMAIN}"


def _test_attributes(world, n, rng) -> dict:
    number = world.counters["tests"] + np.arange(n)
    world.counters["tests"] += n
    kind = categorical([0.5, 0.25, 0.25], rng.random(n))
    for k, name in enumerate(TEST_LEAD_KINDS):
        world.test_kinds[name] += int((kind == k).sum())
    source = categorical(catalog.SOURCE_P, rng.random(n))
    last_names = catalog.TEST_LAST_NAMES
    return {
        "team": np.full(n, catalog.TEAM_INDEX["T-NYC"], np.int64), "country": np.zeros(n, np.int64),
        "source": source, "campaign": np.full(n, -1, np.int64), "score": np.full(n, 50, np.int64),
        "has_form": np.ones(n, bool),
        "first": pa.array(["Test"] * n), "last": pa.array([last_names[i % len(last_names)] for i in number]),
        "email": pa.array([test_lead_email(k, str(x + 1)) for k, x in zip(kind, number)]),
        "has_email": np.ones(n, bool), "has_phone": rng.random(n) < 0.7,
        "ua_code": np.zeros(n, np.int64), "is_test": np.where(kind < 2, 1, 0),
        "aware": rng.random(n) < catalog.OFFSET_AWARE_SHARE, "latency": rng.integers(1000, 20_000, n),
    }


# ---------------------------------------------------------------- their activity
def special_lead_activity(world, day: Day) -> None:
    """A ``new`` status for every special lead; some bots get a failed call and ``unqualified``."""
    leads, rng = day.leads, day.rng
    special = np.flatnonzero(leads["kind"] != 0)
    if len(special) == 0:
        return
    day.add_status(special, "new", leads["created"][special], np.full(len(special), -1))
    bots = np.flatnonzero((leads["kind"] == BOT) & leads["has_phone"])
    if len(bots):
        called = bots[rng.random(len(bots)) < 0.4]
        if len(called):
            owner = leads["owner"][called]
            when = world.clock.add(leads["group"][called], leads["created"][called],
                                   lognormal_ms(rng, len(called), 30 * MINUTE_MS, 1.0).astype(np.int64))
            code = np.where(rng.random(len(called)) < 0.6, D_FAILED, D_NO_ANSWER)
            emit_outbound(world, day, called, when, np.full(len(called), CALL), code, owner)
            day.add_status(called, "unqualified", when + rng.integers(60_000, 600_000, len(called)), owner)


# ---------------------------------------------------------------- odd activities
def activities_before_lead(world, day: Day, genuine: np.ndarray) -> None:
    """Outbound non-qualifying touches 1 min-6 h before a lead was created."""
    if world.messy <= 0 or len(genuine) == 0:
        return
    leads, rng = day.leads, day.rng
    k = int(rng.binomial(len(genuine), world.messy * catalog.MESSY_BEFORE_LEAD))
    if k == 0 and world.before_lead_planned == 0:
        k = 1
    candidates = genuine[(leads["created"][genuine] - 6 * HOUR_MS) >= world.t0]
    if len(candidates) == 0:
        return
    pick = np.sort(rng.choice(candidates, size=min(k, len(candidates)), replace=False))
    when = leads["created"][pick] - rng.integers(MINUTE_MS, 6 * HOUR_MS, len(pick))
    channel = choose_channels(rng, leads, pick, (0.5, 0.3, 0.2))
    code = np.select([channel == CALL, channel == SMS],
                     [np.where(rng.random(len(pick)) < 0.7, D_NO_ANSWER, D_BUSY),
                      np.where(rng.random(len(pick)) < 0.5, S_FAILED, S_UNDELIVERED)],
                     np.where(rng.random(len(pick)) < 0.7, E_BOUNCED, E_FAILED))
    emit_outbound(world, day, pick, when, channel, code, leads["owner"][pick], tag=TAG_BEFORE_LEAD, lead_share=0.5)
    world.before_lead_planned += len(pick)


def _unknown_numbers(world, k: int) -> np.ndarray:
    """Numbers from a reserved block that no lead or rep uses."""
    index = catalog.IDX_UNKNOWN + world.counters["unknown"] + np.arange(k)
    world.counters["unknown"] += k
    space = world.spaces["US_central"]
    return space.e164(space.nsn(index))


def unknown_contacts(world, day: Day, n_leads: int) -> None:
    """Inbound calls, outbound SMS and inbound emails with numbers or addresses of no lead."""
    if world.messy <= 0:
        return
    rng = day.rng
    k = int(rng.poisson(world.messy * catalog.MESSY_UNKNOWN_CONTACT * n_leads))
    if k == 0 and world.unknown_planned == 0:
        k = 3
    if k == 0:
        return
    world.unknown_planned += k
    kind = categorical((0.45, 0.30, 0.25), rng.random(k))
    when = day.start_ms + rng.integers(0, DAY_MS, k)
    active = np.concatenate(world.roster.active_by_team(day.index))
    rep = active[rng.integers(0, len(active), k)]
    phone, email = world.roster.phone, world.roster.email
    calls = np.flatnonzero(kind == 0)
    if len(calls):
        disposition = np.where(rng.random(len(calls)) < 0.4, D_CONNECTED, D_NO_ANSWER)
        answered, ended, duration = call_timing(rng, when[calls], disposition)
        day.calls.add(started=when[calls], answered=answered, ended=ended, direction=IN,
                      **{"from": _unknown_numbers(world, len(calls)), "to": phone[rep[calls]]},
                      rep=np.where(disposition == D_CONNECTED, rep[calls], -1), disp=disposition, dur=duration,
                      lead=-1, tag=TAG_UNKNOWN_CONTACT, lidx=np.full(len(calls), -1, np.int64))
    texts = np.flatnonzero(kind == 1)
    if len(texts):
        status = np.where(rng.random(len(texts)) < 0.6, S_DELIVERED, S_UNDELIVERED)
        day.sms.add(sent=when[texts], direction=OUT,
                    **{"from": phone[rep[texts]], "to": _unknown_numbers(world, len(texts))},
                    rep=rep[texts], status=status, auto=0, lead=-1, tag=TAG_UNKNOWN_CONTACT,
                    lidx=np.full(len(texts), -1, np.int64))
    mails = np.flatnonzero(kind == 2)
    if len(mails):
        numbers = world.counters["unknown"] + np.arange(len(mails))
        world.counters["unknown"] += len(mails)
        us_names = catalog.FIRST_NAMES["US"]
        first = np.asarray([x.lower() for x in us_names])[rng.integers(0, len(us_names), len(mails))]
        domains = catalog.UNKNOWN_EMAIL_DOMAINS
        domain = np.asarray(domains)[rng.integers(0, len(domains), len(mails))]
        address = pa.array([f"{f}{x}@{dm}" for f, x, dm in zip(first, numbers, domain)], pa.string())
        day.emails.add(sent=when[mails], direction=IN, from_addr=address, to_addr=email.take(pa.array(rep[mails])),
                       rep=rep[mails], status=E_RECEIVED, auto=0, lead=-1, tag=TAG_UNKNOWN_CONTACT,
                       lidx=np.full(len(mails), -1, np.int64))
