-- Current version of each teams record (see macros/latest_version.sql).
select
    team_id,
    team_name,
    timezone,
    region,
    _source_file,
    _loaded_at
from {{ source('raw', 'teams') }}
{{ latest_version('team_id') }}
