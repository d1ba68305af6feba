{{ config(materialized="view") }}
-- Every call, SMS and email with its matched lead, outcome, and whether it is a touch
-- (any outbound activity) and a qualifying response (per the metric definitions).
select
    channel,
    activity_id,
    activity_at,
    direction,
    rep_id,
    outcome,
    coalesce(is_automated, false) as is_automated,
    answered_at,
    ended_at,
    lead_id,
    match_method,
    matched_before_lead_created,
    direction = 'outbound' as is_touch,
    direction = 'outbound'
        and {{ is_qualifying_response('channel', 'outcome', 'is_automated') }}
        as is_qualifying_response
from {{ ref('stg_activity_lead_matches') }}
