"""Reps needed per interval to hold a service level, with Erlang C (M/M/N queue: Poisson
arrivals, exponential handle times, nobody abandons, first come first served).

A lead waiting for its first response is a caller in the queue; a rep working one is an agent
on a call. The service level is the share of leads answered within ``target_seconds``:

    SL = 1 - C(N, A) * exp(-(N - A) * target_seconds / handle_seconds)

with A = arrivals per second * handle_seconds the offered load in Erlangs and C the Erlang C
probability of waiting. Rostered reps = agents / (1 - shrinkage) (breaks, training, admin),
and agents never run above ``max_occupancy``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def erlang_b(agents: int, load: float) -> float:
    """Blocking probability by the stable recursion B(k) = A B(k-1) / (k + A B(k-1))."""
    b = 1.0
    for k in range(1, agents + 1):
        b = load * b / (k + load * b)
    return b


def erlang_c(agents: int, load: float) -> float:
    """Probability that an arrival waits (1 when the agents cannot keep up)."""
    if load <= 0:
        return 0.0
    if agents <= load:
        return 1.0
    b = erlang_b(agents, load)
    return agents * b / (agents - load * (1 - b))


def service_level(agents: int, load: float, handle_seconds: float, target_seconds: float) -> float:
    if load <= 0:
        return 1.0
    if agents <= load:
        return 0.0
    return 1.0 - erlang_c(agents, load) * math.exp(-(agents - load) * target_seconds / handle_seconds)


def average_speed_of_answer(agents: int, load: float, handle_seconds: float) -> float:
    return math.inf if agents <= load else erlang_c(agents, load) * handle_seconds / (agents - load)


@dataclass(frozen=True)
class StaffingTarget:
    service_level: float = 0.80  # share of leads answered ...
    target_seconds: float = 300.0  # ... within this many seconds
    max_occupancy: float = 0.85  # agents are busy at most this share of the time
    shrinkage: float = 0.30  # share of rostered time not available for leads


@dataclass(frozen=True)
class Requirement:
    agents: int  # reps actively working leads
    reps_required: int  # rostered: agents / (1 - shrinkage), rounded up
    expected_service_level: float
    occupancy: float


def agents_required(arrivals: float, interval_seconds: float, handle_seconds: float,
                    target: StaffingTarget = StaffingTarget()) -> Requirement:
    """Fewest agents meeting the service level and the occupancy cap for ``arrivals`` in an
    interval of ``interval_seconds``; then rostered reps after shrinkage."""
    load = max(arrivals, 0.0) * handle_seconds / interval_seconds
    if load <= 0:
        return Requirement(0, 0, 1.0, 0.0)
    n = max(1, math.floor(load) + 1, math.ceil(load / target.max_occupancy))
    while service_level(n, load, handle_seconds, target.target_seconds) < target.service_level:
        n += 1
    return Requirement(n, math.ceil(n / (1 - target.shrinkage) - 1e-9),
                       service_level(n, load, handle_seconds, target.target_seconds), load / n)


def staffing_plan(forecast_leads: np.ndarray, handle_seconds: float, reps_on_duty: np.ndarray,
                  target: StaffingTarget = StaffingTarget(), interval_seconds: float = 3600.0) -> dict[str, np.ndarray]:
    """Per interval: reps required, the gap to the reps on duty, and the service level the reps
    on duty would give (after shrinkage) at the forecast volume."""
    required = [agents_required(float(x), interval_seconds, handle_seconds, target) for x in forecast_leads]
    on_duty = np.nan_to_num(np.asarray(reps_on_duty, dtype=float))
    loads = np.maximum(np.asarray(forecast_leads, float), 0) * handle_seconds / interval_seconds
    available = np.floor(on_duty * (1 - target.shrinkage) + 1e-9).astype(int)
    return {
        "agents_required": np.array([r.agents for r in required]),
        "reps_required": np.array([r.reps_required for r in required]),
        "gap": on_duty - np.array([r.reps_required for r in required]),
        "expected_service_level": np.array([r.expected_service_level for r in required]),
        "on_duty_service_level": np.array([service_level(a, load, handle_seconds, target.target_seconds)
                                           for a, load in zip(available, loads)]),
    }
