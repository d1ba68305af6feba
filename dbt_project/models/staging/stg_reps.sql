-- Current version of each reps record (see macros/latest_version.sql).
select
    rep_id,
    team_id,
    full_name,
    email,
    email_normalized,
    phone,
    phone_e164,
    hired_on,
    terminated_on,
    is_active,
    max_concurrent_leads,
    _source_file,
    _loaded_at
from {{ source('raw', 'reps') }}
{{ latest_version('rep_id') }}
