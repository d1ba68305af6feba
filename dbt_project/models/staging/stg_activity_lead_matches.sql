-- Each activity's matched lead, as ingestion's matching step decided it.
select
    channel,
    activity_id,
    activity_at,
    crm_lead_id,
    lead_id,
    match_method,
    matched_before_lead_created
from {{ source('raw', 'activity_lead_matches') }}
