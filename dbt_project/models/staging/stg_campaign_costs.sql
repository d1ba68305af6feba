-- Current version of each campaign_costs record (see macros/latest_version.sql).
select
    campaign,
    cost_date,
    cost,
    currency,
    source,
    _source_file,
    _loaded_at
from {{ source('raw', 'campaign_costs') }}
{{ latest_version('campaign, cost_date') }}
