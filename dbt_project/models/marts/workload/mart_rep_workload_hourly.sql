-- One row per rep and UTC hour in which the rep had activity: a lead assigned to them (owner), a
-- first response given by them, or a first response to one of their leads. Concurrent open leads: an
-- incident is open for its owner from clock_started_at until first_response_at (by anyone), or
-- until as_of_at while unanswered, as the interval [start, end).
-- Set-based: +1 / −1 events per rep plus a 0-event at the start of each reported hour, a running
-- sum per rep, and each step of the running count weighted by how long it lasts within its hour
-- (no join of hours × leads).
with incidents as (
    select
        lead_id,
        owner_rep_id,
        responding_rep_id,
        clock_started_at,
        first_response_at,
        coalesce(first_response_at, as_of_at) as open_until_at
    from {{ ref('fct_lead_response') }}
),

assigned as (
    select owner_rep_id as rep_id, date_trunc('hour', clock_started_at) as hour_start_at, cast(count(*) as bigint) as new_leads_assigned
    from incidents
    where owner_rep_id is not null
    group by owner_rep_id, date_trunc('hour', clock_started_at)
),

responded as (
    select responding_rep_id as rep_id, date_trunc('hour', first_response_at) as hour_start_at, cast(count(*) as bigint) as responses_given
    from incidents
    where responding_rep_id is not null and first_response_at is not null
    group by responding_rep_id, date_trunc('hour', first_response_at)
),

closed as (
    -- hours in which one of the rep's leads got its first response (by anyone); the as-of cut-off
    -- of unanswered leads is not activity
    select distinct owner_rep_id as rep_id, date_trunc('hour', first_response_at) as hour_start_at
    from incidents
    where owner_rep_id is not null and first_response_at is not null
),

rep_hours as (
    select rep_id, hour_start_at from assigned
    union
    select rep_id, hour_start_at from responded
    union
    select rep_id, hour_start_at from closed
),

events as (
    -- delta sorts ends (−1) before hour marks (0) before starts (+1) at the same instant: [start, end)
    select owner_rep_id as rep_id, clock_started_at as event_at, 1 as delta, lead_id as event_key
    from incidents
    where owner_rep_id is not null
    union all
    select owner_rep_id, open_until_at, -1, lead_id
    from incidents
    where owner_rep_id is not null and open_until_at is not null
    union all
    select rep_id, hour_start_at, 0, 'hour'
    from rep_hours
),

running as (
    select
        rep_id,
        event_at,
        delta,
        date_trunc('hour', event_at) as hour_start_at,
        sum(delta) over (
            partition by rep_id order by event_at, delta, event_key
            rows between unbounded preceding and current row
        ) as open_leads,
        lead(event_at) over (partition by rep_id order by event_at, delta, event_key) as next_event_at
    from events
),

steps as (
    -- the count after each event holds until the next event, cut at the end of the event's hour
    -- (the next reported hour starts with its own 0-event)
    select
        rep_id,
        hour_start_at,
        open_leads,
        case
            when next_event_at is null then 0
            when next_event_at < {{ add_seconds('hour_start_at', 3600) }}
                then {{ seconds_between('event_at', 'next_event_at') }}
            else {{ seconds_between('event_at', add_seconds('hour_start_at', 3600)) }}
        end as step_seconds
    from running
),

open_by_hour as (
    select
        rep_id,
        hour_start_at,
        cast(max(open_leads) as bigint) as open_leads_max,
        sum(open_leads * step_seconds) / 3600.0 as open_leads_avg
    from steps
    group by rep_id, hour_start_at
)

select
    rep_hours.rep_id,
    reps.team_id,
    rep_hours.hour_start_at,
    coalesce(assigned.new_leads_assigned, 0) as new_leads_assigned,
    coalesce(responded.responses_given, 0) as responses_given,
    open_by_hour.open_leads_max,
    cast(open_by_hour.open_leads_avg as double) as open_leads_avg,
    reps.max_concurrent_leads as capacity,
    cast(open_by_hour.open_leads_avg as double) / nullif(reps.max_concurrent_leads, 0) as utilisation,
    case when reps.max_concurrent_leads is not null
         then open_by_hour.open_leads_max > reps.max_concurrent_leads end as is_overloaded
from rep_hours
inner join open_by_hour
    on open_by_hour.rep_id = rep_hours.rep_id and open_by_hour.hour_start_at = rep_hours.hour_start_at
left join assigned
    on assigned.rep_id = rep_hours.rep_id and assigned.hour_start_at = rep_hours.hour_start_at
left join responded
    on responded.rep_id = rep_hours.rep_id and responded.hour_start_at = rep_hours.hour_start_at
left join {{ ref('stg_reps') }} as reps on reps.rep_id = rep_hours.rep_id
