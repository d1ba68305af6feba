"""The funnel after a response: appointments, opportunities and the lead status history."""

from __future__ import annotations

import numpy as np

from . import catalog
from .activities import APPOINTMENT, STAGE, Day
from .draws import categorical, lognormal_ms
from .textfmt import DAY_MS, HOUR_MS, MINUTE_MS

SLOT_MS = 30 * MINUTE_MS
_GROUP_OFFSET = np.int64(1) << np.int64(44)  # keeps the running maximum of one rep out of the next


def pack_slots(rep: np.ndarray, earliest: np.ndarray, next_free: np.ndarray, slot: int = SLOT_MS):
    """Book each request into its rep's diary, requests of a rep in order of ``earliest``.

    ``earliest`` and ``next_free[rep]`` are business-time positions; a booking starts at the later
    of its earliest position and the end of the rep's previous booking. Returns ``order`` (the
    requests sorted by rep, earliest, index), the ``rank`` of each within its rep, whether it is
    its rep's ``last`` and its ``start``, all in that order."""
    order = np.lexsort((np.arange(len(rep)), earliest, rep))
    rep_sorted = rep[order]
    wish = np.maximum(earliest[order], next_free[rep_sorted])
    new_rep = np.concatenate([[True], rep_sorted[1:] != rep_sorted[:-1]])
    rank = np.arange(len(rep_sorted)) - np.maximum.accumulate(np.where(new_rep, np.arange(len(rep_sorted)), 0))
    group = np.cumsum(new_rep) * _GROUP_OFFSET
    # start_i = max over j <= i of the rep (wish_j + (i - j) * slot): a running maximum
    start = np.maximum.accumulate(wish - rank * slot + group) - group + rank * slot
    last = np.concatenate([new_rep[1:], [True]])
    return order, rank, last, start


def _appointment_slots(world, rep, group, booked_at, rng):
    """Start and end of each booked appointment: the rep's next free slot from 18 h-4 days on."""
    earliest = booked_at + rng.integers(18 * HOUR_MS, 4 * DAY_MS, len(rep))
    position = world.clock.position(group, earliest)
    position = -(-position // SLOT_MS) * SLOT_MS
    order, rank, last, start_position = pack_slots(rep, position, world.next_free_slot)
    rep_sorted = rep[order]
    world.next_free_slot[rep_sorted[last]] = start_position[last] + SLOT_MS
    if world.messy > 0:
        _double_book(world, booked_at[order], rank, last, start_position, rng)
    start_sorted = world.clock.instant(group[order], start_position)
    start = np.empty_like(start_sorted)
    start[order] = start_sorted
    return start, start + SLOT_MS


def _double_book(world, booked_sorted, rank, last, start_position, rng) -> None:
    """Planted double bookings: the next appointment of the same rep moved onto this one."""
    # both appointments of a pair must be written (booked within the window)
    written = booked_sorted < world.t1
    candidates = np.flatnonzero(~last & (rank % 3 == 0) & written & np.roll(written, -1))
    k = int(rng.binomial(len(candidates), min(1.0, world.messy * 0.5))) if len(candidates) else 0
    if k == 0 and world.double_booked == 0 and len(candidates):
        k = 1
    if k:
        pick = np.sort(rng.choice(candidates, size=k, replace=False))
        start_position[pick + 1] = start_position[pick]
        world.double_booked += k


def book_appointments(world, day: Day, r) -> None:
    """Contacted leads book with a probability that falls with response time (higher if converting)."""
    rng = day.rng
    n = len(r.rows)
    p_book = np.where(r.converts, catalog.BOOKING_P_OPP, np.asarray(catalog.BOOKING_P_NO_OPP)[r.bucket])
    r.booked = r.contacted & (rng.random(n) < p_book)
    booked = np.flatnonzero(r.booked)
    r.appointment_end = np.full(n, -1, np.int64)
    r.appointment_completed = np.zeros(n, bool)
    if len(booked) == 0:
        return
    booked_at = r.connect_end[booked] + rng.integers(20_000, 600_000, len(booked))
    start, end = _appointment_slots(world, r.owner[booked], r.group[booked], booked_at, rng)
    u = rng.random(len(booked))
    if_converting = np.asarray([APPOINTMENT["completed"], APPOINTMENT["rescheduled"], APPOINTMENT["no_show"]])[
        categorical([0.85, 0.10, 0.05], u)]
    otherwise = np.asarray([APPOINTMENT["completed"], APPOINTMENT["no_show"], APPOINTMENT["cancelled"],
                            APPOINTMENT["rescheduled"]])[categorical([0.45, 0.30, 0.20, 0.05], u)]
    status = np.where(r.converts[booked], if_converting, otherwise)
    status = np.where(start >= world.t1, APPOINTMENT["scheduled"], status)
    number = world.counters["appointments"] + np.arange(len(booked), dtype=np.int64)
    world.counters["appointments"] += len(booked)
    r.appointments = {"no": number, "g": day.leads["g"][r.rows[booked]], "rep": r.owner[booked],
                      "booked": booked_at, "start": start, "end": end, "status": status,
                      "aware": rng.random(len(booked)) < catalog.OFFSET_AWARE_SHARE}
    r.appointment_end[booked] = end
    r.appointment_completed[booked] = status == APPOINTMENT["completed"]


def open_opportunities(world, day: Day, r) -> None:
    """An opportunity per converting lead, after the completed appointment or the conversation."""
    rng = day.rng
    converting = np.flatnonzero(r.converts)
    r.opportunity_created = np.full(len(r.rows), -1, np.int64)
    if len(converting) == 0:
        return
    k = len(converting)
    after = np.where(r.appointment_completed[converting], r.appointment_end[converting], r.connect_end[converting])
    created = after + np.maximum(lognormal_ms(rng, k, 5 * HOUR_MS, 1.0), 10 * MINUTE_MS).astype(np.int64)
    u = rng.random(k)
    stage = np.where(u < 0.35, STAGE["closed_won"], np.where(
        u < 0.65, STAGE["closed_lost"],
        np.asarray([STAGE["qualification"], STAGE["proposal"], STAGE["negotiation"]])[rng.integers(0, 3, k)]))
    closed = created + lognormal_ms(rng, k, 12 * DAY_MS, 0.7).astype(np.int64)
    is_closed = (stage >= STAGE["closed_won"]) & (closed < world.t1)
    # closed after the export: still open in the extract
    stage = np.where((stage >= STAGE["closed_won"]) & ~is_closed,
                     np.where(rng.random(k) < 0.5, STAGE["proposal"], STAGE["negotiation"]), stage)
    won = np.where(is_closed, (stage == STAGE["closed_won"]).astype(np.int64), -1)
    country = day.leads["country"][r.rows[converting]]
    median = np.array([9000.0, 11000.0, 7000.0, 12500.0])[country]
    cents = np.rint(np.exp(np.log(median) + 0.8 * rng.standard_normal(k)) * 100).astype(np.int64)
    number = world.counters["opportunities"] + np.arange(k, dtype=np.int64)
    world.counters["opportunities"] += k
    r.opportunities = {"no": number, "g": day.leads["g"][r.rows[converting]], "created": created, "stage": stage,
                       "cents": cents, "currency": country, "closed": np.where(is_closed, closed, -1), "won": won}
    r.opportunity_created[converting] = created


def status_history(day: Day, r) -> None:
    """new -> working -> contacted -> (un)qualified -> converted, or nurture / unresponsive."""
    rng = day.rng
    n = len(r.rows)

    def add(idx, code, when, rep):
        day.add_status(r.rows[idx], code, when, rep)

    add(np.arange(n), "new", r.created, np.full(n, -1))
    working = np.flatnonzero(~r.never_attempted & ~r.first_attempt_qualified)
    working_at = r.first_attempt[working] + rng.integers(5000, 60_000, len(working))
    add(working, "working", working_at, r.owner[working])
    last = r.created.copy()
    last[working] = working_at
    reached = r.reached
    in_touch = np.flatnonzero(reached | r.callback)
    in_touch_at = (np.where(reached[in_touch], r.reached_at[in_touch], r.connect_end[in_touch])
                   + rng.integers(5000, 120_000, len(in_touch)))
    in_touch_at = np.maximum(in_touch_at, last[in_touch] + 1000)
    add(in_touch, "contacted", in_touch_at, r.owner[in_touch])
    last[in_touch] = in_touch_at
    talked = np.flatnonzero(r.contacted)
    qualified = r.converts[talked] | r.booked[talked] | (rng.random(len(talked)) < 0.35)
    judged_at = np.maximum(r.connect_end[talked]
                           + lognormal_ms(rng, len(talked), 40 * MINUTE_MS, 1.0).astype(np.int64),
                           last[talked] + 1000)
    add(talked[qualified], "qualified", judged_at[qualified], r.owner[talked[qualified]])
    add(talked[~qualified], "unqualified", judged_at[~qualified], r.owner[talked[~qualified]])
    last[talked] = judged_at
    converting = np.flatnonzero(r.converts)
    if len(converting):
        converted_at = np.maximum(r.opportunity_created[converting] + rng.integers(1000, 60_000, len(converting)),
                                  last[converting] + 1000)
        add(converting, "converted", converted_at, r.owner[converting])
        last[converting] = converted_at
    nurture = np.flatnonzero(reached & ~r.contacted)
    add(nurture, "nurture", np.maximum(r.reached_at[nurture] + 21 * DAY_MS, last[nurture] + HOUR_MS),
        r.owner[nurture])
    silent = np.flatnonzero(~reached & ~r.callback)
    add(silent, "unresponsive", np.maximum(r.created[silent] + 14 * DAY_MS, last[silent] + HOUR_MS), r.owner[silent])
