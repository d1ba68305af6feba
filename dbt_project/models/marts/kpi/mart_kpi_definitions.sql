-- The KPI catalogue: one row per KPI of mart_kpi_by_period, in report order, with its unit, what
-- it means and the aggregate SQL that computes it (rendered from macros/kpis.sql, the formulas'
-- one home). Python takes the KPI names from here (a period without leads still gets a row per
-- KPI in the snapshot); analysts read what a number is without opening the dbt project.
{%- set kpis = kpi_definitions() %}
{%- for k in kpis %}
select
    {{ loop.index }} as kpi_order,
    '{{ k.kpi }}' as kpi,
    '{{ k.unit }}' as unit,
    '{{ k.description | replace("'", "''") }}' as description,
    '{{ k.sql | replace("'", "''") }}' as formula_sql,
    '{{ stl_def("definition_version") }}' as metric_definition_version
{%- if not loop.last %}
union all
{%- endif %}
{%- endfor %}
