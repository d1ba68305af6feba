"""A/B tests of how leads are handled (notification method, script ...): the effect of each arm
against the control on response time and conversion, with intervals, p-values, the minimum
detectable effect and the power to detect an effect worth having.

Leads are analysed in the arm of their unit (a rep, or the lead itself); standard errors are
clustered by that unit, because the unit is what was randomised (reps differ, so leads of one
rep are not independent evidence). Both metrics are linear regressions on an arm indicator:

* ``response_time``: log business minutes to the first qualifying response of answered leads
  (business time: a rep cannot answer while their team is closed, and schedules differ far
  more between teams than any notification method could); the estimate is the ratio of
  geometric means (0.8: the arm answers 20 % faster).
* ``conversion``: lead → opportunity (a linear probability model); the estimate is the
  difference in rates (0.02: two percentage points more).

Few clusters: with G randomised units the cluster-robust variance is itself estimated from G
scores. With up to ``BOOTSTRAP_MAX_UNITS`` units the p-value comes from a wild cluster
bootstrap imposing the null (WCR, Cameron, Gelbach & Miller 2008; Webb's six-point weights,
MacKinnon & Webb 2018), and the 95 % critical value of the interval is the bootstrap's
95th percentile of |t*| instead of 1.96; with more units Student's t with G - 1 degrees of
freedom. Plain normal critical values with 20 reps of unequal size gave 9-12 % false positives
at a nominal 5 %, and t(G - 1) alone still about 9 % when rep sizes differ (simulation in
tests/test_stats_experiments_small_clusters.py). The minimum detectable effect and power use the
same critical value: ``mde`` = (c + t_{G-1, 0.80}) * se, ``power`` = P(|T| > c) for T
noncentral t with G - 1 degrees of freedom centred on the effect of interest.

``mde`` is the smallest true effect the experiment detects with 80 % power at 5 % two-sided
(as a ratio below 1 for response time, as a rate difference for conversion). ``power`` is the
power to detect the effect of interest in ``EFFECTS_OF_INTEREST``, not the observed effect
(post-hoc power of the observed effect says nothing the p-value does not).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

ALPHA, POWER = 0.05, 0.80
# Fewer randomised units than this: no estimate (a cluster-robust variance from 2 scores is noise).
MIN_UNITS = 4
# Up to this many units the wild cluster bootstrap sets the critical value; beyond, t(G - 1)
# is accurate and a bootstrap over that many units would cost memory for nothing.
BOOTSTRAP_MAX_UNITS = 200
BOOTSTRAP_REPLICATES = 1999
WEBB_WEIGHTS = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])
EFFECTS_OF_INTEREST = {"response_time": np.log(0.8), "conversion": 0.02}  # on the model's scale
COLUMNS = ["experiment_id", "metric", "arm", "control_arm", "n", "n_control", "estimate", "ci_low", "ci_high",
           "p_value", "mde", "power", "n_units"]


def control_arm(arms) -> str:
    arms = sorted(set(arms))
    return next((a for a in arms if a.lower() in ("control", "ctrl", "a", "baseline")), arms[0])


@dataclass(frozen=True)
class ArmTest:
    beta: float  # the arm's coefficient
    se: float  # its cluster-robust standard error (CR1: statsmodels' small-sample factor)
    clusters: int  # G, the randomised units
    critical: float  # two-sided 5 % critical value for beta / se
    p_value: float


def _design(treated: np.ndarray, strata: np.ndarray | None) -> np.ndarray:
    X = np.column_stack([np.ones(len(treated)), treated.astype(float)])
    if strata is not None and len(set(strata)) > 1:
        X = np.column_stack([X, pd.get_dummies(pd.Series(strata).astype(str), drop_first=True).to_numpy(float)])
    return X


def wild_cluster_bootstrap(y: np.ndarray, X: np.ndarray, groups: np.ndarray, t_observed: float,
                           replicates: int = BOOTSTRAP_REPLICATES, seed: int = 0) -> tuple[float, float]:
    """Restricted wild cluster bootstrap of the t statistic of column 1 of ``X`` (H0: it is 0).

    (p-value, 95 % critical value of |t|). Every replicate is computed from per-cluster sums
    (X_g'X_g, X_g'u0_g, X_g'fit0_g), so it costs O(G K^2), not a refit over all leads."""
    G, K = int(groups.max() + 1), X.shape[1]
    X0 = np.delete(X, 1, axis=1)
    beta0 = np.linalg.lstsq(X0, y, rcond=None)[0]
    fit0 = X0 @ beta0
    u0 = y - fit0
    a = np.zeros((G, K))
    c = np.zeros((G, K))
    np.add.at(a, groups, X * u0[:, None])
    np.add.at(c, groups, X * fit0[:, None])
    xx = np.zeros((G, K, K))
    np.add.at(xx, groups, X[:, :, None] * X[:, None, :])
    inv = np.linalg.pinv(xx.sum(axis=0))
    rng = np.random.default_rng(seed)
    w = WEBB_WEIGHTS[rng.integers(0, 6, size=(replicates, G))]
    beta = (c.sum(axis=0) + w @ a) @ inv  # (B, K)
    scores = c[None] + w[:, :, None] * a[None] - np.einsum("gkl,bl->bgk", xx, beta)
    N = len(y)
    factor = G / (G - 1) * (N - 1) / (N - K)
    se = np.sqrt(factor * ((scores @ inv[:, 1]) ** 2).sum(axis=1))
    t_star = np.abs(beta[:, 1] / np.where(se > 0, se, np.nan))
    t_star = t_star[np.isfinite(t_star)]
    p = float((np.sum(t_star >= abs(t_observed)) + 1) / (len(t_star) + 1))
    return p, float(np.quantile(t_star, 1 - ALPHA))


def _arm_effect(y: np.ndarray, treated: np.ndarray, clusters: np.ndarray,
                strata: np.ndarray | None = None) -> ArmTest:
    X = _design(treated, strata)
    groups = pd.factorize(clusters)[0]
    G = int(groups.max() + 1)
    fit = sm.OLS(y, X).fit(cov_type="cluster", cov_kwds={"groups": groups})
    beta, se = float(fit.params[1]), float(fit.bse[1])
    if se <= 0 or not np.isfinite(se):  # no variation left within the arms: no test
        return ArmTest(beta, se, G, np.nan, np.nan)
    if G <= BOOTSTRAP_MAX_UNITS:
        p, critical = wild_cluster_bootstrap(y, X, groups, beta / se)
    else:
        critical = float(stats.t.ppf(1 - ALPHA / 2, G - 1))
        p = float(2 * stats.t.sf(abs(beta / se), G - 1))
    return ArmTest(beta, se, G, critical, p)


def t_inference(test: ArmTest, effect_of_interest: float) -> dict[str, float]:
    """95 % interval, minimum detectable effect (80 % power) and power for
    ``effect_of_interest`` on the critical value of the test, with t(G - 1) for the power side."""
    df = test.clusters - 1
    out = {"ci_low": test.beta - test.critical * test.se, "ci_high": test.beta + test.critical * test.se,
           "mde": (test.critical + stats.t.ppf(POWER, df)) * test.se, "power": np.nan, "p_value": test.p_value}
    if test.se > 0 and np.isfinite(test.critical):
        shift = abs(effect_of_interest) / test.se  # noncentrality of the t statistic under that effect
        out["power"] = float(stats.nct.sf(test.critical, df, shift) + stats.nct.cdf(-test.critical, df, shift))
    return out


def experiment_effects(leads: pd.DataFrame) -> pd.DataFrame:
    """``leads``: experiment_id, unit_id, arm, seconds_to_first_response (business seconds; NaN:
    unanswered), has_opportunity, optionally team_id. One row per experiment, metric and
    non-control arm."""
    rows = []
    for experiment_id, exp in leads.groupby("experiment_id"):
        control = control_arm(exp["arm"])
        for arm in sorted(set(exp["arm"]) - {control}):
            pair = exp[exp["arm"].isin([control, arm])]
            answered = pair.dropna(subset=["seconds_to_first_response"])
            for metric, frame, y in (
                ("response_time", answered, np.log(np.maximum(answered["seconds_to_first_response"], 1) / 60.0)),
                ("conversion", pair, pair["has_opportunity"].astype(float)),
            ):
                treated = (frame["arm"] == arm).to_numpy()
                units = frame["unit_id"].nunique()
                if treated.all() or not treated.any() or units < MIN_UNITS:
                    continue  # one arm only, or too few units for a variance: no row
                strata = frame["team_id"].to_numpy() if "team_id" in frame else None
                test = _arm_effect(np.asarray(y, dtype=float), treated, frame["unit_id"].to_numpy(), strata)
                inf = t_inference(test, EFFECTS_OF_INTEREST[metric])
                beta, clusters = test.beta, test.clusters
                to_scale = np.exp if metric == "response_time" else (lambda v: v)
                rows.append({
                    "experiment_id": experiment_id, "metric": metric, "arm": arm, "control_arm": control,
                    "n": int(treated.sum()), "n_control": int((~treated).sum()),
                    "estimate": float(to_scale(beta)),
                    "ci_low": float(to_scale(inf["ci_low"])) if np.isfinite(inf["ci_low"]) else None,
                    "ci_high": float(to_scale(inf["ci_high"])) if np.isfinite(inf["ci_high"]) else None,
                    "p_value": None if np.isnan(inf["p_value"]) else inf["p_value"],
                    "mde": None if not np.isfinite(inf["mde"]) else
                    float(np.exp(-inf["mde"])) if metric == "response_time" else float(inf["mde"]),
                    "power": None if np.isnan(inf["power"]) else inf["power"], "n_units": clusters,
                })
    return pd.DataFrame(rows, columns=COLUMNS)
