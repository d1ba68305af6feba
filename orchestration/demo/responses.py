"""How the sales organisation responds to genuine leads, and the planted effect.

``respond`` runs the steps for one day's genuine leads in a fixed order (each step draws from the
day's random stream, so the order is part of the output): the automated first touch comes before
(``automated_touches``), then the first human attempt, attempts until one reaches the person,
the conversion draw (the planted response-time -> conversion effect), follow-ups, a
conversation for every converting lead, and the funnel (``funnel.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from . import catalog
from . import funnel
from .activities import (CALL, D_CONNECTED, D_VOICEMAIL, E_RECEIVED, IN, OUT, Day, bucket_of, call_timing,
                         choose_channels, emit_outbound, outcomes)
from .draws import categorical, lognormal_ms, sigmoid
from .textfmt import HOUR_MS, MINUTE_MS

RT_SAMPLE_CAP = 200_000  # first-attempt delays kept for the manifest's medians
RT_SAMPLE_PER_DAY = 2000


@dataclass
class Response:
    """State of each genuine lead of the day, aligned with ``rows`` (rows of the day's leads)."""

    rows: np.ndarray
    created: np.ndarray
    clock_start: np.ndarray  # form submission when known, else creation
    group: np.ndarray
    owner: np.ndarray
    team: np.ndarray
    tier: np.ndarray
    source: np.ndarray
    first_attempt: np.ndarray = None
    in_hours: np.ndarray = None
    never_attempted: np.ndarray = None
    reached_at: np.ndarray = None  # first qualifying response, -1 if none
    first_attempt_qualified: np.ndarray = None
    connect_end: np.ndarray = None  # end of the first connected call (or the inbound email), -1 if none
    voicemails: list = field(default_factory=list)  # (lead rows, end time, response index)
    bucket: np.ndarray = None
    converts: np.ndarray = None
    callback: np.ndarray = None  # the lead got in touch itself
    contacted: np.ndarray = None
    booked: np.ndarray = None
    appointments: dict | None = None
    opportunities: dict | None = None

    @property
    def reached(self) -> np.ndarray:
        return self.reached_at >= 0


def automated_touches(world, day: Day) -> None:
    """Auto-SMS and auto-email seconds after the lead arrives, from the team line / hello@."""
    leads, rng = day.leads, day.rng
    n = len(leads["g"])
    team_line = world.roster.team_line[leads["team"]]
    rows = np.flatnonzero(leads["has_phone"] & (rng.random(n) < catalog.AUTO_SMS_P))
    if len(rows):
        k = len(rows)
        status = categorical(list(catalog.SMS_STATUS_P_OUT.values()), rng.random(k))
        day.sms.add(sent=leads["created"][rows] + rng.integers(2000, 40_000, k), direction=OUT,
                    **{"from": team_line[rows], "to": leads["phone_e164"][rows]}, rep=-1, status=status, auto=1,
                    lead=np.where(rng.random(k) < catalog.LEAD_ID_SHARE["auto_sms"], leads["g"][rows], -1),
                    tag=0, lidx=rows)
    rows = np.flatnonzero(leads["has_email"] & (rng.random(n) < catalog.AUTO_EMAIL_P))
    if len(rows):
        k = len(rows)
        status = categorical(list(catalog.EMAIL_STATUS_P_OUT.values()), rng.random(k))
        day.emails.add(sent=leads["created"][rows] + rng.integers(1000, 120_000, k), direction=OUT,
                       from_addr=f"hello@{catalog.COMPANY_DOMAIN}", to_addr=leads["email_lc"].take(pa.array(rows)),
                       rep=-1, status=status, auto=1,
                       lead=np.where(rng.random(k) < catalog.LEAD_ID_SHARE["auto_email"], leads["g"][rows], -1),
                       tag=0, lidx=rows)


def respond(world, day: Day, genuine: np.ndarray) -> Response | None:
    """Human response to the day's genuine leads (``genuine``: their rows) and its consequences."""
    if len(genuine) == 0:
        return None
    leads = day.leads
    form = leads["form"][genuine]
    created = leads["created"][genuine]
    response = Response(
        rows=genuine, created=created, clock_start=np.where(form >= 0, form, created),
        group=leads["group"][genuine], owner=leads["owner"][genuine], team=leads["team"][genuine],
        tier=np.searchsorted([40, 70], leads["score"][genuine], side="right"), source=leads["source"][genuine])
    _first_attempts(world, day, response)
    _attempts_until_reached(world, day, response)
    response.bucket = np.where(response.reached, bucket_of(response.reached_at - response.clock_start),
                               len(catalog.BUCKETS) - 1)
    response.converts = day.rng.random(len(genuine)) < conversion_probability(
        response.bucket, response.source, response.tier)
    _follow_ups(world, day, response)
    _conversation_for_converting_leads(world, day, response)
    response.contacted = response.connect_end >= 0
    funnel.book_appointments(world, day, response)
    funnel.open_opportunities(world, day, response)
    funnel.status_history(day, response)
    _record_truth(world, response)
    return response


def conversion_probability(bucket, source, tier) -> np.ndarray:
    """The planted effect: P(opportunity) = logistic(b0 + log OR[bucket] + source + tier)."""
    logit = (catalog.CONVERSION_INTERCEPT + np.log(np.asarray(catalog.BUCKET_ODDS_RATIO))[bucket]
             + np.array([catalog.SOURCE_LOG_ODDS[s] for s in catalog.SOURCES])[source]
             + np.array([catalog.TIER_LOG_ODDS[t] for t in catalog.TIERS])[tier])
    return sigmoid(logit)


def _first_attempts(world, day: Day, r: Response) -> None:
    """Business-time delay of the owner's first attempt: rep speed, tier, load, after-hours backlog."""
    leads, rng, roster = day.leads, day.rng, world.roster
    n = len(r.rows)
    # load: leads arriving for the team in the same UTC hour, per active rep, vs the team norm
    hour = np.clip((leads["created"] - day.start_ms) // HOUR_MS, 0, 23)
    per_team_hour = np.bincount(leads["team"] * 24 + hour, minlength=len(catalog.TEAMS) * 24)
    load = (per_team_hour[r.team * 24 + hour[r.rows]] / np.maximum(roster.active_count[day.index][r.team], 1)
            / roster.nominal_load[r.team])
    r.in_hours = world.clock.is_open(r.group, r.created)
    tier_shift = np.array([catalog.RT_TIER_SHIFT[t] for t in catalog.TIERS])[r.tier]
    mu = (roster.mu[r.owner] + tier_shift
          + catalog.LOAD_ELASTICITY * np.log(np.clip(load, 0.3, 25.0)) * r.in_hours)
    minutes = np.exp(mu + catalog.RT_SIGMA * rng.standard_normal(n))
    backlog = np.exp(np.log(catalog.AFTER_HOURS_BACKLOG_MEDIAN_MIN)
                     + catalog.AFTER_HOURS_BACKLOG_SIGMA * rng.standard_normal(n))
    minutes = minutes + np.where(r.in_hours, 0.0, backlog)
    delay = np.maximum(minutes * MINUTE_MS, 20_000).astype(np.int64)
    r.first_attempt = world.clock.add(r.group, r.created, delay)
    if len(world.rt_in_hours) < RT_SAMPLE_CAP:
        calendar_minutes = (r.first_attempt - r.created) / MINUTE_MS
        world.rt_in_hours.extend(calendar_minutes[r.in_hours][:RT_SAMPLE_PER_DAY].tolist())
        world.rt_after_hours.extend(calendar_minutes[~r.in_hours][:RT_SAMPLE_PER_DAY].tolist())
    r.never_attempted = rng.random(n) < np.array([catalog.NEVER_ATTEMPT_P[t] for t in catalog.TIERS])[r.tier]


def _attempts_until_reached(world, day: Day, r: Response) -> None:
    """Up to MAX_ATTEMPTS attempts; after a miss the rep gives up or tries again later."""
    rng = day.rng
    n = len(r.rows)
    r.reached_at = np.full(n, -1, np.int64)
    r.first_attempt_qualified = np.zeros(n, bool)
    r.connect_end = np.full(n, -1, np.int64)
    when = r.first_attempt.copy()
    active = np.flatnonzero(~r.never_attempted)
    for attempt in range(catalog.MAX_ATTEMPTS):
        if len(active) == 0:
            break
        rows = r.rows[active]
        channel = choose_channels(rng, day.leads, rows, catalog.FIRST_CHANNEL_P)
        code, qualifies = outcomes(rng, channel, when[active] - r.clock_start[active])
        emit_outbound(world, day, rows, when[active], channel, code, r.owner[active])
        if attempt == 0:
            r.first_attempt_qualified[active] = qualifies
        r.reached_at[active[qualifies]] = when[active[qualifies]]
        note_calls(day, r, active, channel)
        missed = active[~qualifies]
        missed = missed[rng.random(len(missed)) >= catalog.ATTEMPT_GIVE_UP_P]
        gap = (lognormal_ms(rng, len(missed), 60 * MINUTE_MS * 2 ** attempt, 0.8)).astype(np.int64)
        when[missed] = world.clock.add(r.group[missed], when[missed], gap)
        active = missed


def _follow_ups(world, day: Day, r: Response) -> None:
    """Follow-ups after the first qualifying response, spread by business-time gaps."""
    rng = day.rng
    reached = np.flatnonzero(r.reached)
    per_lead = rng.poisson(np.where(r.converts[reached], catalog.FOLLOW_UP_MEAN["converted"],
                                    catalog.FOLLOW_UP_MEAN["other"]))
    idx = np.repeat(reached, per_lead)
    if len(idx) == 0:
        return
    gaps = lognormal_ms(rng, len(idx), 6 * HOUR_MS, 1.0).astype(np.int64)
    csum = np.cumsum(gaps)
    first_of_lead = np.repeat(np.cumsum(per_lead) - per_lead, per_lead)
    since_response = csum - (csum[first_of_lead] - gaps[first_of_lead])
    position = world.clock.position(r.group[idx], r.reached_at[idx]) + since_response
    when = world.clock.instant(r.group[idx], position)
    channel = choose_channels(rng, day.leads, r.rows[idx], catalog.FOLLOW_UP_CHANNEL_P)
    code, _ = outcomes(rng, channel, when - r.clock_start[idx])
    rep = np.where(rng.random(len(idx)) < 0.9, r.owner[idx], world.roster.teammate(r.owner[idx], day.index, rng))
    emit_outbound(world, day, r.rows[idx], when, channel, code, rep)
    note_calls(day, r, idx, channel)


def _conversation_for_converting_leads(world, day: Day, r: Response) -> None:
    """A converting lead always had a conversation: a connected call by the rep where the lead
    was reached by phone, else the lead calls in (or, without a phone, answers by email)."""
    leads, rng, roster = day.leads, day.rng, world.roster
    r.callback = np.zeros(len(r.rows), bool)
    need = np.flatnonzero(r.converts & (r.connect_end < 0))
    if len(need) == 0:
        return
    by_rep = need[r.reached[need] & leads["has_phone"][r.rows[need]]]
    if len(by_rep):
        when = world.clock.add(r.group[by_rep], r.reached_at[by_rep],
                               lognormal_ms(rng, len(by_rep), 90 * MINUTE_MS, 0.8).astype(np.int64))
        channel = np.full(len(by_rep), CALL)
        code = np.full(len(by_rep), D_CONNECTED)
        emit_outbound(world, day, r.rows[by_rep], when, channel, code, r.owner[by_rep])
        note_calls(day, r, by_rep, channel)
    inbound = np.setdiff1d(need, by_rep)
    if len(inbound) == 0:
        return
    when = r.created[inbound] + np.maximum(lognormal_ms(rng, len(inbound), 20 * HOUR_MS, 0.8),
                                           60_000).astype(np.int64)
    when = np.maximum(when, np.where(r.reached_at[inbound] >= 0, r.reached_at[inbound] + 60_000, 0))
    has_phone = leads["has_phone"][r.rows[inbound]]
    by_call = inbound[has_phone]
    if len(by_call):
        call_at = when[has_phone]
        answered, ended, duration = call_timing(rng, call_at, np.full(len(call_at), D_CONNECTED))
        day.calls.add(started=call_at, answered=answered, ended=ended, direction=IN,
                      **{"from": leads["phone_e164"][r.rows[by_call]], "to": roster.phone[r.owner[by_call]]},
                      rep=r.owner[by_call], disp=D_CONNECTED, dur=duration, lead=-1, tag=0, lidx=r.rows[by_call])
        r.connect_end[by_call] = ended
    by_mail = inbound[~has_phone]
    if len(by_mail):
        mail_at = when[~has_phone]
        day.emails.add(sent=mail_at, direction=IN, from_addr=leads["email_lc"].take(pa.array(r.rows[by_mail])),
                       to_addr=roster.email.take(pa.array(r.owner[by_mail])), rep=r.owner[by_mail],
                       status=E_RECEIVED, auto=0, lead=-1, tag=0, lidx=r.rows[by_mail])
        r.connect_end[by_mail] = mail_at
    r.callback[inbound] = True


def note_calls(day: Day, r: Response, local: np.ndarray, channel: np.ndarray) -> None:
    """Track the first connected call (its end) and the voicemails of the responses ``local``,
    from the call rows ``emit_outbound`` has just added (in the order of ``local[channel == CALL]``)."""
    is_call = channel == CALL
    if not is_call.any():
        return
    parts = day.calls.parts
    ended, lead_rows, disposition = parts["ended"][-1], parts["lidx"][-1], parts["disp"][-1]
    local = local[is_call]
    connected = disposition == D_CONNECTED
    current = r.connect_end[local[connected]]
    r.connect_end[local[connected]] = np.where(current < 0, ended[connected], np.minimum(current, ended[connected]))
    voicemail = disposition == D_VOICEMAIL
    if voicemail.any():
        r.voicemails.append((lead_rows[voicemail], ended[voicemail], local[voicemail]))


def _record_truth(world, r: Response) -> None:
    """Realised counts per bucket, source and tier, for the manifest's ``truth``."""
    n_buckets = len(catalog.BUCKETS)
    truth = world.truth
    truth["leads"] += np.bincount(r.bucket, minlength=n_buckets)
    truth["converted"] += np.bincount(r.bucket[r.converts], minlength=n_buckets)
    truth["contacted"] += np.bincount(r.bucket[r.contacted], minlength=n_buckets)
    truth["booked"] += np.bincount(r.bucket[r.booked], minlength=n_buckets)
    np.add.at(world.truth_by_source, (r.source, r.converts.astype(np.int64)), 1)
    np.add.at(world.truth_by_tier, (r.tier, r.converts.astype(np.int64)), 1)
