-- Every KPI (macros/kpis.sql) per period and segment, long format: one row per (frequency,
-- period_start, segment_type, segment_value, kpi). The KPI snapshots (snapshots.kpi_history), the
-- run summary and the leadership report read their figures here, so each formula exists once.
-- Periods are local calendar days and weeks (Monday to Sunday) of the clock start in the
-- reporting timezone, plus one 'all_time' period spanning the data (the run summary's figures).
-- Every KPI row exists for every group, NULL where it cannot be computed (no answered lead).
{%- set timezone = var('reporting_timezone', env_var('STL_SCHEDULE_TIMEZONE', 'UTC')) %}
{%- set tz_literal = "'" ~ (timezone | replace("'", "''")) ~ "'" %}
{%- set segments = [('all', none), ('team', 'team_id'), ('source', 'source'), ('score_tier', 'score_tier')] %}
{%- set inputs = ['is_answered', 'seconds_to_first_response', 'business_seconds_to_first_response', 'sla_status',
                  'escalation_reached', 'is_contacted', 'is_booked', 'has_opportunity'] %}
{%- set kpis = kpi_definitions() %}
with leads as (
    select
        cast({{ utc_to_local('facts.clock_started_at', tz_literal) }} as date) as local_date,
        facts.team_id,
        facts.source,
        facts.score_tier,
        facts.is_answered,
        facts.seconds_to_first_response,
        facts.business_seconds_to_first_response,
        facts.sla_status,
        facts.escalation_reached,
        outcomes.is_contacted,
        outcomes.is_booked,
        outcomes.has_opportunity
    from {{ ref('fct_lead_response') }} as facts
    left join {{ ref('int_incident_outcomes') }} as outcomes
        on outcomes.incident_lead_id = facts.lead_id
),

-- Each lead once per frequency: its local day, its local ISO week, and the whole span.
framed as (
    select
        'daily' as frequency,
        local_date as period_start,
        {{ date_add_days('local_date', 1) }} as period_end,
        leads.*
    from leads
    union all
    select
        'weekly' as frequency,
        {{ date_add_days('local_date', '1 - ' ~ iso_weekday('local_date')) }} as period_start,
        {{ date_add_days('local_date', '8 - ' ~ iso_weekday('local_date')) }} as period_end,
        leads.*
    from leads
    union all
    select
        'all_time' as frequency,
        min(local_date) over () as period_start,
        {{ date_add_days('max(local_date) over ()', 1) }} as period_end,
        leads.*
    from leads
),

-- Each framed lead once per segment it belongs to; inside a segment a NULL key is a real group.
segmented as (
{%- for segment_type, column in segments %}
    select
        frequency,
        period_start,
        period_end,
        '{{ segment_type }}' as segment_type,
        {% if column %}coalesce(cast({{ column }} as string), 'unknown'){% else %}'all'{% endif %} as segment_value,
        {{ inputs | join(', ') }}
    from framed
    {%- if not loop.last %}
    union all
    {%- endif %}
{%- endfor %}
),

wide as (
    select
        frequency,
        period_start,
        period_end,
        segment_type,
        segment_value,
        cast(count(*) as bigint) as segment_lead_incidents,
        {%- for k in kpis %}
        cast({{ k.sql }} as double) as {{ k.kpi }}{{ "," if not loop.last }}
        {%- endfor %}
    from segmented
    group by frequency, period_start, period_end, segment_type, segment_value
)

-- Long format by a cross join with the KPI names: one pass over `wide` (a union of one select
-- per KPI made Spark, which inlines a CTE at every reference, aggregate everything once per KPI).
select
    wide.frequency,
    wide.period_start,
    wide.period_end,
    {{ tz_literal }} as period_timezone,
    wide.segment_type,
    wide.segment_value,
    names.kpi,
    case names.kpi
        {%- for k in kpis %}
        when '{{ k.kpi }}' then wide.{{ k.kpi }}
        {%- endfor %}
    end as value,
    wide.segment_lead_incidents,
    '{{ stl_def("definition_version") }}' as metric_definition_version
from wide
cross join (values {% for k in kpis %}('{{ k.kpi }}'){{ ", " if not loop.last }}{% endfor %}) as names (kpi)
