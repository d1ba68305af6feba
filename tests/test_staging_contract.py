"""The staging models pass on exactly what ingestion loads: per contract entity, the contract's
columns in order (each followed by the companions orchestration/ingest/normalize.py derives from
it) and the lineage downstream models read, one row per contract key. Checked on the SQL dbt
compiles, run against raw tables made by ingestion's own DDL."""

from __future__ import annotations

import json

import duckdb
import pytest

from orchestration.ingest import contract as c
from orchestration.ingest import normalize as n
from orchestration.ingest.contract_dbt import render
from orchestration.ingest.raw_schema import ensure_raw_schema
from orchestration.settings import DBT_PROJECT_DIR
from tests.helpers import WAREHOUSE_FILE, run_dbt

STAGED_LINEAGE = ["_source_file", "_loaded_at"]
# Staging models that are not a contract entity: raw.activity_lead_matches is built by
# orchestration/ingest/matching.py, and its model leaves out the matched contact details.
NOT_CONTRACT_MODELS = {"stg_activity_lead_matches"}


def test_contract_columns_macro_is_in_sync_with_the_contract():
    macro = DBT_PROJECT_DIR / "macros" / "contract_columns.sql"
    assert macro.read_text() == render(), (
        "dbt_project/macros/contract_columns.sql is stale: "
        "python -m orchestration.ingest.contract_dbt > dbt_project/macros/contract_columns.sql")


@pytest.fixture(scope="module")
def compiled(tmp_path_factory, dbt_manifest):
    """(warehouse holding ingestion's empty raw tables, staging model name → compiled manifest node)."""
    root = tmp_path_factory.mktemp("staging_contract")
    warehouse = root / WAREHOUSE_FILE
    with duckdb.connect(str(warehouse)) as con:
        ensure_raw_schema(con)
    target = root / "target"
    out = run_dbt(["compile", "--select", "path:models/staging,resource_type:model", "--quiet"], warehouse, target)
    assert out.returncode == 0, out.stdout + out.stderr
    nodes = json.loads((target / "manifest.json").read_text())["nodes"].values()
    return warehouse, {node["name"]: node for node in nodes
                       if node["resource_type"] == "model" and node["name"].startswith("stg_")}


@pytest.mark.slow  # dbt compile
def test_every_contract_entity_has_a_staging_model(compiled):
    _, models = compiled
    assert set(models) - NOT_CONTRACT_MODELS == {f"stg_{e.name}" for e in c.ENTITIES}


@pytest.mark.slow
@pytest.mark.parametrize("entity", c.ENTITIES, ids=lambda e: e.name)
def test_staging_model_selects_the_contract_columns_and_keeps_one_row_per_key(compiled, entity):
    warehouse, models = compiled
    model = models[f"stg_{entity.name}"]
    expected = [name for col in entity.columns for name in (col.name, *(cc for cc, _ in n.companion_columns(col)))]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        selected = [row[0] for row in con.execute(f"DESCRIBE {model['compiled_code']}").fetchall()]
    assert model["sources"] == [["raw", entity.name]]
    assert selected == expected + STAGED_LINEAGE
    assert f"partition by {', '.join(entity.key)}\n" in model["compiled_code"]
    # _staging.yml documents only columns the model has.
    assert set(model["columns"]) <= set(selected)
