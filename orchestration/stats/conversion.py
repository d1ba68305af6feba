"""Does speed pay? Logistic models of lead outcomes on response time, with controls and
standard errors clustered by rep.

Fitted on grouped data: leads with the same covariate pattern are one binomial cell (successes,
trials), which gives exactly the same estimates as one row per lead at a fraction of the cost.
The cells also carry the owner rep, so the cluster-robust covariance is exact as well: a rep's
score is the sum over its cells of x_c (y_c - n_c p_c), the same sum as over its leads.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import patsy
import scipy.sparse as sp
import statsmodels.api as sm
from scipy import stats

from orchestration.quality.availability import InsufficientData

OUTCOMES = {"opportunity": "has_opportunity", "contact": "is_contacted", "booking": "is_booked"}
CONTROLS = ("source", "score_band", "region", "daypart", "weekday", "after_hours")
DESIGN_NOTE = ("Observational design: response time was not randomised. Estimates are adjusted for source, "
               "lead score band, region, local time of day and weekday and after-hours arrival, and the "
               "within_rep model compares leads of the same rep; unmeasured differences between fast- and "
               "slow-answered leads can still bias them. Read them as associations, not proof of cause.")
# Inner spline knots of the smooth response-time term (minutes): dense where most leads are.
CURVE_KNOTS_MINUTES = (5.0, 60.0, 1440.0)
Z95 = stats.norm.ppf(0.975)


def conversion_cells_sql(follow_up_days: int) -> str:
    """Covariate patterns of analysable lead incidents with their counts and outcome sums.

    Leads whose clock started within ``follow_up_days`` of the end of the data are left out:
    their opportunities may not exist yet (outcomes are censored at the window end).
    Score bands are 10 points wide, finer than the configured tiers, so that the tiers of any
    scoring rule with round thresholds are nested in them."""
    outcome_sums = ", ".join(f"sum(o.{col})::bigint as {col}" for col in OUTCOMES.values())
    return f"""
        with leads as (
            select
                coalesce(f.owner_rep_id, 'unassigned') as rep_id,
                f.response_bucket,
                -- quarter-log-minute bins (about 28 % wide) for the smooth term; null: unanswered
                -- (greatest() skips NULLs, so unanswered leads need the explicit case)
                case when f.seconds_to_first_response is not null
                     then round(ln(greatest(f.seconds_to_first_response, 6) / 60.0) * 4) / 4 end as log_minutes,
                coalesce(f.source, 'unknown') as source,
                coalesce(cast(least(floor(f.score / 10) * 10, 90) as varchar), 'unscored') as score_band,
                coalesce(f.region, 'unknown') as region,
                cast(floor(coalesce(hour(f.clock_started_local_at), hour(f.clock_started_at)) / 4) as integer) as daypart,
                coalesce(f.clock_started_local_weekday, isodow(f.clock_started_at)) as weekday,
                coalesce(f.is_after_hours, false) as after_hours,
                f.seconds_to_first_response,
                {", ".join(f"o.{col}" for col in OUTCOMES.values())}
            from marts.fct_lead_response as f
            inner join marts.fct_lead_outcomes as o on o.lead_id = f.lead_id
            where f.clock_started_at <= f.as_of_at - interval {int(follow_up_days)} day
        )
        select rep_id, response_bucket, log_minutes, {", ".join(CONTROLS)},
               count(*)::bigint as n, min(seconds_to_first_response) as min_seconds, {outcome_sums}
        from leads as o
        group by all
        order by all  -- a fixed row order: the fits' float sums (and so their last digits) depend on it
    """


def load_cells(con, follow_up_days: int = 14) -> pd.DataFrame:
    cells = con.execute(conversion_cells_sql(follow_up_days)).df()
    for col in ("rep_id", "response_bucket", "source", "score_band", "region", "daypart", "weekday", "after_hours"):
        cells[col] = cells[col].astype(str)
    return cells


def bucket_order(cells: pd.DataFrame) -> list[str]:
    """Buckets from fastest to slowest (by their fastest lead), unanswered last."""
    answered = cells.dropna(subset=["min_seconds"]).groupby("response_bucket")["min_seconds"].min().sort_values()
    rest = sorted(set(cells["response_bucket"]) - set(answered.index))
    return list(answered.index) + rest


@dataclass
class GroupedLogit:
    """A binomial GLM fitted on cells, with a cluster-robust covariance."""
    params: pd.Series
    cov: pd.DataFrame
    design_info: patsy.DesignInfo
    n_clusters: int
    n_obs: int

    def se(self) -> pd.Series:
        with np.errstate(invalid="ignore"):  # a negative variance (numerically singular term) reads as NaN
            return pd.Series(np.sqrt(np.diag(self.cov)), index=self.params.index)


def fit_grouped_logits(cells: pd.DataFrame, rhs: str, outcomes: list[str],
                       cluster: str = "rep_id") -> dict[str, GroupedLogit]:
    """Fit ``outcome ~ rhs`` for each outcome on ``cells`` (columns n and the outcome counts),
    clustered by ``cluster``.

    The fit runs on the cells collapsed over everything the formula does not use (one design
    matrix shared by the outcomes); the meat of the sandwich sums each cluster's scores over the
    uncollapsed cells. Small-sample factor as statsmodels' ``cov_type='cluster'``:
    G/(G-1) * (N-1)/(N-K), N leads, G clusters, K params."""
    variables = _formula_variables(rhs, cells)
    collapsed = cells.groupby(variables, observed=True, sort=False)[["n", *outcomes]].sum().reset_index()
    X = patsy.dmatrix(rhs, collapsed, return_type="dataframe")
    index = cells[variables].merge(collapsed[variables].reset_index(), on=variables, how="left")["index"].to_numpy()
    clusters = pd.factorize(cells[cluster])[0]
    G, N, K = clusters.max() + 1, int(cells["n"].sum()), X.shape[1]
    factor = G / (G - 1) * (N - 1) / (N - K) if G > 1 and N > K else 1.0
    names, n = list(X.columns), collapsed["n"].to_numpy(float)
    fits = {}
    for outcome in outcomes:
        y = collapsed[outcome].to_numpy(float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = sm.GLM(np.column_stack([y, n - y]), X, family=sm.families.Binomial()).fit()
        p = np.asarray(res.mu)
        resid = cells[outcome].to_numpy(float) - cells["n"].to_numpy(float) * p[index]
        scores = sp.csr_matrix((resid, (clusters, index)), shape=(G, len(collapsed))) @ X.to_numpy()
        bread = np.asarray(res.cov_params())
        cov = factor * bread @ (scores.T @ scores) @ bread
        fits[outcome] = GroupedLogit(pd.Series(np.asarray(res.params), index=names),
                                     pd.DataFrame(cov, index=names, columns=names), X.design_info, int(G), N)
    return fits


def fit_grouped_logit(cells: pd.DataFrame, rhs: str, outcome: str, cluster: str = "rep_id") -> GroupedLogit:
    return fit_grouped_logits(cells, rhs, [outcome], cluster)[outcome]


class _OneHotDesign:
    """An intercept and one-hot blocks (reference levels dropped) held as level codes per row
    (-1: the reference). Its products are bincounts, linear in the rows: X'WX, which a sparse
    matrix computed as a sparse-sparse product at every IRLS step (most of the statistics time at
    1M leads), becomes one weighted bincount per pair of factors."""

    def __init__(self, codes: list[np.ndarray], sizes: list[int]):
        self.codes, self.sizes = codes, sizes
        self.starts = [1 + sum(sizes[:i]) for i in range(len(sizes))]  # first column of each block
        self.n_columns = 1 + sum(sizes)

    def _blocks(self):
        return zip(self.codes, self.sizes, self.starts)

    def dot(self, beta: np.ndarray) -> np.ndarray:  # X @ beta
        eta = np.full(len(self.codes[0]) if self.codes else 0, beta[0])
        for code, size, start in self._blocks():
            eta += np.append(beta[start:start + size], 0.0)[code]  # code -1 picks the appended 0
        return eta

    def tdot(self, v: np.ndarray) -> np.ndarray:  # X' v
        out = np.empty(self.n_columns)
        out[0] = v.sum()
        for code, size, start in self._blocks():
            out[start:start + size] = np.bincount(code + 1, weights=v, minlength=size + 1)[1:]
        return out

    def gram(self, w: np.ndarray) -> np.ndarray:  # X' diag(w) X
        g = np.zeros((self.n_columns, self.n_columns))
        g[0, 0] = w.sum()
        blocks = list(self._blocks())
        for i, (code, size, start) in enumerate(blocks):
            own = np.bincount(code + 1, weights=w, minlength=size + 1)[1:]
            cols = slice(start, start + size)
            g[0, cols] = g[cols, 0] = own
            g[cols, cols] = np.diag(own)
            for code2, size2, start2 in blocks[i + 1:]:
                joint = np.bincount((code + 1) * (size2 + 1) + code2 + 1, weights=w,
                                    minlength=(size + 1) * (size2 + 1)).reshape(size + 1, size2 + 1)[1:, 1:]
                g[cols, start2:start2 + size2] = joint
                g[start2:start2 + size2, cols] = joint.T
        return g

    def cluster_scores(self, clusters: np.ndarray, n_clusters: int, rows: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Per cluster, X' v over the rows ``rows`` (one per observation, with weights ``v``)."""
        out = np.empty((n_clusters, self.n_columns))
        out[:, 0] = np.bincount(clusters, weights=v, minlength=n_clusters)
        for code, size, start in self._blocks():
            out[:, start:start + size] = np.bincount(clusters * (size + 1) + code[rows] + 1, weights=v,
                                                     minlength=n_clusters * (size + 1)).reshape(n_clusters, size + 1)[:, 1:]
        return out


def fit_categorical_logits(cells: pd.DataFrame, factors: dict[str, str | None], outcomes: list[str],
                           cluster: str = "rep_id") -> dict[str, GroupedLogit]:
    """The same fit as ``fit_grouped_logits`` for an all-categorical design, with a hand-rolled
    IRLS on a one-hot design held as level codes: with rep fixed effects (hundreds of columns,
    hundreds of thousands of cells at 1M leads) a dense design matrix would not fit in memory.

    ``factors``: column → reference level (None: the first level by name). Parameter names are
    ``Intercept`` and ``column[T.level]``, as patsy's Treatment coding names them."""
    # Integer codes per factor (levels sorted by name, as patsy orders them), the cells collapsed
    # over them by bincount: pandas string grouping and merging took most of the time at 1M leads.
    codes, sizes, names, full = [], [], ["Intercept"], []
    for var, ref in factors.items():
        code, levels = pd.factorize(cells[var], sort=True)
        levels = list(levels)
        ref_at = levels.index(ref) if ref in levels else 0
        full.append(code)
        sizes.append(len(levels) - 1)
        names += [f"{var}[T.{lv}]" for i, lv in enumerate(levels) if i != ref_at]
        codes.append(np.where(code == ref_at, -1, code - (code > ref_at)))  # -1: the reference
    index = pd.DataFrame(dict(enumerate(full))).groupby(list(range(len(full))), sort=False).ngroup().to_numpy()
    n_rows = int(index.max()) + 1
    first = np.zeros(n_rows, dtype=np.int64)
    first[index[::-1]] = np.arange(len(index))[::-1]  # one cell of each collapsed row
    X = _OneHotDesign([code[first] for code in codes], sizes)

    def collapse(column: str) -> np.ndarray:
        return np.bincount(index, weights=cells[column].to_numpy(float), minlength=n_rows)

    clusters = pd.factorize(cells[cluster])[0]
    G, N, K = clusters.max() + 1, int(cells["n"].sum()), X.n_columns
    factor = G / (G - 1) * (N - 1) / (N - K) if G > 1 and N > K else 1.0
    n = collapse("n")
    fits = {}
    for outcome in outcomes:
        y = collapse(outcome)
        beta = np.zeros(K)
        beta[0] = np.log((y.sum() + 0.5) / (n.sum() - y.sum() + 0.5))
        for _ in range(100):
            p = 1 / (1 + np.exp(-X.dot(beta)))
            w = np.maximum(n * p * (1 - p), 1e-12)
            step = np.linalg.lstsq(X.gram(w), X.tdot(y - n * p), rcond=None)[0]
            beta += step
            if np.max(np.abs(step)) < 1e-9:
                break
        p = 1 / (1 + np.exp(-X.dot(beta)))
        bread = np.linalg.pinv(X.gram(n * p * (1 - p)))
        resid = cells[outcome].to_numpy(float) - cells["n"].to_numpy(float) * p[index]
        scores = X.cluster_scores(clusters, G, index, resid)
        cov = factor * bread @ (scores.T @ scores) @ bread
        fits[outcome] = GroupedLogit(pd.Series(beta, index=names), pd.DataFrame(cov, index=names, columns=names),
                                     None, int(G), N)
    return fits


def _formula_variables(rhs: str, frame: pd.DataFrame) -> list[str]:
    """Columns of ``frame`` that the formula refers to."""
    desc = patsy.ModelDesc.from_formula(rhs)
    names = set(re.findall(r"\w+", " ".join(f.name() for term in desc.rhs_termlist for f in term.factors)))
    return [c for c in frame.columns if c in names]


def _treatment(var: str, ref: str) -> str:
    return f"C({var}, Treatment({ref!r}))"


def bucket_formula(reference: str, controls: bool = True, rep_effects: bool = False) -> str:
    terms = [_treatment("response_bucket", reference)]
    if controls:
        terms += [f"C({c})" for c in CONTROLS]
    if rep_effects:
        terms.append("C(rep_id)")
    return " + ".join(terms)


MODELS = {  # model name → (controls, rep fixed effects)
    "buckets_clustered": (True, False),
    "within_rep": (True, True),
    "unadjusted": (False, False),
}


def _reps_with_variation(cells: pd.DataFrame, outcome: str) -> pd.DataFrame:
    """Reps whose leads all converted or all did not say nothing about speed within a rep (their
    fixed effect runs off to infinity): the within-rep model leaves them out, as conditional
    logit would."""
    per_rep = cells.groupby("rep_id")[["n", outcome]].sum()
    keep = per_rep.index[(per_rep[outcome] > 0) & (per_rep[outcome] < per_rep["n"])]
    return cells[cells["rep_id"].isin(keep)]


def _varies(cells: pd.DataFrame, outcome: str) -> bool:
    """Some leads have the outcome and some do not: without both, odds cannot be compared."""
    if cells.empty:
        return False
    happened = float(cells[outcome].sum())
    return 0 < happened < float(cells["n"].sum())


def usable_outcomes(cells: pd.DataFrame) -> tuple[dict[str, str], dict[str, str]]:
    """Outcomes that vary (some leads converted, some did not), and the reason for each that does
    not: an outcome that is always 0 (no opportunities or appointments extract) or always 1 has
    nothing to say about speed. Raises InsufficientData when there is nothing to fit at all."""
    if cells.empty or cells["n"].sum() == 0:
        raise InsufficientData("no lead incidents old enough to have an outcome (after the follow-up cut)",
                               "load at least a few weeks of leads")
    if cells["rep_id"].nunique() < 2:
        raise InsufficientData("leads of fewer than two reps (or no owner_rep_id): rep-clustered intervals "
                               "need several reps", "export leads with their owner_rep_id")
    if cells["response_bucket"].nunique() < 2:
        raise InsufficientData("every lead falls in one response bucket: nothing to compare")
    total = cells["n"].sum()
    usable, skipped = {}, {}
    for outcome, col in OUTCOMES.items():
        converted = cells[col].sum()
        if converted == 0:
            skipped[outcome] = f"no lead has {col}: the outcome does not vary"
        elif converted == total:
            skipped[outcome] = f"every lead has {col}: the outcome does not vary"
        else:
            usable[outcome] = col
    if not usable:
        raise InsufficientData("no outcome varies: " + "; ".join(skipped.values()),
                               "add opportunities (or appointments) so leads have outcomes")
    return usable, skipped


def bucket_effects(cells: pd.DataFrame) -> pd.DataFrame:
    """Odds ratio per response bucket against the fastest, per outcome and model. Outcomes and
    models that cannot be fitted (no variation; no rep with variation within) are left out and
    listed in ``.attrs["skipped"]``; InsufficientData when nothing can be fitted."""
    usable, skipped = usable_outcomes(cells)
    order = bucket_order(cells)
    reference = order[0]
    counts = cells.groupby("response_bucket")[["n", *usable.values()]].sum()
    rows = []
    for model, (controls, rep_effects) in MODELS.items():
        fits = {}
        for outcome, col in usable.items():
            if rep_effects or not fits:  # rep effects: each outcome keeps its own reps (see above)
                data = _reps_with_variation(cells, col) if rep_effects else cells
                if rep_effects and data["rep_id"].nunique() < 2:
                    skipped[f"{outcome}/{model}"] = "fewer than two reps with both converted and unconverted leads"
                    continue
                cols = [col] if rep_effects else list(usable.values())
                factors = {"response_bucket": reference, **({c: None for c in CONTROLS} if controls else {}),
                           **({"rep_id": None} if rep_effects else {})}
                try:
                    fits.update(fit_categorical_logits(data, factors, cols))
                except (np.linalg.LinAlgError, ValueError) as exc:  # singular design: this model only
                    skipped[f"{outcome}/{model}"] = f"fit failed: {exc}"
                    continue
        for outcome, col in usable.items():
            if col not in fits:
                continue
            fit = fits[col]
            se = fit.se()
            for bucket in order:
                name = f"response_bucket[T.{bucket}]"
                is_ref = bucket == reference
                beta, s = (0.0, 0.0) if is_ref else (fit.params.get(name, np.nan), se.get(name, np.nan))
                rows.append({
                    "outcome": outcome, "model": model, "term": bucket, "bucket_order": order.index(bucket) + 1,
                    "odds_ratio": float(np.exp(beta)),
                    "ci_low": None if is_ref else float(np.exp(beta - Z95 * s)),
                    "ci_high": None if is_ref else float(np.exp(beta + Z95 * s)),
                    "p_value": None if is_ref else float(2 * stats.norm.sf(abs(beta / s))) if s > 0 else None,
                    "n_leads": int(counts.loc[bucket, "n"]), "n_converted": int(counts.loc[bucket, col]),
                    "is_reference": is_ref, "n_reps": fit.n_clusters, "design_note": DESIGN_NOTE,
                })
    if not rows:
        raise InsufficientData("no model could be fitted: " + "; ".join(f"{k}: {v}" for k, v in skipped.items()))
    table = pd.DataFrame(rows)
    table.attrs["skipped"] = skipped
    return table


def curve_formula(lower: float, upper: float) -> str:
    knots = tuple(float(np.log(k)) for k in CURVE_KNOTS_MINUTES if lower < np.log(k) < upper)
    spline = f"bs(log_minutes, knots={knots}, degree=3, lower_bound={lower}, upper_bound={upper})"
    return " + ".join(["unanswered", spline] + [f"C({c})" for c in CONTROLS])


def conversion_curve(cells: pd.DataFrame, points: int = 60) -> pd.DataFrame:
    """Predicted outcome rate against minutes to first response (a cubic spline of log minutes,
    same controls, clustered by rep), standardised over the leads' own mix of controls: at each
    point, the average predicted rate had every lead been answered after that many minutes."""
    usable, skipped = usable_outcomes(cells)
    answered = cells.dropna(subset=["log_minutes"])
    if answered.empty or answered["log_minutes"].nunique() < 2:
        raise InsufficientData("too few answered leads with distinct response times for a curve",
                               "add an activity channel whose responses match the leads")
    cells = cells.assign(unanswered=cells["log_minutes"].isna().astype(float))
    # Unanswered leads get a placeholder time: their own indicator absorbs whatever the spline says there.
    cells["log_minutes"] = cells["log_minutes"].fillna(float(answered["log_minutes"].median()))
    lo, hi = float(answered["log_minutes"].min()), float(answered["log_minutes"].max())
    weights = np.repeat(answered["log_minutes"].to_numpy(), answered["n"].to_numpy())
    grid = np.linspace(*np.quantile(weights, [0.01, 0.99]), points)
    mix = cells.groupby(list(CONTROLS), observed=True)["n"].sum().reset_index()
    try:
        fits = fit_grouped_logits(cells, curve_formula(lo, hi), list(usable.values()))
    except (np.linalg.LinAlgError, ValueError, patsy.PatsyError) as exc:  # singular or unbuildable design
        raise InsufficientData(f"the response-time curve cannot be fitted on these leads: {exc}") from exc
    design = next(iter(fits.values())).design_info
    # One design for the mix; only the spline columns change along the grid.
    X_mix = np.asarray(patsy.build_design_matrices([design], mix.assign(log_minutes=grid[0], unanswered=0.0))[0])
    spline = [i for i, name in enumerate(design.column_names) if name.startswith("bs(")]
    on_grid = mix.iloc[np.zeros(len(grid), dtype=int)].assign(log_minutes=grid, unanswered=0.0)
    S = np.asarray(patsy.build_design_matrices([design], on_grid)[0])[:, spline]
    w = mix["n"].to_numpy(float) / mix["n"].sum()
    rows = []
    for outcome, col in usable.items():
        fit = fits[col]
        for x, s_row in zip(grid, S):
            X = X_mix.copy()
            X[:, spline] = s_row
            p = 1 / (1 + np.exp(-X @ fit.params.to_numpy()))
            rate = float(w @ p)
            if not 1e-9 < rate < 1 - 1e-9:
                # An outcome that (almost) never or always happens: the fit is separated and has
                # no usable interval, so the point is published without one.
                rows.append({"outcome": outcome, "minutes": float(np.exp(x)), "predicted_rate": rate,
                             "ci_low": np.nan, "ci_high": np.nan})
                continue
            grad = (w * p * (1 - p)) @ X  # d rate / d beta
            se_logit = float(np.sqrt(grad @ fit.cov.to_numpy() @ grad)) / (rate * (1 - rate))
            logit = np.log(rate / (1 - rate))
            rows.append({"outcome": outcome, "minutes": float(np.exp(x)), "predicted_rate": rate,
                         "ci_low": float(1 / (1 + np.exp(-(logit - Z95 * se_logit)))),
                         "ci_high": float(1 / (1 + np.exp(-(logit + Z95 * se_logit))))})
    curve = pd.DataFrame(rows)
    curve.attrs["skipped"] = skipped
    return curve
