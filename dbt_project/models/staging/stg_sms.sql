-- Current version of each sms record (macros/latest_version.sql) with the contract's columns
-- (macros/staging.sql).
-- A view: no model of the build reads it (the calendar bounds read raw), so materialising
-- millions of activity rows would only cost time; analysts and tests get the current version.
{{ config(materialized='view') }}

select {{ staging_columns('sms') }}
from {{ source('raw', 'sms') }}
{{ latest_version(contract_key('sms')) }}
