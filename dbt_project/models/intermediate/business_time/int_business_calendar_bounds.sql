-- The one range every business calendar covers, taken from the data (no hidden horizon): from
-- two days before the earliest lead (created or form-submitted) to two days after the latest
-- event of any kind (or lead load time). vars business_calendar_start / business_calendar_end
-- ('YYYY-MM-DD') override either end; a test on this model fails if a lead falls outside the
-- range, so a long wait is never silently cut at the calendar's edge.
{%- set start_var = var('business_calendar_start', none) %}
{%- set end_var = var('business_calendar_end', none) %}

with lead_times as (
    select min(created_at) as first_at, max(created_at) as last_at from {{ ref('stg_leads') }}
    union all
    select min(form_submitted_at), max(form_submitted_at) from {{ ref('stg_leads') }}
),

event_times as (
    select last_at from lead_times
    -- A lead's load time, for a response clock that starts at ingestion (clock_start: ingested_at).
    union all select max(_loaded_at) from {{ ref('stg_leads') }}
    -- Activities from raw: every loaded version, a superset of the current ones, so the bound is
    -- never narrower, and a column scan instead of a dedup window over millions of rows.
    union all select max(started_at) from {{ source('raw', 'calls') }}
    union all select max(answered_at) from {{ source('raw', 'calls') }}
    union all select max(ended_at) from {{ source('raw', 'calls') }}
    union all select max(sent_at) from {{ source('raw', 'sms') }}
    union all select max(sent_at) from {{ source('raw', 'emails') }}
    union all select max(changed_at) from {{ source('raw', 'lead_status_history') }}
    union all select max(booked_at) from {{ ref('stg_appointments') }}
    union all select max(scheduled_start_at) from {{ ref('stg_appointments') }}
    union all select max(scheduled_end_at) from {{ ref('stg_appointments') }}
    union all select max(created_at) from {{ ref('stg_opportunities') }}
    union all select max(closed_at) from {{ ref('stg_opportunities') }}
),

from_data as (
    select
        {{ date_add_days('cast((select min(first_at) from lead_times) as date)', -2) }} as data_start_date,
        {{ date_add_days('cast((select max(last_at) from event_times) as date)', 2) }} as data_end_date
),

chosen as (
    select
        data_start_date,
        data_end_date,
        -- With no data yet (a fresh warehouse) the range is today ± 2 days, so every model builds.
        {% if start_var %}cast('{{ start_var }}' as date){% else %}coalesce(data_start_date, {{ date_add_days('current_date', -2) }}){% endif %} as calendar_start_date,
        {% if end_var %}cast('{{ end_var }}' as date){% else %}coalesce(data_end_date, {{ date_add_days('current_date', 2) }}){% endif %} as calendar_end_date
    from from_data
)

select
    calendar_start_date,
    calendar_end_date,
    cast(calendar_start_date as timestamp) as range_start_at,
    cast({{ date_add_days('calendar_end_date', 1) }} as timestamp) as range_end_at,
    data_start_date,
    data_end_date,
    {{ 'true' if start_var or end_var else 'false' }} as is_overridden
from chosen
