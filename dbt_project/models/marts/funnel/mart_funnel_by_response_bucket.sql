-- One row per response-time bucket (ordered by the definitions' bucket order, unanswered last):
-- how far lead incidents get down the funnel — contact, SMS conversation, appointment, show-up,
-- opportunity, won revenue. Every stage counts incidents; what each incident reached comes from
-- int_incident_outcomes.
with per_incident as (
    select
        facts.response_bucket,
        outcomes.*
    from {{ ref('fct_lead_response') }} as facts
    inner join {{ ref('int_incident_outcomes') }} as outcomes
        on outcomes.incident_lead_id = facts.lead_id
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
