"""Dagster resources: the warehouse (one writer at a time) and the dbt CLI."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import dagster as dg

from orchestration import warehouse
from orchestration.dbt_project import DBT_EXECUTABLE_DYING_WITH_PARENT, PlatformDbtCli, dbt_project
from orchestration.settings import Settings, get_settings, is_set

# The warehouse resource's fields and the variables they come from (docs/operations.md).
WAREHOUSE_ENV = {
    "warehouse_path": "STL_WAREHOUSE_PATH",
    "duckdb_memory_limit": "STL_DUCKDB_MEMORY_LIMIT",
    "lock_timeout_seconds": "STL_WAREHOUSE_LOCK_TIMEOUT_SECONDS",
}


class WarehouseResource(dg.ConfigurableResource):
    """Opens the DuckDB warehouse for writing under the shared file lock.

    A field left at None takes the value of the process settings, whose defaults live in
    orchestration/settings.py (the warehouse path's default depends on STL_DATA_DIR), so there is
    one home for every default."""

    warehouse_path: str | None = None
    duckdb_memory_limit: str | None = None
    lock_timeout_seconds: int | None = None

    def settings(self) -> Settings:
        """The process settings with this resource's warehouse: every path and option the assets
        use, and the warehouse they open, in one object."""
        base = get_settings()
        return replace(
            base,
            warehouse_path=Path(self.warehouse_path).expanduser().resolve() if self.warehouse_path else base.warehouse_path,
            duckdb_memory_limit=self.duckdb_memory_limit or base.duckdb_memory_limit,
            warehouse_lock_timeout_seconds=(base.warehouse_lock_timeout_seconds if self.lock_timeout_seconds is None
                                            else self.lock_timeout_seconds),
        )

    @contextmanager
    def writer(self):
        with warehouse.writer(self.settings()) as con:
            yield con

    @contextmanager
    def lock(self):
        with warehouse.warehouse_lock(self.settings()):
            yield

    @classmethod
    def from_env(cls) -> WarehouseResource:
        """Each field an EnvVar (read when a run starts, shown as such in the UI) when its
        variable is set, else None (the settings' default)."""
        fields = {}
        for field, name in WAREHOUSE_ENV.items():
            if is_set(name):
                fields[field] = dg.EnvVar.int(name) if field == "lock_timeout_seconds" else dg.EnvVar(name)
        return cls(**fields)


def build_resources() -> dict:
    return {"warehouse": WarehouseResource.from_env(),
            "dbt": PlatformDbtCli(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE_DYING_WITH_PARENT)}
