-- Current version of each leads record (see macros/latest_version.sql).
select
    lead_id,
    created_at,
    form_submitted_at,
    source,
    campaign,
    score,
    score_tier,
    region,
    country,
    owner_rep_id,
    team_id,
    email,
    email_normalized,
    phone,
    phone_e164,
    first_name,
    last_name,
    user_agent,
    is_test,
    _source_file,
    _loaded_at
from {{ source('raw', 'leads') }}
{{ latest_version('lead_id') }}
