-- Per lead incident: the first touch (any outbound activity) and the first qualifying response
-- at or after the clock start, over the activities matched to any lead of the incident.
-- Touches before the clock started (an activity before the lead existed) never count as a
-- response; they are counted so the quality gates can report them.
with members as (
    select lead_id, incident_lead_id from {{ ref('int_lead_incidents') }}
),

heads as (
    select lead_id as incident_lead_id, clock_started_at
    from {{ ref('int_leads') }}
    where lead_id in (select incident_lead_id from members)
),

touches as (
    select
        members.incident_lead_id,
        heads.clock_started_at,
        activities.channel,
        activities.activity_id,
        activities.activity_at,
        activities.rep_id,
        activities.is_qualifying_response
    from {{ ref('int_lead_activities') }} as activities
    inner join members on members.lead_id = activities.lead_id
    inner join heads on heads.incident_lead_id = members.incident_lead_id
    where activities.is_touch
),

ranked as (
    select
        *,
        row_number() over (
            partition by incident_lead_id order by activity_at, channel, activity_id
        ) as touch_rank,
        row_number() over (
            partition by incident_lead_id
            order by case when is_qualifying_response then 0 else 1 end, activity_at, channel, activity_id
        ) as response_rank
    from touches
    where activity_at >= clock_started_at
),

early as (
    select incident_lead_id, count(*) as touches_before_clock_start
    from touches
    where activity_at < clock_started_at
    group by incident_lead_id
)

select
    heads.incident_lead_id,
    first_touch.activity_at as first_touch_at,
    first_touch.channel as first_touch_channel,
    first_response.activity_at as first_response_at,
    first_response.channel as first_response_channel,
    first_response.rep_id as responding_rep_id,
    coalesce(early.touches_before_clock_start, 0) as touches_before_clock_start
from heads
left join ranked as first_touch
    on first_touch.incident_lead_id = heads.incident_lead_id and first_touch.touch_rank = 1
left join ranked as first_response
    on first_response.incident_lead_id = heads.incident_lead_id and first_response.response_rank = 1
    and first_response.is_qualifying_response
left join early on early.incident_lead_id = heads.incident_lead_id
