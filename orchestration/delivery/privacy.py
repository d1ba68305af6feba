"""Pseudonymous keys for everything published, and the rule that keeps personal data out of it.

Lead and rep ids leave the warehouse only as a keyed hash: HMAC-SHA256 with a secret (setting
``STL_PSEUDONYM_KEY``; generated once into ``<data_dir>/secrets/pseudonym.key``, mode 0600, when
unset). The same id always gives the same pseudonym, so analysts can still join and count, but
without the key nobody can go back to the CRM id or confirm a guess. Columns holding names,
emails or phones (the contract's personal columns and their normalised companions) are never
published: a table that has one is refused. Keys built from a person id (``alert_key`` =
``lead_id:alert_kind``) are published with the id part pseudonymised, so they still equal the
published id plus their suffix.

Gate samples (a few failing rows or values, shown in alerts, logs, webhooks and the report) go
through ``safe_sample``: only the columns the failing check names plus id columns are kept,
personal columns are dropped, person ids become the same pseudonyms as in the published marts,
and phone numbers and email addresses are scrubbed from any remaining text.

The hash is computed inside DuckDB (``hmac_sql``): HMAC's inner and outer pads are constants of
the key, so HMAC(k, m) = sha256(opad || sha256(ipad || m)) is plain, vectorised SQL, with no
Python call per row at millions of leads.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import hmac
import os
import re
import secrets

from orchestration.ingest import contract as c
from orchestration.ingest import normalize as n
from orchestration.settings import Settings

PSEUDONYM_PREFIX = "p_"
PSEUDONYM_HEX_CHARS = 24  # 96 bits: no collision in practice even at billions of ids

# Columns that name a person by CRM id: published as pseudonyms.
ID_KINDS = ("lead_id", "rep_id")
# Segment marts list rep ids as segment values under these segment types.
PERSON_SEGMENT_TYPES = ("owner_rep", "rep", "responding_rep")
SEGMENT_ID_KIND = "rep_id"  # the kind of id those segment values are
# Keys built in dbt as "<person id>:<suffix>" → the person-id column they start with.
COMPOSITE_PERSON_KEYS = {"alert_key": "lead_id"}


def personal_column_names() -> frozenset[str]:
    """Every column name that can hold a name, email or phone: never published."""
    names = {"person_key", "raw_record"}
    for entity in c.ENTITIES:
        for col in entity.columns:
            if col.personal:
                names.add(col.name)
                names.update(name for name, _ in n.companion_columns(col))
    return frozenset(names)


def is_person_id(column: str) -> bool:
    return column in ID_KINDS or column.endswith(tuple("_" + s for s in ID_KINDS))


def pseudonym_key(settings: Settings) -> bytes:
    """The HMAC secret: the setting, else the generated key file (created on first use, 0600)."""
    if settings.pseudonym_key:
        return settings.pseudonym_key.encode()
    path = settings.pseudonym_key_path
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process generated it first: use theirs
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def pseudonym(key: bytes, value: str | None) -> str | None:
    """Reference implementation (tests, Python callers); ``hmac_sql`` must agree with it."""
    if value is None:
        return None
    digest = hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
    return PSEUDONYM_PREFIX + digest[:PSEUDONYM_HEX_CHARS]


def hmac_sql(key: bytes, expression: str) -> str:
    """SQL for the pseudonym of a VARCHAR expression (NULL stays NULL)."""
    if len(key) > 64:  # HMAC hashes keys longer than the block size
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    ipad = bytes(b ^ 0x36 for b in key).hex()
    opad = bytes(b ^ 0x5C for b in key).hex()
    inner = f"unhex(sha256(unhex('{ipad}') || encode(CAST({expression} AS VARCHAR))))"
    return f"('{PSEUDONYM_PREFIX}' || left(sha256(unhex('{opad}') || {inner}), {PSEUDONYM_HEX_CHARS}))"


def published_select(key: bytes, columns: list[str], relation: str, lookup: str | None = None) -> str:
    """SELECT that publishes ``relation``: person ids pseudonymised, personal columns refused.

    ``lookup``: the name prefix of the (id, pseudonym) tables ``pseudonym_lookup_sql`` makes,
    one per kind of id. An id found there is not hashed again; one that is not is hashed in
    place, so the lookup only saves work and never changes a value. (A lead id appears in
    several marts and a rep id in thousands of rows: at 1M leads, hashing every occurrence was
    most of the publishing time.)"""
    personal = sorted(set(columns) & personal_column_names())
    if personal:
        raise ValueError(f"{relation} has personal columns {personal}: they are never published")

    def pseudonymised(expression: str, kind: str) -> str:
        if lookup is None:
            return hmac_sql(key, expression)
        return (f"coalesce((SELECT pseudonym FROM {lookup}_{kind} WHERE id = CAST({expression} AS VARCHAR)), "
                f"{hmac_sql(key, expression)})")

    items = []
    for col in columns:
        quoted = f'"{col}"'
        if is_person_id(col):
            items.append(f"{pseudonymised(quoted, _id_kind(col))} AS {quoted}")
        elif col in COMPOSITE_PERSON_KEYS:
            id_column = COMPOSITE_PERSON_KEYS[col]
            items.append(f"{composite_key_sql(key, quoted, id_column, columns, lambda e: pseudonymised(e, _id_kind(id_column)))} AS {quoted}")
        elif col in ("segment_value", "segment_key") and "segment_type" in columns:
            person = f"segment_type IN {tuple(PERSON_SEGMENT_TYPES)}"
            value = f"CASE WHEN {person} THEN {pseudonymised('segment_value', SEGMENT_ID_KIND)} ELSE segment_value END"
            if col == "segment_key":
                value = f"segment_type || ':' || {value}"
            items.append(f"{value} AS {quoted}")
        else:
            items.append(quoted)
    return f"SELECT {', '.join(items)} FROM {relation}"


def _id_kind(column: str) -> str:
    """The kind of person id a column holds: its id suffix (lead_id, rep_id)."""
    return next(s for s in ID_KINDS if column == s or column.endswith("_" + s))


def _person_id_values(columns: list[str], kind: str) -> list[str]:
    """SQL expressions of the person ids of one kind ``published_select`` pseudonymises."""
    values = [f'"{col}"' for col in columns if is_person_id(col) and _id_kind(col) == kind]
    if "segment_value" in columns and "segment_type" in columns and kind == SEGMENT_ID_KIND:
        values.append(f"CASE WHEN segment_type IN {tuple(PERSON_SEGMENT_TYPES)} THEN segment_value END")
    return values


def pseudonym_lookup_sql(key: bytes, relations: list[tuple[str, list[str]]], prefix: str) -> list[str]:
    """Statements that create, per kind of person id, a temp table ``<prefix>_<kind>`` (id,
    pseudonym) of every distinct id the relations (relation, its columns) publish, each hashed
    once. One table per kind keeps the rep ids' lookup small (a join probing a few hundred
    rows, not a million)."""
    statements = []
    for kind in ID_KINDS:
        values = [f"SELECT CAST({value} AS VARCHAR) AS id FROM {relation}"
                  for relation, columns in relations for value in _person_id_values(columns, kind)]
        values = values or ["SELECT NULL::VARCHAR AS id"]
        statements.append(f"CREATE OR REPLACE TEMP TABLE {prefix}_{kind} AS SELECT id, {hmac_sql(key, 'id')} AS pseudonym "
                          f"FROM (SELECT DISTINCT id FROM ({' UNION ALL '.join(values)}) WHERE id IS NOT NULL)")
    return statements


def composite_key_sql(key: bytes, column: str, id_column: str, columns: list[str], pseudonymised=None) -> str:
    """``<id>:<suffix>`` published as ``<pseudonym of id>:<suffix>``; a value that does not start
    with its row's id (or a table without the id column) is hashed whole rather than published."""
    whole = hmac_sql(key, column)
    if id_column not in columns:
        return whole
    person = f'"{id_column}"'
    prefix = f"({person} || ':')"
    return (f"CASE WHEN starts_with({column}, {prefix}) "
            f"THEN {(pseudonymised or (lambda e: hmac_sql(key, e)))(person)} || ':' || {column}[length({prefix}) + 1:] "
            f"ELSE {whole} END")


# ---------------------------------------------------------------- gate samples

_EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# A run of digits with the separators phone numbers are written with: +1 (555) 123-4567,
# 555.123.4567, 0049 30 1234567, +442079460000 ... judged by its digit count below.
_PHONE_CANDIDATE = re.compile(r"(?<![\w.])(?:\+|\(\+?)?\d[\d\s().\-/]{4,}\d(?![\w])")
# Dates and times are set aside before looking for phones: their digits would add up to one.
_DATE_OR_TIME = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?|\d{1,2}/\d{1,2}/\d{2,4}"
                           r"|\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?")
_DECIMAL = re.compile(r"\d+\.\d+")
# Columns a sample never shows even when a check names them: the quarantine's verbatim detail.
_NEVER_IN_SAMPLES = frozenset({"detail"})


def _is_phone(candidate: str) -> bool:
    """7-15 digits (E.164's limit), or more with separators: two numbers written side by side."""
    if _DECIMAL.fullmatch(candidate.strip()):
        return False  # a plain decimal is not a number to dial
    digits = sum(ch.isdigit() for ch in candidate)
    return digits >= 7 and (digits <= 15 or not candidate.isdigit())


def scrub_text(text: str) -> str:
    """Free text with email addresses and phone numbers replaced by ``<email>`` / ``<phone>``."""
    text = _EMAIL.sub("<email>", text)
    kept: list[str] = []

    def set_aside(match: re.Match) -> str:
        kept.append(match.group())
        return f"\0{len(kept) - 1}\0"

    text = _DATE_OR_TIME.sub(set_aside, text.replace("\0", ""))
    text = _PHONE_CANDIDATE.sub(lambda m: "<phone>" if _is_phone(m.group()) else m.group(), text)
    return re.sub("\0(\\d+)\0", lambda m: kept[int(m.group(1))], text)


def _safe_value(key: bytes, column: str | None, value, row: dict | None = None):
    """One sample value as it may be shown: pseudonym, scrubbed text, or the value itself."""
    if value is None:
        return None
    if column is not None and is_person_id(column):
        return pseudonym(key, str(value))
    if column in COMPOSITE_PERSON_KEYS:
        person = (row or {}).get(COMPOSITE_PERSON_KEYS[column])
        text = str(value)
        if person is not None and text.startswith(f"{person}:"):
            return f"{pseudonym(key, str(person))}:{text[len(str(person)) + 1:]}"
        return pseudonym(key, text)
    if column == "segment_value" and row is not None and row.get("segment_type") in PERSON_SEGMENT_TYPES:
        return pseudonym(key, str(value))
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, (bool, int, float, decimal.Decimal, dt.date, dt.datetime, dt.time, dt.timedelta)):
        return value
    return scrub_text(str(value))  # lists, structs, anything else: shown as scrubbed text


def sample_may_show(column: str, named: frozenset[str]) -> bool:
    """Whether a sample row keeps ``column``: named by the failing check, or an id that locates
    the row — never a personal column."""
    if column in personal_column_names() or column in _NEVER_IN_SAMPLES:
        return False
    return column in named or column == "id" or column.endswith("_id") or column in COMPOSITE_PERSON_KEYS


def safe_sample(key: bytes, sample: list, column: str | None = None, named: frozenset[str] = frozenset()) -> list:
    """A gate's sample fit to leave the warehouse. ``sample`` holds failing values of ``column``
    or failing rows (dicts); ``named`` are the column names the check mentions."""
    if column is not None and (column in personal_column_names() or column in _NEVER_IN_SAMPLES):
        return []  # the failing values are themselves personal: the count says enough
    safe = []
    for item in sample:
        if isinstance(item, dict):
            safe.append({col: _safe_value(key, col, value, item) for col, value in item.items()
                         if sample_may_show(col, named)})
        else:
            safe.append(_safe_value(key, column, item))
    return safe
