-- Current version of each appointments record (see macros/latest_version.sql).
select
    appointment_id,
    lead_id,
    rep_id,
    booked_at,
    scheduled_start_at,
    scheduled_end_at,
    status,
    _source_file,
    _loaded_at
from {{ source('raw', 'appointments') }}
{{ latest_version('appointment_id') }}
