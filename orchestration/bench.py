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
import tempfile
import time
from pathlib import Path


def _tree_rss_mib(root: int) -> float:
    """Resident memory of a process and all its descendants now (Linux /proc), MiB."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    total_kib, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kib += int(line.split()[1])
        except OSError:
            continue
    return total_kib / 1024


def _run_child(code: str, env: dict[str, str]) -> tuple[float, float, int]:
    """Run ``code`` in a child Python; (wall seconds, peak RSS MiB, exit code).

    The code runs from a script file, not ``python -c``: pyspark (installed with the spark extra,
    and imported by GX when present) takes a main module without a file for its own doctest run
    and exits the process.

    Peak memory is the larger of the child's own peak (wait4, which counts descendants it
    waited for) and the process tree's RSS sampled twice a second: Spark's JVM is started by
    pyspark and never waited for, so only the sampling sees it."""
    import threading

    script = tempfile.NamedTemporaryFile("w", suffix=".py", prefix="stl_bench_", delete=False)
    script.write(code)
    script.close()
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, script.name], env=env)
    sampled = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.5):
            sampled[0] = max(sampled[0], _tree_rss_mib(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    done.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    os.unlink(script.name)
    return time.perf_counter() - started, max(usage.ru_maxrss / 1024, sampled[0]), proc.returncode


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


def _dbt_models_child(engine: str, out_path: str) -> None:
    """Inside the child: ``dbt run`` (the models, no tests) on one engine over the raw tables the
    pipeline loaded; write exit code and step timings."""
    from orchestration.dbt_project import DBT_EXECUTABLE
    from orchestration.scale.spark import SPARK_TARGET, run_dbt_on_spark
    from orchestration.settings import DBT_PROJECT_DIR, get_settings
    from orchestration.warehouse import warehouse_lock

    settings = get_settings()
    if engine == SPARK_TARGET:
        figures = run_dbt_on_spark(settings, ["run"])
    else:
        started = time.perf_counter()
        with warehouse_lock(settings):
            code = subprocess.call([DBT_EXECUTABLE, "run", "--project-dir", str(DBT_PROJECT_DIR),
                                    "--profiles-dir", str(DBT_PROJECT_DIR)], env={**os.environ, **settings.dbt_env()})
        figures = {"returncode": code, "dbt_s": round(time.perf_counter() - started, 2)}
    Path(out_path).write_text(json.dumps(figures))


def _compare_engines(env_run: dict[str, str], run_dir: Path, engines: list[str]) -> dict:
    """The same dbt models on each engine, one child process each (peak memory includes the JVM)."""
    results = {}
    for engine in engines:
        out = run_dir / f"dbt-{engine}.json"
        print(f"dbt run (models only) on {engine} ...")
        wall, rss, code = _run_child(
            f"from orchestration.bench import _dbt_models_child; _dbt_models_child({engine!r}, {str(out)!r})", env_run)
        child = json.loads(out.read_text()) if out.exists() else {"returncode": code}
        results[engine] = {**{k: v for k, v in child.items() if k != "raw_rows"},
                           "success": code == 0 and child.get("returncode") == 0,
                           "wall_s": round(wall, 2), "peak_rss_mib": round(rss, 1)}
    return results


def run_benchmark(leads: int, seed: int, workdir: Path, reuse: bool = True, json_path: Path | None = None,
                  engine: str = "duckdb") -> int:
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
    if engine == "spark" and figures["pipeline"]["success"]:
        # DuckDB's models again on the loaded warehouse, then Spark's: the same work on each.
        figures["dbt_models_by_engine"] = _compare_engines(env_run, run_dir, ["duckdb", "spark"])
    json_path = json_path or workdir / f"results-{leads}{'' if engine == 'duckdb' else '-' + engine}.json"
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
    for name, r in figures.get("dbt_models_by_engine", {}).items():
        extra = f"   (export to Parquet {r['export_s']:.1f} s, dbt {r['dbt_s']:.1f} s)" if "export_s" in r else ""
        print(f"  dbt run on {name:7s}  {r['wall_s']:8.1f} s   peak {r['peak_rss_mib']:8.0f} MiB   success={r['success']}{extra}")
    print(f"figures written to {json_path}")
    engines_ok = all(r["success"] for r in figures.get("dbt_models_by_engine", {}).values())
    return 0 if p["success"] and engines_ok else 1
