-- One row per lead incident (repeat submissions of one person within the dedup window are one
-- incident, named by its first lead), answered or not, excluded leads left out (int_leads keeps
-- them). Calendar and business time to first touch and first qualifying response, the SLA and
-- its status, escalation, routing tier, after-hours / weekend / holiday flags at the clock start.
{%- set sla_on_business = stl_def('sla_clock') == 'business' %}
with leads as (
    select * from {{ ref('int_leads') }}
),

incidents as (
    select incident_lead_id, count(*) as leads_in_incident
    from {{ ref('int_lead_incidents') }}
    group by incident_lead_id
),

as_of as (
    -- Open leads are measured up to the end of the data (reproducible, unlike the run time).
    {%- if var('as_of', none) %}
    select cast('{{ var("as_of") }}' as timestamp) as as_of_at
    {%- else %}
    select max(ended_at) as as_of_at from (
        select max(activity_at) as ended_at from {{ ref('int_lead_activities') }}
        union all
        select max(lead_created_at) from leads
    ) as ends
    {%- endif %}
),

calendars as (
    select calendar_id from {{ ref('int_business_calendars') }}
),

base as (
    select
        leads.*,
        incidents.leads_in_incident,
        responses.first_touch_at,
        responses.first_touch_channel,
        responses.first_response_at,
        responses.first_response_channel,
        responses.responding_rep_id,
        responses.touches_before_clock_start,
        as_of.as_of_at,
        {%- if stl_def('business_calendar') == 'rep' %}
        coalesce(rep_calendar.calendar_id, 'team:' || leads.team_id) as calendar_id
        {%- else %}
        'team:' || leads.team_id as calendar_id
        {%- endif %}
    from incidents
    inner join leads on leads.lead_id = incidents.incident_lead_id
    inner join {{ ref('int_incident_responses') }} as responses
        on responses.incident_lead_id = incidents.incident_lead_id
    cross join as_of
    {%- if stl_def('business_calendar') == 'rep' %}
    left join calendars as rep_calendar on rep_calendar.calendar_id = 'rep:' || leads.owner_rep_id
    {%- endif %}
),

at_start as (
    {{ business_clock('base', 'lead_id', 'calendar_id', 'clock_started_at', local_flags=true) }}
),

-- The clock's end: the first response, or (unanswered) the end of the data. One lookup per
-- incident instead of two, as only one of them is ever used.
ends as (
    select lead_id, calendar_id, coalesce(first_response_at, as_of_at) as clock_ended_at from base
),

at_end as (
    {{ business_clock('ends', 'lead_id', 'calendar_id', 'clock_ended_at') }}
),

timed as (
    select
        base.*,
        {{ seconds_between('base.form_submitted_at', 'base.lead_created_at') }} as intake_latency_seconds,
        {{ seconds_between('base.clock_started_at', 'base.first_touch_at') }} as seconds_to_first_touch,
        {{ seconds_between('base.clock_started_at', 'base.first_response_at') }} as seconds_to_first_response,
        case when base.first_response_at is not null
             then at_end.business_clock_seconds - at_start.business_clock_seconds end as business_seconds_to_first_response,
        {{ seconds_between('base.clock_started_at', 'base.as_of_at') }} as seconds_open_as_of,
        case when base.first_response_at is null
             then at_end.business_clock_seconds - at_start.business_clock_seconds end as business_seconds_open_as_of,
        at_start.is_after_hours,
        at_start.is_weekend,
        at_start.is_holiday,
        at_start.local_at as clock_started_local_at,
        at_start.local_weekday as clock_started_local_weekday,
        {{ sla_seconds({'score_tier': 'base.score_tier', 'source': 'base.source', 'region': 'base.region', 'team_id': 'base.team_id'}) }}
            as sla_seconds
    from base
    left join at_start on at_start.lead_id = base.lead_id
    left join at_end on at_end.lead_id = base.lead_id
),

measured as (
    select
        *,
        -- Seconds on the SLA's clock: to the response, or (unanswered) to the end of the data.
        -- Without a team calendar the business clock is unknown and the calendar clock is used.
        {%- if sla_on_business %}
        case when first_response_at is not null
             then coalesce(business_seconds_to_first_response, seconds_to_first_response)
             else coalesce(business_seconds_open_as_of, seconds_open_as_of) end as sla_elapsed_seconds
        {%- else %}
        case when first_response_at is not null then seconds_to_first_response
             else seconds_open_as_of end as sla_elapsed_seconds
        {%- endif %}
    from timed
)

select
    lead_id,
    leads_in_incident,
    lead_created_at,
    form_submitted_at,
    clock_started_at,
    intake_latency_seconds,
    first_touch_at,
    first_touch_channel,
    first_response_at,
    first_response_channel,
    first_response_at is not null as is_answered,
    responding_rep_id,
    owner_rep_id,
    team_id,
    seconds_to_first_touch,
    seconds_to_first_response,
    business_seconds_to_first_response,
    sla_seconds,
    sla_elapsed_seconds,
    case
        when sla_elapsed_seconds > sla_seconds then 'breached'
        when first_response_at is not null then 'met'
        else 'pending'
    end as sla_status,
    case
        when sla_elapsed_seconds > sla_seconds then true
        when first_response_at is not null then false
    end as sla_breached,
    sla_elapsed_seconds >= sla_seconds * {{ stl_def('escalation_share') }} as escalation_reached,
    {{ routing_tier('seconds_to_first_response') }} as routing_tier,
    {{ response_bucket('seconds_to_first_response') }} as response_bucket,
    is_after_hours,
    is_weekend,
    is_holiday,
    clock_started_local_at,
    clock_started_local_weekday,
    touches_before_clock_start,
    source,
    campaign,
    score,
    score_tier,
    region,
    as_of_at,
    '{{ stl_def("definition_version") }}' as metric_definition_version
from measured
