"""Reps needed per interval to hold a service level: Erlang C (M/M/N, nobody abandons) by
default, Erlang A (M/M/N+M, exponential patience) when the patience of waiting leads is known.

A lead waiting for its first response is a caller in the queue; a rep working one is an agent
on a call. The service level is the share of leads answered within ``target_seconds``.

Erlang C: SL = 1 - C(N, A) * exp(-(N - A) * target_seconds / handle_seconds), with A = arrivals
per second * handle_seconds the offered load in Erlangs and C the Erlang C probability of
waiting.

Erlang A (Palm's M/M/N+M): each waiting lead gives up after an exponential patience with mean
``patience_seconds``. The queue is a birth-death chain (births at rate lambda, deaths at
min(k, N) mu + max(k - N, 0) theta), always stable. SL counts a lead as served in time only if
it is answered within the target: one that gives up before is a miss, however early it left
(the strict definition; it never flatters a plan). A lead finding j others waiting is answered
once j + 1 queue departures happened before its own patience ran out; the chance of that within
the target comes from the transient law of that pure-death chain (one sparse matrix exponential
applied to the arrival-state distribution).

Rostered reps = agents / (1 - shrinkage) (breaks, training, admin), and agents never run above
``max_occupancy`` (busy time of the served load over agents).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

# Ratios like 17.85 / 0.85 come out as 21.000000000000004 in binary floating point: a whole
# number of agents must not be pushed up by that last bit.
FLOAT_GUARD = 1e-9
# Stationary states whose probability is below e^-45 of the largest one are dropped.
LOG_TAIL = 45.0
# Patience is estimated only from at least this many abandoned calls; fewer: Erlang C.
MIN_ABANDONED_CALLS = 30


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
    """Erlang C share answered within ``target_seconds``."""
    if load <= 0:
        return 1.0
    if agents <= load:
        return 0.0
    return 1.0 - erlang_c(agents, load) * math.exp(-(agents - load) * target_seconds / handle_seconds)


def average_speed_of_answer(agents: int, load: float, handle_seconds: float) -> float:
    return math.inf if agents <= load else erlang_c(agents, load) * handle_seconds / (agents - load)


@dataclass(frozen=True)
class ErlangA:
    service_level: float  # share of arrivals answered within the target (abandoners are misses)
    p_wait: float  # share of arrivals that find every agent busy
    p_abandon: float  # share of arrivals that give up before being answered
    occupancy: float  # served load / agents


def _stationary(agents: int, lam: float, mu: float, theta: float) -> np.ndarray:
    """P(k in system), k = 0 .. K, for the M/M/N+M chain, truncated where negligible."""
    logs, k = [0.0], 0
    while True:
        k += 1
        death = min(k, agents) * mu + max(k - agents, 0) * theta
        logs.append(logs[-1] + math.log(lam / death))
        # past the mode (births slower than deaths) and far below it: the rest is negligible
        if k > agents and lam < death and logs[-1] < max(logs) - LOG_TAIL:
            break
    p = np.exp(np.array(logs) - max(logs))
    return p / p.sum()


def _answered_within(waiting: np.ndarray, service_rate: float, theta: float, seconds: float) -> float:
    """Share of arrivals that wait and are answered within ``seconds``: ``waiting[j]`` is the
    share that find j others waiting.

    The tagged lead's state is the number ahead of it; the line ahead shrinks at
    move[j] = N mu + j theta (service starts, others giving up) and the lead itself leaves at
    theta. That chain only moves down, so its transient law is computed by uniformisation
    (a Poisson mixture of powers of a bidiagonal step matrix) in vector operations, much
    cheaper here than a general matrix exponential."""
    from scipy import stats

    if seconds <= 0 or not waiting.size:
        return 0.0
    move = service_rate + theta * np.arange(len(waiting))
    rate = float(move[-1] + theta)  # fastest exit: the uniformisation rate
    stay = 1.0 - (move + theta) / rate
    step_down = move / rate
    mean_jumps = rate * seconds
    jumps = int(mean_jumps + 10 * math.sqrt(mean_jumps) + 20)
    weights = stats.poisson.pmf(np.arange(jumps + 1), mean_jumps)
    state, answered, answered_by_jump = waiting.astype(float), 0.0, np.empty(jumps + 1)
    for m in range(jumps + 1):
        answered_by_jump[m] = answered
        answered += state[0] * step_down[0]  # from "nobody ahead" the next move is the answer
        moved = state * stay
        moved[:-1] += state[1:] * step_down[1:]
        state = moved
    return float(weights @ answered_by_jump)


@lru_cache(maxsize=65536)  # a plan asks for the same slot loads again (weekly seasonality, bisection)
def erlang_a(agents: int, load: float, handle_seconds: float, patience_seconds: float,
             target_seconds: float) -> ErlangA:
    """Erlang A measures for ``agents`` at ``load`` Erlangs, mean patience ``patience_seconds``."""
    if load <= 0:
        return ErlangA(1.0, 0.0, 0.0, 0.0)
    if agents <= 0:
        return ErlangA(0.0, 1.0, 1.0, 0.0)
    mu, theta = 1.0 / handle_seconds, 1.0 / patience_seconds
    lam = load * mu
    p = _stationary(agents, lam, mu, theta)
    waiting = p[agents:]  # arrivals finding j = 0, 1, ... others waiting (PASTA)
    p_abandon = float(theta * np.arange(len(waiting)) @ waiting / lam)
    answered_in_time = _answered_within(waiting, agents * mu, theta, target_seconds)
    served = lam * (1 - p_abandon)
    return ErlangA(service_level=float(p[:agents].sum()) + answered_in_time, p_wait=float(waiting.sum()),
                   p_abandon=p_abandon, occupancy=served / mu / agents)


@dataclass(frozen=True)
class StaffingTarget:
    service_level: float = 0.80  # share of leads answered ...
    target_seconds: float = 300.0  # ... within this many seconds
    max_occupancy: float = 0.85  # agents are busy at most this share of the time
    shrinkage: float = 0.30  # share of rostered time not available for leads
    patience_seconds: float | None = None  # mean patience of a waiting lead: Erlang A; None: Erlang C

    @property
    def model(self) -> str:
        return "erlang_c" if self.patience_seconds is None else "erlang_a"


@dataclass(frozen=True)
class Requirement:
    agents: int  # reps actively working leads
    reps_required: int  # rostered: agents / (1 - shrinkage), rounded up
    expected_service_level: float
    occupancy: float


def _ceil(x: float) -> int:
    return math.ceil(x - FLOAT_GUARD)


def _measures(agents: int, load: float, handle_seconds: float, target: StaffingTarget) -> tuple[float, float]:
    """(service level, occupancy) with ``agents`` under the target's queue model."""
    if target.patience_seconds is None:
        return service_level(agents, load, handle_seconds, target.target_seconds), load / agents
    a = erlang_a(agents, load, handle_seconds, target.patience_seconds, target.target_seconds)
    return a.service_level, a.occupancy


def agents_required(arrivals: float, interval_seconds: float, handle_seconds: float,
                    target: StaffingTarget = StaffingTarget()) -> Requirement:
    """Fewest agents meeting the service level and the occupancy cap for ``arrivals`` in an
    interval of ``interval_seconds``; then rostered reps after shrinkage."""
    load = max(arrivals, 0.0) * handle_seconds / interval_seconds
    if load <= 0:
        return Requirement(0, 0, 1.0, 0.0)

    def meets(n: int) -> bool:
        sl, occ = _measures(n, load, handle_seconds, target)
        return sl >= target.service_level and occ <= target.max_occupancy + FLOAT_GUARD

    # Erlang C needs N > A and N >= A / cap; its answer (cheap: no matrix) bounds Erlang A's
    # from above in practice, since abandonment shortens the queue.
    low = max(1, math.floor(load) + 1, _ceil(load / target.max_occupancy))
    if target.patience_seconds is not None:
        c_target = StaffingTarget(target.service_level, target.target_seconds, target.max_occupancy, target.shrinkage)
        high = agents_required(arrivals, interval_seconds, handle_seconds, c_target).agents
        low = 1
    else:
        high = low
    # service level rises and occupancy falls with N: double until met, then bisect
    while not meets(high):
        low, high = high + 1, high * 2
    while low < high:
        mid = (low + high) // 2
        if meets(mid):
            high = mid
        else:
            low = mid + 1
    sl, occ = _measures(high, load, handle_seconds, target)
    return Requirement(high, _ceil(high / (1 - target.shrinkage)), sl, occ)


def patience_from_calls(wait_seconds: np.ndarray, abandoned: np.ndarray,
                        min_abandoned: int = MIN_ABANDONED_CALLS) -> float | None:
    """Mean patience (seconds) from inbound calls: each call's time in the queue (to the answer,
    or to the hang-up of a call never answered) and whether it was abandoned.

    Exponential patience with right-censoring at the answer: the maximum-likelihood mean is the
    total time at risk of giving up over the number who gave up. None (use Erlang C) with fewer
    than ``min_abandoned`` abandoned calls."""
    wait = np.asarray(wait_seconds, dtype=float)
    gave_up = np.asarray(abandoned, dtype=bool)
    keep = np.isfinite(wait) & (wait >= 0)
    wait, gave_up = wait[keep], gave_up[keep]
    if gave_up.sum() < min_abandoned or wait.sum() <= 0:
        return None
    return float(wait.sum() / gave_up.sum())


def staffing_plan(forecast_leads: np.ndarray, handle_seconds: float, reps_on_duty: np.ndarray,
                  target: StaffingTarget = StaffingTarget(), interval_seconds: float = 3600.0) -> dict[str, np.ndarray]:
    """Per interval: reps required, the gap to the reps on duty, and the service level the reps
    on duty would give (after shrinkage) at the forecast volume."""
    required = [agents_required(float(x), interval_seconds, handle_seconds, target) for x in forecast_leads]
    on_duty = np.nan_to_num(np.asarray(reps_on_duty, dtype=float))
    loads = np.maximum(np.asarray(forecast_leads, float), 0) * handle_seconds / interval_seconds
    available = np.floor(on_duty * (1 - target.shrinkage) + FLOAT_GUARD).astype(int)
    on_duty_sl = []
    for agents, load in zip(available, loads):
        if load <= 0:
            on_duty_sl.append(1.0)
        elif agents <= 0:
            on_duty_sl.append(0.0)
        else:
            on_duty_sl.append(_measures(int(agents), float(load), handle_seconds, target)[0])
    return {
        "agents_required": np.array([r.agents for r in required]),
        "reps_required": np.array([r.reps_required for r in required]),
        "gap": on_duty - np.array([r.reps_required for r in required]),
        "expected_service_level": np.array([r.expected_service_level for r in required]),
        "on_duty_service_level": np.array(on_duty_sl),
    }
