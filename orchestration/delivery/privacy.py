"""Pseudonymous keys for everything published, and the rule that keeps personal data out of it.

Lead and rep ids leave the warehouse only as a keyed hash: HMAC-SHA256 with a secret (setting
``STL_PSEUDONYM_KEY``; generated once into ``<data_dir>/secrets/pseudonym.key``, mode 0600, when
unset). The same id always gives the same pseudonym, so analysts can still join and count, but
without the key nobody can go back to the CRM id or confirm a guess. Columns holding names,
emails or phones (the contract's personal columns and their normalised companions) are never
published: a table that has one is refused.

The hash is computed inside DuckDB (``hmac_sql``): HMAC's inner and outer pads are constants of
the key, so HMAC(k, m) = sha256(opad || sha256(ipad || m)) is plain, vectorised SQL, with no
Python call per row at millions of leads.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets

from orchestration.ingest import contract as c
from orchestration.ingest import normalize as n
from orchestration.settings import Settings

PSEUDONYM_PREFIX = "p_"
PSEUDONYM_HEX_CHARS = 24  # 96 bits: no collision in practice even at billions of ids

# Columns that name a person by CRM id: published as pseudonyms.
_ID_SUFFIXES = ("lead_id", "rep_id")
# Segment marts list rep ids as segment values under these segment types.
PERSON_SEGMENT_TYPES = ("owner_rep", "rep", "responding_rep")


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
    return column in _ID_SUFFIXES or column.endswith(tuple("_" + s for s in _ID_SUFFIXES))


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


def published_select(key: bytes, columns: list[str], relation: str) -> str:
    """SELECT that publishes ``relation``: person ids pseudonymised, personal columns refused."""
    personal = sorted(set(columns) & personal_column_names())
    if personal:
        raise ValueError(f"{relation} has personal columns {personal}: they are never published")
    items = []
    for col in columns:
        quoted = f'"{col}"'
        if is_person_id(col):
            items.append(f"{hmac_sql(key, quoted)} AS {quoted}")
        elif col in ("segment_value", "segment_key") and "segment_type" in columns:
            person = f"segment_type IN {tuple(PERSON_SEGMENT_TYPES)}"
            value = f"CASE WHEN {person} THEN {hmac_sql(key, 'segment_value')} ELSE segment_value END"
            if col == "segment_key":
                value = f"segment_type || ':' || {value}"
            items.append(f"{value} AS {quoted}")
        else:
            items.append(quoted)
    return f"SELECT {', '.join(items)} FROM {relation}"
