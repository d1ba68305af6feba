"""Load extracts of one entity into ``raw.<entity>``: validate, normalise, quarantine, account.

One call of ``load_entity`` is one transaction: either every new or changed file of the entity
lands (rows in ``raw.<entity>``, rejects in ``raw.quarantine``, a row per file in
``raw.ingested_files``), or — on a file-level contract error — nothing changes at all. Inside it
the files are loaded in slices of whole files (about ``SLICE_BYTES`` of text each), so memory
and temporary disk stay those of one slice whatever the size of the extract.

Per file, ``rows_read = rows_loaded + rows_quarantined`` holds by construction: every data row
read (parsed or malformed) ends in exactly one of the two tables.

This module decides what to load (change detection) and runs the slices; the steps have their own
homes: ``raw_schema`` (the raw tables), ``readers`` (each format into ``_stl_in``, CSV line
endings and reject accounting), ``validation`` (checks, then raw or quarantine), ``batches`` (the
units and results, ``ContractError``).
"""

from __future__ import annotations

import datetime as dt
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb

from orchestration.ingest import contract as c
from orchestration.ingest import mapping as m
from orchestration.ingest import normalize as n
from orchestration.ingest import readers, validation
from orchestration.ingest.batches import Batch, ContractError, EntityLoadResult, FileResult
from orchestration.ingest.files import LandingFile, sha256_of
from orchestration.ingest.matching import record_retracted
from orchestration.ingest.record_count import count_csv_records


# ---------------------------------------------------------------- change detection


def plan_batches(con, entity: c.Entity, files: list[LandingFile]) -> tuple[list[Batch], list[FileResult]]:
    """Split candidate files into batches to load and results for unchanged files."""
    known = {
        row[0]: row[1:]
        for row in con.execute(
            "SELECT identity, sha256, size_bytes, mtime_ns FROM raw.ingested_files WHERE entity = ?", [entity.name]
        ).fetchall()
    }
    batches, unchanged = [], []
    for f in files:
        if f.format is None:
            raise ContractError(f.relative, f"unsupported file format; use one of {sorted(set(c.FORMATS))} (optionally .gz)")
        previous = known.get(f.identity)
        if previous and previous[1] == f.size and previous[2] == f.mtime_ns:
            unchanged.append(FileResult(f.identity, "unchanged"))
            continue
        digest = sha256_of(f.path)
        if previous and previous[0] == digest:
            con.execute("UPDATE raw.ingested_files SET mtime_ns = ? WHERE identity = ?", [f.mtime_ns, f.identity])
            unchanged.append(FileResult(f.identity, "unchanged"))
            continue
        batches.append(Batch(f.identity, "file", digest, f.extract_date, file=f, size=f.size, mtime_ns=f.mtime_ns))
    return batches, unchanged


# ---------------------------------------------------------------- slices
#
# A large extract is loaded in slices (whole files, up to about SLICE_BYTES of text each): read
# the slice → validate → insert → drop the temporary tables → next slice, all inside the entity's
# one transaction. The working set is one slice, whatever the extract's size (a 25.9M-row calls
# extract in one statement once spilled until the disk was full).

SLICE_BYTES = 256 << 20


def _sql_list(values) -> str:
    return "[" + ", ".join(n.quote(str(v)) for v in values) + "]"


def _slices(reads: list[readers.Read], limit: int) -> list[list[readers.Read]]:
    """Consecutive groups of whole batches, each up to ``limit`` bytes of text (a larger batch is
    a slice of its own: a file is never split, so per-file rules such as duplicate keys hold)."""
    slices: list[list[readers.Read]] = []
    size = 0
    for r in reads:
        if not slices or size + r.text_bytes > limit:
            slices.append([])
            size = 0
        slices[-1].append(r)
        size += r.text_bytes
    return slices


# ---------------------------------------------------------------- the whole load


def load_entity(con: duckdb.DuckDBPyConnection, entity: c.Entity, files: list[LandingFile],
                timezone: str, default_region: str, load_time: dt.datetime | None = None,
                tolerance_s: int = 300, sql_batches: list[Batch] | None = None,
                config: m.SourcesConfig | None = None, max_future_days: int = 730,
                slice_bytes: int | None = None) -> EntityLoadResult:
    """Load new and changed files (and SQL batches) of one entity in one transaction.

    Headers are checked first, so a file whose columns break the contract raises a ContractError
    naming it before anything is written; the files are then read, validated and inserted slice
    by slice inside the transaction, and any failure rolls all of it back."""
    load_time = (load_time or dt.datetime.now(dt.timezone.utc)).replace(tzinfo=None)
    load_id = f"{load_time:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    result = EntityLoadResult(entity.name, load_id)
    batches, unchanged = plan_batches(con, entity, [f for f in files if f.entity == entity.name])
    for b in sql_batches or []:
        previous = con.execute("SELECT sha256 FROM raw.ingested_files WHERE identity = ?", [b.identity]).fetchone()
        if previous and previous[0] == b.fingerprint:
            unchanged.append(FileResult(b.identity, "unchanged"))
        else:
            batches.append(b)
    result.files.extend(unchanged)
    if not batches:
        return result
    limits = (tolerance_s, max_future_days)
    with tempfile.TemporaryDirectory(prefix="stl_ingest_") as workdir:
        reads = readers.prepare_reads(con, entity, batches, config, result.ignored_columns, Path(workdir))
        while True:
            attempt = EntityLoadResult(entity.name, load_id, ignored_columns=result.ignored_columns)
            con.execute("BEGIN TRANSACTION")
            try:
                _load_slices(con, entity, batches, reads, timezone, default_region, load_id, load_time, limits,
                             attempt, Path(workdir), slice_bytes or SLICE_BYTES)
                con.execute("COMMIT")
                break
            except readers.NeedsLfCopy:
                con.execute("ROLLBACK")
                readers.mark_lf_copies(con, reads)
            except readers.CsvGroupFailed as failed:
                con.execute("ROLLBACK")
                for r in failed.reads:
                    r.alone = True
            except readers.UnreadableGroup as group:
                con.execute("ROLLBACK")
                raise readers.name_unreadable_jsonl(con, entity, group) from group.error
            except BaseException:
                con.execute("ROLLBACK")
                raise
            finally:
                con.execute("SET preserve_insertion_order = true")
                con.execute("DROP TABLE IF EXISTS _stl_checked; DROP TABLE IF EXISTS _stl_dup; "
                            "DROP TABLE IF EXISTS _stl_in; DROP TABLE IF EXISTS _stl_rej_lines; "
                            "DROP TABLE IF EXISTS _stl_rej; DROP TABLE IF EXISTS _stl_rej_scan")
    result.files.extend(attempt.files)
    for attr in ("naive_timestamps", "ambiguous_local_times", "nonexistent_local_times", "unparseable_phones"):
        setattr(result, attr, getattr(attempt, attr))
    return result


def _load_slices(con, entity, batches, reads, timezone, default_region, load_id, load_time, limits, result,
                 workdir, slice_bytes):
    identities = [b.identity for b in batches]
    previous = {
        row[0] for row in con.execute(
            f"SELECT identity FROM raw.ingested_files WHERE identity IN (SELECT unnest({_sql_list(identities)}))"
        ).fetchall()
    }
    # A changed file replaces every row its earlier version loaded or quarantined.
    superseded = identities + [
        row[0] for b in batches if b.supersedes_prefix
        for row in con.execute("SELECT identity FROM raw.ingested_files WHERE starts_with(identity, ?)",
                               [b.supersedes_prefix]).fetchall()
    ]
    ids_sql = f"(SELECT unnest({_sql_list(superseded)}))"
    record_retracted(con, entity.name, f"_source_file IN {ids_sql}")  # what matching must look at again
    con.execute(f"DELETE FROM raw.{entity.name} WHERE _source_file IN {ids_sql}")
    con.execute(f"DELETE FROM raw.quarantine WHERE entity = ? AND source_file IN {ids_sql}", [entity.name])
    con.execute(f"DELETE FROM raw.ingested_files WHERE identity IN {ids_sql}")

    counts: dict[tuple[str, str | None], int] = {}
    dates = {b.identity: b.extract_date for b in batches}
    # The independent record counts of a slice's CSV files run in a thread (numpy releases the
    # GIL) while DuckDB reads them.
    counter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stl_record_count")
    try:
        for part in _slices(reads, slice_bytes):
            counted = {r.batch.identity: counter.submit(count_csv_records, r.batch.file.path,
                                                        r.batch.file.compression == "gzip")
                       for r in part if r.format == "csv"}
            # The CSV reader's rows keep the file's order (their row numbers depend on it).
            con.execute("SET preserve_insertion_order = true")
            readers.read_slice(con, entity, part, counted, workdir)
            # Row order is explicit (_source_row) from here on: let DuckDB write in parallel.
            con.execute("SET preserve_insertion_order = false")
            part_dates = {r.batch.identity: dates[r.batch.identity] for r in part}
            for key, k in validation.validate_and_insert(con, entity, timezone, default_region, load_id, load_time,
                                                         limits, result, part_dates).items():
                counts[key] = counts.get(key, 0) + k
            con.execute("SET preserve_insertion_order = true")
            con.execute("DROP TABLE _stl_checked; DROP TABLE _stl_dup; DROP TABLE _stl_in")
    finally:
        counter.shutdown(wait=True, cancel_futures=True)

    files, histories, empties = [], [], []
    read_identities = {r.batch.identity for r in reads}
    reasons_by_file: dict[str, dict[str, int]] = {}
    for (f, r), k in counts.items():
        if r is not None:
            reasons_by_file.setdefault(f, {})[r] = k
    for b in batches:
        is_empty = b.identity not in read_identities
        per_reason = reasons_by_file.get(b.identity, {})
        loaded = counts.get((b.identity, None), 0)
        quarantined = sum(per_reason.values())
        status = "empty" if is_empty else ("replaced" if b.identity in previous else "loaded")
        if is_empty:
            per_reason = {}
            empties.append([entity.name, b.identity, "the file has no bytes, not even a header", load_id, load_time])
        fr = FileResult(b.identity, status, loaded + quarantined, loaded, quarantined, dict(sorted(per_reason.items())))
        result.files.append(fr)
        files.append([b.identity, entity.name, b.kind, b.fingerprint, b.size, b.mtime_ns, b.extract_date, status,
                      fr.rows_read, fr.rows_loaded, fr.rows_quarantined, load_id, load_time])
        histories.append([load_id, entity.name, b.identity, status, b.fingerprint, fr.rows_read, fr.rows_loaded,
                          fr.rows_quarantined, load_time])
    _insert_values(con, "raw.quarantine (entity, source_file, reason, detail, load_id, quarantined_at)",
                   [[e, f, "empty_file", d, lid, t] for e, f, d, lid, t in empties])
    _insert_values(con, "raw.ingested_files", files)
    _insert_values(con, "raw.load_history", histories)


def _insert_values(con, table: str, rows: list[list], per_statement: int = 500) -> None:
    """Many rows per INSERT: one statement per file cost more than reading a small file."""
    for start in range(0, len(rows), per_statement):
        chunk = rows[start:start + per_statement]
        row_sql = "(" + ", ".join("?" for _ in chunk[0]) + ")"
        con.execute(f"INSERT INTO {table} VALUES {', '.join(row_sql for _ in chunk)}",
                    [value for row in chunk for value in row])
