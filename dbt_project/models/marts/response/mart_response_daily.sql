-- Daily response KPIs by UTC day of the clock start: one row per (response_date, team_id), plus
-- an 'all' row per day across teams. The KPI formulas are macros/kpis.sql's (time percentiles over
-- answered leads; the 5-minute share divides by all leads; sla_compliance ignores pending leads).
{%- set levels = [('all', "'all'"), ('team', "coalesce(team_id, 'unknown')")] %}
with leads as (
    select
        cast(clock_started_at as date) as response_date,
        *
    from {{ ref('fct_lead_response') }}
),

grouped as (
{%- for level, team_expression in levels %}
    select
        response_date,
        '{{ level }}' as grouping_level,
        {{ team_expression }} as team_id,
        count(*) as leads,
        cast(sum(case when is_answered then 1 else 0 end) as bigint) as answered,
        {{ kpi('share_answered') }} as share_answered,
        {{ kpi('median_seconds_to_first_response') }} as median_seconds_to_first_response,
        {{ kpi('p90_seconds_to_first_response') }} as p90_seconds_to_first_response,
        {{ kpi_share_answered_within(5) }} as share_answered_within_5m,
        cast(sum(case when sla_status = 'met' then 1 else 0 end) as bigint) as sla_met,
        cast(sum(case when sla_status = 'breached' then 1 else 0 end) as bigint) as sla_breached,
        {{ kpi('sla_compliance') }} as sla_compliance
    from leads
    group by response_date, {{ team_expression }}
    {%- if not loop.last %}
    union all
    {%- endif %}
{%- endfor %}
)

select
    response_date,
    grouping_level,
    team_id,
    leads,
    answered,
    share_answered,
    median_seconds_to_first_response,
    p90_seconds_to_first_response,
    share_answered_within_5m,
    sla_met,
    sla_breached,
    sla_compliance,
    '{{ stl_def("definition_version") }}' as metric_definition_version
from grouped
