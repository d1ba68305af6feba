-- One row per business calendar. Only schedules make a calendar: a team without schedule rows
-- has none, so its business durations come out NULL (visibly unknown), never a silent zero.
with ranked as (
    select
        calendar_id,
        team_id,
        rep_id,
        timezone,
        row_number() over (
            partition by calendar_id
            order by effective_from desc nulls last, team_id, timezone
        ) as recency
    from {{ ref('int_business_schedules') }}
    where timezone is not null
),

counted as (
    select
        calendar_id,
        count(*) as schedule_rows,
        count(distinct team_id) as team_count,
        count(distinct timezone) as timezone_count
    from {{ ref('int_business_schedules') }}
    where timezone is not null
    group by calendar_id
)

select
    r.calendar_id,
    case when r.rep_id is null then 'team' else 'rep' end as calendar_kind,
    r.team_id,
    r.rep_id,
    r.timezone,
    c.schedule_rows,
    c.team_count,
    c.timezone_count
from ranked as r
inner join counted as c
    on c.calendar_id = r.calendar_id
where r.recency = 1
