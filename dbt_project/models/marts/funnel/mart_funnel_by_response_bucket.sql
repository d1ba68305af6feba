-- One row per response-time bucket (ordered by the definitions' bucket order, unanswered last):
-- how far lead incidents get down the funnel — contact, SMS conversation, appointment, show-up,
-- opportunity, won revenue. Every stage counts incidents; activities, appointments and
-- opportunities of ANY lead of the incident count (via int_lead_incidents). Activities count
-- only at or after the clock start.
with incidents as (
    select lead_id as incident_lead_id, clock_started_at, response_bucket
    from {{ ref('fct_lead_response') }}
),

members as (
    select lead_id, incident_lead_id from {{ ref('int_lead_incidents') }}
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
),

per_incident as (
    select
        incidents.incident_lead_id,
        incidents.response_bucket,
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
),

aggregated as (
    select
        response_bucket,
        cast(count(*) as bigint) as leads,
        cast(sum(is_contacted) as bigint) as contacted,
        cast(sum(is_sms_sent) as bigint) as sms_sent,
        cast(sum(is_sms_replied) as bigint) as sms_replied,
        cast(sum(is_booked) as bigint) as appointments_booked,
        cast(sum(is_held) as bigint) as appointments_held,
        cast(sum(is_no_show) as bigint) as appointments_no_show,
        cast(sum(has_opportunity) as bigint) as opportunities,
        cast(sum(is_won) as bigint) as won_opportunities,
        sum(won_amount) as revenue
    from per_incident
    group by response_bucket
)

select
    response_bucket,
    {{ response_bucket_order('response_bucket') }} as bucket_order,
    leads,
    contacted,
    cast(contacted as double) / nullif(leads, 0) as contact_rate,
    sms_sent,
    sms_replied,
    cast(sms_replied as double) / nullif(sms_sent, 0) as sms_reply_rate,
    appointments_booked,
    cast(appointments_booked as double) / nullif(leads, 0) as booking_rate,
    appointments_held,
    appointments_no_show,
    cast(appointments_held as double) / nullif(appointments_held + appointments_no_show, 0) as show_up_rate,
    opportunities,
    cast(opportunities as double) / nullif(leads, 0) as conversion_rate,
    won_opportunities,
    cast(revenue as double) as revenue,
    '{{ stl_def("definition_version") }}' as metric_definition_version
from aggregated
