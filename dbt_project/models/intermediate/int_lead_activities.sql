-- Every call, SMS and email with its matched lead, outcome, and whether it is a touch
-- (any outbound activity) and a qualifying response (per the metric definitions).
with calls as (
    select 'call' as channel, call_id as activity_id, started_at as activity_at, direction, rep_id,
           disposition as outcome, cast(false as boolean) as is_automated, answered_at, ended_at
    from {{ ref('stg_calls') }}
),

sms as (
    select 'sms' as channel, message_id as activity_id, sent_at as activity_at, direction, rep_id,
           delivery_status as outcome, is_automated,
           cast(null as timestamp) as answered_at, cast(null as timestamp) as ended_at
    from {{ ref('stg_sms') }}
),

emails as (
    select 'email' as channel, email_id as activity_id, sent_at as activity_at, direction, rep_id,
           delivery_status as outcome, is_automated,
           cast(null as timestamp) as answered_at, cast(null as timestamp) as ended_at
    from {{ ref('stg_emails') }}
),

activities as (
    select * from calls
    union all
    select * from sms
    union all
    select * from emails
)

select
    activities.*,
    matches.lead_id,
    matches.match_method,
    matches.matched_before_lead_created,
    activities.direction = 'outbound' as is_touch,
    activities.direction = 'outbound'
        and {{ is_qualifying_response('activities.channel', 'activities.outcome', 'activities.is_automated') }}
        as is_qualifying_response
from activities
left join {{ ref('stg_activity_lead_matches') }} as matches
    on matches.channel = activities.channel and matches.activity_id = activities.activity_id
