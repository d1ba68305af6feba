"""The same dbt models on DuckDB and on Spark give the same marts.

The session's shared run is the DuckDB side (ingestion → dbt build); its raw tables are then
exported to Parquet and the models built on Spark (orchestration/scale/spark.py).
Per mart: the same key set and row count; integers, strings, booleans, dates and timestamps equal;
per-lead business seconds exact; other floats (rates, percentiles, averages) within FLOAT_TOLERANCE.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import shutil
from decimal import Decimal

import duckdb
import pytest

from orchestration.scale.spark import read_spark_table, run_dbt_on_spark
from orchestration.warehouse import reader

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (shutil.which("java") or os.environ.get("JAVA_HOME")),
                       reason="Spark needs Java 17 (apt-get install openjdk-17-jre-headless; .ci/run does)"),
]

# A short-lived local session on a few thousand rows: no whole-stage code generation or adaptive
# re-planning (compiling and re-planning cost more than they save on tiny data), one shuffle
# partition, a JVM that stops at the quick first JIT tier, and (one run on a fresh Spark
# directory, read back from its Parquet files) an in-memory catalog instead of the Derby
# metastore. The models' results do not depend on these (docs/scale_out.md#small-local-runs):
# 78 s of Spark models became 54 s, then 49 s, on the 2-core machine.
SMALL_DATA_SPARK_CONF = {"spark.sql.codegen.wholeStage": "false", "spark.sql.adaptive.enabled": "false",
                         "spark.sql.shuffle.partitions": "1", "spark.sql.catalogImplementation": "in-memory",
                         "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"}

# Relative and absolute: sums and percentiles of the same doubles may differ in the last bits
# with the order of addition (Spark's partial aggregates vs DuckDB's).
FLOAT_TOLERANCE = 1e-9

# mart → its key (unique per row); every column of every row is compared.
MARTS = {
    "fct_lead_response": ["lead_id"],
    "fct_sla_alerts": ["alert_key"],
    "mart_response_by_segment": ["segment_key"],
    "mart_response_by_hour_weekday": ["local_weekday", "local_hour"],
    "mart_response_daily": ["response_date", "grouping_level", "team_id"],
    "mart_response_rolling_15min": ["slot_start_at"],
    "mart_funnel_by_response_bucket": ["response_bucket"],
    "mart_campaign_cost_per_opportunity": ["campaign"],
    "mart_rep_workload_hourly": ["rep_id", "hour_start_at"],
    "mart_appointment_conflicts": ["appointment_id", "conflicting_appointment_id"],
    "mart_kpi_by_period": ["frequency", "period_start", "segment_type", "segment_value", "kpi"],
}


def _normalise(value):
    # Both engines hand back UTC wall clocks; compare them as naive datetimes to the microsecond.
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, Decimal):
        return float(value)
    return value


def _rows(columns, raw_rows, key):
    rows = [dict(zip(columns, map(_normalise, row))) for row in raw_rows]
    return {tuple(row[k] for k in key): row for row in rows}


@pytest.fixture(scope="module")
def both_engines(shared_run, tmp_path_factory):
    from tests.helpers import make_settings

    duck = {}
    con = reader(shared_run.settings)
    for mart, key in MARTS.items():
        cursor = con.execute(f"SELECT * FROM marts.{mart}")
        duck[mart] = _rows([d[0] for d in cursor.description], cursor.fetchall(), key)
    con.close()

    # Spark's side works beside a copy of the shared warehouse (the export takes the writer lock).
    settings = make_settings(tmp_path_factory.mktemp("parity"), STL_SPARK_EXTRA_CONF=json.dumps(SMALL_DATA_SPARK_CONF))
    shutil.copy(shared_run.settings.warehouse_path, settings.warehouse_path)

    # Models only: the data tests are engine-independent checks of the same rows and would
    # double the Spark run time.
    spark_run = run_dbt_on_spark(settings, ["run"])
    assert spark_run["returncode"] == 0, "dbt run on the spark target failed (its log is above)"

    # Spark's tables read from their Parquet files (no second JVM: 15 s of the module's time).
    con = duckdb.connect()
    try:
        sparked = {}
        for mart, key in MARTS.items():
            relation = read_spark_table(settings, f"marts.{mart}", con)
            sparked[mart] = _rows(relation.columns, relation.fetchall(), key)
    finally:
        con.close()
    yield duck, sparked
    shutil.rmtree(settings.spark_dir, ignore_errors=True)


@pytest.mark.parametrize("mart", MARTS)
def test_same_keys_and_row_counts(both_engines, mart):
    duck, spark = both_engines
    assert len(duck[mart]) == len(spark[mart])
    assert set(duck[mart]) == set(spark[mart])


def test_the_sample_reaches_every_mart(both_engines):
    duck, _ = both_engines
    # A sample may have no double-booked appointments; that mart is then compared empty.
    assert {mart for mart, rows in duck.items() if not rows} <= {"mart_appointment_conflicts"}


@pytest.mark.parametrize("mart", MARTS)
def test_same_values(both_engines, mart):
    duck, spark = both_engines
    differences = []
    for key, duck_row in duck[mart].items():
        spark_row = spark[mart].get(key)
        if spark_row is None:
            continue  # reported by test_same_keys_and_row_counts
        assert set(duck_row) == set(spark_row), "different columns"
        for column, expected in duck_row.items():
            actual = spark_row[column]
            # Per-lead business seconds must be exact; statistics over them (median_, p90_) are
            # interpolated floats like any other.
            if isinstance(expected, float) and isinstance(actual, (float, int)) and not column.startswith("business_seconds"):
                same = math.isclose(expected, actual, rel_tol=FLOAT_TOLERANCE, abs_tol=FLOAT_TOLERANCE)
            else:
                same = expected == actual
            if not same:
                differences.append((key, column, expected, actual))
    assert differences == [], f"{len(differences)} values differ, first: {differences[:5]}"


def test_business_seconds_are_exact(both_engines):
    duck, spark = both_engines
    columns = ["business_seconds_to_first_response", "sla_elapsed_seconds"]
    for key, row in duck["fct_lead_response"].items():
        for column in columns:
            assert row[column] == spark["fct_lead_response"][key][column], (key, column)
    answered = [r for r in duck["fct_lead_response"].values() if r["business_seconds_to_first_response"] is not None]
    assert answered, "the sample has answered leads with business time"
