{#- Business time: the clock F(t) over the business calendars of models/intermediate/business_time.
    Contract and example: docs/business_time.md. -#}


{#- business_clock(relation, key_columns, calendar_column, ts_column, local_flags=false)

    Returns a SELECT with one row per row of `relation` (no aggregation, so keys need not be
    unique; the output has exactly the relation's row count):
      <key_columns...>          as in the relation
      business_clock_seconds    F(ts): business seconds of the calendar from the calendar range
                                start to ts. Business seconds between a and b is F(b) − F(a).
                                NULL when ts is NULL, the calendar is unknown, or ts lies outside
                                the calendar range (never a silent 0).
      is_business_time          ts lies inside an open interval [start, end); NULL as above.
    and with local_flags=true (or through business_time_flags(...)) also, in the calendar's zone
    and NULL as above:
      is_after_hours            not is_business_time: outside open hours for any reason (night,
                                weekend, holiday); combine with is_weekend / is_holiday to tell apart
      local_at                  ts as local wall-clock time
      local_date, local_weekday (ISO 1 = Monday .. 7 = Sunday)
      is_weekend                local Saturday or Sunday
      is_holiday                the local date is a holiday of the calendar's team (or of all teams)
      holiday_name

    `calendar_column` and `ts_column` may be column names or SQL expressions over the relation
    (e.g. "'team:' || team_id"); `key_columns` is a column name or a list of them.

    How: F(ts) = business seconds before the interval holding or preceding ts on ts's UTC day
    + min(ts, interval end) − interval start; when no interval of that day starts at or before
    ts, F(ts) = business seconds before the UTC day. Both lookups are equi-joins on
    (calendar_id, utc_day) with a range condition; each instant matches at most one interval
    (an interval's lookup window runs to the next interval's start), so no as-of join, no
    aggregate, no per-minute walk: the same SQL runs on DuckDB and Spark. -#}
{% macro business_clock(relation, key_columns, calendar_column, ts_column, local_flags=false) -%}
    {%- set keys = [key_columns] if key_columns is string else key_columns -%}
    {%- set ts = '_bt.business_ts' -%}
select
    {%- for key in keys %}
    _bt.{{ key }},
    {%- endfor %}
    case
        when _day.calendar_id is null then null
        when _iv.calendar_id is null then cast(_day.business_seconds_before_day as double)
        else _iv.business_seconds_before_interval
            + {{ speed_to_lead.seconds_between(
                    '_iv.interval_start_at',
                    'case when ' ~ ts ~ ' < _iv.interval_end_at then ' ~ ts ~ ' else _iv.interval_end_at end') }}
    end as business_clock_seconds,
    case
        when _day.calendar_id is null then null
        else _iv.calendar_id is not null and {{ ts }} < _iv.interval_end_at
    end as is_business_time
    {%- if local_flags %},
    case
        when _day.calendar_id is null then null
        else not (_iv.calendar_id is not null and {{ ts }} < _iv.interval_end_at)
    end as is_after_hours,
    {{ speed_to_lead.utc_to_local(ts, '_day.timezone') }} as local_at,
    _ld.local_date,
    _ld.local_weekday,
    _ld.is_weekend,
    _ld.is_holiday,
    _ld.holiday_name
    {%- endif %}
from (
    select
        {%- for key in keys %}
        _src.{{ key }},
        {%- endfor %}
        {{ calendar_column }} as business_calendar_id,
        {{ ts_column }} as business_ts,
        cast({{ ts_column }} as date) as business_utc_day
    from {{ relation }} as _src
) as _bt
left join {{ ref('int_business_calendar_days') }} as _day
    on _day.calendar_id = _bt.business_calendar_id
    and _day.utc_day = _bt.business_utc_day
left join {{ ref('int_business_intervals') }} as _iv
    on _iv.calendar_id = _bt.business_calendar_id
    and _iv.utc_day = _bt.business_utc_day
    and _iv.interval_start_at <= {{ ts }}
    and {{ ts }} < _iv.lookup_end_at
{%- if local_flags %}
left join {{ ref('int_business_local_days') }} as _ld
    on _ld.calendar_id = _day.calendar_id
    and _ld.local_date = cast({{ speed_to_lead.utc_to_local(ts, '_day.timezone') }} as date)
{%- endif %}
{%- endmacro %}


{#- business_clock with the local flags: what a consumer classifying an instant (a lead's
    arrival: after hours? weekend? holiday?) needs. -#}
{% macro business_time_flags(relation, key_columns, calendar_column, ts_column) -%}
    {{ speed_to_lead.business_clock(relation, key_columns, calendar_column, ts_column, local_flags=true) }}
{%- endmacro %}


{#- ---------------------------------------------------------------- generic tests -#}

{#- Intervals [start, end) of one partition never overlap (touching is allowed). -#}
{% test intervals_do_not_overlap(model, partition_by, start_column, end_column) %}
with ordered as (
    select
        {{ partition_by }} as partition_key,
        {{ start_column }} as start_at,
        {{ end_column }} as end_at,
        max({{ end_column }}) over (
            partition by {{ partition_by }}
            order by {{ start_column }}, {{ end_column }}
            rows between unbounded preceding and 1 preceding
        ) as latest_previous_end_at
    from {{ model }}
)
select *
from ordered
where start_at < latest_previous_end_at
{% endtest %}


{#- Every non-NULL value of `columns` of `relation` lies within the business calendar range of
    `model` (int_business_calendar_bounds): a business duration reaching past the range would
    otherwise come out NULL (or, with a cap, silently short). -#}
{% test within_business_calendar(model, relation, columns) %}
{%- for column in columns %}
select
    '{{ column }}' as column_name,
    r.{{ column }} as value,
    b.range_start_at,
    b.range_end_at
from {{ relation }} as r
cross join {{ model }} as b
where r.{{ column }} < b.range_start_at
   or r.{{ column }} >= b.range_end_at
{% if not loop.last %}union all{% endif %}
{%- endfor %}
{% endtest %}
