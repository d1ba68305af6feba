"""The benchmark: generate (or reuse) demo data of a given size, run the whole pipeline in a
fresh warehouse, and print per-stage wall time, rows/s and peak memory (also written as JSON).

Each stage runs in its own child process so its peak resident memory is its own (read with
``os.wait4``; the pipeline's figure includes the dbt subprocess it waits for)."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from orchestration.settings import WAREHOUSE_FILE


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


def _dir_mib(root: Path) -> float:
    """Bytes on disk under ``root`` now (files only; ones removed while walking are skipped), MiB."""
    total = 0
    for path in root.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_blocks * 512
        except OSError:
            continue
    return total / 2**20


def _run_child(code: str, env: dict[str, str], disk: Path | None = None) -> tuple[float, float, int]:
    """Run ``code`` in a child Python; (wall seconds, peak RSS MiB, exit code). With ``disk``,
    the peak size of that directory (warehouse, DuckDB's spill files, outputs) is sampled
    every few seconds into ``_run_child.peak_disk_mib``.

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
    sampled, disk_peak, ticks = [0.0], [0.0], [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.5):
            sampled[0] = max(sampled[0], _tree_rss_mib(proc.pid))
            ticks[0] += 1
            if disk is not None and ticks[0] % 6 == 0:
                disk_peak[0] = max(disk_peak[0], _dir_mib(disk))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    done.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    os.unlink(script.name)
    _run_child.peak_disk_mib = max(disk_peak[0], _dir_mib(disk)) if disk is not None else None
    return time.perf_counter() - started, max(usage.ru_maxrss / 1024, sampled[0]), proc.returncode


def _pipeline_child(out_path: str, partition: str | None = None) -> None:
    """Inside the child: run the main job over every landing file, or what the daily schedule
    runs for one partition; write step timings and ingestion row counts."""
    from orchestration.pipeline import exit_after_run, run_main_job, step_timings
    from orchestration.settings import get_settings

    settings = get_settings()
    day = dt.date.fromisoformat(partition) if partition else None
    if day is None:
        result = run_main_job(settings, full_load=True)
    else:
        from orchestration.defs.schedules import scheduled_daily_job

        result = run_main_job(settings, partition=day, full_load=False, job_name=scheduled_daily_job(settings).name)
    rows = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        if "rows_read" in mat.metadata:
            rows["/".join(mat.asset_key.path)] = mat.metadata["rows_read"].value
        if "activities" in mat.metadata:
            rows["/".join(mat.asset_key.path)] = mat.metadata["activities"].value
    Path(out_path).write_text(json.dumps({"success": result.success, "steps": step_timings(result), "rows": rows}))
    exit_after_run(0)  # as `stl run` ends: the measured wall is what a user waits for


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


def ingestion_figures(steps: dict[str, float], rows: dict[str, int]) -> tuple[dict[str, float], int]:
    """The extracts' own ingestion steps and the rows they read. Their gates' step keys start
    with raw__ too (raw__calls_gx_raw_calls), and matching is a step of its own: neither is
    ingestion."""
    from orchestration.ingest.contract import ENTITIES

    names = {e.name for e in ENTITIES}
    return ({k: v for k, v in steps.items() if k.startswith("raw__") and k[5:] in names},
            sum(v for k, v in rows.items() if k.startswith("raw/") and k[4:] in names))


def print_floor(f: dict) -> None:
    """The floor's lines of the benchmark table."""
    print(f"  response-fact stage (ingest + match + dbt build) {f['response_fact_stage_s']:8.1f} s   "
          f"{f['platform_incidents'] or 0:,} incidents in marts.fct_lead_response")
    print(f"  {'floor':24s} {'wall':>8s} {'compute':>8s} {'peak MiB':>9s} {'rows/s':>11s}  first responses differing")
    for kind, label in (("duckdb", "one DuckDB query"), ("pandas", "pandas pipeline")):
        r = f[kind]
        differing = f"{r['mismatches']:,} of {f['platform_incidents'] or 0:,}" if "mismatches" in r else r.get("error", "-")
        print(f"  {label:24s} {r['wall_s']:8.1f} {r['compute_s'] or 0:8.1f} {r['peak_rss_mib']:9.0f} "
              f"{r['rows_per_s'] or 0:11,}  {differing}; segment rows differing "
              f"{r.get('segment_rows_different', '-')}")
    to_duckdb, to_pandas = f["ratio_platform_to_duckdb"], f["ratio_platform_to_pandas"]
    print(f"  platform / DuckDB query        {to_duckdb}x   (target: at most 3x)")
    if to_pandas:
        verdict = f"{1 / to_pandas:.2f}x faster" if to_pandas < 1 else f"{to_pandas:.2f}x slower"
        print(f"  platform / pandas              {to_pandas}x   (the platform is {verdict} than pandas; "
              "target: 3x faster)")


def run_benchmark(leads: int, seed: int, workdir: Path, reuse: bool = True, json_path: Path | None = None,
                  engine: str = "duckdb", floor: bool = True, daily: bool = False) -> int:
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
        f"from orchestration.bench import _pipeline_child; _pipeline_child({str(child_out)!r})", env_run, disk=run_dir)
    peak_disk = _run_child.peak_disk_mib
    child = json.loads(child_out.read_text()) if child_out.exists() else {"success": False, "steps": {}, "rows": {}}
    steps = child["steps"]
    ingest_steps, ingest_rows = ingestion_figures(steps, child["rows"])
    ingest_s = sum(ingest_steps.values())
    figures["pipeline"] = {
        "success": child["success"] and code == 0,
        "wall_s": round(wall, 2),
        "peak_rss_mib": round(rss, 1),
        "ingest_s": round(ingest_s, 2),
        "ingest_rows": ingest_rows,
        "ingest_rows_per_s": round(ingest_rows / ingest_s) if ingest_s else None,
        "ingest_steps_s": ingest_steps,
        "raw_gates_s": round(sum(v for k, v in steps.items() if k.startswith("raw__") and "_gx_raw_" in k), 2),
        "match_s": steps.get("raw__activity_lead_matches"),
        "dbt_build_s": steps.get("dbt_models"),
        "steps_s": steps,
        "rows_read": child["rows"],
        "warehouse_mib": round((run_dir / "warehouse" / WAREHOUSE_FILE).stat().st_size / 2**20, 1)
        if (run_dir / "warehouse" / WAREHOUSE_FILE).exists() else None,
        # Everything the run wrote (warehouse, spill files, outputs) at its largest, against the
        # landing files it read.
        "peak_disk_mib": round(peak_disk, 1),
        "landing_mib": round(_dir_mib(landing), 1),
    }
    warehouse = run_dir / "warehouse" / WAREHOUSE_FILE
    if engine == "duckdb" and floor:
        _run_floors(env, landing, run_dir, warehouse, figures)
    if daily and figures["pipeline"]["success"]:
        figures["daily"] = _run_daily(env, landing, data_root, warehouse, figures["pipeline"]["wall_s"])
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
    print(f"  disk                peak {p['peak_disk_mib']:,.0f} MiB written beside {p['landing_mib']:,.0f} MiB of landing files")
    for step, seconds in steps.items():
        print(f"    {step:34s} {seconds:8.2f} s")
    if "floor" in figures:
        print_floor(figures["floor"])
    if "daily" in figures:
        print_daily(figures["daily"])
    for name, r in figures.get("dbt_models_by_engine", {}).items():
        extra = f"   (export to Parquet {r['export_s']:.1f} s, dbt {r['dbt_s']:.1f} s)" if "export_s" in r else ""
        print(f"  dbt run on {name:7s}  {r['wall_s']:8.1f} s   peak {r['peak_rss_mib']:8.0f} MiB   success={r['success']}{extra}")
    print(f"figures written to {json_path}")
    engines_ok = all(r["success"] for r in figures.get("dbt_models_by_engine", {}).values())
    daily_ok = "daily" not in figures or (figures["daily"]["success"] and figures["daily"]["rows_differing"] == 0)
    return 0 if p["success"] and engines_ok and daily_ok else 1


# ---------------------------------------------------------------- a daily run on a history
#
# The daily schedule's run: the history (every extract but the last day's) loaded first, then
# the last day's files land and the job runs for that day's partition. Its wall is set against
# the whole job over all the files (the same size's full run), and its facts against that run's.

_EXTRACT_DAY = re.compile(r"_(\d{4}-\d{2}-\d{2})\.")
# Tables the daily run must reproduce row for row (columns that say when a run built them aside).
DAILY_COMPARED = ("raw.activity_lead_matches", "marts.fct_lead_response", "marts.mart_response_by_segment",
                  "marts.mart_response_daily", "marts.mart_kpi_by_period")


def _run_daily(env: dict[str, str], landing: Path, data_root: Path, full_warehouse: Path, full_wall_s: float) -> dict:
    run_dir = data_root / "daily"
    shutil.rmtree(run_dir, ignore_errors=True)
    view = run_dir / "landing"  # the landing directory as it stood the day before: links, no copies
    files = [f for f in landing.rglob("*") if f.is_file()]
    days = {f: dt.date.fromisoformat(m.group(1)) for f in files if (m := _EXTRACT_DAY.search(f.name))}
    last = max(days.values())

    def link(which) -> None:
        for f in which:
            target = view / f.relative_to(landing)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(f)

    link(f for f in files if days.get(f) != last)
    env_run = {**env, "STL_DATA_DIR": str(run_dir), "STL_LANDING_DIR": str(view)}
    env_run.pop("DAGSTER_HOME", None)
    out = run_dir / "child.json"
    print(f"daily: loading the history (every extract before {last}) ...")
    history_wall, _, code = _run_child(f"from orchestration.bench import _pipeline_child; _pipeline_child({str(out)!r})",
                                       env_run)
    figures = {"day": last.isoformat(), "history_wall_s": round(history_wall, 2), "full_run_wall_s": full_wall_s}
    if code:
        return {**figures, "success": False, "rows_differing": None}
    link(f for f in files if days.get(f) == last)
    print(f"daily: the run for {last}'s partition ...")
    wall, rss, code = _run_child(
        f"from orchestration.bench import _pipeline_child; _pipeline_child({str(out)!r}, {last.isoformat()!r})", env_run)
    child = json.loads(out.read_text()) if out.exists() else {"success": False, "steps": {}}
    figures.update({"success": child["success"] and code == 0, "wall_s": round(wall, 2), "peak_rss_mib": round(rss, 1),
                    "share_of_full_run": round(wall / full_wall_s, 3), "steps_s": child["steps"]})
    figures["rows_differing"] = _rows_differing(run_dir / "warehouse" / WAREHOUSE_FILE, full_warehouse)
    return figures


def _rows_differing(warehouse: Path, reference: Path) -> dict[str, int]:
    """Per table of DAILY_COMPARED: rows in one warehouse and not the other (either way)."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"ATTACH '{warehouse}' AS a (READ_ONLY)")
    con.execute(f"ATTACH '{reference}' AS b (READ_ONLY)")
    differing = {}
    for table in DAILY_COMPARED:
        schema, name = table.split(".")
        columns = ", ".join(r[0] for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_catalog = 'b' AND table_schema = ? "
            "AND table_name = ? AND column_name NOT IN ('as_of_at', 'built_at') ORDER BY ordinal_position",
            [schema, name]).fetchall())
        differing[table] = con.execute(
            f"SELECT (SELECT count(*) FROM (SELECT {columns} FROM a.{table} EXCEPT ALL SELECT {columns} FROM b.{table})) "
            f"+ (SELECT count(*) FROM (SELECT {columns} FROM b.{table} EXCEPT ALL SELECT {columns} FROM a.{table}))"
        ).fetchone()[0]
    return differing


def print_daily(d: dict) -> None:
    print(f"  daily run ({d['day']}) {d.get('wall_s', 0):8.1f} s   = {d.get('share_of_full_run', 0):.1%} of the full run "
          f"({d['full_run_wall_s']:.1f} s); history load {d['history_wall_s']:.1f} s; success={d['success']}")
    for table, n in (d.get("rows_differing") or {}).items():
        print(f"    rows differing from the full run: {table:40s} {n:,}")
    for step, seconds in d.get("steps_s", {}).items():
        print(f"    {step:34s} {seconds:8.2f} s")


# ---------------------------------------------------------------- the floor: same answer, no platform
#
# What the response-fact stage costs against the least a careful analyst would write: one DuckDB
# query over the landing files, and a straightforward pandas script, both computing each lead
# incident's first qualifying response with the platform's metric definitions (dbt_project.yml:
# clock from form_submitted_at, qualifying dispositions and statuses, automated messages never
# count, repeat submissions within 24 h one incident, bots and internal tests excluded), its
# matching rules (CRM id, else the lead with that phone, else with that email, most recent
# created at or before the activity, else the earliest) and the contract's row validation (a
# row with a bad value is left out). Both are checked against marts.fct_lead_response.

FLOOR_DEFINITIONS = {
    "qualifying": {"call": ("connected", "voicemail"), "sms": ("sent", "delivered"), "email": ("sent", "delivered")},
    "incident_window_s": 1440 * 60,
    "bot_patterns": ("bot", "crawler", "spider", "headlesschrome", "python-requests", "curl/", "wget", "scrapy",
                     "phantomjs"),
    "internal_domains": ("speedlead-internal.test", "example.com", "example.org", "test.com"),
    "future_tolerance_s": 300,
    "within_s": 300,
}
# (entity, key, time column, the other party's phone and email by direction, outcome, automated)
FLOOR_ACTIVITIES = {
    "call": ("calls", "call_id", "started_at", ("to_number", "from_number"), None, "disposition", None),
    "sms": ("sms", "message_id", "sent_at", ("to_number", "from_number"), None, "delivery_status", "is_automated"),
    "email": ("emails", "email_id", "sent_at", None, ("to_address", "from_address"), "delivery_status", "is_automated"),
}


def _floor_files(landing: Path, entity: str) -> tuple[list[str], str]:
    files = sorted(str(p) for p in (landing / entity).glob(f"{entity}*") if p.suffix in (".csv", ".jsonl"))
    return files, ("csv" if files[0].endswith(".csv") else "jsonl")


def _q(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _floor_source_sql(landing: Path, entity: str, columns: list[str]) -> str:
    files, fmt = _floor_files(landing, entity)
    paths = "[" + ", ".join(_q(f) for f in files) + "]"
    cols = "{" + ", ".join(f"{_q(col)}: 'VARCHAR'" for col in columns) + "}"
    if fmt == "csv":
        header = Path(files[0]).read_text(encoding="utf-8").split("\n", 1)[0].strip().split(",")
        cols = "{" + ", ".join(f"{_q(col)}: 'VARCHAR'" for col in header) + "}"
        return (f"read_csv({paths}, header = true, auto_detect = false, columns = {cols}, delim = ',', quote = '\"', "
                "escape = '\"', ignore_errors = true, null_padding = false, filename = true)")
    return f"read_json({paths}, format = 'newline_delimited', columns = {cols}, ignore_errors = true, filename = true)"


def _floor_ts(v: str, zone: str) -> str:
    """UTC timestamp of a text value (offset-aware, epoch or naive in ``zone``), NULL if it is none.

    Leaner than the contract (no year range, no shape check of naive values: a cast that fails is
    NULL), which the generated extracts never tell apart; the comparison with the fact says so."""
    local, z = f"TRY_CAST({v} AS TIMESTAMP)", _q(zone)
    # In the repeated hour of a fall-back change DuckDB takes the later instant; the platform
    # (like Python's fold=0) the earlier one: an hour before, when that reads as the same wall time.
    naive = local if zone == "UTC" else (
        f"CAST(CASE WHEN timezone({z}, timezone({z}, {local}) - INTERVAL 1 HOUR) = {local} "
        f"THEN timezone({z}, {local}) - INTERVAL 1 HOUR ELSE timezone({z}, {local}) END AS TIMESTAMP)")
    return (f"CASE WHEN regexp_matches({v}, '(Z|z|[+-]\\d\\d(:?\\d\\d)?)$') THEN CAST(TRY_CAST({v} AS TIMESTAMPTZ) AS TIMESTAMP) "
            f"WHEN regexp_full_match({v}, '\\d{{13}}') THEN make_timestamp(CAST({v} AS BIGINT) * 1000) "
            f"WHEN regexp_full_match({v}, '\\d{{10}}') THEN make_timestamp(CAST({v} AS BIGINT) * 1000000) "
            f"ELSE {naive} END")


def _floor_phone_digits(v: str) -> str:
    return f"regexp_replace(regexp_replace(replace(lower({v}), '(0)', ''), '\\s*(ext\\.?|x|#|;ext=).*$', ''), '[^0-9+]', '', 'g')"


def _floor_phone_e164(d: str, cc: str, trunk: str) -> str:
    """E.164 from the digits column ``d`` (the result still needs the shape check)."""
    return (f"CASE WHEN {d} = '' THEN NULL WHEN starts_with({d}, '+') THEN '+' || replace({d}[2:], '+', '') "
            f"WHEN starts_with({d}, '00') THEN '+' || {d}[3:] "
            f"WHEN {cc} = '1' AND starts_with({d}, '011') THEN '+' || {d}[4:] "
            f"WHEN {trunk} <> '' AND starts_with({d}, {trunk}) THEN '+' || {cc} || {d}[length({trunk}) + 1:] "
            f"ELSE '+' || {cc} || {d} END")


def _floor_email(v: str) -> str:
    return f"CASE WHEN regexp_full_match(lower(trim({v})), '[^@\\s]+@[^@\\s]+\\.[^@\\s]+') THEN lower(trim({v})) END"


def floor_duckdb_sql(landing: Path, zones: dict[str, str], default_region: str = "US") -> str:
    """The hand-written query: landing files → first response per lead incident (one row each).

    Written in stages (text → typed → checked) so each value is parsed once."""
    import phonenumbers

    from orchestration.ingest.normalize import phone_plan

    d = FLOOR_DEFINITIONS
    plans = ", ".join(f"('{r}', '{phone_plan(r)[0]}', '{phone_plan(r)[1]}')" for r in sorted(phonenumbers.SUPPORTED_REGIONS))
    cc, trunk = phone_plan(default_region)
    limit = f"(now()::TIMESTAMP + INTERVAL {d['future_tolerance_s']} SECOND)"
    shape = "'\\+[1-9]\\d{6,14}'"
    true_words = "('true', 't', 'yes', 'y', '1')"
    bool_words = "('true', 't', 'yes', 'y', '1', 'false', 'f', 'no', 'n', '0')"

    def ok_ts(col: str, required: bool = False) -> str:  # on the stage with {col}_t beside {col}
        valid = f"({col}_t IS NOT NULL AND {col}_t <= {limit})"
        return valid if required else f"({col} IS NULL OR {valid})"

    def boolean_ok(col: str) -> str:
        return f"({col} IS NULL OR lower({col}) IN {bool_words})"

    lead_cols = ["lead_id", "created_at", "form_submitted_at", "source", "score", "country", "email", "phone",
                 "user_agent", "is_test"]
    zone = zones["leads"]
    bots = " OR ".join(f"lower(user_agent) LIKE '%{p}%'" for p in d["bot_patterns"])
    domains = ", ".join(_q(x) for x in d["internal_domains"])
    activity_sql = []
    for channel, (entity, key, time_col, phones, emails, outcome, automated) in FLOOR_ACTIVITIES.items():
        calls = channel == "call"
        cols = [key, time_col, "direction", outcome, "lead_id"] + list(phones or emails) + (
            [automated] if automated else []) + (["answered_at", "ended_at", "duration_seconds"] if calls else [])
        z = zones[entity]
        times = [time_col] + (["answered_at", "ended_at"] if calls else [])
        allowed = {"call": ("connected", "voicemail", "no_answer", "busy", "failed", "cancelled"),
                   "sms": ("queued", "sent", "delivered", "failed", "undelivered", "received"),
                   "email": ("sent", "delivered", "bounced", "failed", "received")}[channel]
        valid = [f"{key} IS NOT NULL", ok_ts(time_col, True), "lower(direction) IN ('inbound', 'outbound')",
                 f"({outcome} IS NULL OR lower({outcome}) IN ({', '.join(_q(a) for a in allowed)}))"]
        if automated:
            valid.append(boolean_ok(automated))
        if calls:
            valid += [ok_ts("answered_at"), ok_ts("ended_at"),
                      "(duration_seconds IS NULL OR (TRY_CAST(duration_seconds AS DOUBLE) = trunc(TRY_CAST(duration_seconds AS DOUBLE)) "
                      "AND TRY_CAST(duration_seconds AS DOUBLE) >= 0))",
                      f"NOT coalesce(answered_at_t < {time_col}_t, FALSE)", f"NOT coalesce(ended_at_t < {time_col}_t, FALSE)",
                      "NOT coalesce(ended_at_t < answered_at_t, FALSE)"]
        if phones:
            other = f"CASE lower(direction) WHEN 'outbound' THEN {phones[0]} ELSE {phones[1]} END"
            contact = f"{_floor_phone_digits(other)} AS phone_digits, NULL AS email"
            phone = _floor_phone_e164("phone_digits", f"'{cc}'", f"'{trunk}'")
        else:
            other = f"CASE lower(direction) WHEN 'outbound' THEN {emails[0]} ELSE {emails[1]} END"
            contact = f"NULL AS phone_digits, {_floor_email(other)} AS email"
            phone = "NULL"
        qualifying = (f"lower(direction) = 'outbound' AND lower({outcome}) IN ({', '.join(_q(x) for x in d['qualifying'][channel])})"
                      + (f" AND NOT coalesce(lower({automated}) IN {true_words}, FALSE)" if automated else ""))
        activity_sql.append(f"""
            SELECT channel, activity_id, activity_at, crm_lead_id, CASE WHEN regexp_full_match(phone, {shape}) THEN phone END AS phone,
                   email
            FROM (SELECT * FROM (
                SELECT '{channel}' AS channel, {key} AS activity_id, {time_col}_t AS activity_at, lead_id AS crm_lead_id,
                       {phone} AS phone, email, coalesce({qualifying}, FALSE) AS qualifying, filename
                FROM (
                    SELECT *, {', '.join(f"{_floor_ts(c, z)} AS {c}_t" for c in times)}, {contact}
                    FROM (SELECT {', '.join(f"nullif(trim({c}), '') AS {c}" for c in cols)}, filename
                          FROM {_floor_source_sql(landing, entity, cols)}))
                WHERE {' AND '.join(valid)})
                -- the current version of each activity, then whether it is a response
                QUALIFY row_number() OVER (PARTITION BY activity_id ORDER BY filename DESC) = 1)
            WHERE qualifying""")
    return f"""
    WITH plans(region, cc, trunk) AS (VALUES {plans}),
    lead_text AS (
        SELECT {', '.join(f"nullif(trim({c}), '') AS {c}" for c in lead_cols)}, filename
        FROM {_floor_source_sql(landing, 'leads', lead_cols)}),
    lead_typed AS (
        SELECT l.*, {_floor_ts('created_at', zone)} AS created_at_t, {_floor_ts('form_submitted_at', zone)} AS form_submitted_at_t,
               TRY_CAST(score AS DOUBLE) AS score_d, {_floor_phone_digits('l.phone')} AS phone_digits,
               coalesce(p.cc, '{cc}') AS cc, coalesce(p.trunk, '{trunk}') AS trunk, {_floor_email('l.email')} AS email_n
        FROM lead_text l LEFT JOIN plans p ON p.region = upper(trim(l.country))),
    lead_checked AS (
        SELECT lead_id, created_at_t AS created_at, coalesce(form_submitted_at_t, created_at_t) AS clock_started_at,
               source, {_floor_phone_e164('phone_digits', 'cc', 'trunk')} AS phone, email_n AS email,
               coalesce({bots}, FALSE) OR coalesce(lower(is_test) IN {true_words}, FALSE)
                   OR coalesce(split_part(email_n, '@', 2) IN ({domains}), FALSE) AS excluded, filename
        FROM lead_typed
        WHERE lead_id IS NOT NULL AND {ok_ts('created_at', True)} AND {ok_ts('form_submitted_at')}
          AND (score IS NULL OR (score_d = trunc(score_d) AND score_d BETWEEN 0 AND 100)) AND {boolean_ok('is_test')}),
    leads AS (
        SELECT lead_id, created_at, clock_started_at, source, CASE WHEN regexp_full_match(phone, {shape}) THEN phone END AS phone,
               email, excluded
        FROM lead_checked
        QUALIFY row_number() OVER (PARTITION BY lead_id ORDER BY filename DESC) = 1),
    acts AS ({' UNION ALL '.join(activity_sql)}),
    acts_n AS (SELECT *, row_number() OVER () AS rid FROM acts),
    phone_before AS (
        SELECT a.rid, l.lead_id FROM (SELECT * FROM acts_n WHERE phone IS NOT NULL) a
        ASOF JOIN (SELECT * FROM leads WHERE phone IS NOT NULL) l ON a.phone = l.phone AND a.activity_at >= l.created_at),
    email_before AS (
        SELECT a.rid, l.lead_id FROM (SELECT * FROM acts_n WHERE email IS NOT NULL) a
        ASOF JOIN (SELECT * FROM leads WHERE email IS NOT NULL) l ON a.email = l.email AND a.activity_at >= l.created_at),
    phone_first AS (SELECT phone, arg_min(lead_id, created_at) AS lead_id FROM leads WHERE phone IS NOT NULL GROUP BY 1),
    email_first AS (SELECT email, arg_min(lead_id, created_at) AS lead_id FROM leads WHERE email IS NOT NULL GROUP BY 1),
    matched AS (
        SELECT a.activity_at, coalesce(ci.lead_id, pb.lead_id, pf.lead_id, eb.lead_id, ef.lead_id) AS lead_id
        FROM acts_n a
        LEFT JOIN leads ci ON ci.lead_id = a.crm_lead_id
        LEFT JOIN phone_before pb ON pb.rid = a.rid
        LEFT JOIN phone_first pf ON pf.phone = a.phone
        LEFT JOIN email_before eb ON eb.rid = a.rid
        LEFT JOIN email_first ef ON ef.email = a.email),
    people AS (
        SELECT *, coalesce(email, phone, 'lead:' || lead_id) AS person,
               lag(clock_started_at) OVER (PARTITION BY coalesce(email, phone, 'lead:' || lead_id)
                                           ORDER BY clock_started_at, lead_id) AS previous_start
        FROM leads WHERE NOT excluded),
    sessions AS (
        SELECT *, sum(CASE WHEN previous_start IS NULL
                             OR epoch(clock_started_at) - epoch(previous_start) >= {d['incident_window_s']} THEN 1 ELSE 0 END)
                      OVER (PARTITION BY person ORDER BY clock_started_at, lead_id ROWS UNBOUNDED PRECEDING) AS incident
        FROM people),
    members AS (
        SELECT lead_id, source, clock_started_at,
               first_value(lead_id) OVER (PARTITION BY person, incident ORDER BY clock_started_at, lead_id
                                          ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS incident_lead_id
        FROM sessions),
    heads AS (SELECT lead_id, source, clock_started_at FROM members WHERE incident_lead_id = lead_id),
    firsts AS (
        SELECT m.incident_lead_id, min(x.activity_at) AS first_response_at
        FROM matched x JOIN members m ON m.lead_id = x.lead_id JOIN heads h ON h.lead_id = m.incident_lead_id
        WHERE x.activity_at >= h.clock_started_at GROUP BY 1)
    SELECT h.lead_id, h.source, h.clock_started_at, f.first_response_at,
           epoch(f.first_response_at) - epoch(h.clock_started_at) AS seconds_to_first_response
    FROM heads h LEFT JOIN firsts f ON f.incident_lead_id = h.lead_id"""


def floor_segments_sql(responses: str) -> str:
    return f"""
    SELECT source, count(*) AS leads, median(seconds_to_first_response) AS median_seconds,
           count_if(seconds_to_first_response <= {FLOOR_DEFINITIONS['within_s']}) / count(*) AS share_within_5_min
    FROM {responses} GROUP BY source ORDER BY source"""


def _pd_text(col):
    """A column as text the way the platform reads it (JSON true → 'true', numbers as written),
    trimmed, empty → NA (pandas' Arrow-backed string dtype: vectorised string operations)."""
    import pandas as pd

    kind = pd.api.types.infer_dtype(col, skipna=True)
    if kind not in ("string", "empty"):
        def one(v):
            if v is None or (isinstance(v, float) and v != v):
                return None
            if isinstance(v, bool):
                return "true" if v else "false"
            if isinstance(v, float) and v.is_integer():
                return str(int(v))
            return str(v)

        col = col.map(one)
    s = col.astype("string").str.strip()
    return s.mask(s == "")


def _pd_read(landing: Path, entity: str, columns: list[str]):
    """Every file of an extract as text columns (bad CSV lines and non-JSON lines skipped)."""
    import json as _json

    import pandas as pd

    files, fmt = _floor_files(landing, entity)
    frames = []
    for f in files:
        if fmt == "csv":
            # The pyarrow engine skips rows with too few fields as well as too many (the C engine
            # pads a short row, and takes a first row with an extra field for an index).
            frame = pd.read_csv(f, dtype=str, keep_default_na=False, on_bad_lines="skip", engine="pyarrow")
        else:
            records = []
            with open(f, encoding="utf-8") as handle:
                for line in handle:
                    try:
                        value = _json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(value, dict):
                        records.append(value)
            frame = pd.DataFrame.from_records(records)
        frame = frame.reindex(columns=columns)
        frame["filename"] = f
        frames.append(frame)
    data = pd.concat(frames, ignore_index=True)
    for col in columns:
        data[col] = _pd_text(data[col])
    return data


def _pd_ts(s, zone: str):
    """UTC timestamps (naive pandas datetime64) of text values; NaT where a value is none."""
    import numpy as np
    import pandas as pd

    s = s.astype("string")
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
    ms = s.str.fullmatch(r"\d{13}", na=False)
    sec = s.str.fullmatch(r"\d{10}", na=False)
    out[ms] = pd.to_datetime(s[ms].astype("int64"), unit="ms")
    out[sec] = pd.to_datetime(s[sec].astype("int64"), unit="s")
    dated = s.str.match(r"(19[7-9]\d|20\d\d)-\d\d-\d\d", na=False) & ~ms & ~sec
    aware = dated & s.str.contains(r"(?:Z|z|[+-]\d\d(?::?\d\d)?)$", na=False)
    naive = dated & ~aware & s.str.fullmatch(r"[0-9-]+(?:[T ][0-9:.]+)?", na=False)
    if aware.any():
        out[aware] = pd.to_datetime(s[aware], utc=True, format="ISO8601", errors="coerce").dt.tz_localize(None)
    if naive.any():
        local = pd.to_datetime(s[naive], format="ISO8601", errors="coerce")
        if zone != "UTC":  # the repeated hour: the earlier instant; the skipped hour: forward by the gap
            local = local.dt.tz_localize(zone, ambiguous=np.ones(len(local), dtype=bool),
                                         nonexistent=pd.Timedelta(hours=1)).dt.tz_convert("UTC").dt.tz_localize(None)
        out[naive] = local
    return out


def _pd_phone(s, cc, trunk):
    """E.164 of phone texts with their country's calling code and trunk prefix (vectorised: the
    rules are applied from the last to the first, so the first that holds wins)."""
    import pandas as pd

    d = (s.astype("string").str.lower().str.replace("(0)", "", regex=False)
         .str.replace(r"\s*(ext\.?|x|#|;ext=).*$", "", regex=True).str.replace(r"[^0-9+]", "", regex=True))
    cc = (cc if isinstance(cc, pd.Series) else pd.Series(cc, index=s.index)).astype("string")
    trunk = (trunk if isinstance(trunk, pd.Series) else pd.Series(trunk, index=s.index)).astype("string")
    n = "+" + cc + d
    for prefix in trunk.dropna().unique():
        if prefix:
            hit = ((trunk == prefix) & d.str.startswith(prefix)).fillna(False).astype(bool)
            n[hit] = "+" + cc[hit] + d[hit].str[len(prefix):]
    intl = ((cc == "1") & d.str.startswith("011")).fillna(False).astype(bool)
    n[intl] = "+" + d[intl].str[3:]
    zz = d.str.startswith("00").fillna(False).astype(bool)
    n[zz] = "+" + d[zz].str[2:]
    plus = d.str.startswith("+").fillna(False).astype(bool)
    n[plus] = "+" + d[plus].str[1:].str.replace("+", "", regex=False)
    n = n.mask(d.isna() | (d == ""))
    return n.where(n.str.fullmatch(r"\+[1-9]\d{6,14}").fillna(False).astype(bool))


def _pd_email(s):
    e = s.astype("string").str.strip().str.lower()
    return e.where(e.str.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+").fillna(False).astype(bool))


def floor_pandas(landing: Path, zones: dict[str, str], default_region: str = "US"):
    """The straightforward pandas pipeline: the same answer as floor_duckdb_sql, as a DataFrame."""
    import numpy as np
    import pandas as pd
    import phonenumbers

    from orchestration.ingest.normalize import phone_plan

    d = FLOOR_DEFINITIONS
    now = pd.Timestamp.now(tz="UTC").tz_localize(None) + pd.Timedelta(seconds=d["future_tolerance_s"])
    true_words, bool_words = {"true", "t", "yes", "y", "1"}, {"true", "t", "yes", "y", "1", "false", "f", "no", "n", "0"}

    def ok(ts, raw, required=False):
        valid = ts.notna() & (ts <= now)
        return valid if required else raw.isna() | valid

    def latest(frame, key):
        return frame.sort_values("filename", kind="stable").drop_duplicates(key, keep="last")

    zone = zones["leads"]
    leads = _pd_read(landing, "leads", ["lead_id", "created_at", "form_submitted_at", "source", "score", "country",
                                        "email", "phone", "user_agent", "is_test"])
    leads["created"] = _pd_ts(leads["created_at"], zone)
    leads["form"] = _pd_ts(leads["form_submitted_at"], zone)
    score = pd.to_numeric(leads["score"], errors="coerce")
    valid = (leads["lead_id"].notna() & ok(leads["created"], leads["created_at"], True) & ok(leads["form"], leads["form_submitted_at"])
             & (leads["score"].isna() | ((score == np.trunc(score)) & score.between(0, 100)))
             & (leads["is_test"].isna() | leads["is_test"].str.lower().isin(bool_words)))
    leads = latest(leads[valid].copy(), "lead_id")
    plans = {r: phone_plan(r) for r in phonenumbers.SUPPORTED_REGIONS}
    region = leads["country"].astype("string").str.strip().str.upper()
    default = phone_plan(default_region)
    leads["phone_n"] = _pd_phone(leads["phone"], region.map({r: p[0] for r, p in plans.items()}).fillna(default[0]),
                                 region.map({r: p[1] for r, p in plans.items()}).fillna(default[1]))
    leads["email_n"] = _pd_email(leads["email"])
    leads["clock"] = leads["form"].fillna(leads["created"])
    ua = leads["user_agent"].astype("string").str.lower()
    leads["excluded"] = (ua.str.contains("|".join(map(re.escape, d["bot_patterns"])), regex=True, na=False)
                         | leads["is_test"].astype("string").str.lower().isin(true_words).fillna(False)
                         | leads["email_n"].astype("string").str.split("@").str[1].isin(d["internal_domains"]).fillna(False))

    acts = []
    for channel, (entity, key, time_col, phones, emails, outcome, automated) in FLOOR_ACTIVITIES.items():
        z = zones[entity]
        cols = [key, time_col, "direction", outcome, "lead_id"] + list(phones or emails) + (
            [automated] if automated else []) + (["answered_at", "ended_at", "duration_seconds"] if channel == "call" else [])
        a = _pd_read(landing, entity, cols)
        a["at"] = _pd_ts(a[time_col], z)
        direction = a["direction"].astype("string").str.lower()
        out = a[outcome].astype("string").str.lower()
        allowed = {"call": ("connected", "voicemail", "no_answer", "busy", "failed", "cancelled"),
                   "sms": ("queued", "sent", "delivered", "failed", "undelivered", "received"),
                   "email": ("sent", "delivered", "bounced", "failed", "received")}[channel]
        valid = (a[key].notna() & ok(a["at"], a[time_col], True) & direction.isin(["inbound", "outbound"]).fillna(False)
                 & (a[outcome].isna() | out.isin(allowed).fillna(False)))
        if automated:
            valid &= a[automated].isna() | a[automated].astype("string").str.lower().isin(bool_words).fillna(False)
        if channel == "call":
            answered, ended = _pd_ts(a["answered_at"], z), _pd_ts(a["ended_at"], z)
            dur = pd.to_numeric(a["duration_seconds"], errors="coerce")
            valid &= (ok(answered, a["answered_at"]) & ok(ended, a["ended_at"])
                      & (a["duration_seconds"].isna() | ((dur == np.trunc(dur)) & (dur >= 0)))
                      & ~(answered < a["at"]) & ~(ended < a["at"]) & ~(ended < answered))
        qualifying = (direction == "outbound") & out.isin(d["qualifying"][channel])
        if automated:
            qualifying &= ~a[automated].astype("string").str.lower().isin(true_words).fillna(False)
        a["qualifying"] = qualifying.fillna(False).astype(bool)
        a = latest(a[valid].copy(), key)
        outbound = a["direction"].str.lower() == "outbound"
        if phones:
            a["phone_n"] = _pd_phone(a[phones[0]].where(outbound, a[phones[1]]), *map(str, default))
            a["email_n"] = None
        else:
            a["phone_n"] = None
            a["email_n"] = _pd_email(a[emails[0]].where(outbound, a[emails[1]]))
        acts.append(a.loc[a["qualifying"], [key, "at", "lead_id", "phone_n", "email_n"]].rename(
            columns={key: "activity_id", "lead_id": "crm_lead_id"}).assign(channel=channel))
    acts = pd.concat(acts, ignore_index=True)
    for contact in ("phone_n", "email_n", "crm_lead_id"):
        acts[contact] = acts[contact].astype("string")

    # Matching: CRM id, else phone (most recent lead created at or before, else the earliest), else email.
    known = set(leads["lead_id"])
    acts["lead_id"] = acts["crm_lead_id"].where(acts["crm_lead_id"].isin(known), None)
    by_created = leads.sort_values("created")
    for contact in ("phone_n", "email_n"):
        todo = acts["lead_id"].isna() & acts[contact].notna()
        if not todo.any():
            continue
        left = acts.loc[todo, ["at", contact]].reset_index().sort_values("at")
        right = by_created.loc[by_created[contact].notna(), ["created", contact, "lead_id"]]
        before = pd.merge_asof(left, right, left_on="at", right_on="created", by=contact, direction="backward")
        first = right.drop_duplicates(contact, keep="first").set_index(contact)["lead_id"]
        before["lead_id"] = before["lead_id"].fillna(before[contact].map(first))
        acts.loc[before["index"], "lead_id"] = before["lead_id"].values

    # Incidents: one person's submissions less than the window after the previous one.
    people = leads[~leads["excluded"]].copy()
    people["person"] = people["email_n"].fillna(people["phone_n"]).fillna("lead:" + people["lead_id"])
    people = people.sort_values(["person", "clock", "lead_id"])
    gap = (people["clock"] - people.groupby("person")["clock"].shift()).dt.total_seconds()
    people["incident"] = (gap.isna() | (gap >= d["incident_window_s"])).astype(int).groupby(people["person"]).cumsum()
    people["incident_lead_id"] = people.groupby(["person", "incident"])["lead_id"].transform("first")
    heads = people[people["lead_id"] == people["incident_lead_id"]][["lead_id", "source", "clock"]]
    x = acts.dropna(subset=["lead_id"]).merge(people[["lead_id", "incident_lead_id"]], on="lead_id")
    x = x.merge(heads.rename(columns={"lead_id": "incident_lead_id"}), on="incident_lead_id")
    firsts = x[x["at"] >= x["clock"]].groupby("incident_lead_id")["at"].min().rename("first_response_at")
    out = heads.merge(firsts, left_on="lead_id", right_index=True, how="left")
    out["seconds_to_first_response"] = (out["first_response_at"] - out["clock"]).dt.total_seconds()
    return out.rename(columns={"clock": "clock_started_at"}).reset_index(drop=True)


def floor_pandas_segments(responses):
    within = FLOOR_DEFINITIONS["within_s"]
    g = responses.groupby("source", dropna=False)
    return (g.size().rename("leads").to_frame()
            .join(g["seconds_to_first_response"].median().rename("median_seconds"))
            .join(g["seconds_to_first_response"].apply(lambda s: (s <= within).sum()).rename("within"))
            .assign(share_within_5_min=lambda f: f["within"] / f["leads"]).drop(columns="within")
            .reset_index().sort_values("source"))


def _floor_child(kind: str, landing: str, out_dir: str) -> None:
    """Inside a child: one floor implementation over the landing files; writes its responses
    (Parquet), segments and its own compute time (imports and start-up excluded)."""
    from orchestration.ingest import contract as c
    from orchestration.ingest.mapping import load_sources

    landing_path, out = Path(landing), Path(out_dir)
    config = load_sources(landing_path, {}, "UTC")
    zones = {e.name: config.timezone_for(e) for e in c.ENTITIES}
    if kind == "duckdb":
        import duckdb

        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_progress_bar = false")
        started = time.perf_counter()
        con.execute(f"CREATE TEMP TABLE responses AS {floor_duckdb_sql(landing_path, zones)}")
        segments = con.execute(floor_segments_sql("responses")).fetchall()
        compute_s = time.perf_counter() - started
        con.execute(f"COPY responses TO '{out / 'responses-duckdb.parquet'}' (FORMAT parquet)")
        leads = con.execute("SELECT count(*) FROM responses").fetchone()[0]
    else:
        started = time.perf_counter()
        responses = floor_pandas(landing_path, zones)
        seg = floor_pandas_segments(responses)
        compute_s = time.perf_counter() - started
        responses[["lead_id", "source", "clock_started_at", "first_response_at", "seconds_to_first_response"]].to_parquet(
            out / "responses-pandas.parquet", index=False)
        segments = [tuple(row) for row in seg.itertuples(index=False)]
        leads = len(responses)
    (out / f"floor-{kind}.json").write_text(json.dumps({
        "compute_s": round(compute_s, 2), "incidents": leads,
        "segments": [[None if v is None else (float(v) if not isinstance(v, str) else v) for v in row] for row in segments]}))


def _compare_floors(warehouse: Path, out: Path, kinds: list[str]) -> dict:
    """Each floor's first_response_at against marts.fct_lead_response, lead by lead, and its
    segment rows against the same aggregate over the fact."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"ATTACH '{warehouse}' AS platform (READ_ONLY)")
    fact = ("(SELECT lead_id, source, first_response_at, seconds_to_first_response "
            "FROM platform.marts.fct_lead_response)")
    platform_segments = con.execute(floor_segments_sql(fact)).fetchall()
    result = {"platform_incidents": con.execute(f"SELECT count(*) FROM {fact}").fetchone()[0]}
    for kind in kinds:
        path = out / f"responses-{kind}.parquet"
        if not path.exists():
            result[kind] = {"error": "no output"}
            continue
        only_platform, only_floor, different = con.execute(f"""
            SELECT count_if(f.lead_id IS NULL), count_if(p.lead_id IS NULL),
                   count_if(p.lead_id IS NOT NULL AND f.lead_id IS NOT NULL
                            AND p.first_response_at IS DISTINCT FROM CAST(f.first_response_at AS TIMESTAMP))
            FROM {fact} p FULL JOIN read_parquet('{path}') f ON f.lead_id = p.lead_id""").fetchone()
        floor = json.loads((out / f"floor-{kind}.json").read_text())["segments"]
        mine = {row[0]: row[1:] for row in floor}
        segment_diffs = sum(
            1 for row in platform_segments
            if row[0] not in mine or any(
                (a is None) != (b is None) or (a is not None and abs(float(a) - float(b)) > 1e-6)
                for a, b in zip(row[1:], mine[row[0]])))
        result[kind] = {"mismatches": only_platform + only_floor + different, "only_in_platform": only_platform,
                        "only_in_floor": only_floor, "different_first_response": different,
                        "segment_rows": len(platform_segments), "segment_rows_different": segment_diffs}
    return result


def _run_floors(env: dict[str, str], landing: Path, run_dir: Path, warehouse: Path, figures: dict) -> None:
    """The DuckDB query and the pandas pipeline side by side, then the ratios to the platform's
    response-fact stage (ingestion + matching + dbt build) of the same run."""
    import duckdb

    out = run_dir / "floor"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    floors = {}
    for kind in ("duckdb", "pandas"):
        print(f"floor: {kind} ...")
        wall, rss, code = _run_child(
            f"from orchestration.bench import _floor_child; _floor_child({kind!r}, {str(landing)!r}, {str(out)!r})", env)
        child = json.loads((out / f"floor-{kind}.json").read_text()) if (out / f"floor-{kind}.json").exists() else {}
        floors[kind] = {"success": code == 0 and bool(child), "wall_s": round(wall, 2), "peak_rss_mib": round(rss, 1),
                        "compute_s": child.get("compute_s"), "incidents": child.get("incidents")}
    p = figures["pipeline"]
    rows = sum(v for k, v in p["rows_read"].items() if k in ("raw/leads", "raw/calls", "raw/sms", "raw/emails"))
    stage = round((p["ingest_s"] or 0) + (p["match_s"] or 0) + (p["dbt_build_s"] or 0), 2)
    try:
        comparison = _compare_floors(warehouse, out, [k for k, f in floors.items() if f["success"]])
    except duckdb.Error as exc:  # no warehouse or no fact (the pipeline failed before dbt built it)
        comparison = {kind: {"error": f"no comparison: {exc.__class__.__name__}"} for kind in floors}
    for kind, f in floors.items():
        f["input_rows"] = rows
        f["rows_per_s"] = round(rows / f["wall_s"]) if f["wall_s"] else None
        f.update(comparison.get(kind, {}))
    figures["floor"] = {
        "response_fact_stage_s": stage,  # the platform: ingestion (every extract) + matching + dbt build
        "platform_incidents": comparison.get("platform_incidents"),
        **floors,
        "ratio_platform_to_duckdb": round(stage / floors["duckdb"]["wall_s"], 1) if floors["duckdb"]["success"] else None,
        "ratio_platform_to_pandas": round(stage / floors["pandas"]["wall_s"], 2) if floors["pandas"]["success"] else None,
    }
