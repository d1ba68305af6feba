-- Per lead incident: how far it got down the funnel — contacted (a connected call, or an inbound
-- SMS / email from the lead), SMS sent and replied, appointment booked / held / no-show,
-- opportunity, won revenue. Activities, appointments and opportunities of ANY lead of the
-- incident count (via int_lead_incidents); activities only at or after the clock start.
-- The funnel marts aggregate it; the conversion models use it per lead.
with members as (
    select lead_id, incident_lead_id from {{ ref('int_lead_incidents') }}
),

incidents as (
    -- an incident's first lead names it, so it is the member whose incident is itself
    select incident_lead_id from members where lead_id = incident_lead_id
),

-- One pass over the incident's activities. "Replied" is an inbound SMS after the first delivered
-- outbound one, i.e. the LAST inbound SMS is after the FIRST delivered outbound SMS: two
-- aggregates of the same pass instead of a second pass joined to the first.
activity_flags as (
    select
        incident_lead_id,
        max(case
            when channel = 'call' and outcome = 'connected' then 1
            when channel in ('sms', 'email') and direction = 'inbound' then 1
            else 0
        end) as is_contacted,
        min(case when channel = 'sms' and direction = 'outbound' and outcome = 'delivered' then activity_at end)
            as first_outbound_sms_at,
        max(case when channel = 'sms' and direction = 'inbound' then activity_at end) as last_inbound_sms_at
    from {{ ref('int_incident_activities') }}
    where activity_at >= clock_started_at
    group by incident_lead_id
),

appointment_flags as (
    select
        members.incident_lead_id,
        1 as is_booked,
        max(case when appointments.status = 'completed' then 1 else 0 end) as is_held,
        max(case when appointments.status = 'no_show' then 1 else 0 end) as had_no_show
    from {{ ref('stg_appointments') }} as appointments
    inner join members on members.lead_id = appointments.lead_id
    group by members.incident_lead_id
),

opportunity_flags as (
    select
        members.incident_lead_id,
        1 as has_opportunity,
        max(case when opportunities.is_won then 1 else 0 end) as is_won,
        sum(case when opportunities.is_won then opportunities.amount else 0 end) as won_amount
    from {{ ref('stg_opportunities') }} as opportunities
    inner join members on members.lead_id = opportunities.lead_id
    group by members.incident_lead_id
)

select
    incidents.incident_lead_id,
    coalesce(activity_flags.is_contacted, 0) as is_contacted,
    case when activity_flags.first_outbound_sms_at is not null then 1 else 0 end as is_sms_sent,
    case when activity_flags.last_inbound_sms_at > activity_flags.first_outbound_sms_at then 1 else 0 end as is_sms_replied,
    coalesce(appointment_flags.is_booked, 0) as is_booked,
    coalesce(appointment_flags.is_held, 0) as is_held,
    -- a no-show counts only when the incident never held an appointment
    case when coalesce(appointment_flags.is_held, 0) = 0
         then coalesce(appointment_flags.had_no_show, 0) else 0 end as is_no_show,
    coalesce(opportunity_flags.has_opportunity, 0) as has_opportunity,
    coalesce(opportunity_flags.is_won, 0) as is_won,
    coalesce(opportunity_flags.won_amount, 0) as won_amount
from incidents
left join activity_flags on activity_flags.incident_lead_id = incidents.incident_lead_id
left join appointment_flags on appointment_flags.incident_lead_id = incidents.incident_lead_id
left join opportunity_flags on opportunity_flags.incident_lead_id = incidents.incident_lead_id
