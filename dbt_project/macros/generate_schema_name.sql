{#- Models land in the schema their folder names (staging, intermediate, marts), not
    "<target schema>_<folder>": analysts query marts.fct_lead_response, whatever the target. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
