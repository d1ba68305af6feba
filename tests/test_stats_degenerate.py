"""Degenerate inputs never fail a statistics asset: each completes with an empty (or partial)
table and records why in quality.output_status and its metadata."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from orchestration.defs.assets.statistics import (breach_drivers, build_staffing_plan, rep_outlier_table,
                                             statistics_assets)
from orchestration.quality.availability import InsufficientData, current_status
from orchestration.stats import single_threaded_blas
from orchestration.stats.conversion import bucket_effects, conversion_curve, usable_outcomes
from orchestration.stats.simulation import simulate_cells
from orchestration.stats.staffing import StaffingTarget, agents_required


@pytest.fixture(autouse=True)
def _one_blas_thread():
    with single_threaded_blas():
        yield


FACT_COLUMNS = """lead_id varchar, owner_rep_id varchar, team_id varchar, response_bucket varchar,
    seconds_to_first_response double, business_seconds_to_first_response double, first_response_at timestamp,
    source varchar, score double, region varchar, clock_started_local_at timestamp,
    clock_started_local_weekday integer, is_after_hours boolean, clock_started_at timestamp, as_of_at timestamp,
    sla_status varchar"""


def _tiny_warehouse(settings, leads: int):
    """A warehouse with ``leads`` leads of one rep and nothing else: no opportunities, no
    appointments, no calls, no schedules, no experiment assignments."""
    from orchestration.warehouse import writer

    with writer(settings) as con:
        for schema in ("staging", "marts"):
            con.execute(f"create schema if not exists {schema}")
        con.execute(f"create table marts.fct_lead_response ({FACT_COLUMNS})")
        if leads:
            con.execute(f"""insert into marts.fct_lead_response
                select 'L' || i, null, 'T1', case when i % 2 = 0 then '0-5m' else '1-4h' end, 60.0 * (1 + i % 50),
                       60.0 * (1 + i % 50), timestamp '2026-01-01' + i * interval 1 hour, 'web', 50, 'north',
                       timestamp '2026-01-01' + i * interval 1 hour, 1, false,
                       timestamp '2026-01-01' + i * interval 1 hour, timestamp '2026-03-01', 'breached'
                from range({leads}) t(i)""")
        con.execute("""create table marts.fct_lead_outcomes as
                       select lead_id, 0 as has_opportunity, 0 as is_contacted, 0 as is_booked
                       from marts.fct_lead_response""")
        con.execute("create table staging.stg_holidays (team_id varchar, start_date date, end_date date)")
        con.execute("""create table staging.stg_calls (call_id varchar, started_at timestamp, answered_at timestamp,
                       ended_at timestamp, direction varchar, rep_id varchar)""")
        con.execute("create table staging.stg_reps (rep_id varchar, team_id varchar)")
        con.execute("create table staging.stg_teams (team_id varchar, timezone varchar)")
        con.execute("create table marts.mart_reps_on_duty_hourly (team_id varchar, hour_start_at timestamp, reps_on_duty double)")
        con.execute("""create table staging.stg_experiment_assignments (experiment_id varchar, unit_type varchar,
                       unit_id varchar, arm varchar, started_on date, ended_on date)""")


@pytest.mark.parametrize("leads", [0, 200])
def test_statistics_assets_complete_on_degenerate_data(settings, leads):
    from orchestration.defs.resources import WarehouseResource
    from orchestration.warehouse import reader

    _tiny_warehouse(settings, leads)
    result = dg.materialize(statistics_assets, resources={"warehouse": WarehouseResource()})
    assert result.success
    con = reader(settings)
    status = current_status(con)
    expected = {"speed_conversion_effects", "conversion_curve", "volume_forecast", "staffing_plan",
                "sla_breach_drivers", "rep_outliers", "experiment_effects"}
    assert expected <= set(status)
    assert not [o for o in expected if status[o].available]
    if leads:  # 200 hourly leads (8 days): too short to forecast; one rep; no outcome varies
        assert "too short" in status["volume_forecast"].reason
        assert "fewer than two reps" in status["speed_conversion_effects"].reason
        assert "owner_rep_id" in status["rep_outliers"].reason
    else:
        assert "no lead incidents" in status["volume_forecast"].reason
    assert "no hourly lead forecast" in status["staffing_plan"].reason
    assert "no reps on duty" in status["sla_breach_drivers"].reason
    assert "experiment" in status["experiment_effects"].reason
    for table in expected:
        assert con.execute(f"select count(*) from stats.{table}").fetchone() == (0,), table
    meta = next(m.metadata for m in result.asset_materializations_for_node("volume_forecast")
                if m.asset_key == dg.AssetKey(["stats", "volume_forecast"]))
    assert meta["status"].value == "not available" and meta["reason"].value == status["volume_forecast"].reason
    con.close()


def test_an_outcome_without_variation_is_skipped_alone():
    cells = simulate_cells(20_000, seed=1)
    cells["is_booked"] = 0  # no appointments extract
    usable, skipped = usable_outcomes(cells)
    assert set(usable) == {"opportunity", "contact"} and "does not vary" in skipped["booking"]
    effects = bucket_effects(cells)
    assert set(effects["outcome"]) == {"opportunity", "contact"}
    assert set(effects["model"]) == {"buckets_clustered", "within_rep", "unadjusted"}
    assert "booking" in effects.attrs["skipped"]
    curve = conversion_curve(cells, points=5)
    assert set(curve["outcome"]) == {"opportunity", "contact"}


def test_no_variation_one_rep_and_no_rep_raise_insufficient_data():
    cells = simulate_cells(5_000, seed=2)
    none_converted = cells.assign(has_opportunity=0, is_contacted=0, is_booked=0)
    with pytest.raises(InsufficientData, match="no outcome varies"):
        bucket_effects(none_converted)
    with pytest.raises(InsufficientData, match="fewer than two reps"):
        bucket_effects(cells.assign(rep_id="unassigned"))  # no owner_rep_id
    with pytest.raises(InsufficientData, match="no lead incidents"):
        conversion_curve(cells.iloc[:0])


def test_rep_outliers_need_three_reps():
    per_rep = pd.DataFrame({"rep_id": ["a", "b"], "sla_leads": [10, 12], "sla_met": [5, 6],
                            "conv_leads": [8, 9], "converted": [1, 2]})
    with pytest.raises(InsufficientData, match="at least 3"):
        rep_outlier_table(per_rep)
    with pytest.raises(InsufficientData, match="owner_rep_id"):
        rep_outlier_table(per_rep.iloc[:0])
    three = pd.concat([per_rep, per_rep.assign(rep_id="c", conv_leads=0)], ignore_index=True)
    table, skipped = rep_outlier_table(three)
    assert set(table["metric"]) == {"sla_compliance"} and "conversion" in skipped


def test_breach_drivers_by_hand():
    target = StaffingTarget(0.8, 300, 0.85, 0.3)
    need_20 = agents_required(20, 3600, 300, target).reps_required  # reps needed for 20 leads an hour
    hours = pd.DataFrame({
        "team_id": ["A", "A", "B"], "leads": [20, 20, 1], "sla_leads": [20, 20, 1], "breaches": [6, 4, 1],
        "after_hours": [1, 0, 1], "reps_on_duty": [need_20 - 1, need_20, 0.0],
        "first_at": pd.to_datetime(["2026-01-05 09:00", "2026-01-05 10:00", "2026-01-05 22:00"]),
        "last_at": pd.to_datetime(["2026-01-05 09:50", "2026-01-05 10:50", "2026-01-05 22:10"])})
    table = breach_drivers(hours, {"all": 300.0}, target).set_index("team_id")
    # A: hour 1 short of reps → its 5 in-hours breaches are capacity-bound; hour 2 staffed → 4 process-bound
    assert table.loc["A", ["breaches", "after_hours", "capacity_bound", "process_bound"]].tolist() == [10, 1, 5, 4]
    assert table.loc["B", ["breaches", "after_hours", "capacity_bound", "process_bound"]].tolist() == [1, 1, 0, 0]
    assert table.loc["all", ["breaches", "after_hours", "capacity_bound", "process_bound"]].tolist() == [11, 2, 5, 4]
    assert table.loc["all", "share_capacity_bound"] == pytest.approx(5 / 11)
    shares = table[["share_after_hours", "share_capacity_bound", "share_process_bound"]].sum(axis=1)
    np.testing.assert_allclose(shares, 1.0)


def test_team_staffing_uses_the_team_timezone():
    # One team in New York, rostered Monday 09:00-10:00 local; the forecast hour is Monday 14:00 UTC
    # (09:00 EST in January). The whole forecast is this team's.
    forecast = pd.DataFrame({"period_start": pd.to_datetime(["2026-01-05 14:00", "2026-01-05 09:00"]),
                             "forecast": [30.0, 30.0]})
    shares = pd.DataFrame({"team_id": ["NY", "NY"], "dow": [1, 1], "hod": [14, 9], "share": [1.0, 1.0]})
    on_duty = pd.DataFrame({"team_id": ["NY"], "timezone": ["America/New_York"], "dow": [1], "hod": [9],
                            "reps_on_duty": [5.0]})
    plan = build_staffing_plan(forecast, shares, on_duty, {"all": 240.0}, StaffingTarget())
    ny = plan[plan["team_id"] == "NY"].set_index("period_start")
    assert ny.loc["2026-01-05 14:00", "reps_on_duty"] == 5.0 and ny.loc["2026-01-05 09:00", "reps_on_duty"] == 0.0
    assert ny.loc["2026-01-05 14:00", "local_period_start"] == pd.Timestamp("2026-01-05 09:00")
    overall = plan[plan["team_id"] == "all"]
    np.testing.assert_allclose(overall["reps_on_duty"], [5.0, 0.0])
    assert (plan["queue_model"] == "erlang_c").all()
