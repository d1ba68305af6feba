"""Does speed pay? Logistic models of lead outcomes on response time, with controls and
standard errors clustered by rep.

Fitted on grouped data: leads with the same covariate pattern are one binomial cell (successes,
trials), which gives exactly the same estimates as one row per lead at a fraction of the cost.
The cells also carry the owner rep, so the cluster-robust covariance is exact as well: a rep's
score is the sum over its cells of x_c (y_c - n_c p_c), the same sum as over its leads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import patsy
import pyarrow as pa
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
                -- the factors as text, spelled as Python prints them (the sort order is the same)
                cast(cast(floor(coalesce(hour(f.clock_started_local_at), hour(f.clock_started_at)) / 4) as integer)
                     as varchar) as daypart,
                cast(coalesce(f.clock_started_local_weekday, isodow(f.clock_started_at)) as varchar) as weekday,
                case when coalesce(f.is_after_hours, false) then 'True' else 'False' end as after_hours,
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
    """The cells with their factors as pandas categories. Through Arrow, dictionary-encoded: at
    10M leads (7.8M cells) 3.6 s, where one Python string per value took 13 s and more."""
    table = con.sql(conversion_cells_sql(follow_up_days)).to_arrow_table()
    factors = ("rep_id", "response_bucket", "source", "score_band", "region", "daypart", "weekday", "after_hours")
    return pa.table({name: table[name].dictionary_encode() if name in factors else table[name]
                     for name in table.column_names}).to_pandas()


def bucket_order(cells: pd.DataFrame) -> list[str]:
    """Buckets from fastest to slowest (by their fastest lead), unanswered last."""
    fastest = cells.groupby("response_bucket", observed=True)["min_seconds"].min()  # NaN: none answered
    return list(fastest.dropna().sort_values().index) + sorted(fastest.index[fastest.isna()])


@dataclass
class GroupedLogit:
    """A binomial GLM fitted on cells, with a cluster-robust covariance."""
    params: pd.Series
    cov: pd.DataFrame
    design_info: patsy.DesignInfo
    n_clusters: int
    n_obs: int

    def se(self) -> pd.Series:
        """Standard errors of the parameters the covariance was computed for."""
        with np.errstate(invalid="ignore"):  # a negative variance (numerically singular term) reads as NaN
            return pd.Series(np.sqrt(np.diag(self.cov)), index=self.cov.index)


def _selection(basis: np.ndarray) -> np.ndarray | None:
    """For a one-hot basis (column j is the unit vector at row sel[j]) the row indices ``sel``:
    products with it are then row or column picks, not matrix products. None otherwise."""
    ones = basis == 1
    if not (ones | (basis == 0)).all() or (ones.sum(axis=0) != 1).any() or (ones.sum(axis=1) > 1).any():
        return None
    return ones.argmax(axis=0)


# A one-hot block this wide (rep fixed effects: hundreds to thousands of reps) is solved by its
# Schur complement: its own block of X'WX is diagonal, so a Newton step costs O(K p^2) with p the
# other columns, not a dense O(K^3) factorisation (at 10M leads and 3,082 reps, lstsq and pinv
# on the 3,100-column matrix took 140 of the 239 s). Narrower designs keep the dense solve.
SCHUR_MIN_COLUMNS = 64


class _AdditiveDesign:
    """A design matrix made of blocks, each a function of one variable: block b puts the rows of
    ``bases[b]`` (one row per distinct value of its variable, one column per parameter) at the
    rows' codes (``codes[b]``, the index of each row's value). One-hot factors, the intercept and
    a spline of log minutes are all such blocks, so every product an IRLS needs is a bincount
    over the rows followed by small dense algebra: linear in the rows, where patsy's dense matrix
    and statsmodels' GLM, or a sparse one-hot matrix's X'WX, took most of the statistics time
    at 1M leads."""

    def __init__(self, codes: list[np.ndarray], bases: list[np.ndarray]):
        self.codes, self.bases = codes, bases
        self.selections = [_selection(b) for b in bases]
        widths = [b.shape[1] for b in bases]
        self.slices = [slice(sum(widths[:i]), sum(widths[:i + 1])) for i in range(len(bases))]
        self.n_columns = sum(widths)
        wide = [i for i, sel in enumerate(self.selections) if sel is not None and widths[i] >= SCHUR_MIN_COLUMNS]
        # The widest one-hot block, whose X'WX block is diagonal (see SCHUR_MIN_COLUMNS).
        self.diagonal = self.slices[max(wide, key=lambda i: widths[i])] if wide else None
        # The blocks with few values (all but reps, often), as many as keep their joint table no
        # larger than the rows: one bincount over the joint code then gives all their pairwise
        # sums by marginalising, where a bincount per pair read every row again.
        rows, size, self.joint = len(codes[0]), 1, []
        for i in sorted(range(len(bases)), key=lambda i: len(bases[i])):
            if size * len(bases[i]) > max(rows, 1):
                break
            self.joint.append(i)
            size *= len(bases[i])
        self.joint.sort()
        self.joint_shape = tuple(len(bases[i]) for i in self.joint)
        self.joint_code = np.zeros(rows, dtype=np.int64)
        for i in self.joint:
            self.joint_code = self.joint_code * len(bases[i]) + codes[i]

    def dot(self, beta: np.ndarray) -> np.ndarray:  # X @ beta
        return sum((basis @ beta[cols])[code] for code, basis, cols in zip(self.codes, self.bases, self.slices))

    def tdot(self, v: np.ndarray) -> np.ndarray:  # X' v
        return np.concatenate([basis.T @ np.bincount(code, weights=v, minlength=len(basis))
                               for code, basis in zip(self.codes, self.bases)])

    def _sums(self, w: np.ndarray, table: np.ndarray, i: int, j: int | None = None) -> np.ndarray:
        """Sums of w by value of block i (a vector), or by values of blocks i < j (a table)."""
        wanted = (i,) if j is None else (i, j)
        if all(b in self.joint for b in wanted):
            axes = tuple(a for a, b in enumerate(self.joint) if b not in wanted)
            return table.sum(axis=axes) if axes else table
        n_i = len(self.bases[i])
        if j is None:
            return np.bincount(self.codes[i], weights=w, minlength=n_i)
        n_j = len(self.bases[j])
        return np.bincount(self.codes[i] * n_j + self.codes[j], weights=w, minlength=n_i * n_j).reshape(n_i, n_j)

    def gram(self, w: np.ndarray) -> np.ndarray:  # X' diag(w) X
        g = np.zeros((self.n_columns, self.n_columns))
        table = np.bincount(self.joint_code, weights=w, minlength=int(np.prod(self.joint_shape))).reshape(self.joint_shape)
        blocks = list(zip(self.bases, self.selections, self.slices))
        for i, (basis, sel, cols) in enumerate(blocks):
            counts = self._sums(w, table, i)
            if sel is not None:  # one-hot: a diagonal block
                at = np.arange(cols.start, cols.stop)
                g[at, at] = counts[sel]
            else:
                g[cols, cols] = (basis.T * counts) @ basis
            for j in range(i + 1, len(blocks)):
                basis2, sel2, cols2 = blocks[j]
                joint = self._sums(w, table, i, j)
                left = joint[sel] if sel is not None else basis.T @ joint
                g[cols, cols2] = left[:, sel2] if sel2 is not None else left @ basis2
                g[cols2, cols] = g[cols, cols2].T
        return g

    def solve(self, g: np.ndarray, rhs: np.ndarray) -> np.ndarray:
        """A least-squares solution of ``g x = rhs`` (g = X'WX; rhs a vector or a matrix)."""
        if self.diagonal is None:
            return np.linalg.lstsq(g, rhs, rcond=None)[0]
        d_cols = np.arange(self.n_columns)[self.diagonal]
        a_cols = np.setdiff1d(np.arange(self.n_columns), d_cols)
        d = np.diag(g)[d_cols]
        if not (d > 0).all():  # a level without weight: the dense solve copes with the singularity
            return np.linalg.lstsq(g, rhs, rcond=None)[0]
        b = g[np.ix_(a_cols, d_cols)]
        scaled = b / d
        schur = g[np.ix_(a_cols, a_cols)] - scaled @ b.T
        rhs_d = rhs[d_cols] / (d if rhs.ndim == 1 else d[:, None])
        x = np.empty(rhs.shape)
        # The complement is a difference, exact only to about eps * |g|: where the design is
        # singular (a region nested in reps) its near-zero singular values are rounding noise,
        # which the default cut-off (eps * size) would invert into steps that never converge.
        x[a_cols] = np.linalg.lstsq(schur, rhs[a_cols] - b @ rhs_d, rcond=1e-10)[0]
        x[d_cols] = rhs_d - scaled.T @ x[a_cols]
        return x

    def inverse_columns(self, g: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Columns ``cols`` of the (pseudo-)inverse of g = X'WX."""
        if self.diagonal is None:
            return np.linalg.pinv(g)[:, cols]
        unit = np.zeros((self.n_columns, len(cols)))
        unit[cols, np.arange(len(cols))] = 1.0
        return self.solve(g, unit)

    def cluster_scores(self, clusters: np.ndarray, n_clusters: int, rows: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Per cluster, X' v over the design rows ``rows`` (one per observation, weights ``v``)."""
        out = []
        for code, basis, sel in zip(self.codes, self.bases, self.selections):
            at = code[rows]
            if n_clusters * len(basis) <= 20_000_000:  # a cluster × value table, then the basis
                table = np.bincount(clusters * len(basis) + at, weights=v,
                                    minlength=n_clusters * len(basis)).reshape(n_clusters, len(basis))
                out.append(table[:, sel] if sel is not None else table @ basis)
            else:  # many values (response times), few columns: column by column
                out.append(np.column_stack([np.bincount(clusters, weights=v * basis[at, j], minlength=n_clusters)
                                            for j in range(basis.shape[1])]))
        return np.hstack(out)


def _fit_logits(X: _AdditiveDesign, index: np.ndarray, cells: pd.DataFrame, outcomes: list[str],
                cluster: str, names: list[str], design_info, cov_of: list[str] | None = None) -> dict[str, GroupedLogit]:
    """Binomial IRLS per outcome on the collapsed rows of ``X`` (``index``: each cell's row),
    then the cluster-robust sandwich over the cells. Small-sample factor as statsmodels'
    ``cov_type='cluster'``: G/(G-1) * (N-1)/(N-K), N leads, G clusters, K params.

    ``cov_of``: the parameters whose covariance is wanted (None: all). The sandwich's block for
    them needs only those columns of the bread: (S B_J)'(S B_J), S the clusters' scores."""
    n_rows = int(index.max()) + 1

    def collapse(column: str) -> np.ndarray:
        return np.bincount(index, weights=cells[column].to_numpy(float), minlength=n_rows)

    clusters = pd.factorize(cells[cluster])[0]
    G, N, K = clusters.max() + 1, int(cells["n"].sum()), X.n_columns
    factor = G / (G - 1) * (N - 1) / (N - K) if G > 1 and N > K else 1.0
    n = collapse("n")
    unweighted = X.gram(np.ones(n_rows))
    kept = np.arange(K) if cov_of is None else np.flatnonzero(np.isin(names, cov_of))
    kept_names = [names[i] for i in kept]
    fits = {}
    for outcome in outcomes:
        y = collapse(outcome)
        # Start from the constant log-odds, in this design's columns.
        start = np.log((y.sum() + 0.5) / (n.sum() - y.sum() + 0.5))
        beta = X.solve(unweighted, X.tdot(np.full(n_rows, start)))
        with np.errstate(over="ignore"):
            for _ in range(100):
                p = 1 / (1 + np.exp(-X.dot(beta)))
                w = np.maximum(n * p * (1 - p), 1e-12)
                step = X.solve(X.gram(w), X.tdot(y - n * p))
                beta += step
                if np.max(np.abs(step)) < 1e-9:
                    break
            p = 1 / (1 + np.exp(-X.dot(beta)))
        bread = X.inverse_columns(X.gram(n * p * (1 - p)), kept)
        resid = cells[outcome].to_numpy(float) - cells["n"].to_numpy(float) * p[index]
        scores = X.cluster_scores(clusters, G, index, resid) @ bread
        cov = factor * scores.T @ scores
        fits[outcome] = GroupedLogit(pd.Series(beta, index=names),
                                     pd.DataFrame(cov, index=kept_names, columns=kept_names), design_info, int(G), N)
    return fits


def _collapse_index(codes: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Each cell's collapsed row (cells with the same codes share one), and one cell per row."""
    sizes = [int(code.max()) + 1 if len(code) else 1 for code in codes]
    if np.prod(np.array(sizes, dtype=float)) < 2.0 ** 62:  # one mixed-radix key per cell
        key = np.zeros(len(codes[0]) if codes else 0, dtype=np.int64)
        for code, size in zip(codes, sizes):
            key = key * size + code
        index = pd.factorize(key)[0]  # rows numbered in order of first appearance
    else:
        index = pd.DataFrame(dict(enumerate(codes))).groupby(list(range(len(codes))), sort=False).ngroup().to_numpy()
    first = np.zeros(int(index.max()) + 1, dtype=np.int64)
    first[index[::-1]] = np.arange(len(index))[::-1]
    return index, first


def fit_grouped_logits(cells: pd.DataFrame, rhs: str, outcomes: list[str],
                       cluster: str = "rep_id") -> dict[str, GroupedLogit]:
    """Fit ``outcome ~ rhs`` for each outcome on ``cells`` (columns n and the outcome counts),
    clustered by ``cluster``. ``rhs``: a patsy formula of terms of one variable each (no
    interactions), whose columns patsy computes once per distinct value of each variable.

    The fit runs on the cells collapsed over everything the formula does not use; the meat of
    the sandwich sums each cluster's scores over the uncollapsed cells."""
    variables = _formula_variables(rhs, cells)
    factorized = {v: pd.factorize(cells[v]) for v in variables}
    missing = [v for v, (code, _) in factorized.items() if (code < 0).any()]
    if missing:
        raise ValueError(f"fit_grouped_logits: missing values in {missing}")
    # Every distinct value of every variable in one small frame (shorter columns repeat): patsy
    # sees the same levels it would on all cells, and row j holds value j of each variable.
    longest = max(len(uniques) for _, uniques in factorized.values())
    values = pd.DataFrame({v: np.resize(np.asarray(uniques, dtype=object if uniques.dtype == object else None), longest)
                           for v, (_, uniques) in factorized.items()})
    frame = patsy.dmatrix(rhs, values, return_type="dataframe")
    design_info = frame.design_info
    codes, bases = [], []
    for term, cols in design_info.term_slices.items():
        used = [v for v in variables if v in set(re.findall(r"\w+", " ".join(f.name() for f in term.factors)))]
        if len(used) > 1:
            raise ValueError(f"fit_grouped_logits: the term {term.name()} uses {used}; only one variable per term")
        if not used:  # the intercept
            codes.append(np.zeros(len(cells), dtype=np.int64))
            bases.append(frame.iloc[:1, cols].to_numpy())
        else:
            code, uniques = factorized[used[0]]
            codes.append(code.astype(np.int64))
            bases.append(frame.iloc[:len(uniques), cols].to_numpy())
    index, first = _collapse_index([factorized[v][0] for v in variables])
    X = _AdditiveDesign([code[first] for code in codes], bases)
    return _fit_logits(X, index, cells, outcomes, cluster, list(frame.columns), design_info)


def fit_grouped_logit(cells: pd.DataFrame, rhs: str, outcome: str, cluster: str = "rep_id") -> GroupedLogit:
    return fit_grouped_logits(cells, rhs, [outcome], cluster)[outcome]


def fit_categorical_logits(cells: pd.DataFrame, factors: dict[str, str | None], outcomes: list[str],
                           cluster: str = "rep_id", cov_of: list[str] | None = None) -> dict[str, GroupedLogit]:
    """The same fit as ``fit_grouped_logits`` for an all-categorical design, without patsy: with
    rep fixed effects (hundreds of columns) patsy's dense matrix over hundreds of thousands of
    cells would not fit in memory.

    ``factors``: column → reference level (None: the first level by name). Parameter names are
    ``Intercept`` and ``column[T.level]``, as patsy's Treatment coding names them. ``cov_of``:
    the parameters whose covariance is wanted (None: all)."""
    codes, bases, names = [np.zeros(len(cells), dtype=np.int64)], [np.ones((1, 1))], ["Intercept"]
    for var, ref in factors.items():
        code, levels = pd.factorize(cells[var], sort=True)
        levels = list(levels)
        ref_at = levels.index(ref) if ref in levels else 0
        codes.append(code.astype(np.int64))
        bases.append(np.delete(np.eye(len(levels)), ref_at, axis=1))  # one-hot without the reference
        names += [f"{var}[T.{lv}]" for i, lv in enumerate(levels) if i != ref_at]
    index, first = _collapse_index(codes[1:])
    X = _AdditiveDesign([code[first] for code in codes], bases)
    return _fit_logits(X, index, cells, outcomes, cluster, names, None, cov_of)


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
    # Categories once: the five fits factorize and filter codes, not strings (at 10M leads the
    # strings' factorizing, filtering and iterating took 25 s).
    cells = cells.astype({col: "category" for col in ("response_bucket", "rep_id", *CONTROLS)})
    order = bucket_order(cells)
    reference = order[0]
    counts = cells.groupby("response_bucket")[["n", *usable.values()]].sum()
    bucket_terms = [f"response_bucket[T.{bucket}]" for bucket in order]
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
                    # Only the buckets' intervals are published: the covariance of the rest
                    # (thousands of rep effects) is never formed.
                    fits.update(fit_categorical_logits(data, factors, cols, cov_of=bucket_terms))
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
