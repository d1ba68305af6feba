-- Lead arrivals and response speed per 15-minute slot of the clock start (UTC), with trailing
-- 1-hour (this slot and the 3 before it, by time, so empty slots count as zero) rolling figures.
-- Only slots where leads arrived are rows. "Answered" counts leads that ARRIVED in the slot and
-- were answered (at any later time), not responses given during the slot.
with leads as (
    select
        cast(floor({{ epoch_seconds('clock_started_at') }} / 900) as bigint) * 900 as slot_epoch,
        is_answered,
        seconds_to_first_response
    from {{ ref('fct_lead_response') }}
),

slots as (
    select
        slot_epoch,
        count(*) as leads_arrived,
        cast(sum(case when is_answered then 1 else 0 end) as bigint) as answered,
        sum(case when is_answered then seconds_to_first_response end) as sum_seconds_to_first_response
    from leads
    group by slot_epoch
),

rolling as (
    select
        slot_epoch,
        leads_arrived,
        answered,
        sum_seconds_to_first_response,
        cast(sum(leads_arrived) over trailing_hour as bigint) as leads_arrived_trailing_1h,
        cast(sum(answered) over trailing_hour as bigint) as answered_trailing_1h,
        sum(sum_seconds_to_first_response) over trailing_hour as sum_seconds_trailing_1h
    from slots
    window trailing_hour as (order by slot_epoch range between 2700 preceding and current row)
)

select
    {{ add_seconds("cast('1970-01-01 00:00:00' as timestamp)", 'slot_epoch') }} as slot_start_at,
    {{ add_seconds("cast('1970-01-01 00:00:00' as timestamp)", 'slot_epoch + 900') }} as slot_end_at,
    leads_arrived,
    answered,
    sum_seconds_to_first_response / nullif(answered, 0) as avg_seconds_to_first_response,
    leads_arrived_trailing_1h,
    answered_trailing_1h,
    sum_seconds_trailing_1h / nullif(answered_trailing_1h, 0) as rolling_1h_avg_seconds_to_first_response,
    cast(answered_trailing_1h as double) / nullif(leads_arrived_trailing_1h, 0) as rolling_1h_share_answered,
    '{{ stl_def("definition_version") }}' as metric_definition_version
from rolling
