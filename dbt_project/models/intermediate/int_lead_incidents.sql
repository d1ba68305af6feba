-- Repeat submissions by one person (same normalised email, else phone) less than
-- dedup_window_minutes after their previous submission form one incident; the incident takes
-- the first lead's id and clock. Excluded leads (bots, tests) are left out here.
{%- set window_seconds = stl_def('dedup_window_minutes') * 60 %}
with leads as (
    select * from {{ ref('int_leads') }}
    where exclusion_reason is null
),

ordered as (
    select
        *,
        coalesce(person_key, 'lead:' || lead_id) as person,
        lag(clock_started_at) over (
            partition by coalesce(person_key, 'lead:' || lead_id) order by clock_started_at, lead_id
        ) as previous_clock_started_at
    from leads
),

sessions as (
    select
        *,
        sum(case
            when previous_clock_started_at is null then 1
            when {{ seconds_between('previous_clock_started_at', 'clock_started_at') }} >= {{ window_seconds }} then 1
            else 0
        end) over (partition by person order by clock_started_at, lead_id rows between unbounded preceding and current row)
            as incident_number
    from ordered
)

select
    lead_id,
    first_value(lead_id) over (
        partition by person, incident_number order by clock_started_at, lead_id
        rows between unbounded preceding and unbounded following
    ) as incident_lead_id,
    person,
    incident_number
from sessions
