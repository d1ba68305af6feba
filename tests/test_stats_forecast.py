"""The forecaster on synthetic arrival series with planted seasonality, gaps and closed hours."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from orchestration.cli import main
from orchestration.quality.availability import InsufficientData
from orchestration.stats.forecast import arrivals_from_events, forecast_arrivals, infer_step, seasonal_periods
from orchestration.stats import single_threaded_blas


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    """The fits are small; on a busy machine BLAS threads only fight (see orchestration.stats)."""
    with single_threaded_blas():
        yield


def planted(step: str, weeks: int, seed: int = 0, level: float = 8.0) -> pd.Series:
    """Arrivals with a daily shape (open 08:00-20:00 only), a weekly shape (quiet Saturday,
    closed Sunday), 30 % growth over the span and Poisson-gamma noise; closed slots are absent
    from the series, as in an export that writes only slots with arrivals."""
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2026-01-05", periods=int(pd.Timedelta(weeks=weeks) / pd.Timedelta(step)), freq=step)
    hour = idx.hour + idx.minute / 60
    open_ = (hour >= 8) & (hour < 20) & (idx.day_of_week < 6)
    shape = (1 + 0.6 * np.sin((hour - 8) / 12 * np.pi)) * np.where(idx.day_of_week == 5, 0.4, 1.0)
    scale = level * pd.Timedelta(step) / pd.Timedelta("1h")
    lam = np.where(open_, scale * shape, 0.0) * (1 + 0.3 * np.arange(len(idx)) / len(idx))
    y = rng.poisson(lam * rng.gamma(20, 1 / 20, len(idx)))
    s = pd.Series(y.astype(float), index=idx)
    return s[open_]


def test_chosen_hourly_model_beats_seasonal_naive():
    result = forecast_arrivals(planted("1h", 16))
    summary = result.summary()
    assert result.chosen != "seasonal_naive"
    assert summary.loc[result.chosen, "mase"] < 0.9 * summary.loc["seasonal_naive", "mase"]
    # 16 weeks: 8 weekly origins (the cap), each scoring one week; only open hours are scored
    assert result.n_origins == 8 and result.backtest["n_origins"].max() == 8
    assert result.backtest["horizon"].nunique() == 6 * 12  # open hours of a week: Mon-Sat 08-20


def test_five_minute_series_with_closed_hours():
    s = planted("5min", 6, level=12)
    assert infer_step(s.index) == pd.Timedelta("5min")
    result = forecast_arrivals(s)
    assert result.periods == (288, 2016)
    chosen = result.forecast[result.forecast["is_chosen"]].set_index("period_start")
    assert len(chosen) == 14 * 288
    closed = (chosen.index.hour < 8) | (chosen.index.hour >= 20) | (chosen.index.day_of_week == 6)
    assert (chosen.loc[closed, ["forecast", "lo80", "hi80", "lo95", "hi95"]] == 0).all().all()
    assert (chosen.loc[~closed, "forecast"] > 0).all()
    bounds = result.forecast[["lo95", "lo80", "forecast", "hi80", "hi95"]]
    assert (bounds["lo95"] >= 0).all()
    assert (bounds.diff(axis=1).iloc[:, 1:] >= -1e-9).all().all()  # lo95 <= lo80 <= forecast <= hi80 <= hi95


def test_daily_series_with_weekend_gaps():
    s = planted("1h", 20).resample("D").sum()
    s = s[s > 0]  # Sundays missing entirely
    result = forecast_arrivals(s)
    assert result.step == pd.Timedelta("1D") and result.periods == (7,)
    chosen = result.forecast[result.forecast["is_chosen"]].set_index("period_start")
    assert len(chosen) == 14
    sundays = chosen[chosen.index.day_of_week == 6]
    weekdays = chosen[chosen.index.day_of_week < 5]
    assert sundays["forecast"].max() < 0.2 * weekdays["forecast"].min()
    summary = result.summary()
    assert summary.loc[result.chosen, "mase"] <= summary.loc["seasonal_naive", "mase"]


def test_short_history_and_all_zero_series():
    with pytest.raises(InsufficientData, match="too short"):  # under a week: nothing can fit
        forecast_arrivals(planted("1h", 1).iloc[:-20])
    with pytest.raises(InsufficientData, match="no arrivals"):
        forecast_arrivals(pd.Series([], dtype=float, index=pd.DatetimeIndex([])))
    two_weeks = forecast_arrivals(planted("1h", 2.5))  # too short for a backtest origin, not to forecast
    assert two_weeks.backtest.empty and len(two_weeks.forecast[two_weeks.forecast["is_chosen"]]) == 14 * 24
    assert (two_weeks.forecast[["lo80", "lo95"]] >= 0).all().all()
    zeros = pd.Series(0.0, index=pd.date_range("2026-01-01", periods=24 * 40, freq="h"))
    result = forecast_arrivals(zeros)
    assert (result.forecast[["forecast", "hi95"]] == 0).all().all()


def test_seasonal_periods_follow_the_step():
    assert seasonal_periods(pd.Timedelta("5min")) == (288, 2016)
    assert seasonal_periods(pd.Timedelta("1h")) == (24, 168)
    assert seasonal_periods(pd.Timedelta("1D")) == (7,)
    assert seasonal_periods(pd.Timedelta("7min")) == (1440,)  # a week, not a day, is whole 7-minute slots
    assert seasonal_periods(pd.Timedelta("11min")) == ()


def test_events_are_counted_per_slot_in_utc():
    stamps = pd.Series(["2026-03-02T09:10:00+01:00", "2026-03-02T08:50:00Z", "2026-03-02T11:05:00Z", None])
    counts = arrivals_from_events(pd.to_datetime(stamps, utc=True, format="mixed"), step="1h")
    assert counts.to_dict() == {pd.Timestamp("2026-03-02 08:00"): 2.0, pd.Timestamp("2026-03-02 09:00"): 0.0,
                                pd.Timestamp("2026-03-02 10:00"): 0.0, pd.Timestamp("2026-03-02 11:00"): 1.0}


@pytest.mark.parametrize("pre_aggregated", [True, False])
def test_cli_reads_events_or_counts(tmp_path, capsys, pre_aggregated):
    s = planted("1h", 6)
    path = tmp_path / "arrivals.csv"
    if pre_aggregated:
        s.rename("calls").rename_axis("slot").reset_index().to_csv(path, index=False)
        args = ["--timestamp-col", "slot", "--count-col", "calls"]
    else:
        stamps = np.repeat(s.index.to_numpy(), s.to_numpy().astype(int))
        pd.DataFrame({"arrived_at": pd.DatetimeIndex(stamps).tz_localize("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")}).to_csv(path, index=False)
        args = ["--timestamp-col", "arrived_at"]
    assert main(["forecast", str(path), *args]) == 0
    printed = capsys.readouterr().out
    assert "seasonal_naive" in printed and "poisson_profile" in printed and "chosen:" in printed
    out = pd.read_csv(tmp_path / "arrivals_forecast.csv")
    assert len(out) == 14 * 24 and out["is_chosen"].all()


def test_holidays_file_and_cli_flag(tmp_path, capsys):
    path = tmp_path / "holidays.csv"
    path.write_text("date,weight\n2026-03-18,1\n2026-03-19,0.5\nnot a date,1\n")
    from orchestration.stats.forecast import read_holidays

    assert read_holidays(path) == {pd.Timestamp("2026-03-18"): 1.0, pd.Timestamp("2026-03-19"): 0.5}
    plain = tmp_path / "closed.txt"
    plain.write_text("2026-03-18\n")
    s = planted("1h", 10)  # ends Saturday 2026-03-14: the 18th is a Wednesday ahead
    counts = tmp_path / "counts.csv"
    s.rename("calls").rename_axis("slot").reset_index().to_csv(counts, index=False)
    assert main(["forecast", str(counts), "--timestamp-col", "slot", "--count-col", "calls", "--holidays", str(plain)]) == 0
    out = pd.read_csv(tmp_path / "counts_forecast.csv", parse_dates=["period_start"])
    on_holiday = out["period_start"].dt.floor("D") == pd.Timestamp("2026-03-18")
    assert on_holiday.sum() == 24 and (out.loc[on_holiday, "forecast"] == 0).all()
    assert out.loc[~on_holiday & (out["period_start"].dt.hour == 12) & (out["period_start"].dt.day_of_week < 5),
                   "forecast"].min() > 0
