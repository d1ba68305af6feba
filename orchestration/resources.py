"""Dagster resources: the warehouse (one writer at a time) and the dbt CLI."""

from __future__ import annotations

from contextlib import contextmanager

import dagster as dg
from dagster_dbt import DbtCliResource

from orchestration import warehouse
from orchestration.dbt_project import DBT_EXECUTABLE_DYING_WITH_PARENT, dbt_project
from orchestration.settings import Settings, get_settings


class WarehouseResource(dg.ConfigurableResource):
    """Opens the DuckDB warehouse for writing under the shared file lock."""

    def settings(self) -> Settings:
        return get_settings()

    @contextmanager
    def writer(self):
        with warehouse.writer(self.settings()) as con:
            yield con

    @contextmanager
    def lock(self):
        with warehouse.warehouse_lock(self.settings()):
            yield


def build_resources() -> dict:
    return {"warehouse": WarehouseResource(), "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE_DYING_WITH_PARENT)}
