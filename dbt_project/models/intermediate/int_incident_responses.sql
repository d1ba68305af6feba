-- Per lead incident: the first touch (any outbound activity) and the first qualifying response
-- at or after the clock start, over the activities matched to any lead of the incident.
-- Touches before the clock started (an activity before the lead existed) never count as a
-- response; they are counted so the quality gates can report them.
-- "First" is by activity time, then channel, then activity id (a unique order, so ties are
-- decided the same way on every engine and every run).
-- A view: fct_lead_response is its only reader, so a table would be written once and read once.
{{ config(materialized='view') }}
{%- set order = ['activity_at', 'channel', 'activity_id'] %}
with incidents as (
    -- an incident's first lead names it, so it is the member whose incident is itself
    select incident_lead_id
    from {{ ref('int_lead_incidents') }}
    where lead_id = incident_lead_id
),

touches as (
    select
        incident_lead_id,
        min(activity_at) filter (where activity_at >= clock_started_at) as first_touch_at,
        {{ first_by('channel', order) }} filter (where activity_at >= clock_started_at) as first_touch_channel,
        min(activity_at) filter (where activity_at >= clock_started_at and is_qualifying_response) as first_response_at,
        {{ first_by('channel', order) }} filter (where activity_at >= clock_started_at and is_qualifying_response) as first_response_channel,
        {{ first_by('rep_id', order) }} filter (where activity_at >= clock_started_at and is_qualifying_response) as responding_rep_id,
        count(case when activity_at < clock_started_at then 1 end) as touches_before_clock_start
    from {{ ref('int_incident_activities') }}
    where is_touch
    group by incident_lead_id
)

select
    incidents.incident_lead_id,
    touches.first_touch_at,
    touches.first_touch_channel,
    touches.first_response_at,
    touches.first_response_channel,
    touches.responding_rep_id,
    coalesce(touches.touches_before_clock_start, 0) as touches_before_clock_start
from incidents
left join touches on touches.incident_lead_id = incidents.incident_lead_id
