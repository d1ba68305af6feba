-- One row per calendar and LOCAL date the calendar range touches: the local weekday, whether the
-- date is closed by a holiday, and the zone the calendar's day is kept in. The business
-- intervals read holidays from here, and business_clock(..., local_flags=true) reads the flags.
--
-- Local dates run from two days before the range's first UTC date to one day after its last:
-- zones sit up to 14 h either side of UTC and a shift lasts at most 24 h, so every shift that
-- can reach into the range starts on one of these dates.
with bounds as (
    select * from {{ ref('int_business_calendar_bounds') }}
),

local_dates as (
    select {{ date_series(date_add_days('calendar_start_date', -2), date_add_days('calendar_end_date', 1), 'local_date') }}
    from bounds
),

-- Holidays are whole local days of the calendar's team; a holiday without team_id closes every team.
holiday_dates as (
    select
        c.calendar_id,
        d.local_date,
        min(h.name) as holiday_name
    from {{ ref('int_business_calendars') }} as c
    inner join {{ ref('stg_holidays') }} as h
        on h.team_id = c.team_id or nullif(trim(h.team_id), '') is null
    inner join local_dates as d
        on d.local_date >= h.start_date
        and d.local_date <= coalesce(h.end_date, h.start_date)
    group by c.calendar_id, d.local_date
),

-- The zone of a calendar on a date: that of its rows in effect then (a zone override may
-- change over time), else the calendar's current zone.
zones_in_effect as (
    select
        s.calendar_id,
        d.local_date,
        min(s.timezone) as timezone
    from {{ ref('int_business_schedules') }} as s
    inner join local_dates as d
        on d.local_date >= coalesce(s.effective_from, d.local_date)
        and d.local_date <= coalesce(s.effective_to, d.local_date)
    where s.timezone is not null
    group by s.calendar_id, d.local_date
)

select
    c.calendar_id,
    c.team_id,
    c.rep_id,
    d.local_date,
    coalesce(z.timezone, c.timezone) as timezone,
    cast({{ iso_weekday('d.local_date') }} as integer) as local_weekday,
    {{ iso_weekday('d.local_date') }} in (6, 7) as is_weekend,
    h.calendar_id is not null as is_holiday,
    h.holiday_name
from {{ ref('int_business_calendars') }} as c
cross join local_dates as d
left join holiday_dates as h
    on h.calendar_id = c.calendar_id
    and h.local_date = d.local_date
left join zones_in_effect as z
    on z.calendar_id = c.calendar_id
    and z.local_date = d.local_date
