-- One row per calendar and UTC day of the range, closed days included, with the running total
-- of business seconds before the day's UTC midnight: business_clock's F(t) starts from here.
with bounds as (
    select * from {{ ref('int_business_calendar_bounds') }}
),

utc_days as (
    select {{ date_series('calendar_start_date', 'calendar_end_date', 'utc_day') }}
    from bounds
),

open_seconds as (
    select
        calendar_id,
        utc_day,
        cast(sum(business_seconds) as bigint) as business_seconds_in_day,
        count(*) as interval_count
    from {{ ref('int_business_intervals') }}
    group by calendar_id, utc_day
),

days as (
    select
        c.calendar_id,
        c.team_id,
        c.rep_id,
        d.utc_day,
        cast(d.utc_day as timestamp) as day_start_at,
        cast({{ date_add_days('d.utc_day', 1) }} as timestamp) as day_end_at,
        coalesce(o.business_seconds_in_day, 0) as business_seconds_in_day,
        coalesce(o.interval_count, 0) as interval_count
    from {{ ref('int_business_calendars') }} as c
    cross join utc_days as d
    left join open_seconds as o
        on o.calendar_id = c.calendar_id
        and o.utc_day = d.utc_day
)

select
    days.calendar_id,
    days.team_id,
    days.rep_id,
    days.utc_day,
    days.day_start_at,
    days.day_end_at,
    -- The zone for per-instant local flags: the calendar's zone on the local date equal to this
    -- UTC date (they differ only where a calendar's rows change zone, on the change day).
    l.timezone,
    days.business_seconds_in_day,
    days.interval_count,
    cast(coalesce(sum(days.business_seconds_in_day) over (
        partition by days.calendar_id
        order by days.utc_day
        rows between unbounded preceding and 1 preceding
    ), 0) as bigint) as business_seconds_before_day
from days
left join {{ ref('int_business_local_days') }} as l
    on l.calendar_id = days.calendar_id
    and l.local_date = days.utc_day
