-- Current version of each schedules record (macros/latest_version.sql) with the contract's columns
-- (macros/staging.sql).
select {{ staging_columns('schedules') }}
from {{ source('raw', 'schedules') }}
{{ latest_version(contract_key('schedules')) }}
