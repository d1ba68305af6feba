{#- Raw tables keep every loaded version of a record (daily extracts repeat and correct rows).
    The current version is the one loaded last, then the latest extract date, file and row:
    the same order ingestion's matching uses (orchestration/ingest/matching.py). -#}
{% macro latest_version(key) -%}
qualify row_number() over (
    partition by {{ key }}
    order by _loaded_at desc, _extract_date desc nulls last, _source_file desc, _source_row desc
) = 1
{%- endmacro %}
