"""The run summary's alerts for analyses the data could not support."""

from orchestration.defs.assets.summary import skipped_analysis_alerts
from orchestration.quality.availability import available, unavailable


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
