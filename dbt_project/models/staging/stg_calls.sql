-- Current version of each calls record (see macros/latest_version.sql).
-- A view: no model of the build reads it (the calendar bounds read raw), so materialising
-- millions of activity rows would only cost time; analysts and tests get the current version.
{{ config(materialized='view') }}

select
    call_id,
    started_at,
    answered_at,
    ended_at,
    direction,
    from_number,
    from_number_e164,
    to_number,
    to_number_e164,
    rep_id,
    disposition,
    duration_seconds,
    lead_id,
    _source_file,
    _loaded_at
from {{ source('raw', 'calls') }}
{{ latest_version('call_id') }}
