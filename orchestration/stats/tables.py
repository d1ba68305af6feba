"""The ``stats`` schema: the published statistics tables, their columns, and the atomic writer.

Analysts and the report read these tables; the column names and meanings are a contract
(docs/statistics.md). All timestamps are naive UTC."""

from __future__ import annotations

import pandas as pd

SCHEMA = "stats"
TABLES: dict[str, dict[str, str]] = {
    "speed_conversion_effects": {
        "outcome": "VARCHAR", "model": "VARCHAR", "term": "VARCHAR", "bucket_order": "INTEGER",
        "odds_ratio": "DOUBLE", "ci_low": "DOUBLE", "ci_high": "DOUBLE", "p_value": "DOUBLE",
        "n_leads": "BIGINT", "n_converted": "BIGINT", "is_reference": "BOOLEAN", "n_reps": "INTEGER",
        "design_note": "VARCHAR",
    },
    "conversion_curve": {
        "outcome": "VARCHAR", "minutes": "DOUBLE", "predicted_rate": "DOUBLE", "ci_low": "DOUBLE", "ci_high": "DOUBLE",
    },
    "volume_forecast": {
        "frequency": "VARCHAR", "period_start": "TIMESTAMP", "model": "VARCHAR", "forecast": "DOUBLE",
        "lo80": "DOUBLE", "hi80": "DOUBLE", "lo95": "DOUBLE", "hi95": "DOUBLE", "is_chosen": "BOOLEAN",
    },
    "forecast_backtest": {
        "frequency": "VARCHAR", "model": "VARCHAR", "horizon": "INTEGER", "mase": "DOUBLE", "mae": "DOUBLE",
        "n_origins": "INTEGER", "is_chosen": "BOOLEAN",
    },
    "staffing_plan": {
        "period_start": "TIMESTAMP", "team_id": "VARCHAR", "forecast_leads": "DOUBLE", "handle_seconds": "DOUBLE",
        "agents_required": "INTEGER", "reps_required": "INTEGER", "reps_on_duty": "DOUBLE", "gap": "DOUBLE",
        "target_service_level": "DOUBLE", "target_seconds": "DOUBLE", "expected_service_level": "DOUBLE",
        "on_duty_service_level": "DOUBLE", "queue_model": "VARCHAR", "patience_seconds": "DOUBLE",
        "timezone": "VARCHAR", "local_period_start": "TIMESTAMP",
    },
    "sla_breach_drivers": {
        "team_id": "VARCHAR", "sla_leads": "BIGINT", "breaches": "BIGINT", "after_hours": "BIGINT",
        "capacity_bound": "BIGINT", "process_bound": "BIGINT", "share_after_hours": "DOUBLE",
        "share_capacity_bound": "DOUBLE", "share_process_bound": "DOUBLE", "first_clock_start": "TIMESTAMP",
        "last_clock_start": "TIMESTAMP",
    },
    "rep_outliers": {
        "rep_id": "VARCHAR", "metric": "VARCHAR", "n_leads": "BIGINT", "value": "DOUBLE", "expected": "DOUBLE",
        "lower_limit": "DOUBLE", "upper_limit": "DOUBLE", "shrunk_value": "DOUBLE", "flag": "VARCHAR",
        "between_rep_sd": "DOUBLE",
    },
    "experiment_effects": {
        "experiment_id": "VARCHAR", "metric": "VARCHAR", "arm": "VARCHAR", "control_arm": "VARCHAR", "n": "BIGINT",
        "n_control": "BIGINT", "estimate": "DOUBLE", "ci_low": "DOUBLE", "ci_high": "DOUBLE", "p_value": "DOUBLE",
        "mde": "DOUBLE", "power": "DOUBLE", "n_units": "INTEGER",
    },
}


# When each table was last fitted: with the statistics on their own weekly schedule, the daily
# report reads fits up to a week old and says so.
FITS = f"{SCHEMA}.fits"


def write_table(con, name: str, frame: pd.DataFrame) -> int:
    """Replace ``stats.<name>`` with ``frame`` atomically: the rows go into a new table first,
    then one transaction swaps it in, so a reader sees the old table or the new, never half."""
    columns = TABLES[name]
    missing = set(columns) - set(frame.columns)
    if missing and len(frame):  # an empty result (too little data to fit) is an empty table
        raise ValueError(f"stats.{name}: missing columns {sorted(missing)}")
    staged = f"{SCHEMA}._{name}_new"
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    con.execute(f"DROP TABLE IF EXISTS {staged}")
    con.execute(f"CREATE TABLE {staged} ({', '.join(f'{c} {t}' for c, t in columns.items())})")
    if len(frame):
        con.register("_stats_frame", frame[list(columns)])
        con.execute(f"INSERT INTO {staged} SELECT {', '.join(f'CAST({c} AS {t})' for c, t in columns.items())} "
                    "FROM _stats_frame")
        con.unregister("_stats_frame")
    con.execute(f"CREATE TABLE IF NOT EXISTS {FITS} (table_name VARCHAR, fitted_at TIMESTAMP)")
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"DROP TABLE IF EXISTS {SCHEMA}.{name}")
        con.execute(f"ALTER TABLE {staged} RENAME TO {name}")
        con.execute(f"DELETE FROM {FITS} WHERE table_name = ?", [name])
        con.execute(f"INSERT INTO {FITS} VALUES (?, now()::TIMESTAMPTZ AT TIME ZONE 'UTC')", [name])
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return len(frame)
