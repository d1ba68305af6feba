{#- SQL built from the metric definitions (var('stl') in dbt_project.yml). Each macro turns one
    configured choice into an expression, so models never hard-code a threshold. -#}

{% macro stl_def(name) -%}
    {{- return(var('stl')[name]) -}}
{%- endmacro %}

{% macro sql_string_list(values) -%}
    ({%- for v in values -%}'{{ v | replace("'", "''") }}'{{ ", " if not loop.last }}{%- endfor -%})
{%- endmacro %}

{% macro score_tier(score) -%}
    case
    {%- for t in stl_def('score_tiers') %}
        when {{ score }} >= {{ t.min_score }} then '{{ t.tier }}'
    {%- endfor %}
        else 'unscored'
    end
{%- endmacro %}

{#- SLA seconds: the first rule whose every condition (score_tier, source, region, team_id) holds. -#}
{% macro sla_seconds(columns) -%}
    case
    {%- for rule in stl_def('sla_rules') %}
        when {% for key, value in rule.items() if key != 'sla_seconds' -%}
            {{ columns[key] }} = '{{ value }}'{{ " and " if not loop.last }}
        {%- endfor %} then {{ rule.sla_seconds }}
    {%- endfor %}
        else {{ stl_def('sla_default_seconds') }}
    end
{%- endmacro %}

{% macro routing_tier(seconds) -%}
    case
        when {{ seconds }} is null then 'unanswered'
    {%- for t in stl_def('routing_tiers') %}
        {%- if t.max_seconds is not none %}
        when {{ seconds }} <= {{ t.max_seconds }} then '{{ t.tier }}'
        {%- else %}
        else '{{ t.tier }}'
        {%- endif %}
    {%- endfor %}
    end
{%- endmacro %}

{% macro response_bucket(seconds) -%}
    case
        when {{ seconds }} is null then 'unanswered'
    {%- for b in stl_def('response_buckets') %}
        {%- if b.max_minutes is not none %}
        when {{ seconds }} <= {{ b.max_minutes * 60 }} then '{{ b.bucket }}'
        {%- else %}
        else '{{ b.bucket }}'
        {%- endif %}
    {%- endfor %}
    end
{%- endmacro %}

{% macro response_bucket_order(bucket) -%}
    case {{ bucket }}
    {%- for b in stl_def('response_buckets') %}
        when '{{ b.bucket }}' then {{ loop.index }}
    {%- endfor %}
        else {{ stl_def('response_buckets') | length + 1 }}
    end
{%- endmacro %}

{#- Whether an activity is a qualifying response, per channel, outcome and automation. -#}
{% macro is_qualifying_response(channel, outcome, is_automated) -%}
    (
        {{ channel }} in {{ sql_string_list(stl_def('response_channels')) }}
        and (
            ({{ channel }} = 'call' and {{ outcome }} in {{ sql_string_list(stl_def('qualifying_call_dispositions')) }})
            or ({{ channel }} = 'sms' and {{ outcome }} in {{ sql_string_list(stl_def('qualifying_sms_statuses')) }})
            or ({{ channel }} = 'email' and {{ outcome }} in {{ sql_string_list(stl_def('qualifying_email_statuses')) }})
        )
        {%- if not stl_def('automated_replies_count') %}
        and not coalesce({{ is_automated }}, false)
        {%- endif %}
    )
{%- endmacro %}

{% macro is_bot_user_agent(user_agent) -%}
    (
    {%- for p in stl_def('bot_user_agent_patterns') %}
        lower({{ user_agent }}) like '%{{ p | lower }}%'{{ " or" if not loop.last }}
    {%- endfor %}
    )
{%- endmacro %}
