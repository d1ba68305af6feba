-- Current version of each lead_status_history record (see macros/latest_version.sql).
select
    lead_id,
    status,
    changed_at,
    previous_status,
    rep_id,
    _source_file,
    _loaded_at
from {{ source('raw', 'lead_status_history') }}
{{ latest_version('lead_id, changed_at, status') }}
