-- Every current lead record with the attributes the metrics need: its clock start (per the
-- metric definitions), score tier, responsible team, the person it belongs to, and whether it
-- is excluded (bot, internal test) with the reason. Excluded leads stay here, counted.
{%- set clock_start = stl_def('clock_start') %}
with leads as (
    select * from {{ ref('stg_leads') }}
),

first_load as (
    select lead_id, min(_loaded_at) as first_ingested_at
    from {{ source('raw', 'leads') }}
    group by lead_id
),

reps as (
    select rep_id, team_id from {{ ref('stg_reps') }}
),

classified as (
    select
        leads.lead_id,
        leads.created_at as lead_created_at,
        leads.form_submitted_at,
        first_load.first_ingested_at,
        {%- if clock_start == 'form_submitted_at' %}
        coalesce(leads.form_submitted_at, leads.created_at) as clock_started_at,
        {%- elif clock_start == 'created_at' %}
        leads.created_at as clock_started_at,
        {%- elif clock_start == 'ingested_at' %}
        coalesce(first_load.first_ingested_at, leads.created_at) as clock_started_at,
        {%- else %}
        {{ exceptions.raise_compiler_error("clock_start must be form_submitted_at, created_at or ingested_at, not " ~ clock_start) }}
        {%- endif %}
        leads.source,
        leads.campaign,
        leads.score,
        -- A tier the CRM graded itself (mapped in sources.yaml) wins over the score thresholds.
        coalesce(lower(nullif(trim(leads.score_tier), '')), {{ score_tier('leads.score') }}) as score_tier,
        leads.region,
        leads.country,
        leads.owner_rep_id,
        coalesce(leads.team_id, reps.team_id) as team_id,
        coalesce(leads.email_normalized, leads.phone_e164) as person_key,
        {{ is_bot_user_agent('leads.user_agent') }} as is_bot,
        (
            coalesce(leads.is_test, false)
            or {{ dbt.split_part('leads.email_normalized', "'@'", 2) }} in {{ sql_string_list(stl_def('internal_email_domains')) }}
        ) as is_test
    from leads
    left join first_load on first_load.lead_id = leads.lead_id
    left join reps on reps.rep_id = leads.owner_rep_id
)

select
    *,
    case
        {%- if stl_def('exclude_bots') %}
        when coalesce(is_bot, false) then 'bot'
        {%- endif %}
        {%- if stl_def('exclude_test_leads') %}
        when coalesce(is_test, false) then 'internal_test'
        {%- endif %}
    end as exclusion_reason
from classified
