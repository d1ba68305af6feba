"""Arrival-volume forecasting for any regular count series: candidates, a rolling-origin
backtest, the model with the lowest MASE, and point forecasts with 80 % / 95 % intervals.

Engine-independent on purpose (pandas, numpy, statsmodels; no warehouse, no Dagster), so it
runs on any call-centre or lead-arrival export::

    from orchestration.stats.forecast import arrivals_from_events, forecast_arrivals

    counts = arrivals_from_events(df["created_at"], step="1h")   # or a Series of counts
    result = forecast_arrivals(counts, horizon="14D")
    result.backtest   # model, horizon, mase, mae, n_origins, is_chosen
    result.forecast   # period_start, model, forecast, lo80, hi80, lo95, hi95, is_chosen

The input is a pandas Series of counts with a DatetimeIndex. The step (5 minutes, an hour, a
day ...) is inferred from the timestamps; slots missing between the first and the last one are
zero arrivals (exports leave out empty slots and closed hours). Seasonal periods follow from
the step: a day and a week of steps (288 / 2016 for 5 minutes, 24 / 168 hourly, 7 daily).

Candidates (every one yields non-negative intervals):

* ``seasonal_naive``: the same slot one week (else one day) earlier; Gaussian intervals that
  widen with every season ahead, cut at zero.
* ``ets_profile``: exponential smoothing (additive damped trend, weekly seasonality) on daily
  totals, spread over the day with the recent intraday profile of that weekday.
* ``poisson_profile``: a Poisson regression on daily totals (log-linear trend, weekday,
  holiday weight), spread over the day the same way.

A slot of the week that had no arrivals in the recent weeks (a closed hour) gets a profile share
of zero, so its forecast and intervals are exactly zero. The sub-daily intervals of the profile
models are negative-binomial quantiles around the mean, with the over-dispersion measured on
the training window. For a daily series the profile is trivially one.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

import numpy as np
import pandas as pd
from scipy import stats

DAY = pd.Timedelta(days=1)
WEEK = pd.Timedelta(days=7)
MODELS = ("seasonal_naive", "ets_profile", "poisson_profile")
# Recent weeks that define the intraday profile, and the daily fit window.
PROFILE_WEEKS = 8
DAILY_FIT_DAYS = 182
Z80, Z95 = stats.norm.ppf(0.90), stats.norm.ppf(0.975)


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
        raise ValueError("need at least two timestamps to infer the step")
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


# --------------------------------------------------------------------------------------------
# Predictive intervals
# --------------------------------------------------------------------------------------------

def _nb_alpha(y: np.ndarray, mu: np.ndarray) -> float:
    """Negative-binomial (NB2) over-dispersion by moments: var = mu + alpha mu^2; 0 = Poisson."""
    keep = mu > 1e-9
    if keep.sum() < 2:
        return 0.0
    return float(max(0.0, np.sum((y[keep] - mu[keep]) ** 2 - mu[keep]) / np.sum(mu[keep] ** 2)))


def _nb_intervals(mu: np.ndarray, alpha: float) -> dict[str, np.ndarray]:
    mu = np.maximum(mu, 0.0)
    out = {}
    for name, q in (("lo80", 0.10), ("hi80", 0.90), ("lo95", 0.025), ("hi95", 0.975)):
        if alpha < 1e-8:
            bound = stats.poisson.ppf(q, mu)
        else:
            size = 1.0 / alpha
            bound = stats.nbinom.ppf(q, size, size / (size + mu))
        out[name] = np.where(mu > 0, np.nan_to_num(bound), 0.0)
    return out


def _gaussian_intervals(mean: np.ndarray, sd: np.ndarray) -> dict[str, np.ndarray]:
    return {"lo80": np.maximum(mean - Z80 * sd, 0), "hi80": np.maximum(mean + Z80 * sd, 0),
            "lo95": np.maximum(mean - Z95 * sd, 0), "hi95": np.maximum(mean + Z95 * sd, 0)}


# --------------------------------------------------------------------------------------------
# Candidates: each maps (history, steps ahead) to a frame of forecast and bounds, or None
# when the history is too short for it.
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Context:
    step: pd.Timedelta
    periods: tuple[int, ...]
    holidays: Mapping[pd.Timestamp, float]


def seasonal_naive(y: pd.Series, horizon: int, ctx: Context) -> dict | None:
    usable = [p for p in ctx.periods if len(y) >= 2 * p]
    m = usable[-1] if usable else 1
    if len(y) < m + 2:
        return None
    values = y.to_numpy()
    h = np.arange(horizon)
    mean = values[len(values) - m + (h % m)]
    resid = values[m:] - values[:-m]
    sd = np.std(resid) * np.sqrt(h // m + 1)
    return {"forecast": mean, **_gaussian_intervals(mean, sd)}


def _daily_totals(y: pd.Series, ctx: Context) -> pd.Series:
    """Whole days only: a partial first or last day would look like a drop in volume."""
    per_day = max(1, int(DAY // ctx.step))
    days = y.groupby(y.index.floor(DAY)).agg(["sum", "count"])
    return days.loc[days["count"] == per_day, "sum"] if ctx.step < DAY else days["sum"]


def _intraday_shares(y: pd.Series, ctx: Context) -> pd.Series | None:
    """Share of its day's arrivals per (weekday, slot of day) over the recent weeks; None for a
    daily series. A slot is closed (share exactly zero) when it had no arrivals in the recent
    weeks and lies at an edge of the day's open time; a quiet slot between busy ones (within 30
    minutes on both sides) is open. Slots shorter than 15 minutes are smoothed over ±15 minutes,
    because a few weeks of 5-minute counts are noisy."""
    if ctx.step >= DAY:
        return None
    per_day = int(DAY // ctx.step)
    recent = y[y.index >= y.index.max() - PROFILE_WEEKS * WEEK]
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
        counts = np.apply_along_axis(lambda row: np.convolve(row, kernel, mode="same"), 1, counts)
    counts = np.where(is_open, counts, 0.0)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    index = pd.MultiIndex.from_product([range(7), pd.timedelta_range(0, periods=per_day, freq=ctx.step)])
    return pd.Series(shares.ravel(), index=index)


def _spread(daily_mean: pd.Series, start: pd.Timestamp, horizon: int, shares: pd.Series | None,
            ctx: Context) -> np.ndarray:
    """Daily means → slot means over the horizon (times of day the profile never saw get 0)."""
    slots = pd.date_range(start, periods=horizon, freq=ctx.step)
    day_mean = daily_mean.reindex(slots.floor(DAY)).to_numpy()
    if shares is None:
        return day_mean
    share = shares.reindex(list(zip(slots.day_of_week, slots - slots.floor(DAY)))).fillna(0.0).to_numpy()
    return day_mean * share


def _profile_model(daily_fit: Callable[[pd.Series, int, Context], tuple[np.ndarray, np.ndarray] | None]):
    """A candidate from a daily-total model: fit on whole days, spread over the day with the
    weekday profile, negative-binomial intervals with the dispersion seen in the fit window."""

    def candidate(y: pd.Series, horizon: int, ctx: Context) -> dict | None:
        daily = _daily_totals(y, ctx)
        start = y.index[-1] + ctx.step
        days_ahead = int((start + horizon * ctx.step - daily.index[-1]) // DAY) + 1 if len(daily) else 0
        if len(daily) < 14:
            return None
        fitted = (daily_fit(daily, days_ahead, ctx) if daily.iloc[-DAILY_FIT_DAYS:].any()
                  else (np.zeros(len(daily)), np.zeros(days_ahead)))  # nothing arrived: nothing to fit
        if fitted is None:
            return None
        in_sample, ahead = fitted
        future_days = pd.date_range(daily.index[-1] + DAY, periods=days_ahead, freq=DAY)
        # the daily models fit the recent DAILY_FIT_DAYS only: their in-sample values are the last days
        in_sample = np.asarray(in_sample)
        daily_mean = pd.concat([pd.Series(in_sample, index=daily.index[len(daily) - len(in_sample):]),
                                pd.Series(np.asarray(ahead), index=future_days)])
        daily_mean = daily_mean.clip(lower=0)
        shares = _intraday_shares(y, ctx)
        mean = _spread(daily_mean, start, horizon, shares, ctx)
        window = y[y.index >= max(daily_mean.index[0], y.index[-1] - PROFILE_WEEKS * WEEK)]
        fit_mean = _spread(daily_mean, window.index[0], len(window), shares, ctx)
        alpha = _nb_alpha(window.to_numpy(), fit_mean)
        return {"forecast": mean, **_nb_intervals(mean, alpha)}

    return candidate


def _ets_daily(daily: pd.Series, days_ahead: int, ctx: Context):
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    daily = daily.iloc[-DAILY_FIT_DAYS:]
    seasonal = 7 if len(daily) >= 21 else None
    model = ETSModel(daily.to_numpy(dtype=float), error="add", trend="add", damped_trend=True,
                     seasonal="add" if seasonal else None, seasonal_periods=seasonal,
                     initialization_method="heuristic" if seasonal and len(daily) >= 35 else "estimated")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = model.fit(disp=False, maxiter=200)
    return fit.fittedvalues, fit.forecast(days_ahead)


def _holiday_weight(days: pd.DatetimeIndex, holidays: Mapping[pd.Timestamp, float]) -> np.ndarray:
    return np.array([holidays.get(d, 0.0) for d in days], dtype=float)


def _poisson_daily(daily: pd.Series, days_ahead: int, ctx: Context):
    import statsmodels.api as sm

    daily = daily.iloc[-DAILY_FIT_DAYS:]
    future = pd.date_range(daily.index[-1] + DAY, periods=days_ahead, freq=DAY)
    days = daily.index.append(future)
    # Weekday dummies (they sum to the intercept), a log-linear trend per year, the holiday weight.
    columns = [pd.get_dummies(days.day_of_week).reindex(columns=range(7), fill_value=False).to_numpy(float),
               (np.arange(len(days)) / 365.0)[:, None]]
    holiday = _holiday_weight(days, ctx.holidays)
    if holiday[: len(daily)].any():
        columns.append(holiday[:, None])
    X = np.hstack(columns)
    glm = sm.GLM(daily.to_numpy(dtype=float), X[: len(daily)], family=sm.families.Poisson())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = glm.fit()
    return fit.predict(X[: len(daily)]), fit.predict(X[len(daily):])


CANDIDATES: dict[str, Callable[[pd.Series, int, Context], dict | None]] = {
    "seasonal_naive": seasonal_naive,
    "ets_profile": _profile_model(_ets_daily),
    "poisson_profile": _profile_model(_poisson_daily),
}


# --------------------------------------------------------------------------------------------
# Backtest and choice
# --------------------------------------------------------------------------------------------

@dataclass
class ForecastResult:
    step: pd.Timedelta
    periods: tuple[int, ...]
    chosen: str
    backtest: pd.DataFrame  # model, horizon, mase, mae, n_origins, is_chosen
    forecast: pd.DataFrame  # period_start, model, forecast, lo80, hi80, lo95, hi95, is_chosen
    coverage: dict[str, dict[str, float]]  # backtest share of actuals inside the 80 / 95 % intervals

    def summary(self) -> pd.DataFrame:
        """Mean MASE and MAE over every horizon, per model, best first."""
        return (self.backtest.groupby("model")[["mase", "mae"]].mean()
                .sort_values("mase").assign(is_chosen=lambda d: d.index == self.chosen))


def _mase_scale(train: np.ndarray, periods: tuple[int, ...]) -> float:
    usable = [p for p in periods if len(train) > 2 * p]
    m = usable[-1] if usable else 1
    scale = np.mean(np.abs(train[m:] - train[:-m])) if len(train) > m else 0.0
    return float(scale) if scale > 0 else 1.0


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
    except (ValueError, np.linalg.LinAlgError):
        return None


def forecast_arrivals(series: pd.Series, horizon: str | pd.Timedelta = "14D", n_origins: int = 6,
                      holidays: Iterable | Mapping | pd.Series | None = None,
                      models: Iterable[str] = MODELS, step: str | pd.Timedelta | None = None) -> ForecastResult:
    """Backtest every candidate on rolling origins, choose by mean MASE, forecast ``horizon``.

    Origins are spaced by the horizon's length divided by ``n_origins`` (at least one day),
    latest last, each leaving the full horizon to score; a short history gets fewer origins and,
    below one origin, no backtest (then the first candidate that can fit in the order
    poisson_profile, ets_profile, seasonal_naive is used and ``backtest`` is empty).
    """
    y = regularize(series, step=step)
    step = pd.Timedelta(y.index.freq) if y.index.freq is not None else infer_step(y.index)
    ctx = Context(step=step, periods=seasonal_periods(step), holidays=_as_holidays(holidays))
    H = max(1, int(pd.Timedelta(horizon) // step))
    min_train = max([2 * p for p in ctx.periods] + [14 * int(max(DAY // step, 1))])
    stride = max(int(max(DAY // step, 1)), H // n_origins)
    origins = [len(y) - H - i * stride for i in range(n_origins)]
    origins = sorted(o for o in origins if o >= min_train)

    errors = []
    inside = {m: {"80": [], "95": []} for m in models}
    for origin in origins:
        train, actual = y.iloc[:origin], y.iloc[origin: origin + H].to_numpy()
        scale = _mase_scale(train.to_numpy(), ctx.periods)
        for name in models:
            out = _run(name, train, H, ctx)
            if out is None:
                continue
            err = np.abs(out["forecast"] - actual)
            errors.append(pd.DataFrame({"model": name, "origin": origin, "horizon": np.arange(1, H + 1),
                                        "abs_error": err, "scaled_error": err / scale}))
            inside[name]["80"].append((actual >= out["lo80"]) & (actual <= out["hi80"]))
            inside[name]["95"].append((actual >= out["lo95"]) & (actual <= out["hi95"]))

    if errors:
        e = pd.concat(errors, ignore_index=True)
        bt = (e.groupby(["model", "horizon"])
              .agg(mase=("scaled_error", "mean"), mae=("abs_error", "mean"), n_origins=("origin", "nunique"))
              .reset_index())
        complete = bt.groupby("model")["n_origins"].min() == len(origins)
        ranking = bt.groupby("model")["mase"].mean()[complete[complete].index].sort_values()
        chosen = ranking.index[0] if len(ranking) else bt["model"].iloc[0]
    else:
        bt = pd.DataFrame(columns=["model", "horizon", "mase", "mae", "n_origins"])
        chosen = None
    coverage = {m: {k: float(np.mean(np.concatenate(v))) for k, v in c.items() if v} for m, c in inside.items()}

    frames = []
    start = y.index[-1] + step
    for name in models:
        out = _run(name, y, H, ctx)
        if out is None:
            continue
        frames.append(pd.DataFrame({"period_start": pd.date_range(start, periods=H, freq=step), "model": name,
                                    **{k: np.asarray(v, dtype=float) for k, v in out.items()}}))
    if not frames:
        raise ValueError(f"history too short to forecast: {len(y)} slots of {step}")
    fc = pd.concat(frames, ignore_index=True)
    if chosen is None or chosen not in set(fc["model"]):
        chosen = next(m for m in ("poisson_profile", "ets_profile", "seasonal_naive") if m in set(fc["model"]))
    fc["is_chosen"] = fc["model"] == chosen
    bt["is_chosen"] = bt["model"] == chosen
    return ForecastResult(step=step, periods=ctx.periods, chosen=chosen, backtest=bt.reset_index(drop=True),
                          forecast=fc[["period_start", "model", "forecast", "lo80", "hi80", "lo95", "hi95", "is_chosen"]],
                          coverage=coverage)
