"""Forecast selection judged out of sample on a call-centre-like series: opening hours (weekdays
08-18), weekly and daily seasonality, Poisson noise and a few closed weekdays that nobody
marked. At each weekly cut-off the forecaster picks its model from its own backtest; the pick's
next week is scored on the open slots against every candidate's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from orchestration.stats import single_threaded_blas
from orchestration.stats.forecast import (Context, detect_closed_days, evaluate_selection, forecast_arrivals,
                                          seasonal_naive, seasonal_periods)

UNMARKED_CLOSED = ("2026-02-11", "2026-03-05", "2026-03-16", "2026-05-20")


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    with single_threaded_blas():
        yield


def call_centre(weeks: int, seed: int = 0, per_hour: float = 60.0, step: str = "5min") -> pd.Series:
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2026-01-05", periods=int(weeks * pd.Timedelta("7D") / pd.Timedelta(step)), freq=step)
    # expected arrivals per slot: integrate the 5-minute rate over the slot
    fine = pd.date_range(idx[0], idx[-1] + pd.Timedelta(step) - pd.Timedelta("5min"), freq="5min")
    hour = fine.hour + fine.minute / 60
    is_open = (fine.day_of_week < 5) & (hour >= 8) & (hour < 18)
    daily_shape = 1 + 0.5 * np.sin((hour - 8) / 10 * np.pi) - 0.2 * ((hour >= 12) & (hour < 13))
    weekly_shape = np.array([1.25, 1.1, 1.0, 0.95, 0.8, 0, 0])[fine.day_of_week]
    rate = np.where(is_open, per_hour / 12 * daily_shape * weekly_shape, 0.0)
    rate[fine.floor("D").isin(pd.to_datetime(list(UNMARKED_CLOSED)))] = 0.0
    lam = pd.Series(rate, index=fine).resample(step).sum().reindex(idx).to_numpy()
    return pd.Series(rng.poisson(lam).astype(float), index=idx)


def _judge(evaluation: pd.DataFrame) -> dict[str, float]:
    per_model = evaluation.groupby("model")["mase"].mean()
    chosen = evaluation[evaluation["is_chosen"]]
    return {"chosen_mase": float(chosen["mase"].mean()), "best_mase": float(per_model.min()),
            "naive_mase": float(per_model["seasonal_naive"]),
            "coverage80": float((chosen["coverage80"] * chosen["open_slots"]).sum() / chosen["open_slots"].sum())}


@pytest.mark.slow  # many fits over long series: statistical calibration, not the fast path
@pytest.mark.parametrize("resolution", ["5min", "1h", "1D"])
def test_chosen_model_holds_out_of_sample(resolution):
    if resolution == "1D":  # a day is one slot: more weeks, so coverage is judged on 40 open days
        series, cutoffs, origins = call_centre(26, step="1D"), 8, 6
    else:
        series, cutoffs, origins = call_centre(10, step=resolution), 3, 4
    figures = _judge(evaluate_selection(series, weeks=cutoffs, n_origins=origins))
    assert figures["chosen_mase"] <= 1.05 * figures["best_mase"], figures
    assert figures["chosen_mase"] < figures["naive_mase"], figures
    assert 0.75 <= figures["coverage80"] <= 0.85, figures


def test_unmarked_closed_days_are_detected_and_forecast_closed_days_are_zero():
    hourly = call_centre(10, step="1h")
    closed = detect_closed_days(hourly, pd.Timedelta("1h"))
    weekday_closed = {d for d in closed if d.day_of_week < 5}
    assert weekday_closed == {pd.Timestamp(d) for d in UNMARKED_CLOSED[:2]}  # the third falls after 10 weeks
    assert {d.day_of_week for d in closed - weekday_closed} == {5, 6}
    result = forecast_arrivals(hourly, horizon="14D", holidays=["2026-03-18"])  # a Wednesday ahead
    daily = forecast_arrivals(hourly.resample("D").sum(), horizon="14D", holidays=["2026-03-18"])
    for res in (result, daily):
        chosen = res.forecast[res.forecast["is_chosen"]].set_index("period_start")
        shut = (chosen.index.day_of_week >= 5) | (chosen.index.floor("D") == pd.Timestamp("2026-03-18"))
        assert (chosen.loc[shut, ["forecast", "hi95"]] == 0).all().all()
        assert (chosen.loc[~shut & (chosen.index.hour == 10 if res is result else True), "forecast"] > 0).all()
    # backtest: weekly non-overlapping origins, as many as the history allows (8 at most)
    assert result.n_origins == 8 and result.backtest["horizon"].max() <= 168


def test_seasonal_naive_looks_back_past_a_closed_day():
    hourly = call_centre(4, step="1h")
    # history to Thursday 2026-01-29 00:00 with the previous Thursday (the 22nd) closed, unmarked
    history = hourly.iloc[: 24 * 24].copy()
    history[history.index.floor("D") == pd.Timestamp("2026-01-22")] = 0.0
    step = pd.Timedelta("1h")
    ctx = Context(step, seasonal_periods(step), {}, detect_closed_days(history, step))
    assert pd.Timestamp("2026-01-22") in ctx.closed
    out = seasonal_naive(history, 24, ctx)  # forecasts Thursday 2026-01-29
    expected = hourly[hourly.index.floor("D") == pd.Timestamp("2026-01-15")].to_numpy()  # two weeks back
    np.testing.assert_array_equal(out["forecast"], expected)
