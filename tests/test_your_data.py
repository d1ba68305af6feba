"""The whole job on landing directories shaped like users' exports, none written by the demo
generator: each run either produces the report and the published marts (with "not available"
where an extract is missing) or stops at a gate that names the reason."""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
import textwrap
from pathlib import Path

from zoneinfo import ZoneInfo

import pytest

from orchestration.pipeline import run_main_job
from orchestration.quality.availability import current_status
from orchestration.warehouse import reader
from tests.helpers import make_settings, run_stl

pytestmark = pytest.mark.slow
CHICAGO = ZoneInfo("America/Chicago")
FIXTURES = Path(__file__).parent / "fixtures" / "presets"
END = dt.datetime.now(dt.UTC).replace(tzinfo=None, minute=0, second=0, microsecond=0) - dt.timedelta(days=1)


def small_org(landing: Path, leads: int = 160, days: int = 24, seed: int = 3, email_domain: str = "mail.test",
              channels: tuple[str, ...] = ("calls",), crm: tuple[str, ...] = (), letter_grades: bool = False) -> None:
    """A hand-rolled organisation: leads arrive over ``days``; most get a call (or SMS) from a rep
    minutes to hours later. ``crm`` adds reps/teams/schedules/holidays/opportunities extracts."""
    rng = random.Random(seed)
    landing.mkdir(parents=True, exist_ok=True)
    start = END - dt.timedelta(days=days)
    lead_rows, call_rows, sms_rows, opp_rows = [], [], [], []
    for i in range(leads):
        created = start + dt.timedelta(seconds=rng.randrange(days * 86400))  # UTC
        created_local = created.replace(tzinfo=dt.UTC).astimezone(CHICAGO).replace(tzinfo=None)
        phone = f"+1312555{i:04d}"
        grade = rng.choice("ABC")
        score = {"A": "90", "B": "60", "C": "20"}[grade]
        # The CRM exports naive local time (sources.yaml: crm is America/Chicago); telephony is UTC.
        lead_rows.append([f"Q{i:05d}", created_local.strftime("%Y-%m-%d %H:%M:%S"), rng.choice(["web", "ads", "event"]),
                          grade if letter_grades else score, f"p{i}@{email_domain}", phone, f"R{i % 4}", "T1"])
        if rng.random() < 0.85:
            answered = created + dt.timedelta(seconds=int(rng.expovariate(1 / 1800)) + 5)
            if answered < END:
                call_rows.append([f"C{i:05d}", answered.isoformat() + "Z", "outbound", "+14155550100", phone,
                                  f"R{i % 4}", rng.choice(["connected", "voicemail", "no_answer"]), "42"])
                sms_rows.append({"id": f"S{i:05d}", "ts": int(answered.replace(tzinfo=dt.UTC).timestamp() * 1000),
                                 "direction": "outbound", "to": phone, "from": "+14155550100"})
        if rng.random() < 0.2:
            opp_rows.append([f"O{i:05d}", f"Q{i:05d}", (created + dt.timedelta(days=1)).isoformat() + "Z", "1000"])

    def csv_file(name: str, header: list[str], rows: list[list[str]]) -> None:
        (landing / name).write_text("\n".join([",".join(header), *(",".join(r) for r in rows)]) + "\n")

    score_column = "grade" if letter_grades else "score"
    csv_file("leads.csv", ["lead_id", "created_at", "source", score_column, "email", "phone", "owner_rep_id", "team_id"],
             lead_rows)
    if "calls" in channels:
        csv_file("calls.csv", ["call_id", "started_at", "direction", "from_number", "to_number", "rep_id",
                               "disposition", "duration_seconds"], call_rows)
    if "sms" in channels:  # epoch milliseconds in JSON Lines, vendor key names mapped in sources.yaml
        (landing / "sms_export.jsonl").write_text("".join(json.dumps(r) + "\n" for r in sms_rows))
    if "reps" in crm:
        csv_file("reps.csv", ["rep_id", "team_id"], [[f"R{k}", "T1"] for k in range(4)])
        csv_file("teams.csv", ["team_id", "timezone"], [["T1", "America/Chicago"]])
        csv_file("schedules.csv", ["team_id", "weekday", "start_local", "end_local"],
                 [["T1", str(d), "08:00", "18:00"] for d in range(1, 6)])
        csv_file("holidays.csv", ["start_date", "name"], [[(start + dt.timedelta(days=5)).date().isoformat(), "closed"]])
    if "opportunities" in crm:
        csv_file("opportunities.csv", ["opportunity_id", "lead_id", "created_at", "amount"],
                 [r for r in opp_rows if dt.datetime.fromisoformat(r[2][:-1]) < END])
    sources = {"crm": {"timezone": "America/Chicago"}, "extracts": {}}
    if "sms" in channels:
        sources["extracts"]["sms"] = {"rename": {"id": "message_id", "ts": "sent_at", "to": "to_number",
                                                 "from": "from_number"}}
    if letter_grades:
        sources["extracts"]["leads"] = {"rename": {"grade": "score_tier"},
                                        "values": {"score_tier": {"A": "hot", "B": "warm", "C": "cold"}}}
    (landing / "sources.yaml").write_text(json.dumps(sources))  # JSON is YAML


def run(settings, build) -> tuple:
    """``build`` the landing directory of ``settings`` (the test's own, process-wide), run the job."""
    build(settings.landing_dir)
    return settings, run_main_job(settings, full_load=True, quiet=True)


def failed_steps(result) -> list[str]:
    return [e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"]


def outputs(settings) -> dict:
    con = reader(settings)
    try:
        return current_status(con)
    finally:
        con.close()


def assert_delivered(settings, result) -> str:
    assert result.success, failed_steps(result)
    report = (settings.output_dir / "leadership_report.html").read_text()
    assert (settings.published_dir / "speed_to_lead_marts.duckdb").exists()
    con = reader(settings)
    assert con.execute("SELECT count(*) FROM marts.fct_lead_response").fetchone()[0] > 0
    con.close()
    return report


def test_leads_and_calls_only(settings, dbt_manifest):
    settings, result = run(settings, lambda d: small_org(d, channels=("calls",)))
    report = assert_delivered(settings, result)
    status = outputs(settings)
    for name in ("business_time", "funnel_opportunities", "funnel_appointments", "experiment_effects"):
        assert not status[name].available and status[name].reason
    assert "Not available" in report or "not available" in report
    summary = (settings.output_dir / "pipeline_summary.md").read_text()
    assert "## Not available" in summary and "Business-hours clock" in summary


def test_leads_and_epoch_sms_without_schedules_with_letter_grades(settings, dbt_manifest):
    settings, result = run(settings, lambda d: small_org(d, channels=("sms",), letter_grades=True))
    assert_delivered(settings, result)
    con = reader(settings)
    tiers = dict(con.execute("SELECT score_tier, count(*) FROM marts.fct_lead_response GROUP BY 1").fetchall())
    answered = con.execute("SELECT count_if(first_touch_at IS NOT NULL) FROM marts.fct_lead_response").fetchone()[0]
    con.close()
    assert set(tiers) == {"hot", "warm", "cold"}
    assert answered > 100  # the epoch-millisecond SMS matched their leads by phone


def test_crm_without_appointments_or_opportunities(settings, dbt_manifest):
    settings, result = run(settings, lambda d: small_org(d, channels=("calls", "sms"), crm=("reps",)))
    assert_delivered(settings, result)
    status = outputs(settings)
    assert status["business_time"].available
    assert not status["funnel_opportunities"].available


def test_vendor_presets_end_to_end(settings, dbt_manifest):
    def build(landing: Path) -> None:
        for vendor in ("hubspot", "twilio"):
            shutil.copytree(FIXTURES / vendor, landing / vendor)
        (landing / "sources.yaml").write_text(textwrap.dedent("""
            presets: [hubspot, twilio]
        """))
    settings, result = run(settings, build)
    # Tiny vendor samples: the job ends in a report or at a gate that names its reason, never a crash.
    crashed = [s for s in failed_steps(result) if "_gx_" not in s]
    assert not crashed, crashed
    if result.success:
        assert (settings.output_dir / "leadership_report.html").exists()
        return
    # The vendors' documented examples use example.com addresses, which the default metric
    # definitions treat as internal test leads: the exclusion gate must say exactly that.
    con = reader(settings)
    samples = " ".join(r[0] for r in con.execute(
        "SELECT sample FROM quality.expectation_results WHERE run_id = ? AND NOT success", [result.run_id]).fetchall())
    con.close()
    assert "internal_test" in samples and "example" in samples


def test_every_lead_excluded_stops_at_the_exclusion_gate(tmp_path):
    # example.com is in the default internal_email_domains: every lead becomes an internal test.
    # Run as a user runs it (`stl run`): a gate stop is exit code 3 with a banner naming the gate
    # (a crash anywhere would be exit code 1).
    small_org(tmp_path / "landing", email_domain="example.com")
    done = run_stl(tmp_path, "run")
    assert done.returncode == 3, done.stderr[-3000:]
    assert "GATE FAILED marts_fct_lead_response" in done.stderr
    assert "RUN STOPPED BY A DATA-QUALITY GATE (exit code 3)" in done.stderr
    gate_line = next(line for line in done.stdout.splitlines() if line.startswith("data-quality gates:"))
    assert "FAILED" in gate_line
    con = reader(make_settings(tmp_path))
    gates = con.execute("SELECT suite, passed FROM quality.gate_results WHERE blocking AND NOT passed").fetchall()
    samples = " ".join(r[0] for r in con.execute(
        "SELECT sample FROM quality.expectation_results WHERE NOT success").fetchall())
    con.close()
    assert gates == [("marts_fct_lead_response", False)]  # the one run of this data directory
    assert "internal_test" in samples and "example.com" in samples
