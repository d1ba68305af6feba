-- Schedule rows resolved to the calendar they belong to, with the zone their times are read in.
-- A calendar is a team's schedule ('team:<team_id>', rows without rep_id) or one rep's own
-- schedule ('rep:<rep_id>', rows with that rep_id); a rep calendar does not inherit the team's
-- rows. A row's zone is its own override, else its team's.
with schedules as (
    select
        team_id,
        nullif(trim(rep_id), '') as rep_id,
        weekday,
        start_local,
        end_local,
        start_local_seconds,
        end_local_seconds,
        effective_from,
        effective_to,
        nullif(trim(timezone), '') as timezone_override
    from {{ ref('stg_schedules') }}
    where weekday between 1 and 7
      and start_local_seconds is not null
      and end_local_seconds is not null
)

select
    case when s.rep_id is null then 'team:' || s.team_id else 'rep:' || s.rep_id end as calendar_id,
    s.team_id,
    s.rep_id,
    -- NULL when the team is unknown and the row has no override: such a row yields no hours
    -- (a warning test says so) instead of hours in a guessed zone.
    coalesce(s.timezone_override, t.timezone) as timezone,
    s.weekday,
    s.start_local,
    s.end_local,
    s.start_local_seconds,
    -- An end at or before the start is on the next day; 24:00 is 86400.
    case
        when s.end_local_seconds <= s.start_local_seconds then s.end_local_seconds + 86400
        else s.end_local_seconds
    end as shift_end_local_seconds,
    s.effective_from,
    s.effective_to
from schedules as s
left join {{ ref('stg_teams') }} as t
    on t.team_id = s.team_id
