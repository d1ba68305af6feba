"""Analysts and BI tools reach the published marts through SQLAlchemy alone: list schemas,
tables and columns (the introspection BI tools do) and read tables with pandas."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import sqlalchemy as sa


def test_sqlalchemy_lists_and_reads_a_published_style_database(tmp_path):
    path = tmp_path / "speed_to_lead_marts.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA marts; CREATE SCHEMA snapshots")
    con.execute("CREATE TABLE marts.fct_lead_response AS SELECT 'p1' AS lead_id, 42.5 AS seconds_to_first_response, "
                "TIMESTAMP '2026-11-02 09:00:00' AS clock_started_at")
    con.execute("CREATE TABLE snapshots.kpi_history AS SELECT * FROM (VALUES "
                "(DATE '2026-11-02', 'sla_compliance', 0.5, 1), (DATE '2026-11-09', 'sla_compliance', 0.6, 1), "
                "(DATE '2026-11-09', 'sla_compliance', 0.65, 2)) t(period_start, kpi, value, snapshot_version)")
    con.close()

    engine = sa.create_engine(f"duckdb:///{path}?access_mode=read_only")
    inspector = sa.inspect(engine)
    # duckdb-engine names schemas database.schema, as DuckDB can attach several databases.
    assert {"speed_to_lead_marts.marts", "speed_to_lead_marts.snapshots"} <= set(inspector.get_schema_names())
    assert inspector.get_table_names(schema="marts") == ["fct_lead_response"]
    columns = {c["name"]: str(c["type"]) for c in inspector.get_columns("fct_lead_response", schema="marts")}
    assert columns == {"lead_id": "VARCHAR", "seconds_to_first_response": "NUMERIC(3, 1)",
                       "clock_started_at": "TIMESTAMP"}
    frame = pd.read_sql_table("fct_lead_response", engine, schema="marts")
    assert frame.to_dict("records") == [{"lead_id": "p1", "seconds_to_first_response": 42.5,
                                         "clock_started_at": pd.Timestamp(dt.datetime(2026, 11, 2, 9))}]
    # The README's KPI-history query: every period, its latest snapshot version.
    with engine.connect() as c:
        rows = c.execute(sa.text("""
            select period_start, value from snapshots.kpi_history
            where kpi = 'sla_compliance'
            qualify snapshot_version = max(snapshot_version) over (partition by period_start)
            order by period_start""")).all()
    assert [(r[0], float(r[1])) for r in rows] == [(dt.date(2026, 11, 2), 0.5), (dt.date(2026, 11, 9), 0.65)]
