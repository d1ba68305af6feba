"""The dbt project as Dagster sees it. Kept apart from transform.py so that preparing the
manifest (``stl prepare``, the test session fixture) does not need the manifest to exist."""

import shutil
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from orchestration.settings import DBT_PROJECT_DIR

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)

# The dbt installed next to this interpreter, so an un-activated virtualenv works too.
_beside_python = Path(sys.executable).parent / "dbt"
DBT_EXECUTABLE = str(_beside_python) if _beside_python.exists() else (shutil.which("dbt") or "dbt")


def prepare_manifest() -> None:
    """Parse the dbt project into target/manifest.json (what @dbt_assets reads at import)."""
    from dagster_dbt import DbtCliResource

    from orchestration.settings import apply_process_env, get_settings

    apply_process_env(get_settings())
    DbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE).cli(["parse", "--quiet"], target_path=dbt_project.target_path).wait()
