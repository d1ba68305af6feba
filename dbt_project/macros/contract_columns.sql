{#- Generated from orchestration/ingest/contract.py by
    python -m orchestration.ingest.contract_dbt > dbt_project/macros/contract_columns.sql
    Do not edit: tests/test_staging_contract.py fails when this file is stale. -#}

{#- contract_columns(entity): the columns ingestion loads into raw.<entity>, in the contract's
    order, each followed by the companions ingestion derives from it (orchestration/ingest/normalize.py). -#}
{% macro contract_columns(entity) -%}
{{ return({
    'leads': ['lead_id', 'created_at', 'form_submitted_at', 'source', 'campaign', 'score',
        'score_tier', 'region', 'country', 'owner_rep_id', 'team_id', 'email', 'email_normalized',
        'phone', 'phone_e164', 'first_name', 'last_name', 'user_agent', 'is_test'],
    'reps': ['rep_id', 'team_id', 'full_name', 'email', 'email_normalized', 'phone', 'phone_e164',
        'hired_on', 'terminated_on', 'is_active', 'max_concurrent_leads'],
    'teams': ['team_id', 'team_name', 'timezone', 'region'],
    'schedules': ['team_id', 'rep_id', 'weekday', 'start_local', 'start_local_seconds', 'end_local',
        'end_local_seconds', 'effective_from', 'effective_to', 'timezone'],
    'holidays': ['start_date', 'end_date', 'team_id', 'name'],
    'lead_status_history': ['lead_id', 'status', 'changed_at', 'previous_status', 'rep_id'],
    'appointments': ['appointment_id', 'lead_id', 'rep_id', 'booked_at', 'scheduled_start_at',
        'scheduled_end_at', 'status'],
    'opportunities': ['opportunity_id', 'lead_id', 'created_at', 'stage', 'amount', 'currency',
        'closed_at', 'is_won'],
    'campaign_costs': ['campaign', 'cost_date', 'cost', 'currency', 'source'],
    'experiment_assignments': ['experiment_id', 'unit_type', 'unit_id', 'arm', 'started_on',
        'ended_on'],
    'calls': ['call_id', 'started_at', 'answered_at', 'ended_at', 'direction', 'from_number',
        'from_number_e164', 'to_number', 'to_number_e164', 'rep_id', 'disposition',
        'duration_seconds', 'lead_id'],
    'sms': ['message_id', 'sent_at', 'direction', 'from_number', 'from_number_e164', 'to_number',
        'to_number_e164', 'rep_id', 'delivery_status', 'is_automated', 'lead_id'],
    'emails': ['email_id', 'sent_at', 'direction', 'from_address', 'from_address_normalized',
        'to_address', 'to_address_normalized', 'rep_id', 'delivery_status', 'is_automated',
        'lead_id'],
}[entity]) }}
{%- endmacro %}

{#- contract_key(entity): the columns that identify a record of the entity, comma-separated. -#}
{% macro contract_key(entity) -%}
{{ return({
    'leads': 'lead_id',
    'reps': 'rep_id',
    'teams': 'team_id',
    'schedules': 'team_id, rep_id, weekday, start_local, effective_from',
    'holidays': 'start_date, team_id',
    'lead_status_history': 'lead_id, changed_at, status',
    'appointments': 'appointment_id',
    'opportunities': 'opportunity_id',
    'campaign_costs': 'campaign, cost_date',
    'experiment_assignments': 'experiment_id, unit_type, unit_id',
    'calls': 'call_id',
    'sms': 'message_id',
    'emails': 'email_id',
}[entity]) }}
{%- endmacro %}
