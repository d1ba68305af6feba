"""Renders dbt_project/macros/contract_columns.sql from the contract, so the staging models select
exactly the columns ingestion loads (the contract's columns and their companions) and keep one
row per contract key, without a hand-kept copy of either.

    python -m orchestration.ingest.contract_dbt > dbt_project/macros/contract_columns.sql
"""

from __future__ import annotations

import textwrap

from orchestration.ingest import contract as c
from orchestration.ingest import normalize as n

HEADER = """\
{#- Generated from orchestration/ingest/contract.py by
    python -m orchestration.ingest.contract_dbt > dbt_project/macros/contract_columns.sql
    Do not edit: tests/test_staging_contract.py fails when this file is stale. -#}
"""


def columns(entity: c.Entity) -> list[str]:
    """The contract's columns of raw.<entity> in order, each followed by its companions."""
    return [name for col in entity.columns for name in (col.name, *(cc for cc, _ in n.companion_columns(col)))]


def _mapping(values: dict[str, str]) -> str:
    entries = []
    for entity, value in values.items():
        entries.append(textwrap.fill(f"'{entity}': {value},", width=100, initial_indent=" " * 4,
                                     subsequent_indent=" " * 8, break_long_words=False, break_on_hyphens=False))
    return "{\n" + "\n".join(entries) + "\n}"


def render() -> str:
    names = {e.name: "[" + ", ".join(f"'{name}'" for name in columns(e)) + "]" for e in c.ENTITIES}
    keys = {e.name: "'" + ", ".join(e.key) + "'" for e in c.ENTITIES}
    return (
        HEADER
        + "\n{#- contract_columns(entity): the columns ingestion loads into raw.<entity>, in the contract's\n"
        "    order, each followed by the companions ingestion derives from it (orchestration/ingest/normalize.py). -#}\n"
        "{% macro contract_columns(entity) -%}\n"
        f"{{{{ return({_mapping(names)}[entity]) }}}}\n"
        "{%- endmacro %}\n"
        "\n{#- contract_key(entity): the columns that identify a record of the entity, comma-separated. -#}\n"
        "{% macro contract_key(entity) -%}\n"
        f"{{{{ return({_mapping(keys)}[entity]) }}}}\n"
        "{%- endmacro %}\n"
    )


if __name__ == "__main__":
    print(render(), end="")
