-- Current version of each lead_status_history record (see macros/latest_version.sql).
-- A view: no model of the build reads it (the calendar bounds read raw), so materialising
-- millions of activity rows would only cost time; analysts and tests get the current version.
{{ config(materialized='view') }}

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
