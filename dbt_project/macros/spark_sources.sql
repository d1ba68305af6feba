{#- register_raw_sources(): make source('raw', ...) readable on engines that do not hold the
    ingestion's tables. DuckDB holds them (nothing to do). On Spark each declared raw source
    becomes an external Parquet table over what orchestration/scale/spark.py exported to
    STL_SPARK_RAW_DIR/<table>/; re-created every run, so a re-export's schema and files are seen
    (dropping an external table removes only its metastore entry). -#}
{% macro register_raw_sources() -%}
    {{ return(adapter.dispatch('register_raw_sources', 'speed_to_lead')()) }}
{%- endmacro %}

{% macro default__register_raw_sources() -%}
    {{ return('') }}
{%- endmacro %}

{% macro spark__register_raw_sources() -%}
    {%- if execute %}
        {%- set raw_dir = env_var('STL_SPARK_RAW_DIR') %}
        {%- set tables = graph.sources.values() | selectattr('source_name', 'equalto', 'raw') | map(attribute='name') | list %}
        {%- do run_query('create schema if not exists raw') %}
        {%- for table in tables | sort %}
            {%- do run_query('drop table if exists raw.' ~ table) %}
            {%- do run_query("create table raw." ~ table ~ " using parquet location '" ~ raw_dir ~ "/" ~ table ~ "'") %}
        {%- endfor %}
    {%- endif %}
    {{ return('') }}
{%- endmacro %}
