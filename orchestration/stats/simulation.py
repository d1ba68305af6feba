"""Known-truth simulations for the conversion model: leads drawn from the demo's logistic model
(the same odds ratios, source and tier effects), with the confounding the demo plants (hot leads
answered faster) and a random rep effect. Used by the tests and by ``stl stats-coverage``, which
measures how often the published 95 % intervals contain the truth over many seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd

from orchestration.demo import catalog as C
from orchestration.metric_definitions import bucket_labels, bucket_upper_seconds
from orchestration.stats.conversion import CONTROLS, bucket_effects

BUCKET_LABELS = bucket_labels()  # fct_lead_response's labels, from the metric definitions
BUCKET_UPPER_SECONDS = bucket_upper_seconds()  # closed above, as in the marts (side='left' below)


def simulate_cells(leads: int, seed: int, reps: int = 60) -> pd.DataFrame:
    """Conversion cells (as ``conversion.load_cells`` returns them) drawn from the demo truth."""
    rng = np.random.default_rng(seed)
    source = rng.choice(len(C.SOURCES), leads, p=C.SOURCE_P)
    score = np.clip(np.rint(np.asarray(C.SCORE_MEAN_BY_SOURCE)[source] + C.SCORE_SD * rng.standard_normal(leads)), 0, 100)
    tier = np.searchsorted([40, 70], score, side="right")
    rep = rng.integers(0, reps, leads)
    rep_mu = rng.normal(C.REP_MU_MEAN, C.REP_MU_SD, reps)
    tier_shift = np.array([C.RT_TIER_SHIFT[t] for t in C.TIERS])
    minutes = np.exp(rep_mu[rep] + tier_shift[tier] + C.RT_SIGMA * rng.standard_normal(leads))
    # a third arrive after hours and wait for the next opening (median 14 h): fills the slow buckets
    after_hours = rng.random(leads) < 0.33
    minutes += after_hours * np.exp(np.log(14 * 60) + 0.8 * rng.standard_normal(leads))
    never = rng.random(leads) < 0.05
    seconds = np.where(never, np.nan, minutes * 60)
    bucket = np.where(never, len(BUCKET_LABELS) - 1, np.searchsorted(BUCKET_UPPER_SECONDS, seconds, side="left"))
    logit = (C.CONVERSION_INTERCEPT + np.log(np.asarray(C.BUCKET_ODDS_RATIO))[bucket]
             + np.array([C.SOURCE_LOG_ODDS[s] for s in C.SOURCES])[source]
             + np.array([C.TIER_LOG_ODDS[t] for t in C.TIERS])[tier]
             + rng.normal(0, 0.3, reps)[rep])  # reps differ in how well they convert too
    converted = rng.random(leads) < 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame({
        "rep_id": rep.astype(str), "response_bucket": np.where(never, "unanswered", np.asarray(BUCKET_LABELS)[bucket]),
        "log_minutes": np.where(never, np.nan, np.round(np.log(np.maximum(seconds, 6) / 60) * 4) / 4),
        "source": np.asarray(C.SOURCES)[source], "score_band": (np.minimum(score // 10 * 10, 90)).astype(int).astype(str),
        "region": "all", "daypart": "0", "weekday": "1", "after_hours": "False",
        "seconds": seconds, "has_opportunity": converted.astype(int),
    })
    frame["is_contacted"] = frame["has_opportunity"]
    frame["is_booked"] = frame["has_opportunity"]
    keys = ["rep_id", "response_bucket", "log_minutes", *CONTROLS]
    return (frame.groupby(keys, dropna=False, observed=True)
            .agg(n=("seconds", "size"), min_seconds=("seconds", "min"), has_opportunity=("has_opportunity", "sum"),
                 is_contacted=("is_contacted", "sum"), is_booked=("is_booked", "sum"))
            .reset_index())


def true_odds_ratios() -> dict[str, float]:
    """Truth per fct_lead_response bucket: 24h+ and never answered share the slowest ratio."""
    truth = dict(zip(BUCKET_LABELS, C.BUCKET_ODDS_RATIO))
    return {**truth, "unanswered": truth["24h+"]}


def coverage(seeds: int = 20, leads: int = 50_000, model: str = "buckets_clustered") -> pd.DataFrame:
    """Share of seeds whose 95 % interval contains the true odds ratio, per bucket."""
    truth = true_odds_ratios()
    hits = []
    for seed in range(seeds):
        effects = bucket_effects(simulate_cells(leads, seed))
        e = effects[(effects.outcome == "opportunity") & (effects.model == model) & ~effects.is_reference]
        hits.append(pd.DataFrame({"term": e.term, "seed": seed, "n_leads": e.n_leads,
                                  "covered": (e.ci_low <= e.term.map(truth)) & (e.term.map(truth) <= e.ci_high)}))
    h = pd.concat(hits)
    return h.groupby("term", sort=False).agg(coverage=("covered", "mean"), seeds=("seed", "size"),
                                             mean_leads=("n_leads", "mean"))
