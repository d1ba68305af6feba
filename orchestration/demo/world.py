"""The simulated world: the window, the organisation, the plans and the state of the day loop.

``World`` is built once per run (the order of its random draws is part of the output) and then
simulates one UTC day of arrivals at a time (``simulate_day``), handing the rows to the sink.
The steps live in their own modules: ``arrivals``, ``anomalies``, ``roster``, ``responses``,
``funnel`` and ``replies``.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from . import catalog
from . import people
from .activities import Day
from .anomalies import (TEST_LEAD_KINDS, SpecialLeadPlan, activities_before_lead, special_lead_activity,
                        special_leads, unknown_contacts)
from .arrivals import GENUINE, ArrivalPlan, assemble, genuine_leads
from .org import BusinessClock, TzTable, date_ms, holidays_for, open_intervals, schedules
from .replies import replies
from .responses import automated_touches, respond
from .roster import Roster
from .sink import Sink
from .textfmt import DAY_MS

LEAD_COLUMNS = ("g", "created", "form", "source", "campaign", "score", "region", "country", "owner", "team", "email",
                "phone", "first", "last", "ua", "is_test", "aware", "tag")


def previous_codes(lead_rows: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Per status row (sorted by lead, then time): the lead's previous status code, -1 for its first."""
    previous = np.full(len(codes), -1, np.int64)
    same_lead = np.concatenate([[False], lead_rows[1:] == lead_rows[:-1]])
    previous[1:][same_lead[1:]] = codes[:-1][same_lead[1:]]
    return previous


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
        self.crm_tz = TzTable(catalog.CRM_TIMEZONE, lo, hi)
        self.region_tz = [TzTable(zone, lo, hi) for zone in catalog.REGION_TZ]
        years = range(self.start_date.year - 1, end_date.year + 2)
        # The holiday table covers every calendar year the window touches (as a CRM keeps it).
        self.holidays = [h for h in holidays_for(years)
                         if h.end.year >= self.start_date.year and h.start.year <= end_date.year]
        self.change_date = self.start_date + dt.timedelta(days=days // 2)
        self.first_cal_day = self.start_date - dt.timedelta(days=10)
        self.last_cal_day = end_date + dt.timedelta(days=130)
        team_shifts = schedules(self.change_date, "")
        self.team_intervals = [
            open_intervals([s for s in team_shifts if s.team_id == t.team_id and not s.rep_id],
                           t.timezone, t.team_id, self.holidays, self.first_cal_day, self.last_cal_day)
            for t in catalog.TEAMS
        ]
        self.team_clock = BusinessClock(self.team_intervals)

        self.arrivals = ArrivalPlan(self, rng)
        self.roster = Roster(self, rng)
        self.clock = self.roster.clock  # business time of every schedule group
        self.spaces = people.build_spaces()
        self.name_book = people.NameBook()
        self.roster.add_contact_details(self.spaces, rng)
        self.specials = SpecialLeadPlan(self, rng)

        # state of the day loop
        self.next_lead = 0
        self.counters = {"calls": 0, "sms": 0, "emails": 0, "appointments": 0, "opportunities": 0,
                         "unknown": 0, "tests": 0, "bots": 0}
        self.next_free_slot = np.zeros(len(self.roster.team), np.int64)  # per rep, business time
        self.campaign_leads = np.zeros((days, len(catalog.CAMPAIGNS)), np.int64)
        n_buckets = len(catalog.BUCKETS)
        self.truth = {k: np.zeros(n_buckets, np.int64) for k in
                      ("leads", "converted", "contacted", "booked", "sms_reply", "sms_received")}
        self.truth_by_source = np.zeros((len(catalog.SOURCES), 2), np.int64)
        self.truth_by_tier = np.zeros((3, 2), np.int64)
        self.rt_in_hours = []  # samples of first-attempt delay (minutes) in vs out of hours
        self.rt_after_hours = []
        self.double_booked = 0
        self.before_lead_planned = 0
        self.unknown_planned = 0
        self.test_kinds = {name: 0 for name in TEST_LEAD_KINDS}

    def phone_space_by_country(self) -> dict:
        """The number space that formats each country's numbers (by country index)."""
        return {c: self.spaces[people.space_name(country, "us_east")] for c, country in enumerate(catalog.COUNTRIES)}

    def simulate_day(self, day_index: int, sink: Sink) -> None:
        day = Day(day_index, self.t0 + day_index * DAY_MS,
                  np.random.default_rng(np.random.SeedSequence([self.seed, 1, day_index])))
        genuine_part = genuine_leads(self, day_index, day.start_ms, day.rng)
        parts = [genuine_part, *special_leads(self, day_index, day.start_ms, genuine_part, day.rng)]
        day.leads = assemble(self, day_index, parts, day.rng)
        n = len(day.leads["created"])
        if n == 0:
            return
        automated_touches(self, day)
        genuine = np.flatnonzero(day.leads["kind"] == GENUINE)
        response = respond(self, day, genuine)
        special_lead_activity(self, day)
        replies(self, day, response)
        activities_before_lead(self, day, genuine)
        unknown_contacts(self, day, n)
        self._write_day(day, response, sink)

    def _write_day(self, day: Day, response, sink: Sink) -> None:
        leads = day.leads
        sink.add("leads", {k: leads[k] for k in LEAD_COLUMNS}, leads["created"])
        if day.status_rows:
            lead_rows, code, when, rep = (np.concatenate([piece[i] for piece in day.status_rows]) for i in range(4))
            order = np.lexsort((when, lead_rows))
            lead_rows, code, when, rep = lead_rows[order], code[order], when[order], rep[order]
            sink.add("lead_status_history", {
                "g": leads["g"][lead_rows], "status": code, "changed": when, "prev": previous_codes(lead_rows, code),
                "rep": rep, "aware": day.rng.random(len(code)) < catalog.OFFSET_AWARE_SHARE,
            }, when)
        for name, buffer, time_key in (("calls", day.calls, "started"), ("sms", day.sms, "sent"),
                                       ("emails", day.emails, "sent")):
            if buffer.n == 0:
                continue
            cols = buffer.build()
            cols.pop("lidx")
            cols["no"] = self.counters[name] + np.arange(buffer.n, dtype=np.int64)
            self.counters[name] += buffer.n
            sink.add(name, cols, cols[time_key])
        if response is not None:
            if response.appointments is not None:
                sink.add("appointments", response.appointments, response.appointments["booked"])
            if response.opportunities is not None:
                sink.add("opportunities", response.opportunities, response.opportunities["created"])
        # campaign volume for the cost extract
        campaign = leads["campaign"]
        self.campaign_leads[day.index] += np.bincount(campaign[campaign >= 0], minlength=len(catalog.CAMPAIGNS))
