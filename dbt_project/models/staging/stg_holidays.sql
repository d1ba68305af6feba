-- Current version of each holidays record (see macros/latest_version.sql).
select
    start_date,
    end_date,
    team_id,
    name,
    _source_file,
    _loaded_at
from {{ source('raw', 'holidays') }}
{{ latest_version('start_date, team_id') }}
