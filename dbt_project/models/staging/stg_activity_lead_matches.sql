-- Every call, SMS and email (current version) with the lead ingestion matched it to.
-- A view: matching already writes one row per current activity, so a table would only copy
-- millions of rows.
{{ config(materialized='view') }}

select
    channel,
    activity_id,
    activity_at,
    direction,
    rep_id,
    outcome,
    is_automated,
    answered_at,
    ended_at,
    crm_lead_id,
    lead_id,
    match_method,
    matched_before_lead_created
from {{ source('raw', 'activity_lead_matches') }}
