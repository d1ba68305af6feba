-- Current version of each opportunities record (macros/latest_version.sql) with the contract's columns
-- (macros/staging.sql).
select {{ staging_columns('opportunities') }}
from {{ source('raw', 'opportunities') }}
{{ latest_version(contract_key('opportunities')) }}
