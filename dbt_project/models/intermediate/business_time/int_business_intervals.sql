-- The open intervals of every business calendar in UTC, one row per interval and UTC day.
--
-- 1. Every local date × every schedule row in effect that date whose weekday matches gives a
--    shift from date + start to date + end (next day when end <= start), read in the row's zone.
--    A holiday removes the shifts that START on the holiday's local dates (a shift starting the
--    evening before runs on into the holiday; one starting on the holiday's last evening is gone).
-- 2. Local → UTC: a start or end inside a spring-forward gap moves forward by the gap; an
--    ambiguous one (fall-back) is the earlier instant (ingestion's rules, macros/cross_engine.sql).
--    A shift the conversion leaves empty or reversed (02:30–03:15 on a spring-forward night:
--    02:30 becomes 03:30) is dropped.
-- 3. Clipped to the calendar range, split at UTC midnights, and merged per calendar and UTC day
--    where shifts overlap or touch, so no second is counted twice. (Merging within each UTC day
--    gives the same set as merging first and splitting after.)
-- No cross join over weeks: each shift meets only the days it covers.
with bounds as (
    select * from {{ ref('int_business_calendar_bounds') }}
),

shifts as (
    select
        s.calendar_id,
        s.team_id,
        s.rep_id,
        s.timezone,
        d.local_date,
        {{ local_to_utc(date_plus_seconds('d.local_date', 's.start_local_seconds'), 's.timezone') }} as shift_start_at,
        {{ local_to_utc(date_plus_seconds('d.local_date', 's.shift_end_local_seconds'), 's.timezone') }} as shift_end_at
    from {{ ref('int_business_schedules') }} as s
    inner join {{ ref('int_business_local_days') }} as d
        on d.calendar_id = s.calendar_id
        and d.local_weekday = s.weekday
        and d.local_date >= coalesce(s.effective_from, d.local_date)
        and d.local_date <= coalesce(s.effective_to, d.local_date)
    where not d.is_holiday
      and s.timezone is not null
),

clipped as (
    select
        s.calendar_id,
        s.team_id,
        s.rep_id,
        s.timezone,
        s.local_date,
        case when s.shift_start_at > b.range_start_at then s.shift_start_at else b.range_start_at end as start_at,
        case when s.shift_end_at < b.range_end_at then s.shift_end_at else b.range_end_at end as end_at
    from shifts as s
    cross join bounds as b
    where s.shift_end_at > s.shift_start_at
      and s.shift_end_at > b.range_start_at
      and s.shift_start_at < b.range_end_at
),

-- A shift lasts at most a day (plus a DST hour), so it meets at most three UTC days.
split as (
    select
        calendar_id,
        team_id,
        rep_id,
        timezone,
        local_date,
        utc_day,
        case when start_at > cast(utc_day as timestamp) then start_at else cast(utc_day as timestamp) end as piece_start_at,
        case
            when end_at < cast({{ date_add_days('utc_day', 1) }} as timestamp) then end_at
            else cast({{ date_add_days('utc_day', 1) }} as timestamp)
        end as piece_end_at
    from (
        select
            c.*,
            {{ date_series('cast(c.start_at as date)', 'cast(c.end_at as date)', 'utc_day') }}
        from clipped as c
    ) as days
),

pieces as (
    select * from split where piece_end_at > piece_start_at
),

-- Gaps and islands: a piece opens a new island unless it starts at or before the latest end
-- seen so far in its calendar and day.
marked as (
    select
        *,
        case
            when piece_start_at <= max(piece_end_at) over (
                partition by calendar_id, utc_day
                order by piece_start_at, piece_end_at
                rows between unbounded preceding and 1 preceding
            ) then 0
            else 1
        end as opens_island
    from pieces
),

numbered as (
    select
        *,
        sum(opens_island) over (
            partition by calendar_id, utc_day
            order by piece_start_at, piece_end_at
            rows between unbounded preceding and current row
        ) as island_no
    from marked
),

merged as (
    select
        calendar_id,
        utc_day,
        min(team_id) as team_id,
        min(rep_id) as rep_id,
        min(timezone) as timezone,
        min(local_date) as local_date,
        min(piece_start_at) as interval_start_at,
        max(piece_end_at) as interval_end_at
    from numbered
    group by calendar_id, utc_day, island_no
),

measured as (
    select
        *,
        cast(round({{ seconds_between('interval_start_at', 'interval_end_at') }}) as bigint) as business_seconds
    from merged
)

select
    m.calendar_id,
    m.team_id,
    m.rep_id,
    m.timezone,
    m.local_date,
    m.interval_start_at,
    m.interval_end_at,
    m.utc_day,
    m.business_seconds,
    -- Running total from the range start to this interval's start (what business_clock adds to).
    cast(coalesce(sum(m.business_seconds) over (
        partition by m.calendar_id
        order by m.interval_start_at
        rows between unbounded preceding and 1 preceding
    ), 0) as bigint) as business_seconds_before_interval,
    -- Instants from interval_start_at up to here find this interval in business_clock's lookup:
    -- the next interval's start on the same UTC day, else the next UTC midnight.
    coalesce(
        lead(m.interval_start_at) over (partition by m.calendar_id, m.utc_day order by m.interval_start_at),
        cast({{ date_add_days('m.utc_day', 1) }} as timestamp)
    ) as lookup_end_at
from measured as m
