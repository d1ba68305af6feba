"""Shared fixtures: isolated settings per test, the dbt manifest prepared once per session, and one
end-to-end run of the main job per session (``shared_run``) that every reader test shares."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from pathlib import Path

import pytest

from orchestration.settings import TELEMETRY_OFF, Settings
from tests.helpers import DATA_END, child_env, copy_run, make_settings, settings_restored, tree_digest

__all__ = ["child_env", "make_settings"]  # still imported from here by some modules

for _key, _value in TELEMETRY_OFF.items():
    os.environ.setdefault(_key, _value)


# Fixtures that run dbt: the shared run (the whole job) and the session's dbt parse.
SLOW_FIXTURES = {"shared_run", "dbt_manifest"}


def pytest_collection_modifyitems(items):
    """Whatever uses a fixture that runs dbt or the whole job is slow; the fast path is the rest
    (tests that run dbt themselves carry the mark in their module)."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def use_settings():
    """``use_settings(s)`` makes ``s`` the process-wide settings for the test (as
    orchestration.settings.use_settings does); the previous settings and the whole environment
    (run_main_job exports DAGSTER_HOME and dbt's variables) are restored afterwards."""
    from orchestration.settings import use_settings as activate

    with settings_restored():
        yield activate


@pytest.fixture
def settings(tmp_path: Path, use_settings) -> Settings:
    """Fresh landing dir, warehouse and Dagster home under tmp_path, process-wide for the test."""
    s = make_settings(tmp_path)
    use_settings(s)
    return s


@pytest.fixture(scope="session")
def dbt_manifest(tmp_path_factory) -> Path:
    """Parse the dbt project once (Dagster's @dbt_assets reads target/manifest.json at import)."""
    from orchestration.dbt_project import dbt_project, prepare_manifest
    from orchestration.settings import use_settings

    with settings_restored():
        use_settings(make_settings(tmp_path_factory.mktemp("manifest")))
        prepare_manifest()
    return dbt_project.manifest_path


# ---------------------------------------------------------------- the shared end-to-end run

# What the readers need: statistics fits that recover the planted effects and a 14-day forecast
# after a 60-day history (test_stats_pipeline), the experiment extract, every planted quarantine
# problem (test_pipeline), fresh data so the clean run raises no late-data alert (test_quality),
# whole weeks for the KPI snapshot and its backfill (test_delivery, test_metric_layer).
SHARED_DEMO = {"leads": 3000, "seed": 21, "days": 60, "end_date": DATA_END, "experiment": True}


@dataclasses.dataclass(frozen=True)
class SharedRun:
    settings: Settings  # never made process-wide by the fixture; readers pass it explicitly
    manifest: dict  # the demo generator's manifest (planted problems, effects, row counts)
    result: object  # the run's dagster ExecuteInProcessResult


@pytest.fixture(scope="session")
def shared_run(tmp_path_factory, dbt_manifest) -> SharedRun:
    """One demo dataset (SHARED_DEMO) through the whole main job, once per session, with dbt's
    unit tests on (the only run that keeps them: test_pipeline checks they all passed).

    READ ONLY. Tests that change anything (gates on planted anomalies, re-runs, purges, kills)
    work on ``shared_copy`` or on data of their own. At the end of the session the data
    directory is compared with what the run left; any change fails the session's last test."""
    from orchestration.demo.generator import generate
    from orchestration.pipeline import run_main_job
    from orchestration.settings import use_settings
    from orchestration.defs.transform import UNIT_TESTS_ENV  # needs the parsed manifest

    settings = make_settings(tmp_path_factory.mktemp("shared_run"))
    with settings_restored():
        use_settings(settings)
        manifest = generate(settings.landing_dir, **SHARED_DEMO)
        os.environ[UNIT_TESTS_ENV] = "1"  # production builds leave them out (transform.build_args)
        result = run_main_job(settings, full_load=True, quiet=True)
    assert result.success, "the shared demo run failed: see its run log under " + str(settings.output_dir / "logs")
    left = tree_digest(settings.data_dir)
    yield SharedRun(settings, manifest, result)
    changed = tree_digest(settings.data_dir)
    diff = sorted(k for k in left.keys() | changed.keys() if left.get(k) != changed.get(k))
    assert not diff, f"a test changed the shared run (use shared_copy): {diff[:10]}"


@pytest.fixture
def shared_copy(shared_run, tmp_path, use_settings) -> Settings:
    """A writable copy of the shared run's data directory, process-wide for the test (settings
    and the environment an entry point exports: jobs run in-process read their resources from it)."""
    from orchestration.settings import apply_process_env

    settings = copy_run(shared_run.settings, tmp_path / "run")
    use_settings(settings)
    os.environ.pop("DAGSTER_HOME", None)  # apply_process_env keeps one already set
    apply_process_env(settings)
    return settings


@pytest.fixture(scope="session")
def postgres_url():
    """URL of an empty PostgreSQL database for the session (tests using it: @pytest.mark.postgres).

    Started from the local server binaries by tests/pg_server.py, or made in the server named by
    STL_TEST_POSTGRES_URL; skipped, with the reason, when there is neither.
    """
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
