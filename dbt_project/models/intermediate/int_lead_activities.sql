{{ config(materialized="view") }}
-- Every call, SMS and email with its matched lead (all of stg_activity_lead_matches' columns),
-- and whether it is a touch (any outbound activity) and a qualifying response (per the metric
-- definitions).
select
    *,
    direction = 'outbound' as is_touch,
    direction = 'outbound'
        and {{ is_qualifying_response('channel', 'outcome', 'is_automated') }}
        as is_qualifying_response
from {{ ref('stg_activity_lead_matches') }}
