"""Scale-out: the dbt models on Spark (spark.py, docs/scale_out.md)."""

import sys


def keep_pyspark_out() -> None:
    """Make ``import pyspark`` fail in this process as if pyspark were not installed.

    Great Expectations imports pyspark whenever it is installed (its compatibility module tries
    it at import), so a DuckDB run paid pyspark's import and printed its FutureWarning about
    pandas 3 although nothing used Spark. GX treats the ImportError as "no Spark". Only for a
    one-shot process on the duckdb target (`stl run`, `stl demo`): a process that may still need
    Spark (tests, the benchmark) must not call it."""
    if "pyspark" not in sys.modules:
        sys.modules["pyspark"] = None  # the import system raises ImportError for a None entry
