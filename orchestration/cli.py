"""``stl``: the one entry point for people at a terminal.

    stl demo            generate demo extracts, run every asset, say where to look
    stl run             run the main job on the configured landing directory
    stl generate        write demo extracts somewhere
    stl bench           measure the pipeline at a given size
    stl gates           run the data-quality suites against the warehouse now
    stl forecast CSV    backtest and forecast any arrival series (events or counts)
    stl stats-coverage  how often the conversion model's 95 % intervals contain the truth
    stl ui              the Dagster UI on this project (dagster dev -w workspace.yaml)
    stl purge           purge raw personal data older than STL_RETENTION_DAYS
    stl docs            the dbt docs catalogue (one HTML file) into the output directory
    stl prepare         parse the dbt project (the manifest Dagster reads)
    stl dbt ARGS...     dbt with the platform's warehouse path and profiles
    stl check [DIR]     dry run over a landing directory (writes nothing)
    stl paths           print the settings in force
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from orchestration.settings import DBT_PROJECT_DIR, PROJECT_ROOT, get_settings

DEMO_MANIFEST = "_demo_manifest.json"


def _print_paths(settings) -> None:
    for name in ("landing_dir", "warehouse_path", "output_dir", "dagster_home"):
        print(f"  {name:16s} {getattr(settings, name)}")


def cmd_check(args) -> int:
    """Dry run over the landing directory: files, mappings, sample rows, quarantine, outputs."""
    from orchestration.ingest.check import check_landing, format_report

    settings = get_settings()
    if args.landing_dir:
        from dataclasses import replace

        settings = replace(settings, landing_dir=Path(args.landing_dir).resolve())
    report = check_landing(settings)
    print(format_report(report))
    return 0 if report.ok else 1


def cmd_paths(args) -> int:
    settings = get_settings()
    _print_paths(settings)
    print(f"  source timezones {settings.source_timezones or '(from sources.yaml, else ' + settings.default_source_timezone + ')'}")
    print(f"  sql source       {settings.source_database_url or '(none)'}")
    return 0


def _write_demo(out: Path, leads: int, seed: int, days: int | None = None, messy: float = 0.02,
                progress: bool = True, experiment: bool = False, end_date: dt.date | None = None) -> None:
    from orchestration.demo.generator import generate

    started = time.perf_counter()
    manifest = generate(out, leads=leads, seed=seed, days=days, messy_share=messy, progress=progress,
                        experiment=experiment, **({"end_date": end_date} if end_date else {}))
    rows = sum(manifest.get("rows", {}).values()) if isinstance(manifest.get("rows"), dict) else None
    print(f"wrote demo extracts for {leads:,} leads to {out} in {time.perf_counter() - started:.1f} s"
          + (f" ({rows:,} rows)" if rows else ""))


def cmd_generate(args) -> int:
    _write_demo(Path(args.out) if args.out else get_settings().landing_dir, args.leads, args.seed, args.days,
                args.messy, progress=not args.quiet, experiment=args.experiment,
                end_date=dt.date.fromisoformat(args.end_date) if args.end_date else None)
    return 0


def _report_run(result, settings, verbose: bool = False, gated: bool = True) -> int:
    """Gates, then either the failure banner or where to look; returns the exit code
    (0 success, 3 stopped by a data-quality gate, 1 crashed: docs/operations.md). ``gated``:
    the job runs the gates (statistics_job does not)."""
    from orchestration import pipeline

    if verbose:  # quiet runs printed a line per step as it finished
        print("\nsteps (wall seconds):")
        for step, seconds in pipeline.step_timings(result).items():
            print(f"  {step:40s} {seconds:8.2f}")
    if gated:
        stopped = _report_gates(result.run_id, settings, run_succeeded=result.success)
    else:
        stopped = False
        print("\ndata-quality gates: none in this job (it reads the marts the last gated run built)")
    failures = pipeline.step_failures(result)
    code = pipeline.exit_code(result.success, failures, stopped)
    log_path = pipeline.run_log_path(settings, result.run_id)
    if code != pipeline.EXIT_OK:
        print(pipeline.failure_banner(failures, code, log_path), file=sys.stderr)
        return code
    from orchestration.delivery import publish

    summary = settings.output_dir / "pipeline_summary.md"
    published = settings.published_dir / publish.PUBLISHED_DB
    print("\nDone. Where to look:")
    print(f"  run summary        {summary}")
    if published.exists():
        print(f"  leadership report  {settings.output_dir / publish.REPORT}")
        print(f"  exports            {settings.output_dir / publish.EXPORTS_DIR}/ (CSV and Parquet, docs/exports.md)")
        print(f"  published marts    {published}")
        print(f"                     duckdb:///{published}?access_mode=read_only")
        print(f"                     {settings.published_dir / publish.PARQUET_DIR / publish.CURRENT}/*.parquet")
    print(f"  warehouse (DuckDB) {settings.warehouse_path}")
    print("                     marts.fct_lead_response, intermediate.int_*, staging.stg_*, raw.*, raw.quarantine")
    print(f"  run log            {log_path}  (Dagster's log, dbt's output, warnings)")
    print("  Dagster UI         .venv/bin/stl ui   (= dagster dev -w workspace.yaml with this DAGSTER_HOME)")
    if summary.exists():
        print("\n" + summary.read_text())
    return code


def _report_gates(run_id: str, settings, run_succeeded: bool = True) -> bool:
    """Print this run's data-quality gates and alerts; True when a gate stopped the run. Gates
    the run never reached are counted as not run, so the line cannot read as all clear."""
    import duckdb

    from orchestration.quality.gates import recorded_for_run
    from orchestration.quality.suites import load_suites

    planned = len(load_suites())
    try:
        gates, alerts = recorded_for_run(settings, run_id)
    except duckdb.IOException as exc:
        print(f"\ndata-quality gates: results unreadable, the warehouse is in use: {exc}", file=sys.stderr)
        return False
    failed = [g for g in gates if not g[1] and g[2]]
    warned = [g for g in gates if not g[1] and not g[2]]
    not_run = max(planned - len(gates), 0)
    parts = [f"{len(gates) - len(failed) - len(warned)} of {planned} passed"]
    if warned:
        parts.append(f"{len(warned)} with warnings")
    if failed:
        parts.append(f"{len(failed)} FAILED")
    if not_run:
        parts.append(f"{not_run} not run" + ("" if run_succeeded else " (the run stopped before them)"))
    print(f"\ndata-quality gates: {'; '.join(parts)}; {len(alerts)} alerts "
          f"(Data Docs: {settings.data_docs_dir / 'index.html'}, alert log: {settings.alert_log_path})")
    for severity, subject, what, fix in alerts:
        print(f"  [{severity}] {subject}: {what}\n      fix: {fix}")
    for suite, *_ in failed:
        print(f"GATE FAILED {suite}: everything downstream of it was not run; published outputs are unchanged.",
              file=sys.stderr)
    return bool(failed)


def cmd_demo(args) -> int:
    settings = get_settings()
    settings.ensure_dirs()
    landing = settings.landing_dir
    existing = [p for p in landing.rglob("*") if p.is_file()]
    if existing and not (landing / DEMO_MANIFEST).exists():
        print(f"{landing} holds files that are not demo data; the demo will not write there.\n"
              "Point STL_DATA_DIR (or STL_LANDING_DIR) somewhere else for the demo.", file=sys.stderr)
        return 2
    manifest_path = landing / DEMO_MANIFEST
    previous = json.loads(manifest_path.read_text()).get("parameters", {}) if manifest_path.exists() else {}
    # The demo's data ends two days ago, so freshness gates judge it as a live feed would be.
    end_date = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=2)).isoformat()
    if (previous.get("leads"), previous.get("seed"), previous.get("end_date")) != (args.leads, args.seed, end_date):
        if settings.warehouse_path.exists():
            # The warehouse holds only the earlier demo's rows (the landing directory held only
            # demo data): start clean so rows of files the new demo no longer writes do not linger.
            print(f"removing the earlier demo warehouse {settings.warehouse_path}")
            from orchestration import warehouse

            warehouse.remove(settings)
        print(f"generating demo extracts: {args.leads:,} leads, seed {args.seed} → {landing}")
        _write_demo(landing, args.leads, args.seed, end_date=dt.date.fromisoformat(end_date))
    else:
        print(f"reusing demo extracts in {landing} ({args.leads:,} leads, seed {args.seed})")
    from orchestration.pipeline import run_main_job

    _keep_spark_out(settings)
    print("running speed_to_lead_job (full load), one line per step ...", flush=True)
    result = run_main_job(settings, full_load=True, quiet=not args.verbose, wait=not args.no_wait)
    return _report_run(result, settings, verbose=args.verbose)


def _keep_spark_out(settings) -> None:
    """A one-shot run on the duckdb target never needs pyspark: keep GX from importing it."""
    from orchestration.scale import keep_pyspark_out
    from orchestration.scale.spark import SPARK_TARGET

    if settings.dbt_target != SPARK_TARGET:
        keep_pyspark_out()


def cmd_run(args) -> int:
    from orchestration.pipeline import run_main_job

    settings = get_settings()
    _keep_spark_out(settings)
    partition = dt.date.fromisoformat(args.partition) if args.partition else None
    job_name = "speed_to_lead_job"
    if args.daily:  # what the daily schedule runs: without the statistics when they are weekly
        from orchestration.defs.schedules import scheduled_daily_job

        job_name = scheduled_daily_job(settings).name
    if args.statistics:  # what the weekly statistics schedule runs, now
        job_name = "statistics_job"
        what = "on the current marts"
    else:
        what = f"partition {args.partition}" if partition else "full load"
    print(f"running {job_name} ({what}), one line per step ...", flush=True)
    result = run_main_job(settings, partition=partition, full_load=partition is None or args.full_load,
                          quiet=not args.verbose, wait=not args.no_wait, job_name=job_name)
    return _report_run(result, settings, verbose=args.verbose, gated=not args.statistics)


def cmd_ui(args) -> int:
    """dagster dev on this project's workspace.yaml and DAGSTER_HOME. SIGTERM / SIGINT / SIGHUP
    are passed on to dagster dev (which ignores a SIGTERM its wrapper does not forward) and we
    wait for it, so a service manager's stop stops the webserver, daemon and code server too."""
    from orchestration.dbt_project import prepare_manifest

    settings = get_settings()
    settings.ensure_dirs()
    prepare_manifest()
    # dagster dev, its code server and run workers inherit DAGSTER_HOME, the warehouse path and
    # telemetry off from here: importing the definitions exports nothing.
    env = {**os.environ, **settings.process_env()}
    dagster = str(Path(sys.executable).parent / "dagster")
    # A parent that ignores or blocks SIGTERM (some service wrappers, test runners) hands that on
    # through exec: take the stop signals back, for this process and for dagster dev.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    child = subprocess.Popen([dagster, "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"), "-p", str(args.port)],
                             cwd=PROJECT_ROOT, env=env, preexec_fn=default_stop_signals)

    def forward(signum, frame):
        # dagster dev shuts its own children down on SIGINT; SIGTERM from us is passed on as is.
        child.send_signal(signum)

    for signum in STOP_SIGNALS:
        signal.signal(signum, forward)
    return child.wait()


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def default_stop_signals() -> None:
    """In a child before exec: the stop signals with their default action and not blocked."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def cmd_purge(args) -> int:
    """Purge personal data older than the retention period from the tables the platform writes
    (raw, matches, quarantine, gate samples: orchestration/delivery/retention.py), then rebuild the
    dbt models from the purged raw data with the pipeline's own dbt asset (transform.py): dbt's
    tables are regenerated, never updated. A failed rebuild leaves the purge committed and says
    so; running `stl purge` again (the purge is then a no-op) or the next `stl run` rebuilds."""
    import dagster as dg

    from orchestration.dbt_project import prepare_manifest
    from orchestration.delivery.privacy import pseudonym_key
    from orchestration.delivery.retention import purge_personal_data
    from orchestration.pipeline import step_failures
    from orchestration.settings import apply_process_env
    from orchestration.warehouse import writer

    settings = get_settings()
    apply_process_env(settings)  # dbt reads the warehouse path from the environment
    days = settings.retention_days if args.days is None else args.days
    prepare_manifest()  # a dbt project that does not parse stops us here, before anything changed
    with writer(settings) as con:
        touched = purge_personal_data(con, pseudonym_key(settings), days)
    print(f"purged personal data older than {days} days:")
    for table, rows in touched.items():
        print(f"  {table:36s} {rows:10,d} rows")
    print("rebuilding the dbt models from the purged raw data (dbt build) ...", flush=True)
    from orchestration.defs.resources import build_resources
    from orchestration.defs.transform import dbt_models

    # An ephemeral instance: this is no pipeline run (no run lock, pool or run history to keep);
    # the asset holds the warehouse lock for the whole build, as in a run.
    result = dg.materialize([dbt_models], resources=build_resources(), instance=dg.DagsterInstance.ephemeral(),
                            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
                            raise_on_error=False)
    if not result.success:
        causes = "; ".join(f"{f.error_class}: {f.message}" for f in step_failures(result)) or "see the output above"
        print(f"error: the purge is committed, but rebuilding the dbt models failed ({causes}). Until a "
              "rebuild succeeds, staging and intermediate tables may still hold the purged personal data. "
              "Fix the cause (`stl dbt build` reproduces it), then run `stl purge` again or the next `stl run`.",
              file=sys.stderr)
        return 1
    print("dbt models rebuilt from the purged raw data")
    return 0


def cmd_docs(args) -> int:
    from orchestration.dbt_project import DBT_EXECUTABLE
    from orchestration.delivery.publish import generate_dbt_docs
    from orchestration.warehouse import warehouse_lock

    settings = get_settings()
    with warehouse_lock(settings):  # dbt opens the warehouse to read the catalogue
        path = generate_dbt_docs(DBT_EXECUTABLE, DBT_PROJECT_DIR, {**os.environ, **settings.dbt_env()}, settings.output_dir)
    print(f"dbt docs catalogue: {path}")
    return 0


def cmd_prepare(args) -> int:
    from orchestration.dbt_project import prepare_manifest

    prepare_manifest()
    print(f"dbt manifest ready in {DBT_PROJECT_DIR / 'target'}")
    return 0


def cmd_dbt(args) -> int:
    from orchestration.dbt_project import DBT_EXECUTABLE

    settings = get_settings()
    env = {**os.environ, **settings.dbt_env()}
    return subprocess.call([DBT_EXECUTABLE, *args.dbt_args, "--project-dir", str(DBT_PROJECT_DIR),
                            "--profiles-dir", str(DBT_PROJECT_DIR)], env=env)


def cmd_bench(args) -> int:
    from orchestration.bench import run_benchmark

    return run_benchmark(leads=args.leads, seed=args.seed, workdir=Path(args.workdir), reuse=not args.regenerate,
                         json_path=Path(args.json) if args.json else None, engine=args.engine, floor=not args.no_floor,
                         daily=args.daily)


def cmd_gates(args) -> int:
    """Run data-quality suites against the current warehouse, outside Dagster (same code path)."""
    import uuid

    from orchestration.quality.gates import build_data_docs_index, run_gate
    from orchestration.quality.suites import load_suites

    settings = get_settings()
    suites = [s for s in load_suites() if not args.suites or s.name in args.suites]
    unknown = set(args.suites) - {s.name for s in suites}
    if unknown:
        print(f"unknown suites: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    run_id = f"cli-{uuid.uuid4().hex[:12]}"
    stopped = False
    for suite in suites:
        outcome, alerts = run_gate(suite, settings, run_id=run_id)
        verdict = "pass" if not outcome.failed else ("FAIL" if not outcome.passed else "warn")
        print(f"{verdict:4s} {suite.name:36s} {len(outcome.results):3d} expectations  {outcome.seconds:7.2f} s")
        for r in outcome.failed:
            count = "" if r.unexpected_count is None else f" ({r.unexpected_count:,} failing)"
            print(f"       {r.spec.severity:7s} {r.spec.label}{count}{': ' + r.error if r.error else ''}")
        stopped |= suite.blocking and not outcome.passed
    print(f"Data Docs: {build_data_docs_index(settings)}   alerts: {settings.alert_log_path}")
    return 1 if stopped else 0


def cmd_forecast(args) -> int:
    """Any arrival series → backtest MASE per model (printed) and the forecast (written)."""
    import pandas as pd

    from orchestration.stats.forecast import arrivals_from_events, forecast_arrivals, read_holidays

    frame = pd.read_csv(args.csv)
    stamps = pd.to_datetime(frame[args.timestamp_col], utc=True, format="mixed")
    if args.count_col:
        series = pd.Series(frame[args.count_col].to_numpy(float), index=pd.DatetimeIndex(stamps))
    else:
        series = arrivals_from_events(stamps, step=args.step or "1h")
    from orchestration.stats import single_threaded_blas

    with single_threaded_blas():
        holidays = read_holidays(args.holidays) if args.holidays else None
        result = forecast_arrivals(series, horizon=args.horizon, step=args.step, holidays=holidays)
    print(f"step {result.step}, seasonal periods {result.periods}, {len(series):,} input rows")
    if len(result.backtest):
        print(f"backtest ({int(result.backtest['n_origins'].max())} rolling origins), mean over horizons:")
        print(result.summary().to_string(float_format=lambda v: f"{v:.3f}"))
    else:
        print("history too short for a backtest")
    print(f"chosen: {result.chosen}")
    if result.closed_days:
        print(f"closed days left out of fits and scores: {len(result.closed_days)} "
              f"({', '.join(d.strftime('%Y-%m-%d') for d in result.closed_days[-5:])}{' ...' if len(result.closed_days) > 5 else ''})")
    out = Path(args.out) if args.out else Path(args.csv).with_name(Path(args.csv).stem + "_forecast.csv")
    forecast = result.forecast if args.all_models else result.forecast[result.forecast["is_chosen"]]
    forecast.to_csv(out, index=False)
    print(f"forecast written to {out} ({len(forecast):,} rows)")
    return 0


def cmd_stats_coverage(args) -> int:
    from orchestration.stats.simulation import coverage

    started = time.perf_counter()
    from orchestration.stats import single_threaded_blas

    with single_threaded_blas():
        table = coverage(seeds=args.seeds, leads=args.leads, model=args.model)
    print(f"95 % interval coverage of the true odds ratios, {args.seeds} seeds × {args.leads:,} simulated leads, "
          f"model {args.model} ({time.perf_counter() - started:.0f} s):")
    print(table.to_string(formatters={"coverage": "{:.0%}".format, "mean_leads": "{:,.0f}".format}))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stl", description="Speed-to-lead analytics platform")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="generate demo data, run every asset, say where to look")
    p.add_argument("--leads", type=int, default=5000)
    p.add_argument("--seed", type=int, default=42)
    _add_run_control_arguments(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("run", help="run the main job on the configured landing directory")
    p.add_argument("--partition", help="extract date YYYY-MM-DD (default: full load of every file)")
    p.add_argument("--full-load", action="store_true", help="with --partition: still read every file")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--daily", action="store_true",
                       help="run what the daily schedule runs: without the statistics while they are weekly "
                            "(STL_STATISTICS_FREQUENCY)")
    which.add_argument("--statistics", action="store_true",
                       help="fit the statistics alone on the current marts, now (what the weekly statistics "
                            "schedule runs); the report shows them from the next delivery on")
    _add_run_control_arguments(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("generate", help="write demo extracts")
    p.add_argument("--leads", type=int, default=5000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--days", type=int, default=None)
    p.add_argument("--messy", type=float, default=0.02, help="share of rows with planted data problems")
    p.add_argument("--end-date", help="last day of data, YYYY-MM-DD (default 2026-10-31: reproducible output)")
    p.add_argument("--out", help="directory (default: the landing directory)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--experiment", action="store_true",
                   help="also write an experiment_assignments extract with a planted arm effect")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("bench", help="generate (or reuse) data, run the whole pipeline, print figures")
    p.add_argument("--leads", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--workdir", default=str(PROJECT_ROOT / "bench"))
    p.add_argument("--regenerate", action="store_true", help="regenerate even if data of this size exists")
    p.add_argument("--json", help="where to write the figures (default: <workdir>/results-<leads>[-spark].json)")
    p.add_argument("--no-floor", action="store_true",
                   help="skip the hand-written DuckDB query and pandas pipeline (at 10M, pandas needs tens of GB)")
    p.add_argument("--engine", choices=["duckdb", "spark"], default="duckdb",
                   help="spark: after the pipeline, time the dbt models on DuckDB and on Spark (docs/scale_out.md)")
    p.add_argument("--daily", action="store_true",
                   help="also time a daily run: every extract but the last day's loaded first, then the last "
                        "day's partition; its tables are compared with the full run's row for row")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("gates", help="run the data-quality suites (expectations/*.yml) on the warehouse now")
    p.add_argument("suites", nargs="*", help="suite names (default: all)")
    p.set_defaults(func=cmd_gates)
    p = sub.add_parser("forecast", help="backtest and forecast an arrival series from a CSV")
    p.add_argument("csv")
    p.add_argument("--timestamp-col", required=True, help="event time (one row per arrival) or slot start")
    p.add_argument("--count-col", help="arrivals per slot; without it every row is one arrival")
    p.add_argument("--step", help="slot length, e.g. 5min, 1h, 1D (default: inferred; 1h for events)")
    p.add_argument("--horizon", default="14D")
    p.add_argument("--holidays", help="closed dates: one per line, or a CSV whose first column is the date "
                                      "(optional second column: weight 0-1, 1 = closed)")
    p.add_argument("--out", help="forecast CSV (default: <csv>_forecast.csv)")
    p.add_argument("--all-models", action="store_true", help="write every candidate's forecast")
    p.set_defaults(func=cmd_forecast)

    p = sub.add_parser("stats-coverage", help="repeated-seed coverage check of the conversion model")
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--leads", type=int, default=50_000)
    p.add_argument("--model", default="buckets_clustered")
    p.set_defaults(func=cmd_stats_coverage)

    p = sub.add_parser("ui", help="start the Dagster UI (dagster dev -w workspace.yaml)")
    p.add_argument("--port", type=int, default=3000)
    p.set_defaults(func=cmd_ui)

    p = sub.add_parser("purge", help="purge raw personal data older than STL_RETENTION_DAYS")
    p.add_argument("--days", type=int, default=None, help="override STL_RETENTION_DAYS")
    p.set_defaults(func=cmd_purge)

    p = sub.add_parser("docs", help="generate the dbt docs catalogue into the output directory")
    p.set_defaults(func=cmd_docs)

    p = sub.add_parser("prepare", help="parse the dbt project into target/manifest.json")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("dbt", help="run dbt against the platform's warehouse", add_help=False)
    p.add_argument("dbt_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_dbt)

    p = sub.add_parser("check", help="dry run over a landing directory: files, mappings, sample rows, what is missing")
    p.add_argument("landing_dir", nargs="?", help="default: STL_LANDING_DIR")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("paths", help="print the settings in force")
    p.set_defaults(func=cmd_paths)

    args = parser.parse_args(argv)
    if args.func not in (cmd_demo, cmd_run):
        return args.func(args)
    from orchestration.pipeline import EXIT_BUSY, RunInProgress

    # A service manager stops a run with SIGTERM: make it an interrupt, so the run ends the way
    # Ctrl-C ends it (dbt is told to stop, the run is marked, the run lock is released).
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        code = args.func(args)
    except RunInProgress as exc:
        print(f"{exc}\nNot started (--no-wait). Run again when it has finished, or without --no-wait to queue.",
              file=sys.stderr)
        code = EXIT_BUSY
    except KeyboardInterrupt:
        print("\ninterrupted: the run stopped; published outputs keep their last good version.", file=sys.stderr)
        code = 130
    if argv is None:
        from orchestration.pipeline import exit_after_run

        exit_after_run(code)
    return code


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _add_run_control_arguments(p) -> None:
    p.add_argument("--verbose", action="store_true", help="Dagster's INFO log on the terminal (else it goes to the run log)")
    p.add_argument("--no-wait", action="store_true",
                   help="if another run is using the warehouse, exit with code 4 instead of waiting for it")


if __name__ == "__main__":
    sys.exit(main())
