"""Small-cluster inference for experiments: with 20 randomised reps of unequal size a null
experiment rejects at most about 5 % of the time, and planted effects come back at 20 and 80 reps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from orchestration.stats import single_threaded_blas
from orchestration.stats.experiments import experiment_effects


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    with single_threaded_blas():
        yield


def rep_randomised(reps: int, ratio: float, seed: int, leads_per_rep: float = 40) -> pd.DataFrame:
    """Reps split half / half into control and alert; reps differ in speed (sd 0.5 on log
    minutes) and a lot in volume (gamma-distributed, shape 2: the busiest rep has several times
    the leads of the quietest), which is what makes few-cluster inference hard."""
    rng = np.random.default_rng(seed)
    arm = np.where(rng.permutation(reps) < reps // 2, "control", "alert")
    rep_speed = rng.normal(1.5, 0.5, reps)
    sizes = rng.poisson(leads_per_rep * rng.gamma(2, 0.5, reps)) + 2
    lead_rep = np.repeat(np.arange(reps), sizes)
    treated = arm[lead_rep] == "alert"
    log_minutes = rep_speed[lead_rep] + np.log(ratio) * treated + rng.normal(0, 1, len(lead_rep))
    return pd.DataFrame({"experiment_id": "notify", "unit_id": lead_rep.astype(str), "arm": arm[lead_rep],
                         "seconds_to_first_response": np.exp(log_minutes) * 60,
                         "has_opportunity": (rng.random(len(lead_rep)) < 0.1).astype(int)})


def response_time_rows(reps: int, ratio: float, seeds: range) -> pd.DataFrame:
    return pd.DataFrame([experiment_effects(rep_randomised(reps, ratio, s)).set_index("metric").loc["response_time"]
                         for s in seeds])


@pytest.mark.slow  # hundreds of null experiments: statistical calibration, not the fast path
def test_false_positive_rate_at_20_clusters():
    null = response_time_rows(20, 1.0, range(300))
    false_positive_rate = (null["p_value"] < 0.05).mean()
    coverage = ((null["ci_low"] <= 1.0) & (null["ci_high"] >= 1.0)).mean()
    assert (null["n_units"] == 20).all()
    assert false_positive_rate <= 0.06, false_positive_rate
    assert coverage >= 0.94, coverage


@pytest.mark.parametrize("reps, min_rejections", [(20, 0.30), (80, 0.85)])
def test_planted_effect_is_recovered(reps, min_rejections):
    planted = 0.6  # the alert arm answers in 60 % of the time
    rows = response_time_rows(reps, planted, range(60))
    coverage = ((rows["ci_low"] <= planted) & (rows["ci_high"] >= planted)).mean()
    assert coverage >= 0.88, coverage
    assert abs(np.exp(np.log(rows["estimate"]).mean()) / planted - 1) < 0.05
    assert (rows["p_value"] < 0.05).mean() >= min_rejections
