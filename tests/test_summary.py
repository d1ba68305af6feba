"""The run summary: its alerts for analyses the data could not support, and its counts."""

import pytest

from orchestration.defs.assets.summary import current_records, skipped_analysis_alerts
from orchestration.ingest import contract as c
from orchestration.quality.availability import available, unavailable
from orchestration.warehouse import writer


def test_only_analyses_whose_extracts_were_delivered_raise_a_warning():
    statuses = {
        "experiment_effects": unavailable("experiment_effects", "no experiment assignments in the data"),
        "rep_outliers": unavailable("rep_outliers", "2 reps with leads; at least 3 are needed"),
        "volume_forecast": available("volume_forecast"),
    }
    records = {"leads": 500, "calls": 900, "experiment_assignments": 0}
    alerts = skipped_analysis_alerts(statuses, records, run_id="r1")
    assert [(a.severity, a.kind, a.subject, a.what_failed) for a in alerts] == [
        ("warning", "analysis_skipped", "Rep outliers: not available", "2 reps with leads; at least 3 are needed")]
    records["experiment_assignments"] = 12  # delivered, yet too thin: now it is news
    assert len(skipped_analysis_alerts(statuses, records, run_id="r1")) == 2


@pytest.mark.slow
def test_current_records_are_the_rows_of_each_staging_view(shared_copy):
    with writer(shared_copy) as con:
        # A second version of 40 calls (a later load of the same records): the calls view keeps
        # one row each, and so must the count.
        con.execute("INSERT INTO raw.calls SELECT * REPLACE (_loaded_at + INTERVAL 1 HOUR AS _loaded_at) "
                    "FROM raw.calls LIMIT 40")
        counted = {e.name: current_records(con, e) for e in c.ENTITIES}
        viewed = {e.name: con.execute(f"SELECT count(*) FROM staging.stg_{e.name}").fetchone()[0] for e in c.ENTITIES}
        raw_calls = con.execute("SELECT count(*) FROM raw.calls").fetchone()[0]
    assert counted == viewed
    assert raw_calls == counted["calls"] + 40 and counted["leads"] > 0
