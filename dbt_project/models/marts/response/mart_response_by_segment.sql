-- Response KPIs per segment, long format: one row per (segment_type, segment_value). Each
-- segment is one GROUP BY over fct_lead_response; the aggregate list is written once, in the loop.
-- The KPI formulas are macros/kpis.sql's: time percentiles over answered leads; "share answered
-- within N minutes" divides by ALL leads (unanswered included); sla_compliance ignores pending leads.
{%- set segments = [
    ('all', "'all'"),
    ('source', 'source'),
    ('campaign', 'campaign'),
    ('score_tier', 'score_tier'),
    ('owner_rep', 'owner_rep_id'),
    ('team', 'team_id'),
    ('region', 'region'),
    ('weekday_hour', "cast(clock_started_local_weekday as string) || '-' || lpad(cast(extract(hour from clock_started_local_at) as string), 2, '0')"),
    ('weekend', 'is_weekend'),
    ('holiday', 'is_holiday'),
    ('after_hours', 'is_after_hours'),
] %}
with leads as (
    select * from {{ ref('fct_lead_response') }}
),

grouped as (
{%- for segment_type, expression in segments %}
    select
        '{{ segment_type }}' as segment_type,
        coalesce(cast({{ expression }} as string), 'unknown') as segment_value,
        count(*) as leads,
        cast(sum(case when is_answered then 1 else 0 end) as bigint) as answered,
        {{ kpi('share_answered') }} as share_answered,
        {%- for name in ['median_seconds_to_first_response', 'p90_seconds_to_first_response',
                         'median_business_seconds_to_first_response', 'p90_business_seconds_to_first_response'] %}
        {{ kpi(name) }} as {{ name }},
        {%- endfor %}
        {%- for minutes in stl_def('answered_within_minutes') %}
        {{ kpi_share_answered_within(minutes) }} as share_answered_within_{{ minutes }}m,
        {%- endfor %}
        cast(sum(case when sla_status = 'met' then 1 else 0 end) as bigint) as sla_met,
        cast(sum(case when sla_status = 'breached' then 1 else 0 end) as bigint) as sla_breached,
        cast(sum(case when sla_status = 'pending' then 1 else 0 end) as bigint) as sla_pending,
        {{ kpi('sla_compliance') }} as sla_compliance,
        cast(sum(case when escalation_reached then 1 else 0 end) as bigint) as escalations
    from leads
    group by coalesce(cast({{ expression }} as string), 'unknown')
    {%- if not loop.last %}
    union all
    {%- endif %}
{%- endfor %}
)

select
    segment_type || ':' || segment_value as segment_key,
    segment_type,
    segment_value,
    leads,
    answered,
    share_answered,
    median_seconds_to_first_response,
    p90_seconds_to_first_response,
    median_business_seconds_to_first_response,
    p90_business_seconds_to_first_response,
    {%- for minutes in stl_def('answered_within_minutes') %}
    share_answered_within_{{ minutes }}m,
    {%- endfor %}
    sla_met,
    sla_breached,
    sla_pending,
    sla_compliance,
    escalations,
    '{{ stl_def("definition_version") }}' as metric_definition_version
from grouped
