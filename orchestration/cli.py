"""``stl``: the one entry point for people at a terminal.

    stl demo            generate demo extracts, run every asset, say where to look
    stl run             run the main job on the configured landing directory
    stl generate        write demo extracts somewhere
    stl bench           measure the pipeline at a given size
    stl ui              the Dagster UI on this project (dagster dev -w workspace.yaml)
    stl prepare         parse the dbt project (the manifest Dagster reads)
    stl dbt ARGS...     dbt with the platform's warehouse path and profiles
    stl paths           print the settings in force
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from orchestration.settings import DBT_PROJECT_DIR, PROJECT_ROOT, apply_process_env, get_settings

DEMO_MANIFEST = "_demo_manifest.json"


def _print_paths(settings) -> None:
    for name in ("landing_dir", "warehouse_path", "output_dir", "dagster_home"):
        print(f"  {name:16s} {getattr(settings, name)}")


def cmd_paths(args) -> int:
    settings = get_settings()
    _print_paths(settings)
    print(f"  source timezones {settings.source_timezones or '(from sources.yaml, else ' + settings.default_source_timezone + ')'}")
    print(f"  sql source       {settings.source_database_url or '(none)'}")
    return 0


def cmd_generate(args) -> int:
    from orchestration.demo.generator import generate

    out = Path(args.out) if args.out else get_settings().landing_dir
    started = time.perf_counter()
    manifest = generate(out, leads=args.leads, seed=args.seed, days=args.days, messy_share=args.messy,
                        progress=not args.quiet)
    rows = sum(manifest.get("rows", {}).values()) if isinstance(manifest.get("rows"), dict) else None
    print(f"wrote demo extracts for {args.leads:,} leads to {out} in {time.perf_counter() - started:.1f} s"
          + (f" ({rows:,} rows)" if rows else ""))
    return 0


def _report_run(result, settings) -> int:
    from orchestration.pipeline import step_timings

    timings = step_timings(result)
    print("\nsteps (wall seconds):")
    for step, seconds in timings.items():
        print(f"  {step:40s} {seconds:8.2f}")
    if not result.success:
        failed = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        for event in failed:
            print(f"\nFAILED {event.step_key}: {event.event_specific_data.error.message.strip()}", file=sys.stderr)
        return 1
    summary = settings.output_dir / "pipeline_summary.md"
    print("\nDone. Where to look:")
    print(f"  run summary        {summary}")
    print(f"  warehouse (DuckDB) {settings.warehouse_path}")
    print("                     marts.fct_lead_response, intermediate.int_*, staging.stg_*, raw.*, raw.quarantine")
    print("  Dagster UI         .venv/bin/stl ui   (= dagster dev -w workspace.yaml with this DAGSTER_HOME)")
    if summary.exists():
        print("\n" + summary.read_text())
    return 0


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
    if previous.get("leads") != args.leads or previous.get("seed") != args.seed:
        if settings.warehouse_path.exists():
            # The warehouse holds only the earlier demo's rows (the landing directory held only
            # demo data): start clean so rows of files the new demo no longer writes do not linger.
            print(f"removing the earlier demo warehouse {settings.warehouse_path}")
            settings.warehouse_path.unlink()
            settings.warehouse_path.with_suffix(settings.warehouse_path.suffix + ".wal").unlink(missing_ok=True)
        print(f"generating demo extracts: {args.leads:,} leads, seed {args.seed} → {landing}")
        cmd_generate(argparse.Namespace(out=str(landing), leads=args.leads, seed=args.seed, days=None,
                                        messy=0.02, quiet=False))
    else:
        print(f"reusing demo extracts in {landing} ({args.leads:,} leads, seed {args.seed})")
    from orchestration.pipeline import run_main_job

    print("running speed_to_lead_job (full load) ...")
    result = run_main_job(settings, full_load=True)
    return _report_run(result, settings)


def cmd_run(args) -> int:
    from orchestration.pipeline import run_main_job

    settings = get_settings()
    partition = dt.date.fromisoformat(args.partition) if args.partition else None
    result = run_main_job(settings, partition=partition, full_load=partition is None or args.full_load)
    return _report_run(result, settings)


def cmd_ui(args) -> int:
    """dagster dev on this project's workspace.yaml and DAGSTER_HOME."""
    from orchestration.dbt_project import prepare_manifest

    settings = get_settings()
    settings.ensure_dirs()
    apply_process_env(settings)
    prepare_manifest()
    env = {**os.environ, "DAGSTER_HOME": str(settings.dagster_home)}
    dagster = str(Path(sys.executable).parent / "dagster")
    return subprocess.call([dagster, "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"), "-p", str(args.port)],
                           cwd=PROJECT_ROOT, env=env)


def cmd_prepare(args) -> int:
    from orchestration.dbt_project import prepare_manifest

    prepare_manifest()
    print(f"dbt manifest ready in {DBT_PROJECT_DIR / 'target'}")
    return 0


def cmd_dbt(args) -> int:
    from orchestration.dbt_project import DBT_EXECUTABLE

    settings = get_settings()
    apply_process_env(settings)
    env = {**os.environ, **settings.dbt_env()}
    return subprocess.call([DBT_EXECUTABLE, *args.dbt_args, "--project-dir", str(DBT_PROJECT_DIR),
                            "--profiles-dir", str(DBT_PROJECT_DIR)], env=env)


def cmd_bench(args) -> int:
    from orchestration.bench import run_benchmark

    return run_benchmark(leads=args.leads, seed=args.seed, workdir=Path(args.workdir), reuse=not args.regenerate,
                         json_path=Path(args.json) if args.json else None, engine=args.engine)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stl", description="Speed-to-lead analytics platform")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="generate demo data, run every asset, say where to look")
    p.add_argument("--leads", type=int, default=5000)
    p.add_argument("--seed", type=int, default=42)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("run", help="run the main job on the configured landing directory")
    p.add_argument("--partition", help="extract date YYYY-MM-DD (default: full load of every file)")
    p.add_argument("--full-load", action="store_true", help="with --partition: still read every file")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("generate", help="write demo extracts")
    p.add_argument("--leads", type=int, default=5000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--days", type=int, default=None)
    p.add_argument("--messy", type=float, default=0.02, help="share of rows with planted data problems")
    p.add_argument("--out", help="directory (default: the landing directory)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("bench", help="generate (or reuse) data, run the whole pipeline, print figures")
    p.add_argument("--leads", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--workdir", default=str(PROJECT_ROOT / "bench"))
    p.add_argument("--regenerate", action="store_true", help="regenerate even if data of this size exists")
    p.add_argument("--json", help="where to write the figures (default: <workdir>/results-<leads>[-spark].json)")
    p.add_argument("--engine", choices=["duckdb", "spark"], default="duckdb",
                   help="spark: after the pipeline, time the dbt models on DuckDB and on Spark (docs/scale_out.md)")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("ui", help="start the Dagster UI (dagster dev -w workspace.yaml)")
    p.add_argument("--port", type=int, default=3000)
    p.set_defaults(func=cmd_ui)

    p = sub.add_parser("prepare", help="parse the dbt project into target/manifest.json")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("dbt", help="run dbt against the platform's warehouse", add_help=False)
    p.add_argument("dbt_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_dbt)

    p = sub.add_parser("paths", help="print the settings in force")
    p.set_defaults(func=cmd_paths)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
