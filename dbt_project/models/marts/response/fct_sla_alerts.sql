-- One row per lead incident and alert kind: 'escalation' (warning) when the wait reached the
-- escalation point (escalation_share of the SLA), 'breach' (critical) when the SLA was breached.
-- A breached lead usually has both rows. acknowledged_at stays empty until an acknowledgement
-- integration fills it.
{%- set kinds = [
    ('escalation', 'escalation_reached', 'warning', 'sla_seconds * ' ~ stl_def('escalation_share')),
    ('breach', 'sla_breached', 'critical', 'sla_seconds'),
] %}
with leads as (
    select * from {{ ref('fct_lead_response') }}
),

alerts as (
{%- for kind, condition, severity, threshold in kinds %}
    select
        lead_id,
        '{{ kind }}' as alert_kind,
        '{{ severity }}' as severity,
        cast({{ threshold }} as double) as threshold_seconds,
        team_id,
        owner_rep_id,
        sla_seconds,
        sla_elapsed_seconds,
        is_answered,
        clock_started_at
    from leads
    where coalesce({{ condition }}, false)
    {%- if not loop.last %}
    union all
    {%- endif %}
{%- endfor %}
)

select
    lead_id || ':' || alert_kind as alert_key,
    lead_id,
    alert_kind,
    severity,
    team_id,
    owner_rep_id,
    sla_seconds,
    threshold_seconds,
    sla_elapsed_seconds,
    is_answered,
    clock_started_at,
    cast(null as timestamp) as acknowledged_at,
    '{{ stl_def("definition_version") }}' as metric_definition_version
from alerts
