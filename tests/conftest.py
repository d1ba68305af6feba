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


# The longest modules (measured: whole jobs, kills, Spark), in the order they should start. With
# `-n 2` pytest-xdist hands whole modules (pyproject: --dist loadfile) to its two workers in
# collection order, so these go first: the kill test (which builds the shared run, then works on a
# copy of it) on one worker while the other runs test_your_data's own jobs, by the end of which
# the shared run the Spark parity test reads is ready. The last three are the longest of the fast
# path (-m "not slow").
LONGEST_FIRST = ["test_run_control", "test_your_data", "test_spark_parity", "test_metric_layer",
                 "test_dbt_interface", "test_failure_banner", "test_privacy", "test_retention", "test_quality",
                 "test_delivery", "test_sql_source", "test_ingest", "test_stats_forecast_selection"]


def pytest_collection_modifyitems(items):
    """Whatever uses a fixture that runs dbt or the whole job is slow; the fast path is the rest
    (tests that run dbt themselves carry the mark in their module). Modules in LONGEST_FIRST
    order, then the rest as collected."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(rank)))  # stable: keeps the order within


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
    result: object  # the run's dagster ExecuteInProcessResult (a RecordedRun in other workers)


class RecordedRun:
    """What the readers use of a run's ExecuteInProcessResult, for pytest-xdist workers that
    did not run it themselves: its run id, success and events (serialised by the worker that ran it)."""

    def __init__(self, run_id: str, success: bool, events: list):
        self.run_id, self.success, self.all_events = run_id, success, events

    def _of_type(self, name: str) -> list:
        return [e for e in self.all_events if e.event_type_value == name]

    def get_asset_materialization_events(self) -> list:
        return self._of_type("ASSET_MATERIALIZATION")

    def get_asset_check_evaluations(self) -> list:
        return [e.event_specific_data for e in self._of_type("ASSET_CHECK_EVALUATION")]


@contextlib.contextmanager
def _exclusive(lock_path: Path):
    import fcntl

    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _run_shared_demo(root: Path) -> tuple[Settings, dict, object]:
    from orchestration.defs.transform import UNIT_TESTS_ENV  # needs the parsed manifest
    from orchestration.demo.generator import generate
    from orchestration.pipeline import run_main_job
    from orchestration.settings import use_settings

    settings = make_settings(root)
    with settings_restored():
        use_settings(settings)
        manifest = generate(settings.landing_dir, **SHARED_DEMO)
        os.environ[UNIT_TESTS_ENV] = "1"  # production builds leave them out (transform.build_args)
        result = run_main_job(settings, full_load=True, quiet=True)
    return settings, manifest, result


def _shared_demo(tmp_path_factory) -> tuple[Settings, dict, object]:
    """Run SHARED_DEMO; under pytest-xdist, once for all workers: the first to get here runs it
    in the session's common base directory, the others wait for it and read its record."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return _run_shared_demo(tmp_path_factory.mktemp("shared_run"))
    import pickle

    import dagster as dg

    common = tmp_path_factory.getbasetemp().parent  # <basetemp>/popen-gwN's parent
    record = common / "shared_run.record"
    with _exclusive(common / "shared_run.lock"):
        if not record.exists():
            settings, manifest, result = _run_shared_demo(common / "shared_run")
            events = dg.serialize_value(list(result.all_events))
            record.write_bytes(pickle.dumps((manifest, result.run_id, result.success, events)))
            return settings, manifest, result
    manifest, run_id, success, events = pickle.loads(record.read_bytes())
    return make_settings(common / "shared_run"), manifest, RecordedRun(run_id, success, dg.deserialize_value(events))


@pytest.fixture(scope="session")
def shared_run(tmp_path_factory, dbt_manifest) -> SharedRun:
    """One demo dataset (SHARED_DEMO) through the whole main job, once per session, with dbt's
    unit tests on (the only run that keeps them: test_pipeline checks they all passed).

    READ ONLY. Tests that change anything (gates on planted anomalies, re-runs, purges, kills)
    work on ``shared_copy`` or on data of their own. At the end of the session the data
    directory is compared with what the run left; any change fails the session's last test."""
    settings, manifest, result = _shared_demo(tmp_path_factory)
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
