-- Current version of each sms record (see macros/latest_version.sql).
select
    message_id,
    sent_at,
    direction,
    from_number,
    from_number_e164,
    to_number,
    to_number_e164,
    rep_id,
    delivery_status,
    is_automated,
    lead_id,
    _source_file,
    _loaded_at
from {{ source('raw', 'sms') }}
{{ latest_version('message_id') }}
