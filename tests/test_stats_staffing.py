"""Erlang C against published worked examples, and the staffing rules around it."""

from __future__ import annotations

import math

import numpy as np

from orchestration.stats.staffing import (StaffingTarget, agents_required, average_speed_of_answer, erlang_c,
                                          service_level, staffing_plan)


def test_call_centre_helper_worked_example():
    # Call Centre Helper, "Erlang C formula - made simple" (the 100-calls example): 100 calls in
    # 30 minutes, AHT 180 s, so A = 10 Erlangs; 80 % answered within 20 s; 30 % shrinkage. Its
    # results as we recall them (the inputs were checked against the page, the printed results
    # could not be re-read here): with 11 agents the probability of waiting is 0.6821; 14 agents
    # meet the target; 20 agents rostered.
    assert round(erlang_c(11, 10.0), 4) == 0.6821
    assert service_level(13, 10.0, 180, 20) < 0.80 <= service_level(14, 10.0, 180, 20)
    req = agents_required(100, 1800, 180, StaffingTarget(0.80, 20, max_occupancy=1.0, shrinkage=0.30))
    assert (req.agents, req.reps_required) == (14, 20)
    assert round(req.occupancy, 4) == round(10 / 14, 4)


def test_westbay_erlang_c_worked_example():
    # Westbay Engineers' Erlang C page, worked example: 360 calls per half hour, average duration
    # 240 s, 55 agents, 15 s target (inputs checked against the page; results as recalled): traffic
    # 48 Erlangs, occupancy 0.873, probability of waiting 0.2387, average speed of answer 8.2 s,
    # service level 84.6 %.
    load = 360 * 240 / 1800
    assert load == 48 and round(load / 55, 3) == 0.873
    assert round(erlang_c(55, load), 4) == 0.2387
    assert round(average_speed_of_answer(55, load, 240), 1) == 8.2
    assert round(service_level(55, load, 240, 15), 3) == 0.846


def test_erlang_c_limits():
    assert erlang_c(5, 0.0) == 0.0
    assert erlang_c(10, 10.0) == 1.0 and service_level(10, 10.0, 180, 20) == 0.0
    assert math.isinf(average_speed_of_answer(3, 4.0, 180))
    # the stable recursion agrees with the factorial formula where both are exact
    a, n = 7.5, 10
    top = a ** n / math.factorial(n) * n / (n - a)
    assert math.isclose(erlang_c(n, a), top / (sum(a ** k / math.factorial(k) for k in range(n)) + top), rel_tol=1e-12)
    # and stays finite where factorials overflow
    assert 0 < erlang_c(2000, 1950.0) < 1


def test_occupancy_cap_and_plan():
    # a light load meets the service level with 1 agent, but the occupancy cap asks for more
    req = agents_required(30, 3600, 300, StaffingTarget(0.5, 600, max_occupancy=0.5, shrinkage=0.0))
    assert req.agents == math.ceil(30 * 300 / 3600 / 0.5) and req.occupancy <= 0.5
    plan = staffing_plan(np.array([0.0, 12.0, 60.0]), 240.0, np.array([2.0, 2.0, 2.0]))
    assert plan["reps_required"][0] == 0 and plan["expected_service_level"][0] == 1.0
    assert list(plan["gap"]) == list(2.0 - plan["reps_required"])
    assert plan["reps_required"][2] > plan["reps_required"][1] > 0
    assert plan["on_duty_service_level"][2] < 0.8 <= plan["expected_service_level"][2]
