"""Shared fixtures: isolated settings per test, the dbt manifest prepared once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestration.settings import TELEMETRY_OFF, Settings, use_settings

for _key, _value in TELEMETRY_OFF.items():
    os.environ.setdefault(_key, _value)


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child process (stl, dagster): this process's, without the STL_*
    settings earlier tests made process-wide (a module fixture's STL_WAREHOUSE_PATH would point
    the child at another test's warehouse), plus ``extra``."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("STL_")}, **extra}


def make_settings(root: Path, **env) -> Settings:
    base = {"STL_DATA_DIR": str(root), "STL_LANDING_DIR": str(root / "landing")}
    settings = Settings.from_env({**base, **{k: str(v) for k, v in env.items()}})
    settings.ensure_dirs()
    return settings


@pytest.fixture
def settings(tmp_path: Path, monkeypatch) -> Settings:
    """Fresh landing dir, warehouse and Dagster home under tmp_path, made process-wide for the
    test; the process-wide settings and the warehouse variable are restored afterwards."""
    import orchestration.settings as settings_module

    monkeypatch.setattr(settings_module, "_settings", settings_module._settings)  # restored at teardown
    monkeypatch.delenv("STL_WAREHOUSE_PATH", raising=False)  # idem
    s = make_settings(tmp_path)
    use_settings(s)
    return s


@pytest.fixture(scope="session")
def dbt_manifest(tmp_path_factory) -> Path:
    """Parse the dbt project once (Dagster's @dbt_assets reads target/manifest.json at import)."""
    from orchestration.dbt_project import dbt_project, prepare_manifest

    use_settings(make_settings(tmp_path_factory.mktemp("manifest")))
    prepare_manifest()
    return dbt_project.manifest_path


@pytest.fixture(scope="session")
def postgres_url():
    """URL of an empty PostgreSQL database for the session (tests using it: @pytest.mark.postgres).

    Started from the local server binaries by tests/pg_server.py, or made in the server named by
    STL_TEST_POSTGRES_URL; skipped, with the reason, when there is neither.
    """
    import contextlib

    try:
        from tests.pg_server import PostgresUnavailable, running_postgres
    except ImportError:  # tests/ is on sys.path itself (pytest's rootdir-less import mode)
        from pg_server import PostgresUnavailable, running_postgres

    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(running_postgres())
        except PostgresUnavailable as exc:
            pytest.skip(str(exc))
        yield url
