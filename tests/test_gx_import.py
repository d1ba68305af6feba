"""GX must import in any kind of process: with pyspark installed, a `python -c` process used to
die with exit code 0 inside GX's import (pyspark's doctest check in pyspark.sql.connect)."""

import subprocess
import sys

import pytest

from tests.conftest import child_env

PROBE = "from orchestration.quality.gx_bridge import build_docs_index, _guard_pyspark_connect; " \
        "_guard_pyspark_connect(); import great_expectations; print('imported', great_expectations.__version__)"


@pytest.mark.slow  # a fresh interpreter importing GX and pyspark
def test_great_expectations_imports_in_a_python_dash_c_process():
    done = subprocess.run([sys.executable, "-c", PROBE], env=child_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("imported 1.")
