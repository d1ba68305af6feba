-- Current version of each schedules record (see macros/latest_version.sql).
select
    team_id,
    rep_id,
    weekday,
    start_local,
    start_local_seconds,
    end_local,
    end_local_seconds,
    effective_from,
    effective_to,
    timezone,
    _source_file,
    _loaded_at
from {{ source('raw', 'schedules') }}
{{ latest_version('team_id, rep_id, weekday, start_local, effective_from') }}
