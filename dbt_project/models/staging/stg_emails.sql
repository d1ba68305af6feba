-- Current version of each emails record (see macros/latest_version.sql).
-- A view: no model of the build reads it (the calendar bounds read raw), so materialising
-- millions of activity rows would only cost time; analysts and tests get the current version.
{{ config(materialized='view') }}

select
    email_id,
    sent_at,
    direction,
    from_address,
    from_address_normalized,
    to_address,
    to_address_normalized,
    rep_id,
    delivery_status,
    is_automated,
    lead_id,
    _source_file,
    _loaded_at
from {{ source('raw', 'emails') }}
{{ latest_version('email_id') }}
