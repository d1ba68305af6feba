-- Current version of each reps record (macros/latest_version.sql) with the contract's columns
-- (macros/staging.sql).
select {{ staging_columns('reps') }}
from {{ source('raw', 'reps') }}
{{ latest_version(contract_key('reps')) }}
