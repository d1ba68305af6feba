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

``mde`` is the smallest true effect the experiment detects with 80 % power at 5 % two-sided
(as a ratio below 1 for response time, as a rate difference for conversion). ``power`` is the
power to detect the effect of interest in ``EFFECTS_OF_INTEREST``, not the observed effect
(post-hoc power of the observed effect says nothing the p-value does not).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

Z_ALPHA, Z_POWER = stats.norm.ppf(0.975), stats.norm.ppf(0.80)
EFFECTS_OF_INTEREST = {"response_time": np.log(0.8), "conversion": 0.02}  # on the model's scale
COLUMNS = ["experiment_id", "metric", "arm", "control_arm", "n", "n_control", "estimate", "ci_low", "ci_high",
           "p_value", "mde", "power"]


def control_arm(arms) -> str:
    arms = sorted(set(arms))
    return next((a for a in arms if a.lower() in ("control", "ctrl", "a", "baseline")), arms[0])


def _arm_effect(y: np.ndarray, treated: np.ndarray, clusters: np.ndarray,
                strata: np.ndarray | None = None) -> tuple[float, float]:
    X = sm.add_constant(treated.astype(float))
    if strata is not None and len(set(strata)) > 1:
        X = np.column_stack([X, pd.get_dummies(pd.Series(strata).astype(str), drop_first=True).to_numpy(float)])
    fit = sm.OLS(y, X).fit(cov_type="cluster", cov_kwds={"groups": pd.factorize(clusters)[0]})
    return float(fit.params[1]), float(fit.bse[1])


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
                if treated.all() or not treated.any() or frame["unit_id"].nunique() < 3:
                    continue
                strata = frame["team_id"].to_numpy() if "team_id" in frame else None
                beta, se = _arm_effect(np.asarray(y), treated, frame["unit_id"].to_numpy(), strata)
                delta = EFFECTS_OF_INTEREST[metric]
                power = stats.norm.cdf(abs(delta) / se - Z_ALPHA) + stats.norm.cdf(-abs(delta) / se - Z_ALPHA)
                mde = (Z_ALPHA + Z_POWER) * se
                to_scale = np.exp if metric == "response_time" else (lambda v: v)
                rows.append({
                    "experiment_id": experiment_id, "metric": metric, "arm": arm, "control_arm": control,
                    "n": int(treated.sum()), "n_control": int((~treated).sum()),
                    "estimate": float(to_scale(beta)), "ci_low": float(to_scale(beta - Z_ALPHA * se)),
                    "ci_high": float(to_scale(beta + Z_ALPHA * se)),
                    "p_value": float(2 * stats.norm.sf(abs(beta / se))) if se > 0 else None,
                    "mde": float(np.exp(-mde)) if metric == "response_time" else float(mde),
                    "power": float(power),
                })
    return pd.DataFrame(rows, columns=COLUMNS)
