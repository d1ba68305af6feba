-- Scheduled capacity per team and UTC hour: how many reps were on duty, as rep-hours scheduled
-- in the hour (a rep on shift for half the hour counts 0.5). A rep works their own schedule when
-- they have one, else their team's, on the days between hired_on and terminated_on. Business
-- intervals are already split at UTC midnight, so each overlaps at most the 24 hours of its day:
-- a fixed 24-row hour list replaces a generated time series (portable, no per-minute walk).
with hours as (
    {%- for h in range(24) %}
    select {{ h }} as hour_of_day{{ " union all" if not loop.last }}
    {%- endfor %}
),

intervals as (
    select calendar_id, utc_day, interval_start_at, interval_end_at
    from {{ ref('int_business_intervals') }}
),

interval_hours as (
    select
        intervals.calendar_id,
        intervals.utc_day,
        {{ date_plus_seconds('intervals.utc_day', 'hours.hour_of_day * 3600') }} as hour_start_at,
        intervals.interval_start_at,
        intervals.interval_end_at
    from intervals
    cross join hours
),

calendar_hours as (
    select
        calendar_id,
        utc_day,
        hour_start_at,
        sum(
            {{ seconds_between(
                'case when interval_start_at > hour_start_at then interval_start_at else hour_start_at end',
                'case when interval_end_at < ' ~ add_seconds('hour_start_at', 3600) ~ ' then interval_end_at else ' ~ add_seconds('hour_start_at', 3600) ~ ' end'
            ) }}
        ) / 3600.0 as open_share
    from interval_hours
    where interval_start_at < {{ add_seconds('hour_start_at', 3600) }} and interval_end_at > hour_start_at
    group by calendar_id, utc_day, hour_start_at
),

rep_calendars as (
    select
        reps.rep_id,
        reps.team_id,
        reps.hired_on,
        reps.terminated_on,
        coalesce(own.calendar_id, 'team:' || reps.team_id) as calendar_id
    from {{ ref('stg_reps') }} as reps
    left join {{ ref('int_business_calendars') }} as own on own.calendar_id = 'rep:' || reps.rep_id
)

select
    rep_calendars.team_id,
    calendar_hours.hour_start_at,
    cast(sum(calendar_hours.open_share) as double) as reps_on_duty,
    cast(count(*) as bigint) as reps_scheduled
from calendar_hours
inner join rep_calendars
    on rep_calendars.calendar_id = calendar_hours.calendar_id
    and (rep_calendars.hired_on is null or rep_calendars.hired_on <= calendar_hours.utc_day)
    and (rep_calendars.terminated_on is null or rep_calendars.terminated_on > calendar_hours.utc_day)
group by rep_calendars.team_id, calendar_hours.hour_start_at
