"""Statistics assets (group "statistics", keys ``stats/<table>``): does speed pay, how many
leads are coming, how many reps that needs, experiments and rep outliers. Each reads the marts
with SQL (aggregated in DuckDB), fits in Python without holding the warehouse lock, and replaces
its ``stats.<table>`` atomically. Methods: docs/statistics.md; logic: orchestration/stats/."""

import dagster as dg
import numpy as np
import pandas as pd

from orchestration.quality.availability import InsufficientData, OutputStatus, available, record_status, unavailable
from orchestration.defs.resources import WarehouseResource
from orchestration.stats import single_threaded_blas, staffing
from orchestration.stats.tables import write_table
from orchestration.warehouse import WAREHOUSE_POOL

# The fitting modules (conversion, experiments, outliers, forecast) import scipy and statsmodels:
# 1.2-1.5 s that every process loading the code location paid, also the daily run, `stl ui`'s
# code server and runs that stop before the statistics. Each asset imports what it fits with.

GROUP = "statistics"
FACT = dg.AssetKey(["marts", "fct_lead_response"])
OUTCOMES = dg.AssetKey(["marts", "fct_lead_outcomes"])


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
    # Handle time when no calls were exported (seconds, before wrap-up); None: staffing unavailable then.
    handle_seconds: float | None = None
    # Mean patience of a waiting lead (seconds): Erlang A. None: estimated from abandoned inbound
    # calls when there are enough of them, else Erlang C.
    patience_seconds: float | None = None


def _write(warehouse: WarehouseResource, tables: dict[str, pd.DataFrame], statuses: list[OutputStatus] = (),
           run_id: str | None = None) -> None:
    """Replace the tables and record each output's status (quality.output_status) in one go."""
    with warehouse.writer() as con:
        for name, frame in tables.items():
            write_table(con, name, frame)
        if statuses:
            record_status(con, list(statuses), run_id)


def _status_meta(status: OutputStatus) -> dict:
    meta = {"status": "available" if status.available else "not available"}
    if not status.available:
        meta["reason"] = status.reason
        if status.remedy:
            meta["remedy"] = status.remedy
    return meta


def _fit_on_cells(context, warehouse: WarehouseResource, config: ConversionConfig, table: str,
                  fit) -> tuple[pd.DataFrame, pd.DataFrame, OutputStatus]:
    """Load the covariate cells, fit (one BLAS thread), write ``stats.<table>`` and its status.
    Too little data (InsufficientData) gives an empty table and the reason, not a failure."""
    from orchestration.stats import conversion

    with warehouse.writer() as con:
        cells = conversion.load_cells(con, config.follow_up_days)
    try:
        with single_threaded_blas():
            result = fit(cells)
        status = available(table)
    except InsufficientData as exc:
        result = pd.DataFrame(columns=["outcome"])
        status = unavailable(table, exc.reason, exc.remedy)
    _write(warehouse, {table: result}, [status], context.run_id)
    return cells, result, status


# --------------------------------------------------------------------------------------------
# Speed vs. conversion
# --------------------------------------------------------------------------------------------

@dg.asset(key=_key("speed_conversion_effects"), group_name=GROUP, deps=[FACT, OUTCOMES], pool=WAREHOUSE_POOL,
          description="Odds ratios of opportunity / contact / booking by response bucket against the fastest, "
                      "with controls and rep-clustered 95 % intervals; within-rep and unadjusted sensitivity models.")
def speed_conversion_effects(context: dg.AssetExecutionContext, config: ConversionConfig,
                             warehouse: WarehouseResource) -> dg.MaterializeResult:
    from orchestration.stats import conversion

    cells, effects, status = _fit_on_cells(context, warehouse, config, "speed_conversion_effects",
                                           conversion.bucket_effects)
    meta = {"leads": int(cells["n"].sum()) if len(cells) else 0, "covariate_cells": len(cells),
            "follow_up_days": config.follow_up_days, "design": conversion.DESIGN_NOTE, **_status_meta(status)}
    if effects.attrs.get("skipped"):
        meta["skipped"] = {k: str(v) for k, v in effects.attrs["skipped"].items()}
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
    from orchestration.stats import conversion

    cells, curve, status = _fit_on_cells(context, warehouse, config, "conversion_curve", conversion.conversion_curve)
    meta = {"points": len(curve), "leads": int(cells["n"].sum()) if len(cells) else 0, **_status_meta(status)}
    if curve.attrs.get("skipped"):
        meta["skipped"] = {k: str(v) for k, v in curve.attrs["skipped"].items()}
    return dg.MaterializeResult(metadata=meta)


# --------------------------------------------------------------------------------------------
# Volume forecast and staffing
# --------------------------------------------------------------------------------------------

def hourly_arrivals(con) -> pd.Series:
    """Lead incidents per UTC hour of their clock start, whole hours only, zero-filled."""
    from orchestration.stats.forecast import regularize

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
    from orchestration.stats.forecast import forecast_arrivals

    with warehouse.writer() as con:
        hourly = hourly_arrivals(con)
        holidays = holiday_weights(con)
    forecasts, backtests, meta = [], [], {"hours_of_history": len(hourly)}
    if hourly.empty:
        series = {}
        meta["hour_skipped"] = meta["day_skipped"] = "no lead incidents in marts.fct_lead_response"
    else:
        daily = hourly.groupby(hourly.index.floor("D")).agg(["sum", "count"])
        series = {"hour": hourly, "day": daily.loc[daily["count"] == 24, "sum"]}
    for frequency, values in series.items():
        try:
            with single_threaded_blas():
                result = forecast_arrivals(values, horizon="14D", holidays=holidays)
        except InsufficientData as exc:  # too short a history: say so, publish nothing for it
            meta[f"{frequency}_skipped"] = exc.reason
            continue
        forecasts.append(result.forecast.assign(frequency=frequency))
        backtests.append(result.backtest.assign(frequency=frequency))
        summary = result.summary()
        meta[f"{frequency}_chosen_model"] = result.chosen
        meta[f"{frequency}_backtest_origins"] = result.n_origins
        meta[f"{frequency}_closed_days"] = len(result.closed_days)
        if len(summary):
            meta[f"{frequency}_mase"] = dg.MetadataValue.md(
                "| model | MASE | MAE | 80 % coverage | 95 % coverage |\n|---|---:|---:|---:|---:|\n" + "".join(
                    f"| {m} | {r.mase:.3f} | {r.mae:.2f} | {result.coverage.get(m, {}).get('80', np.nan):.0%} | "
                    f"{result.coverage.get(m, {}).get('95', np.nan):.0%} |\n" for m, r in summary.iterrows()))
    if forecasts and "hour_skipped" not in meta:
        status = available("volume_forecast")
    else:
        status = unavailable("volume_forecast", meta.get("hour_skipped", "no forecast could be made"))
    meta.update(_status_meta(status))
    empty = pd.DataFrame(columns=["frequency"])
    _write(warehouse, {"volume_forecast": pd.concat(forecasts) if forecasts else empty,
                       "forecast_backtest": pd.concat(backtests) if backtests else empty}, [status], context.run_id)
    yield dg.MaterializeResult(asset_key=_key("volume_forecast"), metadata=meta)
    yield dg.MaterializeResult(asset_key=_key("forecast_backtest"),
                               metadata={"rows": int(sum(len(b) for b in backtests))})


def _has_rows(con, table: str, where: str = "true") -> bool:
    schema, name = table.split(".")
    exists = con.execute("select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
                         [schema, name]).fetchone()[0]
    return bool(exists) and bool(con.execute(f"select count(*) from (select 1 from {table} where {where} limit 1)").fetchone()[0])


# The current version of every call, from the matched activities (a table, one row per current
# activity): staging.stg_calls is a view that deduplicates the raw history at every read (about
# 1 s per query at 1M leads, and the staffing inputs read it four times per asset).
CALLS = ("(select activity_at as started_at, answered_at, ended_at, direction, rep_id "
         "from staging.stg_activity_lead_matches where channel = 'call')")


def _has_calls(con) -> bool:
    return _has_rows(con, "staging.stg_activity_lead_matches", "channel = 'call'")


def handle_seconds_by_team(con, lookback_days: int) -> dict[str, float]:
    """Mean wall time of the reps' outbound calls (ringing, talk, voicemail) in the lookback
    window, per team of the calling rep and overall ('all'); {} without calls."""
    if not _has_calls(con):
        return {}
    rows = con.execute(f"""
        with recent as (
            select coalesce(r.team_id, 'none') as team_id, epoch(c.ended_at) - epoch(c.started_at) as seconds
            from {CALLS} as c left join staging.stg_reps as r on r.rep_id = c.rep_id
            where c.direction = 'outbound' and c.rep_id is not null and c.ended_at >= c.started_at
              and c.started_at >= (select max(started_at) from {CALLS}) - interval {int(lookback_days)} day
        )
        select team_id, avg(seconds) from recent group by rollup (team_id)""").fetchall()
    return {("all" if team is None else team): float(v) for team, v in rows if v is not None}


def estimated_patience(con, lookback_days: int) -> float | None:
    """Mean patience (seconds) from the inbound calls of the lookback window: never answered and
    hung up (abandoned, time to hang-up) or answered (censored at the answer). None when too few
    calls were abandoned (then Erlang C)."""
    if not _has_calls(con):
        return None
    frame = con.execute(f"""
        select epoch(coalesce(answered_at, ended_at)) - epoch(started_at) as wait_seconds,
               answered_at is null as abandoned
        from {CALLS}
        where direction = 'inbound' and ended_at is not null
          and started_at >= (select max(started_at) from {CALLS}) - interval {int(lookback_days)} day""").df()
    return staffing.patience_from_calls(frame["wait_seconds"].to_numpy(), frame["abandoned"].to_numpy())


def on_duty_by_team(con, lookback_days: int) -> pd.DataFrame:
    """Average reps on duty per team and *local* (weekday, hour) of the team's timezone over the
    last ``lookback_days`` of the schedules: rosters repeat in local time, so a DST change moves
    them in UTC. Columns team_id, timezone, dow (1-7), hod, reps_on_duty."""
    if not _has_rows(con, "marts.mart_reps_on_duty_hourly"):
        return pd.DataFrame(columns=["team_id", "timezone", "dow", "hod", "reps_on_duty"])
    return con.execute(f"""
        with recent as (
            select d.team_id, coalesce(t.timezone, 'UTC') as timezone, d.hour_start_at, d.reps_on_duty
            from marts.mart_reps_on_duty_hourly as d left join staging.stg_teams as t on t.team_id = d.team_id
            where d.hour_start_at >= (select max(clock_started_at) from marts.fct_lead_response) - interval {int(lookback_days)} day
              and d.hour_start_at < (select max(clock_started_at) from marts.fct_lead_response)
        ),
        local as (
            select team_id, timezone,
                   timezone(timezone, timezone('UTC', hour_start_at)) as local_hour, reps_on_duty
            from recent
        )
        select team_id, timezone, isodow(local_hour) as dow, hour(local_hour) as hod,
               sum(reps_on_duty) / {max(1, lookback_days // 7)} as reps_on_duty
        from local group by all""").df()


def team_share_by_hour_of_week(con, lookback_days: int) -> pd.DataFrame:
    """Each team's share of the lead arrivals per UTC (weekday, hour) over the lookback window:
    the hourly forecast is split between teams by it. Columns team_id, dow, hod, leads, share."""
    return con.execute(f"""
        with recent as (
            select coalesce(team_id, 'none') as team_id, isodow(clock_started_at) as dow,
                   hour(clock_started_at) as hod, count(*) as leads
            from marts.fct_lead_response
            where clock_started_at >= (select max(clock_started_at) from marts.fct_lead_response) - interval {int(lookback_days)} day
            group by all
        )
        select team_id, dow, hod, leads, leads / sum(leads) over (partition by dow, hod) as share from recent""").df()


def _local(hours: pd.DatetimeIndex, tz: str) -> pd.DatetimeIndex:
    return hours.tz_localize("UTC").tz_convert(tz).tz_localize(None)


def build_staffing_plan(forecast: pd.DataFrame, shares: pd.DataFrame, on_duty: pd.DataFrame,
                        handle_by_team: dict[str, float], target: staffing.StaffingTarget) -> pd.DataFrame:
    """Per forecast hour: the whole organisation ('all': every lead, every rep on duty) and each
    team (its share of the forecast, its handle time, its roster projected in its own timezone).
    ``handle_by_team`` must hold 'all'; a team without its own measured calls uses it."""
    hours = pd.DatetimeIndex(forecast["period_start"])
    total = forecast["forecast"].to_numpy(float)
    base = {"target_service_level": target.service_level, "target_seconds": target.target_seconds,
            "queue_model": target.model, "patience_seconds": target.patience_seconds}
    frames, all_duty = [], np.zeros(len(hours))
    teams = sorted(set(shares["team_id"]) | set(on_duty["team_id"]))
    seen_how = np.array([k in set(zip(shares["dow"], shares["hod"])) for k in zip(hours.day_of_week + 1, hours.hour)],
                        dtype=bool)
    if "leads" in shares and shares["leads"].sum() > 0:
        overall_share = (shares.groupby("team_id")["leads"].sum() / shares["leads"].sum()).to_dict()
    else:  # no history to split by: evenly
        overall_share = {t: 1.0 / len(teams) for t in teams} if teams else {}
    for team in teams:
        tz = on_duty.loc[on_duty["team_id"] == team, "timezone"]
        tz = str(tz.iloc[0]) if len(tz) else "UTC"
        local = _local(hours, tz)
        duty_map = on_duty[on_duty["team_id"] == team].set_index(["dow", "hod"])["reps_on_duty"]
        duty = duty_map.reindex(list(zip(local.day_of_week + 1, local.hour))).fillna(0.0).to_numpy()
        all_duty += duty
        share_map = shares[shares["team_id"] == team].set_index(["dow", "hod"])["share"]
        how = list(zip(hours.day_of_week + 1, hours.hour))
        # an hour of the week without leads in the lookback: the team's share of all leads
        share = np.where(seen_how, share_map.reindex(how).fillna(0.0).to_numpy(), overall_share.get(team, 0.0))
        handle = handle_by_team.get(team, handle_by_team["all"])
        leads = total * share
        plan = staffing.staffing_plan(leads, handle, duty, target)
        frames.append(pd.DataFrame({"period_start": hours, "team_id": team, "forecast_leads": leads,
                                    "handle_seconds": handle, "reps_on_duty": duty, **base, **plan,
                                    "timezone": tz, "local_period_start": local}))
    handle = handle_by_team["all"]
    plan = staffing.staffing_plan(total, handle, all_duty, target)
    frames.insert(0, pd.DataFrame({"period_start": hours, "team_id": "all", "forecast_leads": total,
                                   "handle_seconds": handle, "reps_on_duty": all_duty, **base, **plan,
                                   "timezone": "UTC", "local_period_start": hours}))
    return pd.concat(frames, ignore_index=True)


# What _staffing_inputs reads: handle time and patience from the calls, reps on duty.
STAFFING_INPUTS = [dg.AssetKey(["marts", "mart_reps_on_duty_hourly"]), dg.AssetKey(["staging", "stg_activity_lead_matches"])]


def _staffing_inputs(con, config: StaffingConfig) -> tuple[dict[str, float], staffing.StaffingTarget, pd.DataFrame]:
    """Handle time per team (with wrap-up), the staffing target (with the patience measured or
    configured), on-duty roster per team; raises InsufficientData when there are no reps on duty
    or no handle time."""
    on_duty = on_duty_by_team(con, config.lookback_days)
    if on_duty.empty or on_duty["reps_on_duty"].sum() <= 0:
        raise InsufficientData("no reps on duty: the schedules extract is absent or puts nobody on shift",
                               "add the teams and schedules extracts")
    measured = handle_seconds_by_team(con, config.lookback_days)
    if not measured:
        if config.handle_seconds is None:
            raise InsufficientData("no outbound calls to measure the handle time",
                                   "add the calls extract, or set handle_seconds in the staffing config")
        measured = {"all": float(config.handle_seconds)}
    handle = {team: seconds + config.wrap_up_seconds for team, seconds in measured.items()}
    if handle["all"] <= 0:
        raise InsufficientData("the measured handle time is zero", "check the calls' started_at / ended_at")
    patience = config.patience_seconds or estimated_patience(con, config.lookback_days)
    target = staffing.StaffingTarget(config.service_level, config.target_seconds, config.max_occupancy,
                                     config.shrinkage, patience)
    return handle, target, on_duty


@dg.asset(key=_key("staffing_plan"), group_name=GROUP, pool=WAREHOUSE_POOL,
          deps=[_key("volume_forecast"), *STAFFING_INPUTS],
          description="Reps needed per hour of the forecast, overall and per team in its timezone (Erlang C, or "
                      "Erlang A when the patience of waiting leads is known; service-level target, occupancy cap, "
                      "shrinkage) against the reps the schedules put on duty.")
def staffing_plan(context: dg.AssetExecutionContext, config: StaffingConfig,
                  warehouse: WarehouseResource) -> dg.MaterializeResult:
    meta: dict = {}
    try:
        with warehouse.writer() as con:
            forecast = con.execute("""select period_start, forecast from stats.volume_forecast
                                      where frequency = 'hour' and is_chosen order by period_start""").df() \
                if _has_rows(con, "stats.volume_forecast") else pd.DataFrame()
            if forecast.empty:
                raise InsufficientData("no hourly lead forecast (see the volume forecast's status)")
            handle, target, on_duty = _staffing_inputs(con, config)
            shares = team_share_by_hour_of_week(con, config.lookback_days)
        plan = build_staffing_plan(forecast, shares, on_duty, handle, target)
        status = available("staffing_plan")
        overall = plan[plan["team_id"] == "all"]
        meta.update({"hours": len(overall), "teams": int(plan["team_id"].nunique() - 1),
                     "handle_seconds": float(handle["all"]), "queue_model": target.model,
                     "patience_seconds": target.patience_seconds, "hours_understaffed": int((overall["gap"] < 0).sum()),
                     "peak_reps_required": int(overall["reps_required"].max()),
                     "target": f"{target.service_level:.0%} within {target.target_seconds:.0f} s"})
    except InsufficientData as exc:
        plan = pd.DataFrame(columns=["period_start"])
        status = unavailable("staffing_plan", exc.reason, exc.remedy)
    _write(warehouse, {"staffing_plan": plan}, [status], context.run_id)
    return dg.MaterializeResult(metadata={**meta, **_status_meta(status)})


def breach_hours(con) -> pd.DataFrame:
    """Per team and UTC hour of clock start with at least one SLA breach: leads that started the
    clock, breaches, breaches that arrived after hours, and the reps the schedules had on duty."""
    duty_join = ("left join marts.mart_reps_on_duty_hourly as d on d.team_id = h.team_id "
                 "and d.hour_start_at = h.hour_start_at") if _has_rows(con, "marts.mart_reps_on_duty_hourly") else ""
    duty_col = "coalesce(d.reps_on_duty, 0.0)" if duty_join else "0.0"
    return con.execute(f"""
        with hours as (
            select coalesce(team_id, 'none') as team_id, date_trunc('hour', clock_started_at) as hour_start_at,
                   count(*) as leads, count_if(sla_status in ('met', 'breached')) as sla_leads,
                   count_if(sla_status = 'breached') as breaches,
                   count_if(sla_status = 'breached' and coalesce(is_after_hours, false)) as after_hours,
                   min(clock_started_at) as first_at, max(clock_started_at) as last_at
            from marts.fct_lead_response group by all
        )
        select h.*, {duty_col} as reps_on_duty from hours as h {duty_join}""").df()


def breach_drivers(hours: pd.DataFrame, handle_by_team: dict[str, float], target: staffing.StaffingTarget) -> pd.DataFrame:
    """Why breaches happened, per team and overall ('all'): arrived after hours; arrived in an
    hour whose leads needed more reps (Erlang, the staffing target, actual arrivals) than were on
    duty (capacity-bound); or with enough reps on duty (process-bound: routing, follow-up habits)."""
    needed = {}
    required = []
    for team, leads in zip(hours["team_id"], hours["leads"]):
        key = (team, int(leads))
        if key not in needed:
            handle = handle_by_team.get(team, handle_by_team["all"])
            needed[key] = staffing.agents_required(float(leads), 3600.0, handle, target).reps_required
        required.append(needed[key])
    in_hours = hours["breaches"] - hours["after_hours"]
    capacity = np.where(np.array(required) > hours["reps_on_duty"].to_numpy() + staffing.FLOAT_GUARD, in_hours, 0)
    frame = hours.assign(capacity_bound=capacity, process_bound=in_hours - capacity)
    cols = ["sla_leads", "breaches", "after_hours", "capacity_bound", "process_bound"]
    per_team = frame.groupby("team_id").agg(**{c: (c, "sum") for c in cols}, first_clock_start=("first_at", "min"),
                                            last_clock_start=("last_at", "max")).reset_index()
    overall = pd.DataFrame([{"team_id": "all", **{c: frame[c].sum() for c in cols},
                             "first_clock_start": frame["first_at"].min(), "last_clock_start": frame["last_at"].max()}])
    table = pd.concat([overall, per_team], ignore_index=True)
    for part in ("after_hours", "capacity_bound", "process_bound"):
        table[f"share_{part}"] = np.where(table["breaches"] > 0, table[part] / table["breaches"].where(table["breaches"] > 0, 1), np.nan)
    return table


@dg.asset(key=_key("sla_breach_drivers"), group_name=GROUP, pool=WAREHOUSE_POOL,
          deps=[FACT, *STAFFING_INPUTS],
          description="Why are we slow: the share of SLA breaches that arrived after hours, in hours with fewer reps "
                      "on duty than the arrivals needed (capacity-bound), and in hours with enough (process-bound); "
                      "overall (team_id 'all') and per team.")
def sla_breach_drivers(context: dg.AssetExecutionContext, config: StaffingConfig,
                       warehouse: WarehouseResource) -> dg.MaterializeResult:
    meta: dict = {}
    try:
        with warehouse.writer() as con:
            handle, target, _ = _staffing_inputs(con, config)
            hours = breach_hours(con)
        if hours.empty or hours["breaches"].sum() == 0:
            raise InsufficientData("no SLA breaches to explain (or no lead has an SLA status)")
        table = breach_drivers(hours[hours["breaches"] > 0], handle, target)
        table["sla_leads"] = table["team_id"].map(
            {"all": hours["sla_leads"].sum(), **hours.groupby("team_id")["sla_leads"].sum().to_dict()})
        status = available("sla_breach_drivers")
        overall = table.iloc[0]
        meta.update({"breaches": int(overall["breaches"]),
                     "after_hours": f"{overall['share_after_hours']:.0%}",
                     "capacity_bound": f"{overall['share_capacity_bound']:.0%}",
                     "process_bound": f"{overall['share_process_bound']:.0%}", "queue_model": target.model})
    except InsufficientData as exc:
        table = pd.DataFrame(columns=["team_id"])
        status = unavailable("sla_breach_drivers", exc.reason,
                             exc.remedy or "add schedules (reps on duty) and calls (handle time)")
    _write(warehouse, {"sla_breach_drivers": table}, [status], context.run_id)
    return dg.MaterializeResult(metadata={**meta, **_status_meta(status)})


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
            inner join marts.fct_lead_outcomes as o on o.lead_id = f.lead_id
            where f.owner_rep_id is not null
            group by 1 order by 1""").df()
    meta: dict = {"reps": int(per_rep.shape[0])}
    try:
        table, skipped = rep_outlier_table(per_rep)
        status = available("rep_outliers")
        if skipped:
            meta["skipped"] = skipped
        flags = table[table["flag"] != "in_control"].groupby(["metric", "flag"]).size()
        meta["flagged"] = {f"{m} {f}": int(v) for (m, f), v in flags.items()}
    except InsufficientData as exc:
        table = pd.DataFrame(columns=["rep_id"])
        status = unavailable("rep_outliers", exc.reason, exc.remedy)
    _write(warehouse, {"rep_outliers": table}, [status], context.run_id)
    return dg.MaterializeResult(metadata={**meta, **_status_meta(status)})


MIN_REPS_FOR_OUTLIERS = 3


def rep_outlier_table(per_rep: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """Funnel limits per metric; a metric with fewer than ``MIN_REPS_FOR_OUTLIERS`` reps having
    leads for it is skipped (with the reason), and InsufficientData when no metric is left."""
    from orchestration.stats import outliers

    frames, skipped = [], {}
    for metric, n, y in (("sla_compliance", "sla_leads", "sla_met"), ("conversion", "conv_leads", "converted")):
        reps = per_rep.rename(columns={n: "n_leads", y: "successes"})[["rep_id", "n_leads", "successes"]].query("n_leads > 0")
        if len(reps) < MIN_REPS_FOR_OUTLIERS:
            skipped[metric] = f"{len(reps)} rep(s) with leads for it: a funnel needs at least {MIN_REPS_FOR_OUTLIERS}"
            continue
        frames.append(outliers.funnel(reps, metric))
    if not frames:
        reason = ("no lead has an owner_rep_id" if per_rep.empty else "; ".join(f"{k}: {v}" for k, v in skipped.items()))
        raise InsufficientData(reason, "export leads with their owner_rep_id, and at least a few reps with leads")
    return pd.concat(frames, ignore_index=True), skipped


@dg.asset(key=_key("experiment_effects"), group_name=GROUP, pool=WAREHOUSE_POOL,
          deps=[FACT, OUTCOMES, dg.AssetKey(["staging", "stg_experiment_assignments"])],
          description="Effects of experiment arms on response time and conversion (clustered by the randomised "
                      "unit), with intervals, minimum detectable effect and power. Empty without an experiments extract.")
def experiment_effects(context: dg.AssetExecutionContext, config: ConversionConfig,
                       warehouse: WarehouseResource) -> dg.MaterializeResult:
    from orchestration.stats import experiments

    with warehouse.writer() as con:
        leads = experiment_leads(con, config.follow_up_days)
    with single_threaded_blas():
        table = experiments.experiment_effects(leads) if len(leads) else pd.DataFrame(columns=experiments.COLUMNS)
    if leads.empty:
        status = unavailable("experiment_effects", "no experiment assignments in the data (the optional "
                                                   "experiment_assignments extract is absent, empty or matches no lead)")
    elif table.empty:
        status = unavailable("experiment_effects", f"every experiment has fewer than {experiments.MIN_UNITS} "
                                                   "randomised units or a single arm: no effect can be estimated",
                             "randomise more reps (or leads) between at least two arms")
    else:
        status = available("experiment_effects")
    _write(warehouse, {"experiment_effects": table}, [status], context.run_id)
    meta = {"rows": len(table), **_status_meta(status)}
    if status.available:
        meta.update({"experiments": int(leads["experiment_id"].nunique()), "leads": len(leads)})
    else:
        meta["note"] = status.reason + ": empty table"
    return dg.MaterializeResult(metadata=meta)


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
        inner join marts.fct_lead_outcomes as o on o.lead_id = f.lead_id
        where (a.started_on is null or cast(f.clock_started_at as date) >= a.started_on)
          and (a.ended_on is null or cast(f.clock_started_at as date) <= a.ended_on)
          and f.clock_started_at <= f.as_of_at - interval {int(follow_up_days)} day""").df()


statistics_assets = [speed_conversion_effects, conversion_curve, volume_forecast, staffing_plan, sla_breach_drivers,
                     rep_outliers, experiment_effects]
