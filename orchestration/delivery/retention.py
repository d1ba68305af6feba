"""Retention: personal data older than ``STL_RETENTION_DAYS`` is purged from the warehouse, while
facts, aggregates and the KPI history stay exactly as they are.

What "older" means is each record's own event time (a lead's ``created_at``, a call's
``started_at``; a quarantined row's ``quarantined_at``). For such rows:
- names, raw emails and raw phones (the contract's personal columns) become NULL;
- the normalised email / E.164 phone the pipeline matches and de-duplicates on are replaced by
  their keyed pseudonym (an email keeps its domain, which the internal-test-lead rule reads).
  Equal values stay equal, so the next dbt build and matching give the same incidents, matches
  and facts as before — nulling them would split incidents and unmatch activities;
- quarantined raw records and their detail (which quotes the bad value) become NULL;
- raw gate samples (``restricted.gate_samples``, the failing rows as read) are deleted.
The same applies to the staging copies and to the intermediate person keys, so nothing has to
be rebuilt for the purge to take effect. Purging again is a no-op (pseudonyms are recognised).
"""

from __future__ import annotations

import datetime as dt

from orchestration.delivery.privacy import PSEUDONYM_HEX_CHARS, PSEUDONYM_PREFIX, hmac_sql
from orchestration.delivery.report import table_exists
from orchestration.ingest import contract as c
from orchestration.ingest import normalize as n

RESTRICTED_GATE_SAMPLES = "restricted.gate_samples"  # written by orchestration/quality/gates.py
_ALREADY_PSEUDONYM = f"'^{PSEUDONYM_PREFIX}[0-9a-f]{{{PSEUDONYM_HEX_CHARS}}}(@|$)'"


def _pseudonymised(key: bytes, column: str) -> str:
    hashed = hmac_sql(key, f"split_part({column}, '@', 1)")
    domain = f"CASE WHEN contains({column}, '@') THEN '@' || split_part({column}, '@', 2) ELSE '' END"
    return f"CASE WHEN regexp_matches({column}, {_ALREADY_PSEUDONYM}) THEN {column} ELSE {hashed} || {domain} END"


def purge_targets() -> list[tuple[str, str, list[str], list[str]]]:
    """(table, event-time expression, columns to NULL, columns to pseudonymise)."""
    targets = []
    for entity in c.ENTITIES:
        personal = [col for col in entity.columns if col.personal]
        if not personal or not entity.event_time:
            continue  # reps: current employees' records, not aged data
        keys = [name for col in personal for name, _ in n.companion_columns(col)]
        for table in (f"raw.{entity.name}", f"staging.stg_{entity.name}"):
            targets.append((table, entity.event_time, [col.name for col in personal], keys))
    targets += [
        ("raw.activity_lead_matches", "activity_at", [], ["contact_phone_e164", "contact_email_normalized"]),
        ("intermediate.int_leads", "lead_created_at", [], ["person_key"]),
        ("intermediate.int_lead_incidents",
         "(SELECT l.lead_created_at FROM intermediate.int_leads l WHERE l.lead_id = int_lead_incidents.lead_id)",
         [], ["person"]),
        ("raw.quarantine", "quarantined_at", ["raw_record", "detail"], []),
    ]
    return targets


def purge_personal_data(con, key: bytes, retention_days: int, now: dt.datetime | None = None) -> dict[str, int]:
    """Purge in one transaction; returns rows touched per table."""
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    cutoff = now - dt.timedelta(days=retention_days)
    touched = {}
    con.execute("BEGIN TRANSACTION")
    try:
        for table, event_time, to_null, to_hash in purge_targets():
            if not table_exists(con, table, base_table_only=True):
                continue  # absent, or a view over raw (purged with raw)
            pending = " OR ".join([f"{col} IS NOT NULL" for col in to_null]
                                  + [f"NOT regexp_matches({col}, {_ALREADY_PSEUDONYM})" for col in to_hash])
            sets = [f"{col} = NULL" for col in to_null] + [f"{col} = {_pseudonymised(key, col)}" for col in to_hash]
            count = con.execute(f"UPDATE {table} SET {', '.join(sets)} WHERE {event_time} < ? AND ({pending})",
                                [cutoff]).fetchone()[0]
            touched[table] = count
        if table_exists(con, RESTRICTED_GATE_SAMPLES, base_table_only=True):
            touched[RESTRICTED_GATE_SAMPLES] = con.execute(
                f"DELETE FROM {RESTRICTED_GATE_SAMPLES} WHERE checked_at < ?", [cutoff]).fetchone()[0]
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return touched
