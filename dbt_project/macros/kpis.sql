{#- The KPI formulas: the one place each is written (docs/metric_definitions.md, "KPIs").

    Each KPI is an aggregate over lead incidents. The expressions name columns, unqualified, of
    fct_lead_response (is_answered, seconds_to_first_response, business_seconds_to_first_response,
    sla_status, escalation_reached) and, for the outcome rates, of int_incident_outcomes
    (is_contacted, is_booked, has_opportunity: 0/1, NULL for a lead without an outcome row, which
    the average leaves out). A model that groups such rows writes `{{ kpi('sla_compliance') }}`
    in its select list; mart_kpi_by_period holds every KPI per period and segment, and the KPI
    snapshots, the run summary and the report read it.

    Denominators: medians and percentiles are over answered leads (NULL seconds are skipped);
    shares and rates are over all lead incidents; SLA compliance is over decided leads (met +
    breached; pending ones are left out). Shares are sums of 0/1 integers divided as DOUBLE, so
    they are exact on every engine (Spark would average a 1.0 literal as a 6-digit DECIMAL). -#}

{#- Share of ALL lead incidents answered within `minutes` (calendar seconds <= minutes x 60; the
    bound is included, as in the response buckets). -#}
{% macro kpi_share_answered_within(minutes) -%}
    {{ speed_to_lead.kpi_share("is_answered and seconds_to_first_response <= " ~ (minutes * 60)) }}
{%- endmacro %}

{#- Share of lead incidents for which `condition` holds (NULL counts as not holding). -#}
{% macro kpi_share(condition) -%}
    cast(sum(case when {{ condition }} then 1 else 0 end) as double) / nullif(count(*), 0)
{%- endmacro %}

{#- [{kpi, sql, unit, description}] in report order. One KPI per answered_within_minutes threshold. -#}
{% macro kpi_definitions() -%}
    {%- set defs = [
        {'kpi': 'lead_incidents', 'unit': 'count', 'sql': 'count(*)',
         'description': 'Lead incidents whose response clock started in the period.'},
        {'kpi': 'share_answered', 'unit': 'share', 'sql': speed_to_lead.kpi_share('is_answered'),
         'description': 'Leads with a qualifying response (at any later time) / all leads.'},
        {'kpi': 'sla_compliance', 'unit': 'share',
         'sql': "cast(sum(case when sla_status = 'met' then 1 else 0 end) as double)"
                ~ " / nullif(sum(case when sla_status in ('met', 'breached') then 1 else 0 end), 0)",
         'description': 'met / (met + breached); leads still inside their window (pending) are left out.'},
    ] -%}
    {#- Interpolated percentiles of the time to first qualifying response, over answered leads
        (percentile_cont skips their NULLs), on each clock; inserted after share_answered. -#}
    {%- set percentiles = [] -%}
    {%- for clock, column in [('calendar', 'seconds_to_first_response'), ('business', 'business_seconds_to_first_response')] -%}
        {%- for name, fraction in [('median', 0.5), ('p90', 0.9)] -%}
            {%- do percentiles.append({'kpi': name ~ ('_business' if clock == 'business' else '') ~ '_seconds_to_first_response',
                                       'unit': 'seconds',
                                       'sql': 'percentile_cont(' ~ fraction ~ ') within group (order by ' ~ column ~ ')',
                                       'description': name ~ ' (interpolated) of ' ~ clock
                                                      ~ ' seconds from clock start to first qualifying response, over answered leads.'}) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- set defs = defs[:2] + percentiles + defs[2:] -%}
    {%- for minutes in speed_to_lead.stl_def('answered_within_minutes') -%}
        {%- do defs.append({'kpi': 'share_answered_within_' ~ minutes ~ 'm', 'unit': 'share',
                            'sql': speed_to_lead.kpi_share_answered_within(minutes),
                            'description': 'Leads answered within ' ~ minutes ~ ' min (calendar) / ALL leads, unanswered included.'}) -%}
    {%- endfor -%}
    {%- do defs.extend([
        {'kpi': 'escalation_rate', 'unit': 'share', 'sql': speed_to_lead.kpi_share('escalation_reached'),
         'description': 'Leads whose wait reached the escalation point (escalation_share of the SLA) / all leads.'},
        {'kpi': 'contact_rate', 'unit': 'share', 'sql': 'avg(cast(is_contacted as double))',
         'description': 'Incidents contacted (connected call, or inbound SMS / email from the lead) / incidents with outcomes.'},
        {'kpi': 'booking_rate', 'unit': 'share', 'sql': 'avg(cast(is_booked as double))',
         'description': 'Incidents with an appointment booked / incidents with outcomes.'},
        {'kpi': 'opportunity_conversion_rate', 'unit': 'share', 'sql': 'avg(cast(has_opportunity as double))',
         'description': 'Incidents that became an opportunity / incidents with outcomes.'},
    ]) -%}
    {{- return(defs) -}}
{%- endmacro %}

{#- The aggregate SQL of one KPI by name; an unknown name fails the compile. -#}
{% macro kpi(name) -%}
    {%- for d in speed_to_lead.kpi_definitions() if d.kpi == name -%}
        {{- return(d.sql) -}}
    {%- endfor -%}
    {{- exceptions.raise_compiler_error("unknown KPI " ~ name ~ " (macros/kpis.sql: kpi_definitions)") -}}
{%- endmacro %}
