"""A failed run explains itself: the failing step, the root cause dug out of Dagster's error
chain, what to do, and an exit code that tells a gate stop (3) from a crash (1)."""

from __future__ import annotations

import csv

import dagster as dg
import pytest

from orchestration import pipeline
from orchestration.ingest.loader import ContractError
from tests.helpers import run_stl


def _failing_job_result():
    """A two-op job whose first op raises the ingestion's contract error from inside a handler
    (so Dagster wraps it, with cause and context, like raw__leads does)."""

    @dg.op
    def raw__leads():
        try:
            raise KeyError("created_at")
        except KeyError as exc:
            raise ContractError("leads/leads_2026-11-21.csv", "missing required column", "created_at") from exc

    @dg.op
    def after(upstream):
        return None

    @dg.job
    def job():
        after(raw__leads())

    return job.execute_in_process(raise_on_error=False, instance=dg.DagsterInstance.ephemeral())


def test_the_root_cause_is_the_ops_own_error_under_dagsters_wrapper():
    result = _failing_job_result()
    failures = pipeline.step_failures(result)
    # The chain is Dagster's wrapper → ContractError → KeyError; the banner wants the middle one.
    error = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE").event_specific_data.error
    assert [error.cls_name, error.cause.cls_name, error.cause.cause.cls_name] == [
        "DagsterExecutionStepExecutionError", "ContractError", "KeyError"]
    assert [(f.step_key, f.error_class, f.message, f.stopped_by_gate) for f in failures] == [
        ("raw__leads", "ContractError", "leads/leads_2026-11-21.csv: missing required column (column 'created_at')", False)]


def test_the_contract_error_message_reaches_the_banner_without_dagster_wrapping(tmp_path):
    @dg.op
    def raw__leads():
        raise ContractError("leads/leads_2026-11-21.csv", "missing required column", "created_at")

    @dg.job
    def job():
        raw__leads()

    result = job.execute_in_process(raise_on_error=False, instance=dg.DagsterInstance.ephemeral())
    [failure] = pipeline.step_failures(result)
    assert failure.error_class == "ContractError"
    assert failure.message == "leads/leads_2026-11-21.csv: missing required column (column 'created_at')"
    code = pipeline.exit_code(result.success, [failure], gate_stopped=False)
    assert code == pipeline.EXIT_CRASHED == 1
    banner = pipeline.failure_banner([failure], code, tmp_path / "run.log")
    assert "step:        raw__leads" in banner
    assert "cause:       leads/leads_2026-11-21.csv: missing required column (column 'created_at')" in banner
    assert "fix or remove that file in the landing directory" in banner
    assert str(tmp_path / "run.log") in banner
    assert "DagsterExecutionStepExecutionError" not in banner


def test_a_blocking_check_failure_is_a_gate_stop_with_exit_code_3():
    @dg.asset
    def leads():
        return 1

    @dg.asset_check(asset=leads, blocking=True)
    def gx_raw_leads():
        return dg.AssetCheckResult(passed=False)

    @dg.asset(deps=[leads])
    def downstream():
        return 2

    result = dg.materialize([leads, gx_raw_leads, downstream], instance=dg.DagsterInstance.ephemeral(),
                            raise_on_error=False)
    failures = pipeline.step_failures(result)
    assert failures and all(f.stopped_by_gate for f in failures)
    assert pipeline.exit_code(result.success, failures, gate_stopped=True) == pipeline.EXIT_GATE_STOPPED == 3
    # A crash anywhere outranks the gate: the run is reported as crashed.
    crash = pipeline.StepFailure("dbt_models", "KeyError", "x", stopped_by_gate=False)
    assert pipeline.exit_code(False, [*failures, crash], gate_stopped=True) == 1
    assert pipeline.exit_code(True, [], gate_stopped=False) == 0


@pytest.mark.slow
def test_stl_run_on_a_leads_file_without_created_at_names_file_and_column(tmp_path):
    from orchestration.demo.generator import generate

    landing = tmp_path / "landing"
    generate(landing, leads=100, seed=1, days=4)  # the smallest landing that has every extract
    leads_file = sorted((landing / "leads").glob("*.csv"))[-1]
    with leads_file.open(newline="") as f:
        rows = list(csv.reader(f))
    drop = rows[0].index("created_at")
    with leads_file.open("w", newline="") as f:
        csv.writer(f).writerows([r[:drop] + r[drop + 1:] for r in rows])

    done = run_stl(tmp_path, "run")
    assert done.returncode == 1, done.stderr[-3000:]
    relative = f"leads/{leads_file.name}"
    assert "RUN FAILED (exit code 1)" in done.stderr
    assert "step:        raw__leads" in done.stderr
    cause = next(line for line in done.stderr.splitlines() if line.strip().startswith("cause:"))
    assert relative in cause and "created_at" in cause and "missing required column" in cause
    # The gate line does not claim the run was clean: the gates after the failure did not run.
    gate_line = next(line for line in done.stdout.splitlines() if line.startswith("data-quality gates:"))
    assert "not run (the run stopped before them)" in gate_line
    # Quiet terminal: no Dagster log stream, no tracebacks, no beta warnings; all in the run log.
    assert "Traceback" not in done.stderr and "BetaWarning" not in done.stderr + done.stdout
    assert "DagsterExecutionStepExecutionError" not in done.stderr
    assert "nanobind" not in done.stderr
    log = next((tmp_path / "output" / "logs").glob("run_*.log")).read_text()
    assert '", line ' in log and "missing required column" in log  # the stack is in the run log
