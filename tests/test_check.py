"""``stl check``: a dry run that names what is wrong and what will be missing, writing nothing."""

from __future__ import annotations

from orchestration.cli import main
from orchestration.ingest.check import check_landing, format_report


def write(settings, relpath: str, content: str) -> None:
    path = settings.landing_dir / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)


def test_check_reports_files_mapping_sample_and_missing_outputs(settings, capsys):
    write(settings, "sources.yaml", "extracts:\n  leads:\n    rename: {Id: lead_id, Created: created_at, Mobile: phone}\n")
    write(settings, "leads_2026-11-01.csv", "Id,Created,Mobile,Extra\nL1,2026-11-01T09:00:00Z,+14155550101,x\n"
                                            "L2,yesterday,,y\n")
    write(settings, "calls_2026-11-01.csv", "call_id,started_at,direction\nC1,2026-11-01T09:05:00Z,outbound\n")
    write(settings, "notes.txt", "not an extract")
    report = check_landing(settings)
    assert report.ok
    leads = report.extracts["leads"]
    assert (leads.rows_read, leads.rows_loaded, leads.rows_quarantined) == (2, 1, 1)
    assert leads.reasons == {"invalid_value": 1}
    assert leads.ignored_columns == {"leads_2026-11-01.csv": ["Extra"]}
    (row,) = leads.sample
    assert (row["lead_id"], row["phone"], row["phone_e164"]) == ("L1", "***", "***")  # normalised, and masked
    assert str(row["created_at"]) == "2026-11-01 09:00:00"
    status = {s.output: s for s in report.outputs}
    assert status["response_facts"].available
    assert not status["business_time"].available and "teams" in status["business_time"].reason
    assert report.unrecognised == ["notes.txt"]
    text = format_report(report)
    assert "ready to run" in text and "Business-hours clock: not available" in text
    assert not settings.warehouse_path.exists()  # a dry run writes no warehouse
    assert main(["check", str(settings.landing_dir)]) == 0
    assert "leads: 1 file(s)" in capsys.readouterr().out


def test_check_names_the_file_and_column_that_stop_a_run(settings):
    write(settings, "leads_2026-11-01.csv", "lead_id,source\nL1,web\n")
    report = check_landing(settings)
    assert not report.ok
    assert report.extracts["leads"].error == "leads_2026-11-01.csv: missing required column (column 'created_at')"
    assert "fix the errors above" in format_report(report)


def test_check_reports_an_invalid_sources_yaml(settings):
    write(settings, "sources.yaml", "extracts:\n  leeds: {}\n")
    report = check_landing(settings)
    assert not report.ok and "extracts.leeds" in report.config_error and "allowed: leads" in report.config_error
