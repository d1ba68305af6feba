-- Daily response KPIs by UTC day of the clock start: one row per (response_date, team_id), plus
-- an 'all' row per day across teams. Time percentiles over answered leads; the 5-minute share
-- divides by all leads (unanswered included); sla_compliance ignores pending leads.
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
        percentile_cont(0.5) within group (order by seconds_to_first_response) as median_seconds_to_first_response,
        percentile_cont(0.9) within group (order by seconds_to_first_response) as p90_seconds_to_first_response,
        cast(sum(case when is_answered and seconds_to_first_response <= 300 then 1 else 0 end) as bigint) as answered_within_5m,
        cast(sum(case when sla_status = 'met' then 1 else 0 end) as bigint) as sla_met,
        cast(sum(case when sla_status = 'breached' then 1 else 0 end) as bigint) as sla_breached
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
    cast(answered as double) / nullif(leads, 0) as share_answered,
    median_seconds_to_first_response,
    p90_seconds_to_first_response,
    cast(answered_within_5m as double) / nullif(leads, 0) as share_answered_within_5m,
    sla_met,
    sla_breached,
    cast(sla_met as double) / nullif(sla_met + sla_breached, 0) as sla_compliance,
    '{{ stl_def("definition_version") }}' as metric_definition_version
from grouped
