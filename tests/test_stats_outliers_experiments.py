"""Rep outliers (funnel limits, shrinkage) and experiment effects on simulated data with a known truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from orchestration.stats.experiments import experiment_effects
from orchestration.stats.outliers import between_rep_variance, funnel
from orchestration.stats import single_threaded_blas


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    """The fits are small; on a busy machine BLAS threads only fight (see orchestration.stats)."""
    with single_threaded_blas():
        yield


def test_funnel_flags_the_planted_rep_and_spares_small_ones():
    rng = np.random.default_rng(5)
    n = rng.integers(200, 2000, 40)
    n[:3] = [8, 10, 12]  # three reps with very few leads
    p = np.clip(rng.normal(0.30, 0.02, 40), 0, 1)
    p[:3] = 0.0  # ... and zero successes by bad luck or not: too few leads to say
    p[10] = 0.10  # a big rep truly out of control
    n[10] = 1500
    y = rng.binomial(n, p)
    table = funnel(pd.DataFrame({"rep_id": [f"R{i}" for i in range(40)], "n_leads": n, "successes": y}), "conversion")
    flags = table.set_index("rep_id")["flag"]
    assert flags["R10"] == "low"
    assert (flags[["R0", "R1", "R2"]] == "in_control").all()
    assert (flags != "in_control").sum() <= 2
    # shrinkage pulls small reps most of the way to the pooled rate, big reps hardly at all
    t = table.set_index("rep_id")
    assert abs(t.loc["R0", "shrunk_value"] - t.loc["R0", "expected"]) < 0.5 * abs(t.loc["R0", "value"] - t.loc["R0", "expected"])
    assert abs(t.loc["R10", "shrunk_value"] - t.loc["R10", "value"]) < 0.02
    assert (t["lower_limit"] <= t["expected"]).all() and (t["expected"] <= t["upper_limit"]).all()


def test_between_rep_variance_is_zero_without_extra_spread():
    rng = np.random.default_rng(1)
    n = np.full(200, 400)
    assert between_rep_variance(rng.binomial(n, 0.2), n) < 0.0005
    assert between_rep_variance(rng.binomial(n, rng.uniform(0.1, 0.3, 200)), n) > 0.002


def simulate_experiment(effect_ratio: float, conversion_lift: float, reps: int = 80, seed: int = 2) -> pd.DataFrame:
    """Reps randomised to control / sms_alert; the alert arm answers effect_ratio times as fast."""
    rng = np.random.default_rng(seed)
    arm = np.where(rng.permutation(reps) < reps // 2, "control", "sms_alert")
    rep_mu = rng.normal(1.5, 0.5, reps)
    lead_rep = rng.integers(0, reps, 20_000)
    treated = arm[lead_rep] == "sms_alert"
    log_min = rep_mu[lead_rep] + np.log(effect_ratio) * treated + rng.normal(0, 1, len(lead_rep))
    converted = rng.random(len(lead_rep)) < 0.10 + conversion_lift * treated
    return pd.DataFrame({"experiment_id": "notify", "unit_id": lead_rep.astype(str), "arm": arm[lead_rep],
                         "seconds_to_first_response": np.exp(log_min) * 60, "has_opportunity": converted.astype(int)})


def test_experiment_effect_is_recovered_with_rep_clustered_intervals():
    table = experiment_effects(simulate_experiment(0.7, 0.03, reps=160)).set_index("metric")
    rt, conv = table.loc["response_time"], table.loc["conversion"]
    assert rt.arm == "sms_alert" and rt.control_arm == "control"
    assert rt.ci_low < 0.7 < rt.ci_high and rt.p_value < 0.01
    assert conv.ci_low < 0.03 < conv.ci_high
    # the detectable effect follows from the interval width: the interval's critical value c plus
    # t(G - 1)'s 80 % quantile, in standard errors (160 reps: bootstrap critical value near 1.97)
    half_width_log = (np.log(rt.ci_high) - np.log(rt.ci_low)) / 2
    ratio = -np.log(rt.mde) / half_width_log  # (c + t80) / c
    assert rt.n_units == 160
    assert 1.9 < stats.t.ppf(0.80, 159) / (ratio - 1) < 2.1
    # power is for the effect of interest (a 0.8 ratio; +2 points of conversion), not the observed
    # effect: rebuilt from the interval and the MDE, which carry the same critical value and se
    t80 = stats.t.ppf(0.80, 159)
    for row, half_width, mde, effect in ((rt, half_width_log, -np.log(rt.mde), np.log(0.8)),
                                         (conv, (conv.ci_high - conv.ci_low) / 2, conv.mde, 0.02)):
        se = (mde - half_width) / t80
        critical, shift = half_width / se, abs(effect) / se
        expected = stats.nct.sf(critical, 159, shift) + stats.nct.cdf(-critical, 159, shift)
        assert row.power == pytest.approx(expected, rel=1e-6)


def test_clustering_by_rep_keeps_a_null_experiment_honest():
    """Reps differ a lot; 20,000 leads of 80 reps are not 20,000 independent answers."""
    p_values = [experiment_effects(simulate_experiment(1.0, 0.0, seed=s)).set_index("metric").loc["response_time", "p_value"]
                for s in range(20)]
    assert np.mean(np.array(p_values) < 0.05) <= 0.15
