-- Current version of each experiment_assignments record (macros/latest_version.sql) with the contract's columns
-- (macros/staging.sql).
select {{ staging_columns('experiment_assignments') }}
from {{ source('raw', 'experiment_assignments') }}
{{ latest_version(contract_key('experiment_assignments')) }}
