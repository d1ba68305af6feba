"""Every expectation suite in ``expectations/`` as a Dagster asset check on the asset it names.

A suite marked ``blocking`` (the default) is a gate: when one of its error-severity
expectations fails, Dagster does not run anything downstream of the asset in that run, so marts,
statistics, snapshots and publishing keep their last good version. Warning-severity failures
only alert. The failing counts, a sample of failing rows and the Data Docs page are attached
as check metadata; ``quality.gate_results`` / ``quality.alerts`` keep the history.
"""

import dagster as dg

from orchestration.quality.gates import run_gate
from orchestration.quality.suites import Suite, load_suites
from orchestration.defs.resources import WarehouseResource

MAX_METADATA_ROWS = 20


def _failures_markdown(outcome) -> str:
    lines = ["| expectation | severity | failing | sample |", "|---|---|---:|---|"]
    for r in outcome.failed[:MAX_METADATA_ROWS]:
        sample = (r.error or str(r.sample[:3])).replace("|", "\\|").replace("\n", " ")[:300]
        count = "" if r.unexpected_count is None else f"{r.unexpected_count:,}"
        lines.append(f"| {r.spec.label} | {r.spec.severity} | {count} | {sample} |")
    return "\n".join(lines)


def _is_full_load(run_config: dict | None) -> bool:
    """A full load (every landing file: ``stl run``, ``stl demo``, a reload) validates whole
    tables; a partition run (the daily schedule, the landing sensor) the rows it brought."""
    ops = (run_config or {}).get("ops") or {}
    return any((op.get("config") or {}).get("full_load") for op in ops.values() if isinstance(op, dict))


def gate_check(suite: Suite) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        name=f"gx_{suite.name}",
        asset=dg.AssetKey(list(suite.asset)),
        blocking=suite.blocking,
        description=f"Great Expectations suite {suite.path.name if suite.path else suite.name}: {suite.description}",
    )
    def _check(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
        outcome, alerts = run_gate(suite, warehouse.settings(), run_id=context.run.run_id,
                                   new_rows_only=not _is_full_load(context.run.run_config))
        metadata = {
            "suite": suite.name,
            "batch": "rows loaded since the suite last passed" if outcome.new_rows_only else "whole table",
            "evaluated_expectations": len(outcome.results),
            "failed_expectations": len(outcome.failed),
            "failing_rows": outcome.failing_rows,
            "alerts": len(alerts),
            "seconds": outcome.seconds,
        }
        if outcome.failed:
            metadata["failures"] = dg.MetadataValue.md(_failures_markdown(outcome))
        if outcome.data_docs_path:
            metadata["data_docs"] = dg.MetadataValue.path(str(outcome.data_docs_path))
        errors = any(r.spec.severity == "error" for r in outcome.failed)
        return dg.AssetCheckResult(
            passed=not outcome.failed,
            severity=dg.AssetCheckSeverity.ERROR if errors else dg.AssetCheckSeverity.WARN,
            metadata=metadata,
        )

    return _check


gate_checks = [gate_check(suite) for suite in load_suites()]
