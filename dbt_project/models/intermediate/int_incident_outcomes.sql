-- Per lead incident: how far it got down the funnel — contacted (a connected call, or an inbound
-- SMS / email from the lead), SMS sent and replied, appointment booked / held / no-show,
-- opportunity, won revenue. Activities, appointments and opportunities of ANY lead of the
-- incident count (via int_lead_incidents); activities only at or after the clock start.
-- The funnel marts aggregate it; the conversion models use it per lead.
with members as (
    select lead_id, incident_lead_id from {{ ref('int_lead_incidents') }}
),

incidents as (
    select lead_id as incident_lead_id, clock_started_at
    from {{ ref('int_leads') }}
    where lead_id in (select incident_lead_id from members)
),

activities as (
    select
        incidents.incident_lead_id,
        activities.channel,
        activities.direction,
        activities.outcome,
        activities.activity_at
    from {{ ref('int_lead_activities') }} as activities
    inner join members on members.lead_id = activities.lead_id
    inner join incidents on incidents.incident_lead_id = members.incident_lead_id
    where activities.activity_at >= incidents.clock_started_at
),

first_sms as (
    select incident_lead_id, min(activity_at) as first_outbound_sms_at
    from activities
    where channel = 'sms' and direction = 'outbound' and outcome = 'delivered'
    group by incident_lead_id
),

activity_flags as (
    select
        activities.incident_lead_id,
        max(case
            when activities.channel = 'call' and activities.outcome = 'connected' then 1
            when activities.channel in ('sms', 'email') and activities.direction = 'inbound' then 1
            else 0
        end) as is_contacted,
        max(case when first_sms.first_outbound_sms_at is not null then 1 else 0 end) as is_sms_sent,
        max(case
            when activities.channel = 'sms' and activities.direction = 'inbound'
                and activities.activity_at > first_sms.first_outbound_sms_at then 1
            else 0
        end) as is_sms_replied
    from activities
    left join first_sms on first_sms.incident_lead_id = activities.incident_lead_id
    group by activities.incident_lead_id
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
    coalesce(activity_flags.is_sms_sent, 0) as is_sms_sent,
    coalesce(activity_flags.is_sms_replied, 0) as is_sms_replied,
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
