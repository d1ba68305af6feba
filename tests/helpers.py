"""Helpers shared by test modules (fixtures are in conftest.py; no test module imports another)."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from orchestration.settings import DBT_PROJECT_DIR, TELEMETRY_OFF, WAREHOUSE_FILE, Settings

# Fresh data, as a live feed would be: older data makes the gates raise late-extract alerts.
# Fixed at import, so one session agrees on it even across midnight.
DATA_END = dt.date.today() - dt.timedelta(days=2)
# The load time the ingestion unit tests stamp on what they load.
LOAD_TIME = dt.datetime(2026, 11, 20, 12, 0, 0)


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child process (stl, dagster): this process's, without the STL_*
    settings earlier tests made process-wide (a module fixture's STL_WAREHOUSE_PATH would point
    the child at another test's warehouse), plus ``extra``."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("STL_")}, **extra}


REPO = Path(__file__).resolve().parent.parent
STL = str(Path(sys.executable).parent / "stl")


def run_stl(data_dir: Path, *args: str, timeout: float = 400) -> subprocess.CompletedProcess:
    """`stl <args>` in its own process on the data directory ``data_dir`` (landing inside it),
    as a user runs it; output captured."""
    env = child_env(STL_DATA_DIR=str(data_dir), STL_LANDING_DIR=str(data_dir / "landing"))
    env.pop("DAGSTER_HOME", None)
    return subprocess.run([STL, *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO)


def run_dbt(args: list[str], warehouse: Path, target: Path, **env: str) -> subprocess.CompletedProcess:
    """Plain `dbt <args>` (no Dagster) on ``warehouse``, started as the platform's launcher starts
    it (orchestration/dbt_project.py): from the warehouse's directory with the file's bare name,
    ``target`` seeded with the session's parse state (the dbt_manifest fixture). A warehouse
    named WAREHOUSE_FILE (settings.py) then needs no full parse (4-8 s per invocation). Output captured."""
    from orchestration.dbt_project import DBT_EXECUTABLE, PARSE_STATE_PATH, PARTIAL_PARSE_FILE

    target.mkdir(parents=True, exist_ok=True)
    if PARSE_STATE_PATH.exists() and not (target / PARTIAL_PARSE_FILE).exists():
        shutil.copy(PARSE_STATE_PATH, target / PARTIAL_PARSE_FILE)
    return subprocess.run(
        [DBT_EXECUTABLE, *args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
         "--target-path", str(target), "--log-path", str(target)],
        env=child_env(**TELEMETRY_OFF, STL_WAREHOUSE_PATH=warehouse.name, **env), cwd=warehouse.parent,
        capture_output=True, text=True, timeout=600)


def make_settings(root: Path, **env) -> Settings:
    """Settings whose data (landing, warehouse, Dagster home, output) all live under ``root``."""
    base = {"STL_DATA_DIR": str(root), "STL_LANDING_DIR": str(root / "landing")}
    settings = Settings.from_env({**base, **{k: str(v) for k, v in env.items()}})
    settings.ensure_dirs()
    return settings


def write(settings: Settings, relpath: str, content: str | bytes) -> Path:
    """Write a file into the landing directory."""
    path = settings.landing_dir / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    return path


@contextlib.contextmanager
def settings_restored():
    """Put back the process-wide settings (orchestration.settings.use_settings) and every
    environment variable (run_main_job exports DAGSTER_HOME and dbt's variables) on exit."""
    import orchestration.settings as settings_module

    saved_settings, saved_env = settings_module._settings, dict(os.environ)
    try:
        yield
    finally:
        settings_module._settings = saved_settings
        for key in set(os.environ) - set(saved_env):
            del os.environ[key]
        for key, value in saved_env.items():
            if os.environ.get(key) != value:
                os.environ[key] = value


def copy_run(settings: Settings, dest: Path, **env) -> Settings:
    """A writable copy of a run's data directory (landing, warehouse, Dagster home, GX project,
    output, pseudonym key) at ``dest``, and settings for it; ``env`` as for make_settings. (The
    GX project's Data Docs site follows the copy's output directory: gx_bridge._context.)"""
    shutil.copytree(settings.data_dir, dest, symlinks=True,  # published/parquet/current is a relative link
                    ignore=shutil.ignore_patterns("*.lock"))
    return make_settings(dest, **env)


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` by relative path (lock files left out: a lock taken
    for reading rewrites its holder line)."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.suffix != ".lock"}
