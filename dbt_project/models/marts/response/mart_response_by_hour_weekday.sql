-- Heatmap of when leads arrive and how fast they are answered: one row per local weekday (ISO,
-- 1 = Monday) x local hour (0-23) of the clock start in the team's timezone. All 168 cells are
-- present (zero leads where none arrived); leads without a local time (no team schedule) are left out.
with leads as (
    select
        clock_started_local_weekday as local_weekday,
        cast(extract(hour from clock_started_local_at) as integer) as local_hour,
        is_answered,
        seconds_to_first_response,
        sla_status
    from {{ ref('fct_lead_response') }}
    where clock_started_local_at is not null
),

weekdays as (
{%- for d in range(1, 8) %}
    select {{ d }} as local_weekday{{ " union all" if not loop.last }}
{%- endfor %}
),

hours as (
{%- for h in range(0, 24) %}
    select {{ h }} as local_hour{{ " union all" if not loop.last }}
{%- endfor %}
),

cells as (
    select weekdays.local_weekday, hours.local_hour
    from weekdays
    cross join hours
),

aggregated as (
    select
        local_weekday,
        local_hour,
        count(*) as leads,
        cast(sum(case when is_answered then 1 else 0 end) as bigint) as answered,
        {{ kpi('share_answered') }} as share_answered,
        {{ kpi('median_seconds_to_first_response') }} as median_seconds_to_first_response,
        cast(sum(case when sla_status = 'met' then 1 else 0 end) as bigint) as sla_met,
        cast(sum(case when sla_status = 'breached' then 1 else 0 end) as bigint) as sla_breached,
        {{ kpi('sla_compliance') }} as sla_compliance
    from leads
    group by local_weekday, local_hour
)

select
    cells.local_weekday,
    cells.local_hour,
    coalesce(aggregated.leads, 0) as leads,
    coalesce(aggregated.answered, 0) as answered,
    aggregated.share_answered,
    aggregated.median_seconds_to_first_response,
    coalesce(aggregated.sla_met, 0) as sla_met,
    coalesce(aggregated.sla_breached, 0) as sla_breached,
    aggregated.sla_compliance,
    '{{ stl_def("definition_version") }}' as metric_definition_version
from cells
left join aggregated
    on aggregated.local_weekday = cells.local_weekday
   and aggregated.local_hour = cells.local_hour
