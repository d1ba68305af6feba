-- Current version of each experiment_assignments record (see macros/latest_version.sql).
select
    experiment_id,
    unit_type,
    unit_id,
    arm,
    started_on,
    ended_on,
    _source_file,
    _loaded_at
from {{ source('raw', 'experiment_assignments') }}
{{ latest_version('experiment_id, unit_type, unit_id') }}
