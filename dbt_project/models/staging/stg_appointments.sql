-- Current version of each appointments record (macros/latest_version.sql) with the contract's columns
-- (macros/staging.sql).
select {{ staging_columns('appointments') }}
from {{ source('raw', 'appointments') }}
{{ latest_version(contract_key('appointments')) }}
