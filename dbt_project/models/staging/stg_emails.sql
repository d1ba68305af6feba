-- Current version of each emails record (macros/latest_version.sql) with the contract's columns
-- (macros/staging.sql).
-- A view: no model of the build reads it (the calendar bounds read raw), so materialising
-- millions of activity rows would only cost time; analysts and tests get the current version.
{{ config(materialized='view') }}

select {{ staging_columns('emails') }}
from {{ source('raw', 'emails') }}
{{ latest_version(contract_key('emails')) }}
