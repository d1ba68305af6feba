"""Reps whose rates are out of control given their volume, judged fairly for reps with few leads.

Funnel-plot limits (Spiegelhalter 2005, "Funnel plots for comparing institutional
performance"): around the pooled rate p0, a rep with n leads is in control within
p0 ± z sqrt(p0 (1 - p0) / n + tau^2), z = 3.09 (99.8 %). tau^2 is the between-rep variance
beyond chance (DerSimonian-Laird, on the reps' rates), so big reps are judged against the
normal spread between reps, not against binomial noise alone, and small reps get wide limits.
The shrunk value is the empirical-Bayes (beta-binomial) estimate: the rep's rate pulled towards
p0 by as much as their volume leaves it uncertain. Flags use the raw rate and the limits.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

Z_LIMIT = stats.norm.ppf(0.999)  # 99.8 % two-sided, the usual outer funnel


def between_rep_variance(successes: np.ndarray, n: np.ndarray) -> float:
    """DerSimonian-Laird tau^2 of the reps' true rates around the pooled rate (0 when the spread
    is no wider than chance)."""
    keep = n > 0
    y, n = successes[keep], n[keep].astype(float)
    if len(n) < 3:
        return 0.0
    p0 = y.sum() / n.sum()
    if p0 <= 0 or p0 >= 1:
        return 0.0
    w = n / (p0 * (1 - p0))
    q = np.sum(w * (y / n - p0) ** 2)
    return float(max(0.0, (q - (len(n) - 1)) / (w.sum() - np.sum(w ** 2) / w.sum())))


def funnel(per_rep: pd.DataFrame, metric: str) -> pd.DataFrame:
    """``per_rep``: rep_id, n_leads, successes. One row per rep with limits, shrunk rate and flag."""
    n = per_rep["n_leads"].to_numpy(float)
    y = per_rep["successes"].to_numpy(float)
    p0 = y.sum() / n.sum() if n.sum() else np.nan
    tau2 = between_rep_variance(y, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = y / n
        half = Z_LIMIT * np.sqrt(p0 * (1 - p0) / n + tau2)
        prior = p0 * (1 - p0) / tau2 - 1 if tau2 > 0 else np.inf  # a + b of the beta prior
        shrunk = np.full_like(rate, p0) if np.isinf(prior) else (y + prior * p0) / (n + prior)
    lower, upper = np.clip(p0 - half, 0, 1), np.clip(p0 + half, 0, 1)
    flag = np.where(rate > upper, "high", np.where(rate < lower, "low", "in_control"))
    return pd.DataFrame({
        "rep_id": per_rep["rep_id"].to_numpy(), "metric": metric, "n_leads": n.astype(int), "value": rate,
        "expected": p0, "lower_limit": lower, "upper_limit": upper, "shrunk_value": shrunk, "flag": flag,
        "between_rep_sd": np.sqrt(tau2),
    })
