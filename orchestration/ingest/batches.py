"""What a load reads and what it reports: batches, per-file and per-entity results, and the
file-level contract error that stops a load before anything is written."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from orchestration.ingest.files import LandingFile


class ContractError(Exception):
    """A whole file breaks the contract (missing column, unreadable, unsupported format)."""

    def __init__(self, file: str, problem: str, column: str | None = None):
        self.file, self.problem, self.column = file, problem, column
        where = f" (column {column!r})" if column else ""
        super().__init__(f"{file}: {problem}{where}")


@dataclass
class Batch:
    """A unit of source data with one identity: a landing file or a SQL query's result."""

    identity: str
    kind: str  # file | sql
    fingerprint: str  # content hash; equal fingerprint = nothing to do
    extract_date: dt.date | None = None
    file: LandingFile | None = None
    rows: object | None = None  # pyarrow.Table of strings, for SQL batches
    supersedes_prefix: str | None = None  # identities this batch replaces (a SQL full load)
    size: int = 0
    mtime_ns: int = 0


@dataclass
class FileResult:
    identity: str
    status: str  # loaded | replaced | unchanged | empty
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


@dataclass
class EntityLoadResult:
    entity: str
    load_id: str
    files: list[FileResult] = field(default_factory=list)
    naive_timestamps: int = 0
    ambiguous_local_times: int = 0
    nonexistent_local_times: int = 0
    unparseable_phones: int = 0
    ignored_columns: dict[str, list[str]] = field(default_factory=dict)

    def total(self, attr: str) -> int:
        return sum(getattr(f, attr) for f in self.files)

    def reasons(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.files:
            for reason, count in f.reasons.items():
                out[reason] = out.get(reason, 0) + count
        return dict(sorted(out.items()))
