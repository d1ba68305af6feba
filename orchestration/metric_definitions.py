"""The metric definitions, read from their one home: ``vars.stl`` in ``dbt_project/dbt_project.yml``.

dbt reads them as vars; Python (the report's SLA wording, the statistics and their simulation, the
demo generator) reads them here, so a threshold or a bucket is never copied into code. The KPI
formulas themselves live in dbt (``dbt_project/macros/kpis.sql``); Python reads their values from
``marts.mart_kpi_by_period``.
docs/metric_definitions.md explains every choice and keeps the change log.
"""

from __future__ import annotations

from functools import lru_cache

import yaml

from orchestration.settings import DBT_PROJECT_DIR


@lru_cache(maxsize=1)
def definitions() -> dict:
    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())
    return dict((project.get("vars") or {}).get("stl") or {})


def answered_within_minutes() -> tuple[int, ...]:
    """Distribution thresholds: the share of leads answered within each of these minutes."""
    return tuple(int(m) for m in definitions().get("answered_within_minutes") or ())


def response_buckets() -> tuple[tuple[str, float, float | None], ...]:
    """(label, lower seconds, upper seconds or None) per response-time bucket, fastest first."""
    out, lower = [], 0.0
    for bucket in definitions().get("response_buckets") or ():
        upper = None if bucket.get("max_minutes") is None else float(bucket["max_minutes"]) * 60
        out.append((str(bucket["bucket"]), lower, upper))
        lower = upper if upper is not None else lower
    return tuple(out)


def bucket_labels() -> tuple[str, ...]:
    return tuple(label for label, _, _ in response_buckets())


def bucket_upper_seconds() -> tuple[float, ...]:
    """The finite upper bounds (seconds, inclusive) of the response buckets, fastest first; the
    last bucket is open-ended."""
    return tuple(upper for _, _, upper in response_buckets() if upper is not None)
