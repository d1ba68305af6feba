-- One row per lead incident: how far it got down the funnel, keyed like fct_lead_response
-- (lead_id = the incident's first lead). The public home of the per-incident outcome flags that
-- the statistics and analysts join to the fact; int_incident_outcomes computes them.
-- Flags stay 0/1 integers so that sums count incidents.
select
    incident_lead_id as lead_id,
    is_contacted,
    is_sms_sent,
    is_sms_replied,
    is_booked,
    is_held,
    is_no_show,
    has_opportunity,
    is_won,
    won_amount,
    '{{ stl_def("definition_version") }}' as metric_definition_version
from {{ ref('int_incident_outcomes') }}
