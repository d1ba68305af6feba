{#- row_checks: every check a model's rows must pass, in ONE scan of the model.

    Why one test instead of a not_null / unique / accepted_values test per column: each dbt test
    is a node with its own compile, query and round trip (~40-100 ms even on an empty table), and
    each scans the model again. A model with fifteen column tests cost fifteen scans; this costs
    one, and the failing rows still say which check failed (one 0/1 column per check).

    Arguments (all optional, at least one given):
      unique_key       list of columns: the model's grain. At most one row per key (NULLs compare
                       equal, as in a GROUP BY: a NULL key is one value).
      also_unique      list of column lists: further keys that must be unique (one window each).
      not_null         list of columns that must never be NULL.
      accepted_values  {column: [values]}: the column is NULL or one of the values (as dbt's
                       accepted_values: a NULL passes; combine with not_null to forbid it).
                       Numbers are written unquoted, everything else quoted.
      expressions      {name: boolean SQL}: a row fails when the expression is false or NULL.
                       May contain a subquery over another model, e.g. a reference check
                       "team_id is null or team_id in (select team_id from {{ ref('stg_teams') }})".

    Returns nothing when every row passes; otherwise one row per failing key (with unique_key)
    or one summary row, with rows_per_key and, per check, how many rows failed it. -#}
{% test row_checks(model, unique_key=none, also_unique=none, not_null=none, accepted_values=none, expressions=none) %}
{%- set unique_key = unique_key or [] -%}
{%- set also_unique = also_unique or [] -%}
{%- set not_null = not_null or [] -%}
{%- set accepted_values = accepted_values or {} -%}
{%- set expressions = expressions or {} -%}
{%- set checks = [] -%}
{%- for column in not_null -%}
    {%- do checks.append(('null_' ~ column, column ~ ' is not null')) -%}
{%- endfor -%}
{%- for column, values in accepted_values.items() -%}
    {%- set literals = [] -%}
    {%- for v in values -%}
        {%- do literals.append(v if v is number else "'" ~ (v | string | replace("'", "''")) ~ "'") -%}
    {%- endfor -%}
    {%- do checks.append(('unaccepted_' ~ column, column ~ ' is null or ' ~ column ~ ' in (' ~ literals | join(', ') ~ ')')) -%}
{%- endfor -%}
{%- for name, expression in expressions.items() -%}
    {%- do checks.append(('false_' ~ name, expression)) -%}
{%- endfor -%}
{%- for key in also_unique -%}
    {%- do checks.append(('duplicate_' ~ key | join('_'), '_key_rows_' ~ loop.index ~ ' = 1')) -%}
{%- endfor -%}
{%- if not (unique_key or checks) -%}
    {{ exceptions.raise_compiler_error("row_checks on " ~ model ~ ": give unique_key, not_null, accepted_values, expressions or also_unique") }}
{%- endif -%}
with counted as (
    select
        *
        {%- for key in also_unique %},
        count(*) over (partition by {{ key | join(', ') }}) as _key_rows_{{ loop.index }}
        {%- endfor %}
    from {{ model }}
),

flagged as (
    select
        {%- for column in unique_key %}
        {{ column }},
        {%- endfor %}
        {%- for name, condition in checks %}
        case when coalesce(({{ condition }}), false) then 0 else 1 end as {{ name }},
        {%- endfor %}
        1 as _row
    from counted
)

select
    {%- for column in unique_key %}
    {{ column }},
    {%- endfor %}
    {%- for name, condition in checks %}
    sum({{ name }}) as {{ name }},
    {%- endfor %}
    sum(_row) as rows_per_key
from flagged
{%- if unique_key %}
group by {{ unique_key | join(', ') }}
{%- endif %}
having
    {%- if unique_key %} count(*) > 1{% else %} false{% endif %}
    {%- for name, condition in checks %}
    or sum({{ name }}) > 0
    {%- endfor %}
{% endtest %}
