-- Current version of each campaign_costs record (macros/latest_version.sql) with the contract's columns
-- (macros/staging.sql).
select {{ staging_columns('campaign_costs') }}
from {{ source('raw', 'campaign_costs') }}
{{ latest_version(contract_key('campaign_costs')) }}
