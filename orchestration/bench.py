"""The benchmark: generate (or reuse) demo data of a given size, run the whole pipeline in a
fresh warehouse, and print per-stage wall time, rows/s and peak memory (also written as JSON).

Each stage runs in its own child process so its peak resident memory is its own (read with
``os.wait4``; the pipeline's figure includes the dbt subprocess it waits for)."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path


def _run_child(code: str, env: dict[str, str]) -> tuple[float, float, int]:
    """Run python -c code; (wall seconds, peak RSS MiB, exit code)."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - started, usage.ru_maxrss / 1024, proc.returncode


def _pipeline_child(out_path: str) -> None:
    """Inside the child: run the main job, write step timings and ingestion row counts."""
    from orchestration.pipeline import run_main_job, step_timings
    from orchestration.settings import get_settings

    result = run_main_job(get_settings(), full_load=True)
    rows = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        if "rows_read" in mat.metadata:
            rows["/".join(mat.asset_key.path)] = mat.metadata["rows_read"].value
        if "activities" in mat.metadata:
            rows["/".join(mat.asset_key.path)] = mat.metadata["activities"].value
    Path(out_path).write_text(json.dumps({"success": result.success, "steps": step_timings(result), "rows": rows}))


def run_benchmark(leads: int, seed: int, workdir: Path, reuse: bool = True, json_path: Path | None = None) -> int:
    workdir = workdir.resolve()
    data_root = workdir / f"leads-{leads}-seed-{seed}"
    landing = data_root / "landing"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    figures: dict = {"leads": leads, "seed": seed, "machine": {"cpus": os.cpu_count(), "python": platform.python_version()}}

    manifest = landing / "_demo_manifest.json"
    if reuse and manifest.exists():
        print(f"reusing generated data in {landing}")
    else:
        shutil.rmtree(landing, ignore_errors=True)
        print(f"generating {leads:,} leads into {landing} ...")
        wall, rss, code = _run_child(
            f"from orchestration.demo.generator import generate; from pathlib import Path; "
            f"generate(Path({str(landing)!r}), leads={leads}, seed={seed}, progress=True)", env)
        if code:
            return code
        figures["generate"] = {"wall_s": round(wall, 2), "peak_rss_mib": round(rss, 1)}
    generated = json.loads(manifest.read_text())
    figures["rows_generated"] = generated.get("rows")

    run_dir = data_root / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    child_out = run_dir / "child.json"
    env_run = {**env, "STL_DATA_DIR": str(run_dir), "STL_LANDING_DIR": str(landing)}
    env_run.pop("DAGSTER_HOME", None)
    print("running the whole pipeline (fresh warehouse) ...")
    wall, rss, code = _run_child(
        f"from orchestration.bench import _pipeline_child; _pipeline_child({str(child_out)!r})", env_run)
    child = json.loads(child_out.read_text()) if child_out.exists() else {"success": False, "steps": {}, "rows": {}}
    steps = child["steps"]
    ingest_steps = {k: v for k, v in steps.items() if k.startswith("raw__") and k != "raw__activity_lead_matches"}
    ingest_rows = sum(v for k, v in child["rows"].items() if k.startswith("raw/") and k != "raw/activity_lead_matches")
    ingest_s = sum(ingest_steps.values())
    figures["pipeline"] = {
        "success": child["success"] and code == 0,
        "wall_s": round(wall, 2),
        "peak_rss_mib": round(rss, 1),
        "ingest_s": round(ingest_s, 2),
        "ingest_rows": ingest_rows,
        "ingest_rows_per_s": round(ingest_rows / ingest_s) if ingest_s else None,
        "match_s": steps.get("raw__activity_lead_matches"),
        "dbt_build_s": steps.get("dbt_models"),
        "steps_s": steps,
        "rows_read": child["rows"],
        "warehouse_mib": round((run_dir / "warehouse" / "speed_to_lead.duckdb").stat().st_size / 2**20, 1)
        if (run_dir / "warehouse" / "speed_to_lead.duckdb").exists() else None,
    }
    json_path = json_path or workdir / f"results-{leads}.json"
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(figures, indent=2))

    p = figures["pipeline"]
    print(f"\nbenchmark: {leads:,} leads (seed {seed})")
    if "generate" in figures:
        print(f"  generate            {figures['generate']['wall_s']:8.1f} s   peak {figures['generate']['peak_rss_mib']:8.0f} MiB")
    print(f"  pipeline (total)    {p['wall_s']:8.1f} s   peak {p['peak_rss_mib']:8.0f} MiB   success={p['success']}")
    print(f"  ingest              {p['ingest_s']:8.1f} s   {p['ingest_rows']:,} rows   {p['ingest_rows_per_s'] or 0:,} rows/s")
    for step, seconds in steps.items():
        print(f"    {step:34s} {seconds:8.2f} s")
    print(f"figures written to {json_path}")
    return 0 if p["success"] else 1
