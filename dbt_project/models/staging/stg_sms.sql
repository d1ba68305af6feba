-- Current version of each sms record (see macros/latest_version.sql).
-- A view: no model of the build reads it (the calendar bounds read raw), so materialising
-- millions of activity rows would only cost time; analysts and tests get the current version.
{{ config(materialized='view') }}

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
