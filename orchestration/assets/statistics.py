"""Statistics assets (group "statistics", keys ``stats/<table>``): does speed pay, how many
leads are coming, how many reps that needs, experiments and rep outliers. Each reads the marts
with SQL (aggregated in DuckDB), fits in Python without holding the warehouse lock, and replaces
its ``stats.<table>`` atomically. Methods: docs/statistics.md; logic: orchestration/stats/."""

import dagster as dg
import numpy as np
import pandas as pd

from orchestration.assets.ingestion import WAREHOUSE_POOL
from orchestration.resources import WarehouseResource
from orchestration.stats import conversion, experiments, outliers, single_threaded_blas, staffing
from orchestration.stats.forecast import forecast_arrivals, regularize
from orchestration.stats.tables import write_table

GROUP = "statistics"
FACT = dg.AssetKey(["marts", "fct_lead_response"])
OUTCOMES = dg.AssetKey(["intermediate", "int_incident_outcomes"])


def _key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["stats", table])


class ConversionConfig(dg.Config):
    # Leads younger than this at the end of the data are left out: their outcome is not known yet.
    follow_up_days: int = 14


class StaffingConfig(dg.Config):
    service_level: float = 0.80
    target_seconds: float = 300.0
    max_occupancy: float = 0.85
    shrinkage: float = 0.30
    # Added to the measured call length: notes and CRM updates after a response.
    wrap_up_seconds: float = 60.0
    # Measured handle time and on-duty capacity come from this many days before the end of the data.
    lookback_days: int = 28


def _write(warehouse: WarehouseResource, tables: dict[str, pd.DataFrame]) -> None:
    with warehouse.writer() as con:
        for name, frame in tables.items():
            write_table(con, name, frame)


def _fit_on_cells(warehouse: WarehouseResource, config: ConversionConfig, table: str, fit) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Load the covariate cells, fit (one BLAS thread), write ``stats.<table>``; too few leads to
    fit give an empty table, not a failure."""
    with warehouse.writer() as con:
        cells = conversion.load_cells(con, config.follow_up_days)
    with single_threaded_blas():
        result = fit(cells) if len(cells) else pd.DataFrame(columns=["outcome"])
    _write(warehouse, {table: result})
    return cells, result


# --------------------------------------------------------------------------------------------
# Speed vs. conversion
# --------------------------------------------------------------------------------------------

@dg.asset(key=_key("speed_conversion_effects"), group_name=GROUP, deps=[FACT, OUTCOMES], pool=WAREHOUSE_POOL,
          description="Odds ratios of opportunity / contact / booking by response bucket against the fastest, "
                      "with controls and rep-clustered 95 % intervals; within-rep and unadjusted sensitivity models.")
def speed_conversion_effects(context: dg.AssetExecutionContext, config: ConversionConfig,
                             warehouse: WarehouseResource) -> dg.MaterializeResult:
    cells, effects = _fit_on_cells(warehouse, config, "speed_conversion_effects", conversion.bucket_effects)
    meta = {"leads": int(cells["n"].sum()) if len(cells) else 0, "covariate_cells": len(cells),
            "follow_up_days": config.follow_up_days, "design": conversion.DESIGN_NOTE}
    main = effects[(effects.get("outcome") == "opportunity") & (effects.get("model") == "buckets_clustered")] \
        if len(effects) else effects
    if len(main):
        meta["reps"] = int(main["n_reps"].iloc[0])
        meta["opportunity odds ratios (buckets_clustered)"] = dg.MetadataValue.md(
            "| bucket | leads | OR | 95 % CI |\n|---|---:|---:|---|\n" + "".join(
                f"| {r.term} | {r.n_leads} | {r.odds_ratio:.2f} | "
                f"{'reference' if r.is_reference else f'{r.ci_low:.2f}–{r.ci_high:.2f}'} |\n"
                for r in main.itertuples()))
        slowest = main[main["term"] != "unanswered"].iloc[-1]
        meta["headline_odds_ratio"] = f"{slowest.term} vs {main.iloc[0].term}: {slowest.odds_ratio:.2f}"
    return dg.MaterializeResult(metadata=meta)


@dg.asset(key=_key("conversion_curve"), group_name=GROUP, deps=[FACT, OUTCOMES], pool=WAREHOUSE_POOL,
          description="Predicted opportunity / contact / booking rate against minutes to first response "
                      "(spline of log minutes, controls, standardised over the leads' mix), with 95 % intervals.")
def conversion_curve(context: dg.AssetExecutionContext, config: ConversionConfig,
                     warehouse: WarehouseResource) -> dg.MaterializeResult:
    cells, curve = _fit_on_cells(warehouse, config, "conversion_curve", conversion.conversion_curve)
    return dg.MaterializeResult(metadata={"points": len(curve), "leads": int(cells["n"].sum()) if len(cells) else 0})


# --------------------------------------------------------------------------------------------
# Volume forecast and staffing
# --------------------------------------------------------------------------------------------

def hourly_arrivals(con) -> pd.Series:
    """Lead incidents per UTC hour of their clock start, whole hours only, zero-filled."""
    frame = con.execute("""
        select date_trunc('hour', clock_started_at) as hour_start_at, count(*) as leads
        from marts.fct_lead_response
        where clock_started_at < date_trunc('hour', (select max(clock_started_at) from marts.fct_lead_response))
        group by 1 order by 1""").df()
    if frame.empty:
        return pd.Series(dtype=float)
    return regularize(pd.Series(frame["leads"].to_numpy(float), index=pd.DatetimeIndex(frame["hour_start_at"])),
                      step="1h")


def holiday_weights(con) -> pd.Series:
    """Per date: the share of lead volume whose team is closed for a holiday (1 for a holiday of
    every team). Lead volume per team from the whole history."""
    frame = con.execute("""
        with team_share as (
            select team_id, count(*) / sum(count(*)) over () as share
            from marts.fct_lead_response group by team_id
        ),
        days as (
            select h.team_id, cast(unnest(generate_series(h.start_date, coalesce(h.end_date, h.start_date),
                                                          interval 1 day)) as date) as holiday_date
            from staging.stg_holidays as h
        )
        select holiday_date, least(1.0, sum(case when days.team_id is null then 1.0 else coalesce(s.share, 0) end)) as weight
        from days left join team_share as s on s.team_id = days.team_id
        group by holiday_date""").df()
    return pd.Series(frame["weight"].to_numpy(float), index=pd.to_datetime(frame["holiday_date"]))


@dg.multi_asset(
    specs=[dg.AssetSpec(_key("volume_forecast"), group_name=GROUP, deps=[FACT, dg.AssetKey(["staging", "stg_holidays"])],
                        description="Lead arrivals for the next 14 days, hourly and daily, every candidate model "
                                    "(is_chosen marks the lowest backtest MASE), with 80 % and 95 % intervals."),
           dg.AssetSpec(_key("forecast_backtest"), group_name=GROUP, deps=[FACT],
                        description="Rolling-origin backtest of the forecasters: MASE and MAE per steps ahead.")],
    pool=WAREHOUSE_POOL,
)
def volume_forecast(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    with warehouse.writer() as con:
        hourly = hourly_arrivals(con)
        holidays = holiday_weights(con)
    forecasts, backtests, meta = [], [], {"hours_of_history": len(hourly)}
    daily = hourly.groupby(hourly.index.floor("D")).agg(["sum", "count"])
    daily = daily.loc[daily["count"] == 24, "sum"]
    for frequency, series in (("hour", hourly), ("day", daily)):
        try:
            with single_threaded_blas():
                result = forecast_arrivals(series, horizon="14D", holidays=holidays)
        except ValueError as exc:  # too short a history: say so, publish nothing for it
            meta[f"{frequency}_skipped"] = str(exc)
            continue
        forecasts.append(result.forecast.assign(frequency=frequency))
        backtests.append(result.backtest.assign(frequency=frequency))
        summary = result.summary()
        meta[f"{frequency}_chosen_model"] = result.chosen
        if len(summary):
            meta[f"{frequency}_mase"] = dg.MetadataValue.md(
                "| model | MASE | MAE | 80 % coverage | 95 % coverage |\n|---|---:|---:|---:|---:|\n" + "".join(
                    f"| {m} | {r.mase:.3f} | {r.mae:.2f} | {result.coverage.get(m, {}).get('80', np.nan):.0%} | "
                    f"{result.coverage.get(m, {}).get('95', np.nan):.0%} |\n" for m, r in summary.iterrows()))
    empty = pd.DataFrame(columns=["frequency"])
    _write(warehouse, {"volume_forecast": pd.concat(forecasts) if forecasts else empty,
                       "forecast_backtest": pd.concat(backtests) if backtests else empty})
    yield dg.MaterializeResult(asset_key=_key("volume_forecast"), metadata=meta)
    yield dg.MaterializeResult(asset_key=_key("forecast_backtest"),
                               metadata={"rows": int(sum(len(b) for b in backtests))})


def measured_handle_seconds(con, lookback_days: int) -> float | None:
    """Mean wall time of the reps' outbound calls (ringing, talk, voicemail) in the lookback window."""
    return con.execute(f"""
        select avg(epoch(ended_at) - epoch(started_at))
        from staging.stg_calls
        where direction = 'outbound' and rep_id is not null and ended_at >= started_at
          and started_at >= (select max(started_at) from staging.stg_calls) - interval {int(lookback_days)} day
    """).fetchone()[0]


def on_duty_by_hour_of_week(con, lookback_days: int) -> pd.Series:
    """Average reps on duty (all teams) per UTC (weekday, hour) over the last ``lookback_days``
    of the schedules: the roster as it stands, projected onto the forecast hours."""
    frame = con.execute(f"""
        with recent as (
            select hour_start_at, sum(reps_on_duty) as reps_on_duty
            from marts.mart_reps_on_duty_hourly
            where hour_start_at >= (select max(clock_started_at) from marts.fct_lead_response) - interval {int(lookback_days)} day
              and hour_start_at < (select max(clock_started_at) from marts.fct_lead_response)
            group by hour_start_at
        )
        select isodow(hour_start_at) as dow, hour(hour_start_at) as hod,
               sum(reps_on_duty) / {max(1, lookback_days // 7)} as reps_on_duty
        from recent group by all""").df()
    return frame.set_index(["dow", "hod"])["reps_on_duty"]


@dg.asset(key=_key("staffing_plan"), group_name=GROUP, pool=WAREHOUSE_POOL,
          deps=[_key("volume_forecast"), dg.AssetKey(["marts", "mart_reps_on_duty_hourly"]),
                dg.AssetKey(["staging", "stg_calls"])],
          description="Reps needed per hour of the forecast (Erlang C, service-level target, occupancy cap, "
                      "shrinkage) against the reps the schedules put on duty.")
def staffing_plan(context: dg.AssetExecutionContext, config: StaffingConfig,
                  warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.writer() as con:
        forecast = con.execute("""select period_start, forecast from stats.volume_forecast
                                  where frequency = 'hour' and is_chosen order by period_start""").df()
        call_seconds = measured_handle_seconds(con, config.lookback_days)
        on_duty = on_duty_by_hour_of_week(con, config.lookback_days)
    target = staffing.StaffingTarget(config.service_level, config.target_seconds, config.max_occupancy, config.shrinkage)
    handle = (call_seconds or 0.0) + config.wrap_up_seconds
    if forecast.empty or handle <= 0 or on_duty.empty:
        # No forecast, no handle time, or no schedules (so nobody on duty to compare with).
        plan = pd.DataFrame(columns=["period_start"])
    else:
        hours = pd.DatetimeIndex(forecast["period_start"])
        duty = on_duty.reindex(list(zip(hours.day_of_week + 1, hours.hour))).fillna(0.0).to_numpy()
        p = staffing.staffing_plan(forecast["forecast"].to_numpy(), handle, duty, target)
        plan = pd.DataFrame({"period_start": hours, "team_id": "all", "forecast_leads": forecast["forecast"],
                             "handle_seconds": handle, "reps_on_duty": duty, "target_service_level": target.service_level,
                             "target_seconds": target.target_seconds, **p})
    _write(warehouse, {"staffing_plan": plan})
    meta = {"hours": len(plan), "handle_seconds": float(handle), "measured_call_seconds": call_seconds}
    if len(plan):
        meta.update({"hours_understaffed": int((plan["gap"] < 0).sum()),
                     "peak_reps_required": int(plan["reps_required"].max()),
                     "target": f"{target.service_level:.0%} within {target.target_seconds:.0f} s"})
    return dg.MaterializeResult(metadata=meta)


# --------------------------------------------------------------------------------------------
# Rep outliers and experiments
# --------------------------------------------------------------------------------------------

@dg.asset(key=_key("rep_outliers"), group_name=GROUP, deps=[FACT, OUTCOMES], pool=WAREHOUSE_POOL,
          description="Per rep: SLA compliance and conversion against funnel-plot limits (99.8 %, between-rep "
                      "spread included) and an empirical-Bayes shrunk rate.")
def rep_outliers(context: dg.AssetExecutionContext, config: ConversionConfig,
                 warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.writer() as con:
        per_rep = con.execute(f"""
            select f.owner_rep_id as rep_id,
                   count_if(f.sla_status in ('met', 'breached')) as sla_leads,
                   count_if(f.sla_status = 'met') as sla_met,
                   count_if(f.clock_started_at <= f.as_of_at - interval {int(config.follow_up_days)} day) as conv_leads,
                   sum(case when f.clock_started_at <= f.as_of_at - interval {int(config.follow_up_days)} day
                            then o.has_opportunity else 0 end) as converted
            from marts.fct_lead_response as f
            inner join intermediate.int_incident_outcomes as o on o.incident_lead_id = f.lead_id
            where f.owner_rep_id is not null
            group by 1 order by 1""").df()
    frames = [outliers.funnel(per_rep.rename(columns={n: "n_leads", y: "successes"})[["rep_id", "n_leads", "successes"]]
                              .query("n_leads > 0"), metric)
              for metric, n, y in (("sla_compliance", "sla_leads", "sla_met"), ("conversion", "conv_leads", "converted"))]
    table = pd.concat(frames, ignore_index=True)
    _write(warehouse, {"rep_outliers": table})
    flags = table[table["flag"] != "in_control"].groupby(["metric", "flag"]).size()
    return dg.MaterializeResult(metadata={"reps": int(per_rep.shape[0]),
                                          "flagged": {f"{m} {f}": int(v) for (m, f), v in flags.items()}})


@dg.asset(key=_key("experiment_effects"), group_name=GROUP, pool=WAREHOUSE_POOL,
          deps=[FACT, OUTCOMES, dg.AssetKey(["staging", "stg_experiment_assignments"])],
          description="Effects of experiment arms on response time and conversion (clustered by the randomised "
                      "unit), with intervals, minimum detectable effect and power. Empty without an experiments extract.")
def experiment_effects(context: dg.AssetExecutionContext, config: ConversionConfig,
                       warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.writer() as con:
        leads = experiment_leads(con, config.follow_up_days)
    with single_threaded_blas():
        table = experiments.experiment_effects(leads) if len(leads) else pd.DataFrame(columns=experiments.COLUMNS)
    _write(warehouse, {"experiment_effects": table})
    if leads.empty:
        return dg.MaterializeResult(metadata={"note": "no experiment assignments in the data (the optional "
                                                      "experiment_assignments extract is absent or empty): empty table",
                                              "rows": 0})
    return dg.MaterializeResult(metadata={"experiments": int(leads["experiment_id"].nunique()),
                                          "leads": len(leads), "rows": len(table)})


def experiment_leads(con, follow_up_days: int) -> pd.DataFrame:
    """Each lead incident in an experiment with its arm: by its own id (unit_type lead) or its
    owner rep (unit_type rep), with its clock start within the experiment's dates."""
    return con.execute(f"""
        select a.experiment_id, a.unit_id, a.arm, coalesce(f.team_id, 'none') as team_id, o.has_opportunity,
               -- business time (calendar where the team has no schedule), answered leads only
               case when f.first_response_at is not null
                    then coalesce(f.business_seconds_to_first_response, f.seconds_to_first_response) end
                   as seconds_to_first_response
        from staging.stg_experiment_assignments as a
        inner join marts.fct_lead_response as f
            on (a.unit_type = 'lead' and f.lead_id = a.unit_id)
            or (a.unit_type = 'rep' and f.owner_rep_id = a.unit_id)
        inner join intermediate.int_incident_outcomes as o on o.incident_lead_id = f.lead_id
        where (a.started_on is null or cast(f.clock_started_at as date) >= a.started_on)
          and (a.ended_on is null or cast(f.clock_started_at as date) <= a.ended_on)
          and f.clock_started_at <= f.as_of_at - interval {int(follow_up_days)} day""").df()


statistics_assets = [speed_conversion_effects, conversion_curve, volume_forecast, staffing_plan, rep_outliers,
                     experiment_effects]
