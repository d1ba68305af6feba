"""Arrival-volume forecasting for any regular count series: candidates, a rolling-origin
backtest on weekly origins, the model with the lowest MASE, and point forecasts with
80 % / 95 % intervals.

Engine-independent on purpose (pandas, numpy, statsmodels; no warehouse, no Dagster), so it
runs on any call-centre or lead-arrival export::

    from orchestration.stats.forecast import arrivals_from_events, forecast_arrivals

    counts = arrivals_from_events(df["created_at"], step="1h")   # or a Series of counts
    result = forecast_arrivals(counts, horizon="14D", holidays=["2026-12-25"])
    result.backtest   # model, horizon, mase, mae, n_origins, is_chosen
    result.forecast   # period_start, model, forecast, lo80, hi80, lo95, hi95, is_chosen

The input is a pandas Series of counts with a DatetimeIndex. The step (5 minutes, an hour, a
day ...) is inferred from the timestamps; slots missing between the first and the last one are
zero arrivals (exports leave out empty slots and closed hours). Seasonal periods follow from
the step: a day and a week of steps (288 / 2016 for 5 minutes, 24 / 168 hourly, 7 daily).

Closed days. A whole day far below its weekday's typical volume (under ``CLOSED_DAY_RATIO`` of
the median of the same weekday in the surrounding weeks, or zero), or a holiday of weight 1,
is *closed*: an unmarked holiday, an outage, a weekday the business never opens. Closed days
are left out of every fit, of the intraday profile, of the seasonal look-backs (the same slot
one week earlier is taken from the last *open* same weekday) and of the scores; a future day
is forecast as exactly zero when it is a holiday of weight 1 or its weekday was closed in every
one of the recent ``PROFILE_WEEKS`` weeks. An unmarked closed day in the future cannot be
foreseen; pass it as a holiday.

Candidates (every one yields non-negative intervals):

* ``seasonal_naive``: the same slot on the last open same weekday; Gaussian intervals from the
  spread of its one-week errors, widening with every week ahead, cut at zero.
* ``seasonal_mean``: the mean of the same slot over the last ``SEASONAL_MEAN_WEEKS`` open same
  weekdays: a robust baseline that a single odd week does not throw off.
* ``ets_profile``: exponential smoothing (additive damped trend, weekly seasonality) on the
  open days' totals, spread over the day with the recent intraday profile of that weekday.
* ``poisson_profile``: a Poisson regression on the open days' totals (log-linear trend,
  weekday, holiday weight), spread over the day the same way.

A slot of the week with no arrivals on the recent open days at an edge of the opening hours is
closed (profile share exactly zero, forecast and intervals zero). Profiles of slots under 15
minutes are averaged over their open neighbours within ±15 minutes, never across an opening or
closing edge. Count intervals are negative-binomial (Poisson when not over-dispersed) with the
dispersion measured on open slots, reported as continuity-corrected quantiles: for small counts
a plain integer quantile covers far more than its nominal level.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping

import numpy as np
import pandas as pd
from scipy import stats

from orchestration.quality.availability import InsufficientData

DAY = pd.Timedelta(days=1)
WEEK = pd.Timedelta(days=7)
MODELS = ("seasonal_naive", "seasonal_mean", "ets_profile", "poisson_profile")
# Fallback order when no backtest could run.
FALLBACK_ORDER = ("poisson_profile", "seasonal_mean", "ets_profile", "seasonal_naive")
# Recent weeks that define the intraday profile and the open weekdays, and the daily fit window.
PROFILE_WEEKS = 8
DAILY_FIT_DAYS = 182
SEASONAL_MEAN_WEEKS = 4
# A day with less than this share of its weekday's typical volume is closed.
CLOSED_DAY_RATIO = 0.2
# Weeks on either side whose same weekday defines a day's typical volume.
TYPICAL_WEEKS = 4
# Selection backtest: weekly origins, at most this many, each scoring up to one week.
MAX_ORIGINS = 8
# Candidates whose intervals are count quantiles: their final intervals take the dispersion of
# their own backtest errors (out of sample, so the error of the mean is in it).
COUNT_MODELS = ("seasonal_mean", "ets_profile", "poisson_profile")
Z80, Z95 = stats.norm.ppf(0.90), stats.norm.ppf(0.975)
BOUNDS = (("lo80", 0.10), ("hi80", 0.90), ("lo95", 0.025), ("hi95", 0.975))


# --------------------------------------------------------------------------------------------
# The series: step, zero-filling, seasonal periods
# --------------------------------------------------------------------------------------------

def _utc_index(index) -> pd.DatetimeIndex:
    index = pd.DatetimeIndex(index)
    return index.tz_convert("UTC").tz_localize(None) if index.tz is not None else index


def infer_step(index) -> pd.Timedelta:
    """The regular step of a series with gaps: the most common difference between consecutive
    timestamps (so a few missing slots or closed hours do not change it)."""
    index = pd.DatetimeIndex(sorted(set(_utc_index(index))))
    if len(index) < 2:
        raise InsufficientData(f"{len(index)} distinct timestamp(s): at least two are needed to infer the step",
                               "provide a longer arrival history")
    diffs = pd.Series(index[1:] - index[:-1]).value_counts()
    return pd.Timedelta(diffs.index[0])


def arrivals_from_events(timestamps, step: str | pd.Timedelta = "1h") -> pd.Series:
    """Count event timestamps (one per arriving lead or call) per slot of ``step``, zero-filled."""
    ts = pd.Series(_utc_index(pd.to_datetime(pd.Series(timestamps).dropna(), utc=True)))
    step = pd.Timedelta(step)
    counts = ts.dt.floor(step).value_counts().sort_index()
    return regularize(counts.astype(float), step=step)


def regularize(counts: pd.Series, step: str | pd.Timedelta | None = None, fill_missing: bool = True) -> pd.Series:
    """A regular series: timestamps in naive UTC, duplicates summed, missing slots zero."""
    counts = counts.dropna()
    if counts.empty:
        raise InsufficientData("no arrivals in the series", "provide arrival history")
    s = pd.Series(np.asarray(counts, dtype=float), index=_utc_index(counts.index)).groupby(level=0).sum()
    step = pd.Timedelta(step) if step is not None else infer_step(s.index)
    s.index = s.index.floor(step)
    s = s.groupby(level=0).sum()
    full = pd.date_range(s.index.min(), s.index.max(), freq=step)
    s = s.reindex(full, fill_value=0.0 if fill_missing else np.nan)
    s.index.name = "period_start"
    if (s.dropna() < 0).any():
        raise ValueError("arrival counts must not be negative")
    return s


def seasonal_periods(step: pd.Timedelta) -> tuple[int, ...]:
    """A day and a week of steps, where each is a whole number of steps greater than one."""
    return tuple(int(p // step) for p in (DAY, WEEK) if p % step == pd.Timedelta(0) and p // step > 1)


def read_holidays(path: str | Path) -> dict[pd.Timestamp, float]:
    """Holiday dates from a file: one date per line, or a CSV whose first column holds the dates
    (a header row and lines that are not dates are skipped); an optional second numeric column is
    the weight in [0, 1] (default 1: closed)."""
    frame = pd.read_csv(path, header=None, comment="#", skip_blank_lines=True, dtype=str)
    dates = pd.to_datetime(frame.iloc[:, 0].str.strip(), errors="coerce", format="mixed")
    weights = (pd.to_numeric(frame.iloc[:, 1], errors="coerce") if frame.shape[1] > 1
               else pd.Series(1.0, index=frame.index)).fillna(1.0).clip(0, 1)
    keep = dates.notna()
    return {pd.Timestamp(d).normalize(): float(w) for d, w in zip(dates[keep], weights[keep])}


# --------------------------------------------------------------------------------------------
# Context: what a candidate knows besides the history
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Context:
    step: pd.Timedelta
    periods: tuple[int, ...]
    holidays: Mapping[pd.Timestamp, float]
    closed: frozenset = field(default_factory=frozenset)  # closed days (normalised dates) of the history

    @property
    def per_day(self) -> int:
        return max(1, int(DAY // self.step))


def _day_totals(y: pd.Series, step: pd.Timedelta) -> pd.Series:
    """Totals of whole days only: a partial first or last day would look like a drop in volume."""
    per_day = max(1, int(DAY // step))
    days = y.groupby(y.index.floor(DAY)).agg(["sum", "count"])
    return days.loc[days["count"] == per_day, "sum"] if step < DAY else days["sum"]


def detect_closed_days(y: pd.Series, step: pd.Timedelta, holidays: Mapping[pd.Timestamp, float] | None = None) -> frozenset:
    """Whole days that were closed: a holiday of weight 1, a day with no arrivals, or one under
    ``CLOSED_DAY_RATIO`` of the median of its weekday over the ``TYPICAL_WEEKS`` weeks on either
    side (itself left out, so one closed day does not hide another)."""
    totals = _day_totals(y, step)
    closed = {d for d, w in (holidays or {}).items() if w >= 1.0}
    if totals.empty:
        return frozenset(closed)
    for weekday in range(7):
        same = totals[totals.index.day_of_week == weekday]
        values = same.to_numpy()
        for i, day in enumerate(same.index):
            around = np.concatenate([values[max(0, i - TYPICAL_WEEKS): i], values[i + 1: i + 1 + TYPICAL_WEEKS]])
            typical = np.median(around) if len(around) else values[i]
            if values[i] <= 0 or values[i] < CLOSED_DAY_RATIO * typical:
                closed.add(day)
    return frozenset(closed)


def _is_closed_day(index: pd.DatetimeIndex, closed: frozenset) -> np.ndarray:
    return np.asarray(index.floor(DAY).isin(list(closed))) if closed else np.zeros(len(index), bool)


def _open_weekdays(y: pd.Series, ctx: Context) -> np.ndarray:
    """Weekdays with at least one open day in the recent ``PROFILE_WEEKS`` weeks."""
    recent = y.index[y.index >= y.index.max() - PROFILE_WEEKS * WEEK].floor(DAY).unique()
    open_days = recent[~recent.isin(list(ctx.closed))]
    flags = np.zeros(7, bool)
    flags[np.unique(open_days.day_of_week)] = True
    return flags


def _future_closed(index: pd.DatetimeIndex, open_weekdays: np.ndarray, ctx: Context) -> np.ndarray:
    """Future slots on days known to be closed: a closed weekday or a holiday of weight 1."""
    days = index.floor(DAY)
    holiday = np.array([ctx.holidays.get(d, 0.0) >= 1.0 for d in days], dtype=bool)
    return ~open_weekdays[index.day_of_week] | holiday


# --------------------------------------------------------------------------------------------
# Predictive intervals
# --------------------------------------------------------------------------------------------

def _nb_alpha(y: np.ndarray, mu: np.ndarray) -> float:
    """Negative-binomial (NB2) over-dispersion by moments: var = mu + alpha mu^2; 0 = Poisson."""
    keep = (mu > 1e-9) & np.isfinite(y)
    if keep.sum() < 2:
        return 0.0
    return float(max(0.0, np.sum((y[keep] - mu[keep]) ** 2 - mu[keep]) / np.sum(mu[keep] ** 2)))


def _count_intervals(mu: np.ndarray, alpha: float) -> dict[str, np.ndarray]:
    """Continuity-corrected quantiles of a Poisson / negative-binomial count.

    The q-quantile of Y + U (U uniform on [0, 1)) minus one half: an integer count falls below
    it with probability F(k - 1) or F(k), whichever the quantile is nearer, so across slots the
    coverage is close to nominal, where integer quantiles cover far more at small counts (a
    Poisson mean of 1 has [0, 2] as its 80 % integer interval, which holds 92 %)."""
    mu = np.maximum(np.asarray(mu, dtype=float), 0.0)
    if alpha < 1e-8:
        dist = stats.poisson(np.maximum(mu, 1e-12))
    else:
        size = 1.0 / alpha
        dist = stats.nbinom(size, size / (size + np.maximum(mu, 1e-12)))
    out = {}
    for name, q in BOUNDS:
        k = dist.ppf(q)
        below = np.where(k > 0, dist.cdf(k - 1), 0.0)
        mass = np.maximum(dist.pmf(k), 1e-300)
        continuous = k + np.clip((q - below) / mass, 0.0, 1.0)
        out[name] = np.where(mu > 0, np.maximum(np.nan_to_num(continuous) - 0.5, 0.0), 0.0)
    return out


def _gaussian_intervals(mean: np.ndarray, sd: np.ndarray) -> dict[str, np.ndarray]:
    return {"lo80": np.maximum(mean - Z80 * sd, 0), "hi80": np.maximum(mean + Z80 * sd, 0),
            "lo95": np.maximum(mean - Z95 * sd, 0), "hi95": np.maximum(mean + Z95 * sd, 0)}


def _zero_closed(out: dict, closed: np.ndarray) -> dict:
    return {k: np.where(closed, 0.0, np.asarray(v, dtype=float)) for k, v in out.items()}


# --------------------------------------------------------------------------------------------
# Candidates: each maps (history, steps ahead, context) to a dict of forecast and bounds, or
# None when the history is too short for it.
# --------------------------------------------------------------------------------------------

def _weekly_lookback(y: pd.Series, horizon: int, ctx: Context, weeks: int) -> tuple[np.ndarray, np.ndarray]:
    """For each future slot, the same slot on the last ``weeks`` open same weekdays (NaN where
    fewer exist), shape (horizon, weeks); and the future slots' index."""
    m = ctx.periods[-1] if ctx.periods else 1
    start = y.index[-1] + ctx.step
    future = pd.date_range(start, periods=horizon, freq=ctx.step)
    values = np.where(_is_closed_day(y.index, ctx.closed), np.nan, y.to_numpy(dtype=float))
    n = len(values)
    # the slot of the week of each future step, in the last week of the history
    back = n - m + (np.arange(horizon) % m)
    out = np.full((horizon, weeks), np.nan)
    found = np.zeros(horizon, int)
    lag = np.zeros(horizon, int)
    while (found < weeks).any() and (back - lag * m >= 0).any():
        pos = back - lag * m
        ok = (pos >= 0) & (found < weeks)
        v = np.where(ok, values[np.clip(pos, 0, n - 1)], np.nan)
        take = ok & np.isfinite(v)
        out[take, found[take]] = v[take]
        found += take
        lag += 1
    return out, future


def seasonal_naive(y: pd.Series, horizon: int, ctx: Context) -> dict | None:
    m = ctx.periods[-1] if ctx.periods else 1
    if len(y) < 2 * m:
        return None
    looked, future = _weekly_lookback(y, horizon, ctx, 1)
    mean = np.nan_to_num(looked[:, 0])
    values = np.where(_is_closed_day(y.index, ctx.closed), np.nan, y.to_numpy(dtype=float))
    resid = values[m:] - values[:-m]
    resid = resid[np.isfinite(resid)]
    sd = (np.std(resid) if len(resid) else 0.0) * np.sqrt(np.arange(horizon) // m + 1)
    out = {"forecast": mean, **_gaussian_intervals(mean, sd)}
    return _zero_closed(out, _future_closed(future, _open_weekdays(y, ctx), ctx))


def seasonal_mean(y: pd.Series, horizon: int, ctx: Context) -> dict | None:
    """Mean of the last ``SEASONAL_MEAN_WEEKS`` open same-weekday slots; count intervals with
    the dispersion of the same estimator's one-week-ahead errors over the recent weeks."""
    m = ctx.periods[-1] if ctx.periods else 1
    k = SEASONAL_MEAN_WEEKS
    if len(y) < (k + 1) * m:
        return None
    looked, future = _weekly_lookback(y, horizon, ctx, k)
    seen = np.isfinite(looked).sum(axis=1)
    mean = np.where(seen > 0, np.nansum(looked, axis=1) / np.maximum(seen, 1), 0.0)
    # one-week-ahead errors of the same estimator over the last weeks (as far as history allows)
    check_weeks = min(4, len(y) // m - k - 1)
    errors_y, errors_mu = [], []
    for w in range(1, check_weeks + 1):
        cut = len(y) - w * m
        past, _ = _weekly_lookback(y.iloc[:cut], m, ctx, k)
        seen_w = np.isfinite(past).sum(axis=1)
        mu_w = np.nansum(past, axis=1) / np.maximum(seen_w, 1)
        actual = y.iloc[cut: cut + m]
        open_ = ~_is_closed_day(actual.index, ctx.closed)
        errors_y.append(actual.to_numpy()[open_])
        errors_mu.append(np.nan_to_num(mu_w)[open_])
    alpha = _nb_alpha(np.concatenate(errors_y), np.concatenate(errors_mu)) if errors_y else 0.0
    out = {"forecast": mean, **_count_intervals(mean, alpha)}
    return _zero_closed(out, _future_closed(future, _open_weekdays(y, ctx), ctx))


def _open_day_totals(y: pd.Series, ctx: Context) -> pd.Series:
    """Whole-day totals of the open days."""
    totals = _day_totals(y, ctx.step)
    return totals[~totals.index.isin(list(ctx.closed))]


def _intraday_shares(y: pd.Series, ctx: Context) -> pd.Series | None:
    """Share of its day's arrivals per (weekday, slot of day) over the recent open days; None
    for a daily series. A slot is closed (share exactly zero) when it had no arrivals in the
    recent weeks and lies at an edge of the day's open time; a quiet slot between busy ones
    (within 30 minutes on both sides) is open. Slots shorter than 15 minutes are averaged over
    their open neighbours within ±15 minutes (a few weeks of 5-minute counts are noisy); closed
    neighbours never enter the average, so the first and last open slots keep their level."""
    if ctx.step >= DAY:
        return None
    per_day = ctx.per_day
    recent = y[(y.index >= y.index.max() - PROFILE_WEEKS * WEEK) & ~_is_closed_day(y.index, ctx.closed)]
    counts = np.zeros((7, per_day))
    np.add.at(counts, (recent.index.day_of_week, ((recent.index - recent.index.floor(DAY)) // ctx.step)),
              recent.to_numpy())
    gap, smooth = max(1, round(pd.Timedelta("30min") / ctx.step)), round(pd.Timedelta("15min") / ctx.step)
    busy = counts > 0
    padded = np.pad(busy, ((0, 0), (gap, gap)))
    left = np.stack([padded[:, gap - k: gap - k + per_day] for k in range(1, gap + 1)]).any(axis=0)
    right = np.stack([padded[:, gap + k: gap + k + per_day] for k in range(1, gap + 1)]).any(axis=0)
    is_open = busy | (left & right)
    if smooth:
        kernel = np.ones(2 * smooth + 1)
        open_sum = np.apply_along_axis(lambda row: np.convolve(row, kernel, mode="same"), 1, counts * is_open)
        open_n = np.apply_along_axis(lambda row: np.convolve(row, kernel, mode="same"), 1, is_open.astype(float))
        counts = np.divide(open_sum, open_n, out=np.zeros_like(counts), where=open_n > 0)
    counts = np.where(is_open, counts, 0.0)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    index = pd.MultiIndex.from_product([range(7), pd.timedelta_range(0, periods=per_day, freq=ctx.step)])
    return pd.Series(shares.ravel(), index=index)


def _spread(daily_mean: pd.Series, slots: pd.DatetimeIndex, shares: pd.Series | None) -> np.ndarray:
    """Daily means → slot means (times of day the profile never saw get 0)."""
    day_mean = daily_mean.reindex(slots.floor(DAY)).to_numpy()
    if shares is None:
        return day_mean
    share = shares.reindex(list(zip(slots.day_of_week, slots - slots.floor(DAY)))).fillna(0.0).to_numpy()
    return day_mean * share


def _profile_model(daily_fit: Callable[[pd.Series, pd.DatetimeIndex, Context], tuple[np.ndarray, np.ndarray] | None]):
    """A candidate from a model of the open days' totals: fit, spread over the day with the
    weekday profile, count intervals with the dispersion seen on the recent open slots."""

    def candidate(y: pd.Series, horizon: int, ctx: Context) -> dict | None:
        daily = _open_day_totals(y, ctx)
        if len(daily) < 10:
            return None
        start = y.index[-1] + ctx.step
        slots = pd.date_range(start, periods=horizon, freq=ctx.step)
        last_day = y.index[-1].floor(DAY)
        future_days = pd.date_range(last_day, slots[-1].floor(DAY), freq=DAY)
        if daily.iloc[-DAILY_FIT_DAYS:].any():
            fitted = daily_fit(daily.iloc[-DAILY_FIT_DAYS:], future_days, ctx)
        else:  # nothing arrived: nothing to fit
            fitted = (np.zeros(min(len(daily), DAILY_FIT_DAYS)), np.zeros(len(future_days)))
        if fitted is None:
            return None
        in_sample, ahead = fitted
        fit_days = daily.index[-len(in_sample):]
        ahead_series = pd.Series(np.asarray(ahead, dtype=float), index=future_days)
        ahead_series = ahead_series[~ahead_series.index.isin(fit_days)]
        daily_mean = pd.concat([pd.Series(np.asarray(in_sample, dtype=float), index=fit_days), ahead_series]).clip(lower=0)
        shares = _intraday_shares(y, ctx)
        mean = np.nan_to_num(_spread(daily_mean, slots, shares))
        window = y[(y.index >= y.index[-1] - PROFILE_WEEKS * WEEK) & ~_is_closed_day(y.index, ctx.closed)]
        window = window[window.index.floor(DAY).isin(fit_days)]
        fit_mean = np.nan_to_num(_spread(daily_mean, window.index, shares))
        alpha = _nb_alpha(window.to_numpy(), fit_mean)
        out = {"forecast": mean, **_count_intervals(mean, alpha)}
        return _zero_closed(out, _future_closed(slots, _open_weekdays(y, ctx), ctx))

    return candidate


def _holiday_weight(days: pd.DatetimeIndex, holidays: Mapping[pd.Timestamp, float]) -> np.ndarray:
    return np.array([holidays.get(d, 0.0) for d in days], dtype=float)


def _ets_daily(daily: pd.Series, future_days: pd.DatetimeIndex, ctx: Context):
    """ETS on a regular daily series: closed days of open weekdays are imputed with the median
    of their weekday (ETS needs no gaps), weekdays never open stay zero."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    days = pd.date_range(daily.index[0], daily.index[-1], freq=DAY)
    full = daily.reindex(days)
    typical = full.groupby(full.index.day_of_week).transform("median")
    full = full.fillna(typical).fillna(0.0)
    seasonal = 7 if len(full) >= 21 else None
    model = ETSModel(full.to_numpy(dtype=float), error="add", trend="add", damped_trend=True,
                     seasonal="add" if seasonal else None, seasonal_periods=seasonal,
                     initialization_method="heuristic" if seasonal and len(full) >= 35 else "estimated")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = model.fit(disp=False, maxiter=200)
    steps = int((future_days[-1] - days[-1]) // DAY)
    ahead = pd.Series(fit.forecast(steps) if steps > 0 else [], index=pd.date_range(days[-1] + DAY, periods=max(steps, 0), freq=DAY))
    fitted = pd.Series(fit.fittedvalues, index=days)
    both = pd.concat([fitted, ahead])
    return fitted.reindex(daily.index).to_numpy(), both.reindex(future_days).to_numpy()


def _poisson_daily(daily: pd.Series, future_days: pd.DatetimeIndex, ctx: Context):
    import statsmodels.api as sm

    days = daily.index.append(future_days)
    origin = daily.index[0]
    # Weekday dummies for the weekdays seen open (they sum to the intercept), a log-linear trend
    # per year, the holiday weight where the fit window has one.
    seen = sorted(set(daily.index.day_of_week))
    weekday = np.column_stack([(days.day_of_week == w).astype(float) for w in seen])
    trend = ((days - origin) / DAY / 365.0).to_numpy(float)[:, None]
    columns = [weekday, trend]
    holiday = _holiday_weight(days, ctx.holidays)
    if holiday[: len(daily)].any():
        columns.append(holiday[:, None])
    X = np.hstack(columns)
    glm = sm.GLM(daily.to_numpy(dtype=float), X[: len(daily)], family=sm.families.Poisson())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = glm.fit()
    ahead = fit.predict(X[len(daily):])
    ahead = np.where(np.isin(future_days.day_of_week, seen), ahead, 0.0)  # a weekday never open
    return fit.predict(X[: len(daily)]), ahead


CANDIDATES: dict[str, Callable[[pd.Series, int, Context], dict | None]] = {
    "seasonal_naive": seasonal_naive,
    "seasonal_mean": seasonal_mean,
    "ets_profile": _profile_model(_ets_daily),
    "poisson_profile": _profile_model(_poisson_daily),
}


# --------------------------------------------------------------------------------------------
# Scoring, backtest and choice
# --------------------------------------------------------------------------------------------

@dataclass
class ForecastResult:
    step: pd.Timedelta
    periods: tuple[int, ...]
    chosen: str
    backtest: pd.DataFrame  # model, horizon, mase, mae, n_origins, is_chosen
    forecast: pd.DataFrame  # period_start, model, forecast, lo80, hi80, lo95, hi95, is_chosen
    coverage: dict[str, dict[str, float]]  # backtest share of open-slot actuals inside the 80 / 95 % intervals
    scores: pd.DataFrame = field(default_factory=pd.DataFrame)  # per model: mase, mae, n_origins (open slots)
    closed_days: tuple = ()  # closed days detected in (or given for) the history
    n_origins: int = 0

    def summary(self) -> pd.DataFrame:
        """Mean MASE and MAE over the backtest's open slots, per model, best first."""
        if self.scores.empty:
            return pd.DataFrame(columns=["mase", "mae", "is_chosen"])
        return (self.scores.set_index("model")[["mase", "mae"]].sort_values("mase")
                .assign(is_chosen=lambda d: d.index == self.chosen))


def open_slots(y: pd.Series, ctx: Context) -> np.ndarray:
    """Slots where the business was open: an open day and an open slot of the weekday's profile."""
    open_day = ~_is_closed_day(y.index, ctx.closed)
    shares = _intraday_shares(y, ctx)
    if shares is None:
        return open_day
    open_slot = shares.reindex(list(zip(y.index.day_of_week, y.index - y.index.floor(DAY)))).fillna(0).to_numpy() > 0
    return open_day & open_slot


def mase_scale(train: pd.Series, ctx: Context, is_open: np.ndarray) -> float:
    """In-sample mean absolute one-week (else one-day) seasonal difference over pairs of open slots."""
    values = train.to_numpy(dtype=float)
    usable = [p for p in ctx.periods if len(values) > 2 * p]
    m = usable[-1] if usable else 1
    if len(values) <= m:
        return 1.0
    both = is_open[m:] & is_open[:-m]
    diffs = np.abs(values[m:] - values[:-m])[both]
    scale = float(np.mean(diffs)) if len(diffs) else 0.0
    return scale if scale > 0 else 1.0


def choose_model(per_origin: pd.DataFrame, default: str = FALLBACK_ORDER[0]) -> str | None:
    """The model to publish from per-origin MASE (rows: models, columns: origins).

    The default (the Poisson profile model: it pools half a year of days, so a few noisy weeks
    move it least) stays unless another model beats it by more than one standard error of their
    paired per-origin differences: with 4-8 origins of a few open days each, the lowest mean
    alone is often luck, and on a daily series it picked a worse model at 4 of 8 weekly
    cut-offs in our test series."""
    if per_origin.empty:
        return None
    ranking = per_origin.mean(axis=1).sort_values()
    best = ranking.index[0]
    if default not in per_origin.index or best == default:
        return best
    diff = (per_origin.loc[best] - per_origin.loc[default]).to_numpy(float)
    se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else np.inf
    return best if diff.mean() < -se else default


def _as_holidays(holidays) -> dict[pd.Timestamp, float]:
    """Dates (weight 1) or a mapping / Series date → weight in [0, 1] (e.g. the share of the
    volume whose teams are closed that day)."""
    if holidays is None:
        return {}
    if isinstance(holidays, pd.Series):
        holidays = holidays.to_dict()
    if isinstance(holidays, Mapping):
        return {pd.Timestamp(k).normalize(): float(v) for k, v in holidays.items()}
    return {pd.Timestamp(d).normalize(): 1.0 for d in holidays}


def _run(name: str, y: pd.Series, horizon: int, ctx: Context) -> dict | None:
    """A candidate's forecast, or None when it cannot fit this history (it then drops out)."""
    try:
        return CANDIDATES[name](y, horizon, ctx)
    except (ValueError, np.linalg.LinAlgError):  # a fit that cannot be made on this history
        return None


def _context(y: pd.Series, step: pd.Timedelta, holidays: dict) -> Context:
    return Context(step=step, periods=seasonal_periods(step), holidays=holidays,
                   closed=detect_closed_days(y, step, holidays))


def backtest_origins(length: int, step: pd.Timedelta, periods: tuple[int, ...], n_origins: int = MAX_ORIGINS) -> list[int]:
    """Weekly, non-overlapping origins (positions), latest last: each leaves a week (or the
    horizon, if shorter) to score and at least two of the longest season (two weeks) to train."""
    week = max(1, int(WEEK // step))
    min_train = max([2 * p for p in periods] + [14 * max(1, int(DAY // step))])
    origins = [length - i * week for i in range(1, n_origins + 1)]
    return sorted(o for o in origins if o >= min_train)


def forecast_arrivals(series: pd.Series, horizon: str | pd.Timedelta = "14D", n_origins: int = MAX_ORIGINS,
                      holidays: Iterable | Mapping | pd.Series | None = None,
                      models: Iterable[str] = MODELS, step: str | pd.Timedelta | None = None) -> ForecastResult:
    """Backtest every candidate on weekly rolling origins, choose by mean MASE over the open
    slots, forecast ``horizon``.

    Origins are one week apart (at most ``n_origins``, as many as the history allows with two
    weeks of training before the first), each scoring the following week (or the horizon, if
    shorter), so the scored windows never overlap. Below one origin there is no backtest: the
    first candidate that can fit in ``FALLBACK_ORDER`` is used and ``backtest`` is empty.
    Raises InsufficientData for an empty series or one too short for any candidate."""
    models = tuple(models)
    y = regularize(series, step=step)
    step = pd.Timedelta(y.index.freq) if y.index.freq is not None else infer_step(y.index)
    hol = _as_holidays(holidays)
    full_ctx = _context(y, step, hol)
    H = max(1, int(pd.Timedelta(horizon) // step))
    scored = min(H, max(1, int(WEEK // step)))
    origins = backtest_origins(len(y), step, full_ctx.periods, n_origins)
    is_open = open_slots(y, full_ctx)  # the truth: detected on the whole series

    errors, inside = [], {m: {"80": [], "95": []} for m in models}
    pairs = {m: ([], []) for m in models}  # open-slot (actual, forecast) of the backtest
    for origin in origins:
        train = y.iloc[:origin]
        ctx = _context(train, step, hol)
        actual = y.iloc[origin: origin + scored].to_numpy()
        open_now = is_open[origin: origin + scored]
        scale = mase_scale(train, ctx, open_slots(train, ctx))
        for name in models:
            out = _run(name, train, scored, ctx)
            if out is None:
                continue
            err = np.abs(out["forecast"][:scored] - actual)
            errors.append(pd.DataFrame({"model": name, "origin": origin, "horizon": np.arange(1, scored + 1),
                                        "abs_error": err, "scaled_error": err / scale})[open_now])
            pairs[name][0].append(actual[open_now])
            pairs[name][1].append(out["forecast"][:scored][open_now])
            inside[name]["80"].append(((actual >= out["lo80"][:scored]) & (actual <= out["hi80"][:scored]))[open_now])
            inside[name]["95"].append(((actual >= out["lo95"][:scored]) & (actual <= out["hi95"][:scored]))[open_now])

    if errors:
        e = pd.concat(errors, ignore_index=True)
        bt = (e.groupby(["model", "horizon"])
              .agg(mase=("scaled_error", "mean"), mae=("abs_error", "mean"), n_origins=("origin", "nunique"))
              .reset_index())
        per_origin = e.groupby(["model", "origin"])["scaled_error"].mean().unstack("origin")
        complete = per_origin.notna().sum(axis=1) == per_origin.shape[1]
        chosen = choose_model(per_origin[complete])
        scores = (e.groupby("model").agg(mase=("scaled_error", "mean"), mae=("abs_error", "mean"),
                                         n_origins=("origin", "nunique")).reset_index())
        # the selection criterion (mean of per-origin MASE) is what scores report
        scores["mase"] = scores["model"].map(per_origin.mean(axis=1))
    else:
        bt = pd.DataFrame(columns=["model", "horizon", "mase", "mae", "n_origins"])
        scores = pd.DataFrame(columns=["model", "mase", "mae", "n_origins"])
        chosen = None
    coverage = {m: {k: float(np.mean(np.concatenate(v))) for k, v in c.items() if v and np.concatenate(v).size}
                for m, c in inside.items()}

    frames = []
    start = y.index[-1] + step
    for name in models:
        out = _run(name, y, H, full_ctx)
        if out is None:
            continue
        if name in COUNT_MODELS and pairs[name][0]:
            alpha = _nb_alpha(np.concatenate(pairs[name][0]), np.concatenate(pairs[name][1]))
            out = {"forecast": out["forecast"], **_count_intervals(out["forecast"], alpha)}
        frames.append(pd.DataFrame({"period_start": pd.date_range(start, periods=H, freq=step), "model": name,
                                    **{k: np.asarray(v, dtype=float) for k, v in out.items()}}))
    if not frames:
        raise InsufficientData(f"history too short to forecast: {len(y)} slots of {step}",
                               "at least two weeks of arrivals are needed")
    fc = pd.concat(frames, ignore_index=True)
    if chosen is None or chosen not in set(fc["model"]):
        chosen = next(m for m in FALLBACK_ORDER + models if m in set(fc["model"]))
    fc["is_chosen"] = fc["model"] == chosen
    bt["is_chosen"] = bt["model"] == chosen
    return ForecastResult(step=step, periods=full_ctx.periods, chosen=chosen, backtest=bt.reset_index(drop=True),
                          forecast=fc[["period_start", "model", "forecast", "lo80", "hi80", "lo95", "hi95", "is_chosen"]],
                          coverage=coverage, scores=scores, closed_days=tuple(sorted(full_ctx.closed)),
                          n_origins=len(origins))


def evaluate_selection(series: pd.Series, weeks: int = 4, holidays=None, step: str | pd.Timedelta | None = None,
                       n_origins: int = MAX_ORIGINS) -> pd.DataFrame:
    """Judge the selection itself, out of sample: at each of the last ``weeks`` weekly cut-offs,
    run ``forecast_arrivals`` on the history before it (its own backtest picks a model) and score
    every candidate's and the chosen one's next week on the open slots (MASE scaled by the
    in-sample open-slot seasonal difference, 80 % coverage). One row per cut-off and model."""
    y = regularize(series, step=step)
    step = pd.Timedelta(y.index.freq) if y.index.freq is not None else infer_step(y.index)
    hol = _as_holidays(holidays)
    full_ctx = _context(y, step, hol)
    is_open = open_slots(y, full_ctx)
    week = max(1, int(WEEK // step))
    rows = []
    for i in range(weeks, 0, -1):
        cut = len(y) - i * week
        train = y.iloc[:cut]
        result = forecast_arrivals(train, horizon=WEEK, n_origins=n_origins, holidays=hol, step=step)
        ctx = _context(train, step, hol)
        scale = mase_scale(train, ctx, open_slots(train, ctx))
        actual = y.iloc[cut: cut + week].to_numpy()
        open_now = is_open[cut: cut + week]
        for model, fc in result.forecast.groupby("model"):
            f = fc.sort_values("period_start")
            err = np.abs(f["forecast"].to_numpy() - actual)[open_now]
            inside = ((actual >= f["lo80"].to_numpy()) & (actual <= f["hi80"].to_numpy()))[open_now]
            rows.append({"cutoff": y.index[cut], "model": model, "is_chosen": model == result.chosen,
                         "mase": float(err.mean() / scale), "coverage80": float(inside.mean()),
                         "open_slots": int(open_now.sum())})
    return pd.DataFrame(rows)
