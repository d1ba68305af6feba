-- Current version of each leads record (macros/latest_version.sql) with the contract's columns
-- (macros/staging.sql).
select {{ staging_columns('leads') }}
from {{ source('raw', 'leads') }}
{{ latest_version(contract_key('leads')) }}
