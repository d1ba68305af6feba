"""Finding extracts in the landing directory: which entity a file holds, its format and date.

Naming rule (docs/data_contract.md): a file's name starts with the entity name, optionally
followed by ``_``, ``-`` or ``.`` and anything else, e.g. ``leads.csv``,
``calls_2026-03-08.jsonl``, ``sms-export-20260308.jsonl.gz``. Files may sit in
subdirectories (``calls/calls_2026-03-08.csv``). A date in the name (``YYYY-MM-DD`` or
``YYYYMMDD``) is the file's extract date, which places it in a daily partition; a file without
one is a snapshot that every partition run looks at. Names starting with ``_`` or ``.`` are
ignored (manifests, hidden files), and so is ``sources.yaml``. A mapping in ``sources.yaml``
may claim files by pattern instead (``extracts.<entity>.files``): a pattern beats the naming rule.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from orchestration.ingest.contract import ENTITY_BY_NAME, FORMATS
from orchestration.ingest.mapping import SOURCES_FILE, SourcesConfig
_DATE_IN_NAME = re.compile(r"(?<!\d)(\d{4})-?(\d{2})-?(\d{2})(?!\d)")
# Longest names first so ``lead_status_history_x.csv`` is not taken for ``leads``.
_ENTITY_NAMES = sorted(ENTITY_BY_NAME, key=len, reverse=True)


@dataclass(frozen=True)
class LandingFile:
    path: Path
    relative: str  # path relative to the landing directory, the file's identity
    entity: str | None  # None: the name matches no entity
    format: str | None  # csv | jsonl | parquet; None: unsupported extension
    compression: str | None
    extract_date: dt.date | None
    size: int
    mtime_ns: int

    @property
    def identity(self) -> str:
        return self.relative


def _split_extension(name: str) -> tuple[str, str | None, str | None]:
    lowered = name.lower()
    compression = None
    if lowered.endswith(".gz"):
        compression, lowered = "gzip", lowered[:-3]
    for ext, fmt in FORMATS.items():
        if lowered.endswith(ext):
            return lowered[: -len(ext)], fmt, compression
    stem = lowered.rsplit(".", 1)[0] if "." in lowered else lowered
    return stem, None, compression


def entity_of(stem: str) -> str | None:
    for name in _ENTITY_NAMES:
        if stem == name or (stem.startswith(name) and stem[len(name)] in "_-."):
            return name
    return None


def extract_date_of(name: str) -> dt.date | None:
    for match in _DATE_IN_NAME.finditer(name):
        try:
            return dt.date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            continue
    return None


def describe(path: Path, landing_dir: Path, config: SourcesConfig | None = None) -> LandingFile:
    stem, fmt, compression = _split_extension(path.name)
    stat = path.stat()
    relative = path.relative_to(landing_dir).as_posix()
    return LandingFile(
        path=path,
        relative=relative,
        entity=(config.entity_by_pattern(relative) if config else None) or entity_of(stem),
        format=fmt,
        compression=compression,
        extract_date=extract_date_of(path.name),
        size=stat.st_size,
        mtime_ns=stat.st_mtime_ns,
    )


def scan(landing_dir: Path, config: SourcesConfig | None = None) -> list[LandingFile]:
    """Every candidate file under the landing directory, sorted by relative path."""
    if not landing_dir.exists():
        return []
    found = []
    for path in landing_dir.rglob("*"):
        rel_parts = path.relative_to(landing_dir).parts
        if not path.is_file() or any(p.startswith((".", "_")) for p in rel_parts):
            continue
        if path.name == SOURCES_FILE:
            continue
        found.append(describe(path, landing_dir, config))
    return sorted(found, key=lambda f: f.relative)


def in_window(file: LandingFile, start: dt.date | None, end: dt.date | None) -> bool:
    """A dated file belongs to the partitions of its date; an undated snapshot to every run."""
    if file.extract_date is None or start is None or end is None:
        return True
    return start <= file.extract_date <= end


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
