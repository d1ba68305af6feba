-- One row per pair of overlapping appointments of the same rep (double bookings), each pair once:
-- appointment_id is the one that starts first (ties: smaller id), conflicting_appointment_id the
-- later one. Cancelled and rescheduled appointments no longer hold their slot and are left out;
-- touching appointments (one ends when the next starts) do not conflict.
-- Set-based: appointments are numbered per rep by start, and each one is joined only to later
-- ones that start before it ends — the join never compares appointments hours apart.
with appointments as (
    select
        appointment_id,
        rep_id,
        lead_id,
        status,
        scheduled_start_at,
        scheduled_end_at,
        row_number() over (
            partition by rep_id order by scheduled_start_at, appointment_id
        ) as rep_sequence
    from {{ ref('stg_appointments') }}
    where status not in ('cancelled', 'rescheduled')
      and rep_id is not null
      and scheduled_end_at > scheduled_start_at
)

select
    earlier.rep_id,
    earlier.appointment_id,
    later.appointment_id as conflicting_appointment_id,
    earlier.lead_id,
    later.lead_id as conflicting_lead_id,
    earlier.status,
    later.status as conflicting_status,
    earlier.scheduled_start_at,
    earlier.scheduled_end_at,
    later.scheduled_start_at as conflicting_scheduled_start_at,
    later.scheduled_end_at as conflicting_scheduled_end_at,
    {{ seconds_between('later.scheduled_start_at',
        'case when later.scheduled_end_at < earlier.scheduled_end_at then later.scheduled_end_at else earlier.scheduled_end_at end') }}
        as overlap_seconds
from appointments as earlier
inner join appointments as later
    on later.rep_id = earlier.rep_id
    and later.rep_sequence > earlier.rep_sequence
    and later.scheduled_start_at < earlier.scheduled_end_at
