-- Current version of each opportunities record (see macros/latest_version.sql).
select
    opportunity_id,
    lead_id,
    created_at,
    stage,
    amount,
    currency,
    closed_at,
    is_won,
    _source_file,
    _loaded_at
from {{ source('raw', 'opportunities') }}
{{ latest_version('opportunity_id') }}
