{#- staging_columns(entity): the select list of a staging model over raw.<entity>, one column a
    line: the contract's columns (macros/contract_columns.sql, generated from the contract) and the
    lineage downstream models read. With contract_key(entity) for latest_version(), a column or
    key added to orchestration/ingest/contract.py reaches staging by regenerating that file. -#}
{% macro staging_columns(entity) -%}
{%- for column in contract_columns(entity) + ['_source_file', '_loaded_at'] %}
    {{ column }}{{ ',' if not loop.last }}
{%- endfor %}
{%- endmacro %}
