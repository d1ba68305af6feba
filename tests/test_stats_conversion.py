"""The speed → conversion model on leads simulated from the demo's known logistic model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import patsy
import pytest
import statsmodels.api as sm

from orchestration.stats.conversion import (CONTROLS, bucket_effects, bucket_formula, conversion_curve,
                                            fit_categorical_logits, fit_grouped_logit)
from orchestration.stats.simulation import simulate_cells, true_odds_ratios
from orchestration.stats import single_threaded_blas

@pytest.fixture(autouse=True)
def _one_blas_thread():
    """The fits are small; on a busy machine BLAS threads only fight (see orchestration.stats)."""
    with single_threaded_blas():
        yield


@pytest.fixture(scope="module")
def simulated():
    cells = simulate_cells(200_000, seed=3)
    return cells, bucket_effects(cells)


def test_grouped_fit_with_cluster_covariance_equals_the_per_lead_fit():
    rng = np.random.default_rng(0)
    n = 6000
    leads = pd.DataFrame({"rep_id": rng.integers(0, 30, n).astype(str),
                          "response_bucket": rng.choice(["0-5m", "5-15m", "1-4h"], n),
                          "source": rng.choice(["a", "b", "c"], n), "score_band": rng.choice(["0", "50"], n),
                          "region": "r", "daypart": rng.choice(["1", "2"], n), "weekday": "1", "after_hours": "False"})
    eta = -1 - 0.5 * (leads.response_bucket == "1-4h") + rng.normal(0, 0.5, 30)[leads.rep_id.astype(int)]
    leads["y"] = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    leads["n"] = 1
    cells = leads.groupby(list(leads.columns.drop(["y", "n"])), as_index=False)[["y", "n"]].sum()
    assert len(cells) < n / 3  # the point: far fewer rows than leads
    rhs = bucket_formula("0-5m")
    grouped = fit_grouped_logit(cells, rhs, "y")
    X = patsy.dmatrix(rhs, leads, return_type="dataframe")
    per_lead = sm.GLM(leads.y, X, family=sm.families.Binomial()).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(leads.rep_id)[0]})
    np.testing.assert_allclose(grouped.params.to_numpy(), per_lead.params.to_numpy(), rtol=1e-5)
    np.testing.assert_allclose(grouped.se().to_numpy(), per_lead.bse.to_numpy(), rtol=1e-5)
    # the sparse all-categorical fit (used with rep fixed effects) gives the same answer
    sparse = fit_categorical_logits(cells, {"response_bucket": "0-5m", **{c: None for c in CONTROLS}}, ["y"])["y"]
    for term in ("5-15m", "1-4h"):
        patsy_name = f"C(response_bucket, Treatment('0-5m'))[T.{term}]"
        np.testing.assert_allclose(sparse.params[f"response_bucket[T.{term}]"], per_lead.params[patsy_name], rtol=1e-6)
        np.testing.assert_allclose(sparse.se()[f"response_bucket[T.{term}]"], per_lead.bse[patsy_name], rtol=1e-5)


def test_true_odds_ratios_lie_in_the_adjusted_intervals(simulated):
    _, effects = simulated
    truth = true_odds_ratios()
    for model in ("buckets_clustered", "within_rep"):
        e = effects[(effects.outcome == "opportunity") & (effects.model == model)].set_index("term")
        assert e.loc["0-5m", "is_reference"] and e.loc["0-5m", "odds_ratio"] == 1.0
        for term, row in e[~e.is_reference].iterrows():
            assert row.ci_low <= truth[term] <= row.ci_high, (model, term, row.ci_low, row.ci_high)


def test_controls_remove_the_planted_confounding(simulated):
    """Hot leads are answered faster and convert more: without controls, slow buckets look worse
    than they are, and the 5-15m interval misses the truth."""
    _, effects = simulated
    e = effects[effects.outcome == "opportunity"].set_index(["model", "term"])
    assert e.loc[("unadjusted", "5-15m"), "ci_high"] < true_odds_ratios()["5-15m"]
    assert e.loc[("unadjusted", "15-60m"), "odds_ratio"] < e.loc[("buckets_clustered", "15-60m"), "odds_ratio"]


def test_counts_and_design_note(simulated):
    cells, effects = simulated
    e = effects[(effects.outcome == "opportunity") & (effects.model == "buckets_clustered")]
    assert e["n_leads"].sum() == cells["n"].sum() == 200_000
    assert e["n_converted"].sum() == cells["has_opportunity"].sum()
    assert effects["design_note"].str.contains("Observational").all()
    assert list(e["term"]) == ["0-5m", "5-15m", "15-60m", "1-4h", "4-24h", "24h+", "unanswered"]


def test_curve_falls_with_minutes_as_the_planted_odds_do(simulated):
    cells, _ = simulated
    curve = conversion_curve(cells[cells.rep_id.astype(int) < 30])  # half the reps: keeps it quick
    c = curve[curve.outcome == "opportunity"].reset_index(drop=True)
    at = lambda m: c.iloc[(np.log(c.minutes) - np.log(m)).abs().argmin()]  # noqa: E731
    assert at(1).predicted_rate > at(30).predicted_rate > at(300).predicted_rate
    # between 5-15 and 60-240 minutes the true odds fall from 0.75 to 0.40 of the fastest
    odds = lambda p: p / (1 - p)  # noqa: E731
    ratio = odds(at(120).predicted_rate) / odds(at(1).predicted_rate)
    assert 0.3 < ratio < 0.55


def test_an_outcome_that_never_happens_is_left_out_of_the_curve(simulated):
    cells, _ = simulated
    few = cells[cells.rep_id.astype(int) < 10].copy()
    few["is_booked"] = 0  # nobody booked (no appointments extract): nothing to say about speed
    curve = conversion_curve(few)
    assert "booking" not in set(curve.outcome) and "does not vary" in curve.attrs["skipped"]["booking"]
    opportunity = curve[curve.outcome == "opportunity"]
    assert opportunity.ci_low.notna().all()


def test_rep_effects_solved_by_their_schur_complement_equal_the_dense_solve(monkeypatch):
    """With many reps the within-rep model's Newton steps and intervals come from the Schur
    complement of the (diagonal) rep block: the same estimates and intervals as the dense
    solve, also when the design is singular (a region nested in reps)."""
    from orchestration.stats import conversion

    cells = simulate_cells(40_000, seed=5, reps=150)
    cells["region"] = "r" + (cells["rep_id"].astype(int) % 5).astype(str)  # region is a function of rep
    design = conversion._AdditiveDesign([np.arange(150) % 150], [np.delete(np.eye(150), 0, axis=1)])
    assert design.diagonal is not None  # 149 rep columns: the Schur path is taken
    schur = bucket_effects(cells)
    monkeypatch.setattr(conversion, "SCHUR_MIN_COLUMNS", 10 ** 9)
    dense = bucket_effects(cells)
    within = (schur.model == "within_rep") & ~schur.is_reference
    assert within.sum() >= 5
    for col in ("odds_ratio", "ci_low", "ci_high", "p_value"):
        np.testing.assert_allclose(schur.loc[within, col].astype(float), dense.loc[within, col].astype(float), rtol=1e-7)
    pd.testing.assert_frame_equal(schur[~within].reset_index(drop=True), dense[~within].reset_index(drop=True),
                                  check_exact=False, rtol=1e-9)
