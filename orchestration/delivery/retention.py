"""Retention: personal data older than ``STL_RETENTION_DAYS`` is purged from the warehouse, while
facts, aggregates and the KPI history stay exactly as they are.

Only the tables the platform writes outside dbt are purged: the raw extracts (``raw.<entity>``),
the activity matches (``raw.activity_lead_matches``) and the keys a corrected file retracted until
the next matching consumes them, the quarantine (``raw.quarantine``) and the raw gate samples (``restricted.gate_samples``). Nothing dbt builds is updated: ``stl purge`` runs
a dbt build after the purge, which regenerates staging, intermediate and marts from the purged
raw data (docs/operations.md, "Retention"; DECISIONLOG.md, "Why retention works the way it does").

What "older" means is each record's own event time (a lead's ``created_at``, a call's
``started_at``). For such rows:
- names, raw emails and raw phones (the contract's personal columns) become NULL;
- the normalised email / E.164 phone the pipeline matches and de-duplicates on (the "keys") are
  replaced by their keyed pseudonym (an email keeps its domain, which the internal-test-lead rule
  reads), value by value: a key value is replaced, in every table that holds it, once every row
  holding it is older than the cutoff. While a newer record still holds it (a person who came
  back), the value is in use, not old, and stays everywhere. So equal keys stay equal and
  different keys stay different across all tables, and the dbt build (incidents, de-duplication)
  and the next matching give the same incidents, matches and facts as before; nulling the keys,
  or pseudonymising only the old rows of a returning person, would split incidents and unmatch
  activities;
- a quarantined record and its detail (which quotes the bad value) become NULL; its age is its
  own event time where the record gives a readable one (a backfill of old extracts), else when it
  was quarantined;
- raw gate samples (the failing rows as read) are deleted when the check is older than the cutoff.
Purging again is a no-op (pseudonyms are recognised).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from orchestration.delivery.privacy import PSEUDONYM_HEX_CHARS, PSEUDONYM_PREFIX, hmac_sql
from orchestration.delivery.report import table_exists
from orchestration.ingest import contract as c
from orchestration.ingest import normalize as n
from orchestration.ingest.matching import MATCHES, RETRACTED

RESTRICTED_GATE_SAMPLES = "restricted.gate_samples"  # written by orchestration/quality/gates.py
# The schemas retention writes: the platform's own, never one dbt builds.
PURGED_SCHEMAS = ("raw", "restricted")
_ALREADY_PSEUDONYM = f"'^{PSEUDONYM_PREFIX}[0-9a-f]{{{PSEUDONYM_HEX_CHARS}}}(@|$)'"
_EXPIRED = "_stl_expired_keys"  # temp table: key values no row newer than the cutoff holds


@dataclass(frozen=True)
class PurgeTarget:
    table: str
    event_time: str  # SQL: the row's age
    to_null: tuple[str, ...]
    keys: tuple[str, ...]  # pseudonymised value by value


def _pseudonymised(key: bytes, column: str) -> str:
    hashed = hmac_sql(key, f"split_part({column}, '@', 1)")
    domain = f"CASE WHEN contains({column}, '@') THEN '@' || split_part({column}, '@', 2) ELSE '' END"
    return f"CASE WHEN regexp_matches({column}, {_ALREADY_PSEUDONYM}) THEN {column} ELSE {hashed} || {domain} END"


def _quarantined_record_age() -> str:
    """The earliest of: the record's own event time where it parses (raw_record is a JSON object
    under the contract's column names; a time with an offset is read as its wall clock, close
    enough for a cutoff in days), the date of the extract it came from, and its quarantine time.
    A record is often quarantined for its time (missing, unreadable, in the future), so its
    extract's date is what dates it; a backfill of old extracts is old at once."""
    cases = " ".join(
        f"WHEN '{e.name}' THEN try_cast(json_extract_string(raw_record, '$.{e.event_time}') AS TIMESTAMP)"
        for e in c.ENTITIES if e.event_time)
    record_time = f"CASE WHEN json_valid(raw_record) THEN CASE entity {cases} END END"
    extract_day = ("(SELECT CAST(min(f.extract_date) AS TIMESTAMP) FROM raw.ingested_files AS f "
                   "WHERE f.identity = quarantine.source_file)")
    return f"least({record_time}, {extract_day}, quarantined_at)"  # least() skips NULLs


def purge_targets() -> list[PurgeTarget]:
    targets = []
    for entity in c.ENTITIES:
        personal = [col for col in entity.columns if col.personal]
        if not personal or not entity.event_time:
            continue  # reps: current employees' records, not aged data
        keys = tuple(name for col in personal for name, _ in n.companion_columns(col))
        targets.append(PurgeTarget(f"raw.{entity.name}", entity.event_time, tuple(col.name for col in personal), keys))
    targets += [
        PurgeTarget(MATCHES, "activity_at", (), ("contact_phone_e164", "contact_email_normalized")),
        # Keys of rows a corrected file replaced, until the next matching consumes them: while
        # there, their values count as in use (a recent load), so none is pseudonymised from under them.
        PurgeTarget(RETRACTED, "loaded_at", (), ("phone_e164", "email_normalized")),
        PurgeTarget("raw.quarantine", _quarantined_record_age(), ("raw_record", "detail"), ()),
    ]
    return targets


def _expired_keys_sql(targets: list[PurgeTarget]) -> str:
    """Key values held only by rows older than the cutoff (parameter ``$cutoff``)."""
    def held(where) -> str:
        return " UNION ALL ".join(f"SELECT {k} AS value FROM {t.table} WHERE {k} IS NOT NULL AND {where(t, k)}"
                                  for t in targets for k in t.keys)
    old = held(lambda t, k: f"{t.event_time} < $cutoff AND NOT regexp_matches({k}, {_ALREADY_PSEUDONYM})")
    newer = held(lambda t, k: f"({t.event_time} < $cutoff) IS NOT TRUE")  # no event time: counts as newer
    return f"CREATE TEMP TABLE {_EXPIRED} AS SELECT value FROM ({old}) EXCEPT SELECT value FROM ({newer})"


def purge_personal_data(con, key: bytes, retention_days: int, now: dt.datetime | None = None) -> dict[str, int]:
    """Purge the platform's tables in one transaction; returns rows touched per table."""
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    cutoff = now - dt.timedelta(days=retention_days)
    targets = [t for t in purge_targets() if table_exists(con, t.table, base_table_only=True)]
    touched = {}
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(_expired_keys_sql([t for t in targets if t.keys]) if any(t.keys for t in targets)
                    else f"CREATE TEMP TABLE {_EXPIRED} (value VARCHAR)", {"cutoff": cutoff})
        for t in targets:
            expired = {k: f"{k} IN (SELECT value FROM {_EXPIRED})" for k in t.keys}
            pending = " OR ".join([f"{col} IS NOT NULL" for col in t.to_null] + list(expired.values()))
            sets = ([f"{col} = NULL" for col in t.to_null]
                    + [f"{k} = CASE WHEN {cond} THEN {_pseudonymised(key, k)} ELSE {k} END" for k, cond in expired.items()])
            touched[t.table] = con.execute(
                f"UPDATE {t.table} SET {', '.join(sets)} WHERE {t.event_time} < $cutoff AND ({pending})",
                {"cutoff": cutoff}).fetchone()[0]
        if table_exists(con, RESTRICTED_GATE_SAMPLES, base_table_only=True):
            touched[RESTRICTED_GATE_SAMPLES] = con.execute(
                f"DELETE FROM {RESTRICTED_GATE_SAMPLES} WHERE checked_at < ?", [cutoff]).fetchone()[0]
        con.execute(f"DROP TABLE {_EXPIRED}")
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return touched
