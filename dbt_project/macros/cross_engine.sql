{#- Engine-specific SQL behind adapter.dispatch, so models stay portable (DuckDB today, Spark next).

    Conventions every implementation keeps:
    - timestamps are naive and hold UTC (on Spark: session time zone UTC,
      spark.sql.session.timeZone=UTC, so a TIMESTAMP's wall clock is its UTC value);
    - durations come from epoch arithmetic, never dbt.datediff (which counts boundaries on DuckDB
      and rounds on Spark: 40 s would be 0 or 1 minute);
    - local → UTC: a nonexistent local time (spring-forward gap) moves forward by the gap
      (02:30 → 03:30), an ambiguous one (fall-back) is the EARLIER instant — ingestion's rules
      (orchestration/ingest/normalize.py) and java.time's defaults.
-#}


{#- Seconds since 1970-01-01 00:00 UTC as a DOUBLE, fractional part kept to the millisecond.
    The same IEEE arithmetic on every engine, so durations (differences of two of these, ~1e-7 s
    off at today's epoch) agree to the bit: Spark's exact DECIMAL division would differ from
    DuckDB's DOUBLE in the 7th decimal, and its decimal scale rules cut later divisions to 6. -#}
{% macro epoch_seconds(ts) -%}
    {{ return(adapter.dispatch('epoch_seconds', 'speed_to_lead')(ts)) }}
{%- endmacro %}

{% macro duckdb__epoch_seconds(ts) -%}
    (epoch_ms({{ ts }}) / 1000.0)
{%- endmacro %}

{% macro spark__epoch_seconds(ts) -%}
    (cast(unix_millis({{ ts }}) as double) / 1000.0)
{%- endmacro %}

{% macro default__epoch_seconds(ts) -%}
    extract(epoch from {{ ts }})
{%- endmacro %}


{#- b − a in seconds (fractional to the millisecond); negative when b is earlier. -#}
{% macro seconds_between(a, b) -%}
    {{ return(adapter.dispatch('seconds_between', 'speed_to_lead')(a, b)) }}
{%- endmacro %}

{% macro default__seconds_between(a, b) -%}
    ({{ speed_to_lead.epoch_seconds(b) }} - {{ speed_to_lead.epoch_seconds(a) }})
{%- endmacro %}


{#- ts + n seconds (n may be fractional: kept to the microsecond). -#}
{% macro add_seconds(ts, n) -%}
    {{ return(adapter.dispatch('add_seconds', 'speed_to_lead')(ts, n)) }}
{%- endmacro %}

{% macro duckdb__add_seconds(ts, n) -%}
    ({{ ts }} + to_microseconds(cast(round(cast({{ n }} as double) * 1000000) as bigint)))
{%- endmacro %}

{% macro spark__add_seconds(ts, n) -%}
    timestamp_micros(unix_micros({{ ts }}) + cast(round(cast({{ n }} as double) * 1000000) as bigint))
{%- endmacro %}

{% macro default__add_seconds(ts, n) -%}
    ({{ ts }} + ({{ n }}) * interval '1 second')
{%- endmacro %}


{#- d + n days, a DATE. -#}
{% macro date_add_days(d, n) -%}
    {{ return(adapter.dispatch('date_add_days', 'speed_to_lead')(d, n)) }}
{%- endmacro %}

{% macro duckdb__date_add_days(d, n) -%}
    cast(({{ d }}) + cast({{ n }} as integer) as date)
{%- endmacro %}

{% macro spark__date_add_days(d, n) -%}
    date_add({{ d }}, cast({{ n }} as int))
{%- endmacro %}

{% macro default__date_add_days(d, n) -%}
    cast(({{ d }}) + cast({{ n }} as integer) as date)
{%- endmacro %}


{#- ISO weekday of a date: 1 = Monday .. 7 = Sunday. -#}
{% macro iso_weekday(d) -%}
    {{ return(adapter.dispatch('iso_weekday', 'speed_to_lead')(d)) }}
{%- endmacro %}

{% macro duckdb__iso_weekday(d) -%}
    isodow({{ d }})
{%- endmacro %}

{% macro spark__iso_weekday(d) -%}
    (weekday({{ d }}) + 1)
{%- endmacro %}

{% macro default__iso_weekday(d) -%}
    cast(extract(isodow from {{ d }}) as integer)
{%- endmacro %}


{#- Local wall-clock time (naive) in IANA zone tz of the naive UTC timestamp ts. -#}
{% macro utc_to_local(ts, tz) -%}
    {{ return(adapter.dispatch('utc_to_local', 'speed_to_lead')(ts, tz)) }}
{%- endmacro %}

{% macro duckdb__utc_to_local(ts, tz) -%}
    timezone({{ tz }}, timezone('UTC', {{ ts }}))
{%- endmacro %}

{% macro spark__utc_to_local(ts, tz) -%}
    from_utc_timestamp({{ ts }}, {{ tz }})
{%- endmacro %}

{% macro default__utc_to_local(ts, tz) -%}
    (({{ ts }} at time zone 'UTC') at time zone {{ tz }})
{%- endmacro %}


{#- UTC instant (naive) of the naive local wall-clock time ts in IANA zone tz.
    Gap: moved forward by the gap. Ambiguous: the earlier instant. -#}
{% macro local_to_utc(ts, tz) -%}
    {{ return(adapter.dispatch('local_to_utc', 'speed_to_lead')(ts, tz)) }}
{%- endmacro %}

{#- DuckDB's timezone(tz, naive) reads the wall time in tz: a gap time already moves forward by
    the gap, but an ambiguous time gets the LATER instant. Ingestion corrects that by trying
    "result − 1 hour"; here the step back is the zone's own offset change over the preceding
    3 hours, so 30-minute shifts (Australia/Lord_Howe) are corrected too, and 1-hour shifts exactly
    as ingestion does. The candidate is kept only if it reads back as the same wall time. -#}
{% macro duckdb__local_to_utc(ts, tz) -%}
    {%- set later = "timezone('UTC', timezone(" ~ tz ~ ", " ~ ts ~ "))" -%}
    {%- set back = "((timezone(" ~ tz ~ ", timezone('UTC', " ~ later ~ " - interval 3 hour)) - (" ~ later ~ " - interval 3 hour))"
                   ~ " - (timezone(" ~ tz ~ ", timezone('UTC', " ~ later ~ ")) - " ~ later ~ "))" -%}
    (case
        when {{ back }} > interval 0 second
         and timezone({{ tz }}, timezone('UTC', {{ later }} - {{ back }})) = {{ ts }}
            then {{ later }} - {{ back }}
        else {{ later }}
    end)
{%- endmacro %}

{#- java.time's ZonedDateTime.ofLocal defaults are exactly our rules (gap: later by the gap;
    overlap: earlier offset), and to_utc_timestamp uses them. -#}
{% macro spark__local_to_utc(ts, tz) -%}
    to_utc_timestamp({{ ts }}, {{ tz }})
{%- endmacro %}

{% macro default__local_to_utc(ts, tz) -%}
    (({{ ts }} at time zone {{ tz }}) at time zone 'UTC')
{%- endmacro %}


{#- A select-list expression that yields one row per date from start_date to end_date
    (inclusive), named `column_name`: use it as `select {{ date_series(a, b, 'd') }} from ...`.
    The bounds may be columns of the FROM clause (unlike DuckDB's range() table function). -#}
{% macro date_series(start_date, end_date, column_name) -%}
    {{ return(adapter.dispatch('date_series', 'speed_to_lead')(start_date, end_date, column_name)) }}
{%- endmacro %}

{% macro duckdb__date_series(start_date, end_date, column_name) -%}
    cast(unnest(generate_series(cast({{ start_date }} as timestamp), cast({{ end_date }} as timestamp), interval 1 day)) as date) as {{ column_name }}
{%- endmacro %}

{% macro spark__date_series(start_date, end_date, column_name) -%}
    explode(sequence(cast({{ start_date }} as date), cast({{ end_date }} as date), interval 1 day)) as {{ column_name }}
{%- endmacro %}

{% macro default__date_series(start_date, end_date, column_name) -%}
    cast(generate_series(cast({{ start_date }} as timestamp), cast({{ end_date }} as timestamp), interval '1 day') as date) as {{ column_name }}
{%- endmacro %}


{#- Timestamp of a date's midnight plus n seconds (a local wall time when d is a local date). -#}
{% macro date_plus_seconds(d, n) -%}
    {{ speed_to_lead.add_seconds("cast(" ~ d ~ " as timestamp)", n) }}
{%- endmacro %}


{#- Aggregate: `value` on the row that sorts first by the columns of `order_by` (a list), NULL
    values included (the row decides, not the value: a first response without a rep gives NULL,
    not the rep of a later one). Ties on every order column pick any of the tied rows; callers
    order by a unique key last. A FILTER (WHERE ...) may follow. One hash aggregate instead of a
    row_number() window and a join back: the window sorted every row of every group. -#}
{% macro first_by(value, order_by) -%}
    {{ return(adapter.dispatch('first_by', 'speed_to_lead')(value, order_by)) }}
{%- endmacro %}

{#- DuckDB's first() keeps NULLs (arg_min would skip a NULL value). -#}
{% macro duckdb__first_by(value, order_by) -%}
    first({{ value }} order by {{ order_by | join(', ') }})
{%- endmacro %}

{#- min_by keeps the value of the row with the smallest ordering, NULL or not; a struct orders
    field by field, as ORDER BY does. -#}
{% macro spark__first_by(value, order_by) -%}
    min_by({{ value }}, struct({{ order_by | join(', ') }}))
{%- endmacro %}

{% macro default__first_by(value, order_by) -%}
    (array_agg({{ value }} order by {{ order_by | join(', ') }}))[1]
{%- endmacro %}
