-- Current version of each teams record (macros/latest_version.sql) with the contract's columns
-- (macros/staging.sql).
select {{ staging_columns('teams') }}
from {{ source('raw', 'teams') }}
{{ latest_version(contract_key('teams')) }}
