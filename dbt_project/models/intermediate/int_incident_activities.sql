-- Every activity matched to a lead of a lead incident, with the incident and its clock start.
-- Both int_incident_responses (first touch, first response) and int_incident_outcomes (how far
-- the incident got) need exactly this join of members -> incident head -> activities; it used to
-- be written once in each. A view although two models read it: measured at 200k leads (1.3 M
-- activities), running the hash join in each reader costs less than writing the joined rows
-- once and reading them twice (view 1.7 s, table 2.3 s for this model and its two readers).
-- Activities of excluded leads (not in int_lead_incidents) and unmatched ones drop out here.
{{ config(materialized='view') }}
select
    members.incident_lead_id,
    heads.clock_started_at,
    activities.channel,
    activities.activity_id,
    activities.activity_at,
    activities.direction,
    activities.outcome,
    activities.rep_id,
    activities.is_touch,
    activities.is_qualifying_response
from {{ ref('int_lead_activities') }} as activities
inner join {{ ref('int_lead_incidents') }} as members
    on members.lead_id = activities.lead_id
inner join {{ ref('int_leads') }} as heads
    on heads.lead_id = members.incident_lead_id
