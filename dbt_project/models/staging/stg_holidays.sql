-- Current version of each holidays record (macros/latest_version.sql) with the contract's columns
-- (macros/staging.sql).
select {{ staging_columns('holidays') }}
from {{ source('raw', 'holidays') }}
{{ latest_version(contract_key('holidays')) }}
