"""Load extracts of one entity into ``raw.<entity>``: validate, normalise, quarantine, account.

One call of ``load_entity`` is one transaction: either every new or changed file of the entity
lands (rows in ``raw.<entity>``, rejects in ``raw.quarantine``, a row per file in
``raw.ingested_files``), or — on a file-level contract error — nothing changes at all. Inside it
the files are loaded in slices of whole files (about ``SLICE_BYTES`` of text each), so memory
and temporary disk stay those of one slice whatever the size of the extract.

Per file, ``rows_read = rows_loaded + rows_quarantined`` holds by construction: every data row
read (parsed or malformed) ends in exactly one of the two tables.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
import shutil
import tempfile
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from orchestration.ingest import contract as c
from orchestration.ingest import mapping as m
from orchestration.ingest import normalize as n
from orchestration.ingest.files import LandingFile, sha256_of
from orchestration.ingest.record_count import RecordCount, count_csv_records


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


# ---------------------------------------------------------------- schema


LINEAGE_COLUMNS = [
    ("_source_file", "VARCHAR"), ("_source_row", "BIGINT"), ("_extract_date", "DATE"),
    ("_load_id", "VARCHAR"), ("_loaded_at", "TIMESTAMP"),
]


def raw_columns(entity: c.Entity) -> list[tuple[str, str]]:
    cols = []
    for col in entity.columns:
        cols.append((col.name, n.SQL_TYPES[col.type]))
        cols.extend(n.companion_columns(col))
    return cols + LINEAGE_COLUMNS


def ensure_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    for entity in c.ENTITIES:
        cols = raw_columns(entity)
        con.execute(f"CREATE TABLE IF NOT EXISTS raw.{entity.name} ({', '.join(f'{a} {b}' for a, b in cols)})")
        for name, sql_type in cols:  # the contract grew a column since the table was made
            con.execute(f"ALTER TABLE raw.{entity.name} ADD COLUMN IF NOT EXISTS {name} {sql_type}")
    con.execute("""
        CREATE TABLE IF NOT EXISTS raw.quarantine (
            entity VARCHAR, source_file VARCHAR, source_row BIGINT, source_line BIGINT,
            reason VARCHAR, column_name VARCHAR, detail VARCHAR, raw_record VARCHAR,
            load_id VARCHAR, quarantined_at TIMESTAMP)""")
    con.execute("""
        CREATE TABLE IF NOT EXISTS raw.ingested_files (
            identity VARCHAR PRIMARY KEY, entity VARCHAR, source_kind VARCHAR, sha256 VARCHAR,
            size_bytes BIGINT, mtime_ns BIGINT, extract_date DATE, status VARCHAR,
            rows_read BIGINT, rows_loaded BIGINT, rows_quarantined BIGINT,
            load_id VARCHAR, loaded_at TIMESTAMP)""")
    con.execute("""
        CREATE TABLE IF NOT EXISTS raw.load_history (
            load_id VARCHAR, entity VARCHAR, identity VARCHAR, status VARCHAR, sha256 VARCHAR,
            rows_read BIGINT, rows_loaded BIGINT, rows_quarantined BIGINT, loaded_at TIMESTAMP)""")


def prepare_connection(con: duckdb.DuckDBPyConnection) -> None:
    """Session settings and helper macros every ingestion connection needs."""
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    con.execute(n.MACROS)
    con.execute("CREATE OR REPLACE TEMP TABLE _stl_timezones AS SELECT name FROM pg_timezone_names()")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _stl_phone_plans AS {n.phone_plans_table_sql()}")


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


# ---------------------------------------------------------------- reading a slice into _stl_in
#
# Every file is read on its own (the CSV dialect is the contract's, never guessed from another
# file), through a symlink with a plain generated name (a path is data, never a glob pattern).
# Headers are checked before the load's transaction begins, so a file whose columns break the
# contract is named before anything is written; a file the reader rejects later rolls the whole
# transaction back and is named too.
#
# A large extract is loaded in slices (whole files, up to about SLICE_BYTES of text each): read
# the slice → validate → insert → drop the temporary tables → next slice, all inside the entity's
# one transaction. The working set is one slice, whatever the extract's size (a 25.9M-row calls
# extract in one statement once spilled until the disk was full).

SLICE_BYTES = 256 << 20
# Compressed files (gzip, Parquet) hold several times their size in text: slice sizing only.
COMPRESSED_TEXT_FACTOR = 5


@dataclass
class _Read:
    """How one batch is read, settled before the transaction."""

    batch: Batch
    index: int  # names the batch's symlink / copies in the work dir
    mapping: m.ExtractMapping | None = None
    columns: dict[str, str] | None = None  # contract column → source column (CSV, Parquet)
    header: list[str] | None = None  # CSV header as written
    path: str | None = None  # literal symlink (CSV, Parquet)
    expected_rows: int | None = None  # Parquet metadata
    lf_copy: bool = False  # CSV with mixed line endings: read a copy with every CRLF made LF
    text_bytes: int = 0

    @property
    def format(self) -> str:
        return "sql" if self.batch.kind == "sql" else self.batch.file.format


class _NeedsLfCopy(Exception):
    """DuckDB's parser stopped on a CSV that holds carriage returns: the load restarts with the
    CSV files that need it read from LF copies (decided outside the transaction)."""


class _UnreadableGroup(Exception):
    """A JSON Lines statement over several files failed; which file it was is found after the
    rollback, by reading them one at a time."""

    def __init__(self, reads: list[_Read], paths: list[str], error: duckdb.Error):
        super().__init__(str(error))
        self.reads, self.paths, self.error = reads, paths, error


def _create_input_table(con, entity: c.Entity) -> None:
    cols = ", ".join(f'"{col.name}" VARCHAR' for col in entity.columns)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _stl_in (_file VARCHAR, _row BIGINT, _line BIGINT, "
        f"_malformed VARCHAR, _raw VARCHAR, {cols})"
    )


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _safe_path(batch: Batch, workdir: Path, index: int) -> str:
    """A literal path for DuckDB: a symlink named ``f<index><suffix>`` to the landing file, so
    ``*``, ``?``, ``[``, ``{`` or quotes in a name are never read as a pattern."""
    suffix = "".join(batch.file.path.suffixes[-2:]).lower() if batch.file.compression else batch.file.path.suffix.lower()
    link = workdir / f"f{index}{suffix}"
    link.symlink_to(batch.file.path.resolve())
    return str(link)


def _csv_header(batch: Batch) -> list[str]:
    opener = gzip.open if batch.file.compression == "gzip" else open
    try:
        with opener(batch.file.path, "rt", encoding="utf-8-sig", newline="") as handle:
            return next(csv.reader(handle), [])
    except (UnicodeDecodeError, OSError, EOFError, csv.Error) as exc:
        raise ContractError(batch.identity, f"unreadable file ({exc.__class__.__name__}: {exc})") from exc


def _header_mapping(entity: c.Entity, mapping: m.ExtractMapping, identity: str, header: list[str]
                    ) -> tuple[dict[str, str], list[str]]:
    """Contract column → header name as written; raises if a required column is absent."""
    try:
        columns, ignored = m.header_columns(entity, mapping, header, identity)
    except m.DuplicateColumn as exc:
        raise ContractError(identity, "the header names a column twice; rename or remove one copy", exc.column) from exc
    for required in entity.required_columns:
        if required not in columns and required not in mapping.constants:
            sources = mapping.sources_for(required)
            hint = f" (looked for {', '.join(repr(s) for s in sources)} and {required!r})" if sources else ""
            raise ContractError(identity, f"missing required column{hint}", required)
    return columns, ignored


def _sql_list(values) -> str:
    return "[" + ", ".join(n.quote(str(v)) for v in values) + "]"


def _prepare_reads(con, entity: c.Entity, batches: list[Batch], config: m.SourcesConfig | None,
                   ignored: dict, workdir: Path) -> list[_Read]:
    """Header, mapping and sizes of every non-empty batch, in order; file-level contract errors
    (missing or duplicated column, unreadable header or Parquet metadata) are raised here, before
    the transaction."""
    reads = []
    for index, b in enumerate(batches):
        if b.kind == "sql":
            reads.append(_Read(b, index, text_bytes=int(b.rows.nbytes)))
            continue
        if b.size == 0:
            continue  # recorded as an empty file, never read
        r = _Read(b, index, config.for_file(entity.name, b.identity) if config else m.IDENTITY[entity.name],
                  text_bytes=b.size * (COMPRESSED_TEXT_FACTOR if b.file.compression or b.file.format == "parquet" else 1))
        if b.file.format == "csv":
            r.header = _csv_header(b)
            r.columns, extra = _header_mapping(entity, r.mapping, b.identity, r.header)
            r.path = _safe_path(b, workdir, index)
        elif b.file.format == "parquet":
            r.path = _safe_path(b, workdir, index)
            try:
                schema = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM read_parquet({n.quote(r.path)})").fetchall()]
                expected = con.execute(f"SELECT sum(num_rows) FROM parquet_file_metadata({n.quote(r.path)})").fetchone()[0]
            except duckdb.Error as exc:
                raise ContractError(b.identity, f"unreadable Parquet ({exc})") from exc
            r.expected_rows = int(expected or 0)
            r.columns, extra = _header_mapping(entity, r.mapping, b.identity, schema)
        else:
            extra = None
        if extra:
            ignored[b.identity] = extra
        reads.append(r)
    return reads


def _slices(reads: list[_Read], limit: int) -> list[list[_Read]]:
    """Consecutive groups of whole batches, each up to ``limit`` bytes of text (a larger batch is
    a slice of its own: a file is never split, so per-file rules such as duplicate keys hold)."""
    slices: list[list[_Read]] = []
    size = 0
    for r in reads:
        if not slices or size + r.text_bytes > limit:
            slices.append([])
            size = 0
        slices[-1].append(r)
        size += r.text_bytes
    return slices


def _read_slice(con, entity: c.Entity, reads: list[_Read], counts: dict, workdir: Path) -> None:
    """Read one slice's batches into _stl_in. ``counts``: identity → future of the CSV file's
    independent record count (computed in a thread while DuckDB reads)."""
    _create_input_table(con, entity)
    con.execute("DROP TABLE IF EXISTS _stl_rej; DROP TABLE IF EXISTS _stl_rej_scan")
    jsonl_groups: dict[tuple, list[_Read]] = {}
    csv_reads: list[tuple[_Read, str, int]] = []
    for r in reads:
        if r.format == "sql":
            _read_sql_rows(con, entity, r.batch)
        elif r.format == "csv":
            csv_reads.append((r, *_read_csv(con, entity, r)))
        elif r.format == "parquet":
            _read_parquet(con, entity, r)
        else:  # files with the same mapping are parsed by one statement, each file still its own text
            jsonl_groups.setdefault(_jsonl_mapping_key(entity, r.mapping), []).append(r)
    if csv_reads:
        rejected = _insert_csv_rejects(con, [(r.batch.identity, path) for r, path, _ in csv_reads])
        for r, _, parsed in csv_reads:
            _account_csv_records(con, r.batch, counts[r.batch.identity].result(),
                                 parsed + rejected.get(r.batch.identity, 0))
    for group in jsonl_groups.values():
        _read_jsonl(con, entity, group, workdir)


# ---- CSV


def _csv_scan_sql(path: str, header: list[str]) -> str:
    # The dialect is the contract's (RFC 4180, header row): nothing is sniffed, so a broken row
    # can never change how the rest of the file is read. Rejected lines accumulate in _stl_rej,
    # one scan_id per file (_stl_rej_scan names its path).
    return (f"read_csv({n.quote(path)}, auto_detect = false, header = true, "
            f"columns = {{{', '.join(f'{n.quote(h)}: {chr(39)}VARCHAR{chr(39)}' for h in header)}}}, "
            "delim = ',', quote = '\"', escape = '\"', ignore_errors = true, "
            "store_rejects = true, rejects_table = '_stl_rej', rejects_scan = '_stl_rej_scan', "
            "null_padding = false, parallel = true)")


def _has_carriage_returns(batch: Batch) -> bool:
    opener = gzip.open if batch.file.compression == "gzip" else open
    with opener(batch.file.path, "rb") as handle:
        return any(b"\r" in block for block in iter(lambda: handle.read(1 << 20), b""))


def _lf_copy(batch: Batch, path: str) -> str:
    target = Path(path).with_name(Path(path).name.split(".")[0] + "_lf.csv")
    opener = gzip.open if batch.file.compression == "gzip" else open
    with opener(batch.file.path, "rb") as src, target.open("wb") as dst:
        carry = b""
        for block in iter(lambda: src.read(1 << 20), b""):
            block = carry + block
            carry = b"\r" if block.endswith(b"\r") else b""
            dst.write((block[:-1] if carry else block).replace(b"\r\n", b"\n"))
        dst.write(carry)
    return str(target)


def _needs_lf_copy(con, r: _Read) -> bool:
    """Outside the transaction: does DuckDB's parser stop on this file as it is? (Mixed CRLF / LF
    line endings do; the contract accepts them, so such a file is read from an LF copy.)"""
    if not _has_carriage_returns(r.batch):
        return False
    con.execute("DROP TABLE IF EXISTS _stl_rej; DROP TABLE IF EXISTS _stl_rej_scan")
    try:
        con.execute(f"SELECT count(*) FROM {_csv_scan_sql(r.path, r.header)}").fetchone()
    except duckdb.InvalidInputException:
        return True
    except duckdb.Error as exc:
        raise ContractError(r.batch.identity, f"unreadable CSV ({exc})") from exc
    finally:
        con.execute("DROP TABLE IF EXISTS _stl_rej; DROP TABLE IF EXISTS _stl_rej_scan")
    return False


def _read_csv(con, entity: c.Entity, r: _Read) -> tuple[str, int]:
    """Parsed rows of one file into _stl_in, straight from the reader; (path read, rows parsed).

    Their _row is left NULL: the rows of one INSERT keep the file's order in consecutive row ids,
    so validation numbers them from the file's first row id (no copy of the file in between)."""
    batch = r.batch
    path = _lf_copy(batch, r.path) if r.lf_copy else r.path
    names = ", ".join(_ident(col.name) for col in entity.columns)
    values = ", ".join(
        m.value_sql(col, _ident(r.columns[col.name]) if col.name in r.columns else None, r.mapping) for col in entity.columns)
    try:
        (parsed,) = con.execute(
            f"INSERT INTO _stl_in (_file, _row, _line, _malformed, _raw, {names}) "
            f"SELECT {n.quote(batch.identity)}, NULL, NULL, NULL, NULL, {values} FROM {_csv_scan_sql(path, r.header)}"
        ).fetchone()
    except duckdb.InvalidInputException as exc:
        if r.lf_copy or not _has_carriage_returns(batch):
            raise ContractError(batch.identity, f"unreadable CSV ({exc})") from exc
        raise _NeedsLfCopy(batch.identity) from exc
    except duckdb.Error as exc:
        raise ContractError(batch.identity, f"unreadable CSV ({exc})") from exc
    finally:
        if r.lf_copy:
            Path(path).unlink(missing_ok=True)
    return path, parsed


def _insert_csv_rejects(con, files: list[tuple[str, str]]) -> dict[str, int]:
    """Every rejected line of the slice's CSV files into _stl_in (one statement); lines per file."""
    names = "(VALUES " + ", ".join(f"({n.quote(path)}, {n.quote(identity)})" for identity, path in files) + ") AS f(path, identity)"
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _stl_rej_lines AS "
        "SELECT f.identity, r.line, r.error_type || ': ' || r.error_message AS malformed, "
        "       trim(r.csv_line, chr(10) || chr(13)) AS raw "
        "FROM _stl_rej r JOIN _stl_rej_scan s ON s.scan_id = r.scan_id AND s.file_id = r.file_id "
        f"JOIN {names} ON f.path = s.file_path "
        # DuckDB reports one error per bad column; a line is one rejected row.
        "QUALIFY row_number() OVER (PARTITION BY r.scan_id, r.file_id, r.line ORDER BY r.column_idx) = 1")
    con.execute("INSERT INTO _stl_in (_file, _row, _line, _malformed, _raw) "
                "SELECT identity, NULL, line, malformed, raw FROM _stl_rej_lines")
    counts = dict(con.execute("SELECT identity, count(*) FROM _stl_rej_lines GROUP BY 1").fetchall())
    con.execute("DROP TABLE _stl_rej_lines")
    return counts


def _account_csv_records(con, batch: Batch, counted: RecordCount, seen: int) -> None:
    """Compare the reader's rows + rejects with an independent, quote-aware record count; a
    record the reader dropped becomes a quarantine row (malformed_row) naming its line."""
    missing = counted.records - seen
    if missing < 0:
        raise ContractError(batch.identity, f"the CSV reader returned {seen} rows but the file holds "
                                            f"{counted.records} records; check its quoting and line endings")
    if missing == 0:
        return
    if counted.open_quote_at_end:
        detail = (f"a quoted field opened on line {counted.last_record_line} is never closed: the rest of the file "
                  "is one broken record")
        tail = _tail_text(batch, counted.last_record_offset)
    else:
        detail, tail = "a record the CSV reader did not return (counted independently of the parser)", None
    for i in range(missing):
        con.execute("INSERT INTO _stl_in (_file, _row, _line, _malformed, _raw) VALUES (?, NULL, ?, ?, ?)",
                    [batch.identity, counted.last_record_line if i == missing - 1 else None, detail,
                     tail if i == missing - 1 else None])


def _tail_text(batch: Batch, offset: int, limit: int = 4096) -> str:
    opener = gzip.open if batch.file.compression == "gzip" else open
    with opener(batch.file.path, "rb") as handle:
        handle.seek(offset)
        return handle.read(limit).decode("utf-8", errors="replace").rstrip("\r\n")


# ---- JSON Lines


def _jsonl_plain_path(batch: Batch, workdir: Path, index: int) -> str:
    if batch.file.compression != "gzip":
        return _safe_path(batch, workdir, index)
    path = workdir / f"f{index}.jsonl"
    try:
        with gzip.open(batch.file.path, "rb") as src, path.open("wb") as dst:
            shutil.copyfileobj(src, dst)
    except (gzip.BadGzipFile, EOFError, OSError) as exc:
        raise ContractError(batch.identity, f"not a readable gzip file ({exc.__class__.__name__}: {exc})") from exc
    return str(path)


def _jsonl_mapping_key(entity: c.Entity, mapping: m.ExtractMapping) -> tuple:
    keys = m.json_source_keys(entity, mapping)
    return tuple(tuple(keys[col.name]) for col in entity.columns), _jsonl_values_sql(entity, mapping)


def _jsonl_values_sql(entity: c.Entity, mapping: m.ExtractMapping) -> str:
    keys = m.json_source_keys(entity, mapping)
    extracted, position = {}, 1
    for col in entity.columns:
        parts = [f"v[{position + i}]" for i in range(len(keys[col.name]))]
        position += len(parts)
        extracted[col.name] = f"coalesce({', '.join(parts)})" if len(parts) > 1 else (parts[0] if parts else "NULL")
    return ", ".join(m.value_sql(col, f"({extracted[col.name]})", mapping) for col in entity.columns)


def _jsonl_select(entity: c.Entity, mapping: m.ExtractMapping, files: list[tuple[str, str]]) -> str:
    """One statement over (path, identity) pairs: each file is one text value split into its own
    lines (line numbers and row numbers per file); DuckDB parses the files in parallel."""
    keys = m.json_source_keys(entity, mapping)
    json_paths = "[" + ", ".join(n.quote("$." + json.dumps(key)) for col in entity.columns for key in keys[col.name]) + "]"
    paths = "[" + ", ".join(n.quote(path) for path, _ in files) + "]"
    names = "(VALUES " + ", ".join(f"({n.quote(path)}, {n.quote(identity)})" for path, identity in files) + ") AS f(path, identity)"
    return f"""
        WITH files AS (
            SELECT f.identity, string_split(t.content, chr(10)) AS lines
            FROM read_text({paths}) t JOIN {names} ON f.path = t.filename),
        lines AS (
            SELECT identity, unnest(lines) AS line_text, generate_subscripts(lines, 1) AS line_no FROM files),
        -- Trimming copies every line: only lines that can change are trimmed (the first, for a
        -- byte-order mark, and lines holding a CR), and a line starting with a brace is known to
        -- be neither blank nor anything but an object's start. Same values, a quarter of the time.
        cleaned AS (
            SELECT identity, line_no,
                   CASE WHEN line_no = 1 OR contains(line_text, chr(13))
                        THEN trim(CASE WHEN line_no = 1 THEN ltrim(line_text, chr(65279)) ELSE line_text END, chr(13))
                        ELSE line_text END AS line
            FROM lines),
        parsed AS (
            SELECT identity, line_no, line,
                   CASE WHEN NOT json_valid(line) THEN 'invalid JSON'
                        WHEN NOT CASE WHEN starts_with(line, '{{') THEN TRUE ELSE starts_with(ltrim(line), '{{') END
                            THEN 'not a JSON object' END AS malformed
            FROM cleaned WHERE CASE WHEN starts_with(line, '{{') THEN TRUE ELSE trim(line) <> '' END)
        SELECT identity, row_number() OVER (PARTITION BY identity ORDER BY line_no), line_no, malformed,
               CASE WHEN malformed IS NOT NULL THEN line END, {_jsonl_values_sql(entity, mapping)}
        FROM (SELECT *, CASE WHEN malformed IS NULL THEN json_extract_string(line, {json_paths}) END AS v
              FROM parsed)"""


def _read_jsonl(con, entity: c.Entity, reads: list[_Read], workdir: Path) -> None:
    paths = [_jsonl_plain_path(r.batch, workdir, r.index) for r in reads]
    names = ", ".join(_ident(col.name) for col in entity.columns)
    select = _jsonl_select(entity, reads[0].mapping, [(p, r.batch.identity) for p, r in zip(paths, reads)])
    try:
        con.execute(f"INSERT INTO _stl_in (_file, _row, _line, _malformed, _raw, {names}) {select}")
    except duckdb.Error as exc:
        if len(reads) == 1:
            raise ContractError(reads[0].batch.identity, f"unreadable JSON Lines ({exc})") from exc
        raise _UnreadableGroup(reads, paths, exc) from exc
    for p in paths:  # copies and links of this slice are done with
        Path(p).unlink(missing_ok=True)


def _name_unreadable_jsonl(con, entity: c.Entity, group: _UnreadableGroup) -> ContractError:
    """Outside the transaction: read the group's files one at a time; the first that fails is named."""
    for r, path in zip(group.reads, group.paths):
        try:
            con.execute(f"SELECT count(*) FROM ({_jsonl_select(entity, r.mapping, [(path, r.batch.identity)])})").fetchone()
        except duckdb.Error as exc:
            return ContractError(r.batch.identity, f"unreadable JSON Lines ({exc})")
    first = group.reads[0].batch.identity
    return ContractError(first, f"unreadable JSON Lines (read together with {len(group.reads) - 1} other files: {group.error})")


# ---- Parquet and SQL


def _read_parquet(con, entity: c.Entity, r: _Read) -> None:
    batch = r.batch
    text_columns = {col: f"CAST({_ident(src)} AS VARCHAR)" for col, src in r.columns.items()}
    names = ", ".join(_ident(col.name) for col in entity.columns)
    values = ", ".join(m.value_sql(col, text_columns.get(col.name), r.mapping) for col in entity.columns)
    try:
        (seen,) = con.execute(
            f"INSERT INTO _stl_in (_file, _row, _line, _malformed, _raw, {names}) "
            f"SELECT {n.quote(batch.identity)}, file_row_number + 1, NULL, NULL, NULL, {values} "
            f"FROM read_parquet({n.quote(r.path)}, file_row_number = true)").fetchone()
    except duckdb.Error as exc:
        raise ContractError(batch.identity, f"unreadable Parquet ({exc})") from exc
    if seen != r.expected_rows:
        raise ContractError(batch.identity, f"the Parquet reader returned {seen} rows; the file's metadata says {r.expected_rows}")


def _read_sql_rows(con, entity: c.Entity, batch: Batch) -> None:
    table = batch.rows  # pyarrow table of strings, columns named as the contract
    con.register("_stl_sql_rows", table)
    present = set(table.column_names)
    names = ", ".join(f'"{col.name}"' for col in entity.columns)
    select_cols = ", ".join(f'"{col.name}"' if col.name in present else "NULL" for col in entity.columns)
    con.execute(
        f"INSERT INTO _stl_in (_file, _row, _line, _malformed, _raw, {names}) "
        f"SELECT {n.quote(batch.identity)}, row_number() OVER (), NULL, NULL, NULL, {select_cols} FROM _stl_sql_rows"
    )
    con.unregister("_stl_sql_rows")


# ---------------------------------------------------------------- validation


def _checks(entity: c.Entity, load_time: str, tolerance_s: int, max_future_days: int
            ) -> list[tuple[str, str, str | None, str]]:
    """Ordered (condition, reason, column, detail SQL): the first true one rejects the row."""
    checks = [("_malformed IS NOT NULL", "malformed_row", None, "_malformed")]
    for col in entity.columns:
        if col.required:
            checks.append((f'"v_{col.name}" IS NULL', "missing_required_value", col.name, "'required value is empty'"))
    for col in entity.columns:
        v, t = f'"v_{col.name}"', f'"t_{col.name}"'
        if n.is_checked(col):
            checks.append((f"{v} IS NOT NULL AND {t} IS NULL", "invalid_value", col.name,
                           f"'''' || {v} || ''' is not {n.describe_invalid(col)}'"))
        if col.minimum is not None:
            checks.append((f"{t} < {col.minimum}", "invalid_value", col.name, f"{v} || ' is below the minimum {col.minimum:g}'"))
        if col.maximum is not None:
            checks.append((f"{t} > {col.maximum}", "invalid_value", col.name, f"{v} || ' is above the maximum {col.maximum:g}'"))
    for col in entity.columns:
        if col.type == c.TIMESTAMP and not col.may_be_future:
            limit = f"TIMESTAMP '{load_time}' + INTERVAL {int(tolerance_s)} SECOND"
            checks.append((f'"t_{col.name}" > {limit}', "future_timestamp", col.name,
                           f"strftime(\"t_{col.name}\", '%Y-%m-%dT%H:%M:%S.%gZ') || ' is after the load time {load_time}Z'"))
        elif col.type == c.TIMESTAMP:  # a plan may lie ahead, but not so far that one row explodes a calendar
            limit = f"TIMESTAMP '{load_time}' + INTERVAL {int(max_future_days)} DAY"
            checks.append((f'"t_{col.name}" > {limit}', "future_timestamp", col.name,
                           f"strftime(\"t_{col.name}\", '%Y-%m-%dT%H:%M:%S.%gZ') || ' is more than "
                           f"{int(max_future_days)} days after the load time (STL_MAX_FUTURE_DAYS)'"))
    for earlier, later in entity.ordered:
        checks.append((f'"t_{later}" < "t_{earlier}"', "negative_duration", later, f"'{later} is before {earlier}'"))
    return checks


def validate_and_insert(con, entity: c.Entity, timezone: str, default_region: str, load_id: str,
                        load_time: dt.datetime, limits: tuple[int, int], result: EntityLoadResult,
                        extract_dates: dict[str, dt.date | None]) -> dict[tuple[str, str | None], int]:
    """Type every value of _stl_in, pick each row's first failing check, insert into raw or
    quarantine; returns the row count per (file, reason), reason None for loaded rows."""
    load_ts = load_time.strftime("%Y-%m-%d %H:%M:%S.%f")
    cc, trunk = n.phone_plan(default_region)
    has_country = any(col.name == "country" for col in entity.columns)
    plan_cc = f"coalesce(p.cc, '{cc}')" if has_country else f"'{cc}'"
    plan_trunk = f"coalesce(p.trunk, '{trunk}')" if has_country else f"'{trunk}'"
    join = "LEFT JOIN _stl_phone_plans p ON p.region = upper(trim(i.country))" if has_country else ""

    value_cols, typed_cols, flag_cols = [], [], []
    for col in entity.columns:
        value_cols.append(f"nullif(trim(i.\"{col.name}\"), '') AS \"v_{col.name}\"")
    for col in entity.columns:
        raw = f'"v_{col.name}"'
        typed_cols.append(f'{n.typed_sql(col, raw, timezone)} AS "t_{col.name}"')
        for (name, _), expr in zip(n.companion_columns(col), n.companion_sql(col, raw, "_cc", "_trunk")):
            typed_cols.append(f'{expr} AS "c_{name}"')
        if col.type == c.TIMESTAMP:  # how naive values were read, for the run's metadata
            local = f"stl_naive_local({raw})"
            flag_cols.append(f"{local} IS NOT NULL AS \"naive_{col.name}\"")
            flag_cols.append(f"coalesce({n.is_ambiguous_sql(local, timezone)}, FALSE) AS \"ambiguous_{col.name}\"")
            flag_cols.append(f"coalesce({n.is_nonexistent_sql(local, timezone)}, FALSE) AS \"nonexistent_{col.name}\"")

    checks = _checks(entity, load_ts, *limits)
    fail = "CASE " + " ".join(f"WHEN {cond} THEN {i}" for i, (cond, *_rest) in enumerate(checks, 1)) + " END"
    reason = "CASE _fail " + " ".join(f"WHEN {i} THEN '{r}'" for i, (_, r, _c, _d) in enumerate(checks, 1)) + " END"
    column = "CASE _fail " + " ".join(
        f"WHEN {i} THEN {n.quote(col) if col else 'NULL'}" for i, (_, _r, col, _d) in enumerate(checks, 1)) + " END"
    detail = "CASE _fail " + " ".join(f"WHEN {i} THEN {d}" for i, (_, _r, _c, d) in enumerate(checks, 1)) + " END"
    key_typed = ", ".join(f'"t_{k}"' for k in entity.key)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _stl_checked AS
        WITH first_parsed AS (  -- CSV rows come without _row: numbered from their file's first row id
            SELECT _file AS _first_file, min(rowid) AS _first_rowid FROM _stl_in
            WHERE _row IS NULL AND _malformed IS NULL GROUP BY 1),
        vals AS (
            SELECT i.rowid AS _seq, i._file,
                   CASE WHEN i._row IS NULL AND i._malformed IS NULL THEN i.rowid - o._first_rowid + 1 ELSE i._row END AS _row,
                   i._line, i._malformed, i._raw,
                   {plan_cc} AS _cc, {plan_trunk} AS _trunk, {', '.join(value_cols)}
            FROM _stl_in i LEFT JOIN first_parsed o ON o._first_file = i._file {join}),
        typed AS (SELECT *, {', '.join(typed_cols + flag_cols)} FROM vals)
        SELECT *, {fail} AS _fail FROM typed""")
    # Duplicate keys within a file, among rows that pass every check: a window over the key
    # alone (a window carrying every typed column cost half the validation time). A slice holds
    # whole files, so this is the file's rule exactly.
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _stl_dup AS
        SELECT _seq FROM _stl_checked WHERE _fail IS NULL
        QUALIFY row_number() OVER (PARTITION BY _file, {key_typed} ORDER BY _row) > 1""")

    dated = {i: d for i, d in extract_dates.items() if d}
    date_case = ("CASE _file " + " ".join(f"WHEN {n.quote(i)} THEN DATE '{d.isoformat()}'" for i, d in dated.items())
                 + " END") if dated else "NULL::DATE"
    target_cols, select_cols = [], []
    for col in entity.columns:
        target_cols.append(col.name)
        select_cols.append(f'"t_{col.name}"' if n.is_checked(col) else f'"v_{col.name}"')
        for name, _ in n.companion_columns(col):
            target_cols.append(name)
            select_cols.append(f'"c_{name}"')
    target_cols += [name for name, _ in LINEAGE_COLUMNS]
    select_cols += ["_file", "_row", date_case, n.quote(load_id), f"TIMESTAMP '{load_ts}'"]
    loaded = "_fail IS NULL AND _seq NOT IN (SELECT _seq FROM _stl_dup)"
    con.execute(
        f"INSERT INTO raw.{entity.name} ({', '.join(target_cols)}) "
        f"SELECT {', '.join(select_cols)} FROM _stl_checked WHERE {loaded}"
    )
    record = "json_object(" + ", ".join(f"{n.quote(col.name)}, \"v_{col.name}\"" for col in entity.columns) + ")"
    con.execute(
        "INSERT INTO raw.quarantine SELECT "
        f"{n.quote(entity.name)}, _file, _row, _line, "
        f"CASE WHEN _duplicate THEN 'duplicate_key' ELSE {reason} END, "
        f"CASE WHEN _duplicate THEN {n.quote(', '.join(entity.key))} ELSE {column} END, "
        f"CASE WHEN _duplicate THEN 'same key as an earlier row of this file' ELSE {detail} END, "
        f"coalesce(_raw, {record}::VARCHAR), {n.quote(load_id)}, TIMESTAMP '{load_ts}' "
        "FROM (SELECT c.*, d._seq IS NOT NULL AS _duplicate FROM _stl_checked c LEFT JOIN _stl_dup d ON d._seq = c._seq "
        "      WHERE c._fail IS NOT NULL OR d._seq IS NOT NULL)"
    )
    # Timezone and phone notes, for the asset's metadata.
    ts_cols = [col.name for col in entity.columns if col.type == c.TIMESTAMP]
    phone_cols = [col.name for col in entity.columns if col.type == c.PHONE]
    # "count(*) * 0" keeps the query an aggregate (one row, even over no rows) for extracts
    # without timestamps or phones, e.g. a re-delivered header-only schedules file.
    parts = [" + ".join(f'count_if("{kind}_{name}")' for name in ts_cols) or "count(*) * 0"
             for kind in ("naive", "ambiguous", "nonexistent")]
    parts.append(" + ".join(
        f'count_if("v_{name}" IS NOT NULL AND "c_{name}_e164" IS NULL)' for name in phone_cols) or "count(*) * 0")
    naive, ambiguous, nonexistent, bad_phones = con.execute(
        f"SELECT {', '.join(parts)} FROM _stl_checked WHERE {loaded}").fetchone()
    result.naive_timestamps += int(naive or 0)
    result.ambiguous_local_times += int(ambiguous or 0)
    result.nonexistent_local_times += int(nonexistent or 0)
    result.unparseable_phones += int(bad_phones or 0)
    return {
        (row[0], row[1]): row[2]
        for row in con.execute(
            f"SELECT c._file, CASE WHEN d._seq IS NOT NULL THEN 'duplicate_key' ELSE {reason} END, count(*) "
            "FROM _stl_checked c LEFT JOIN _stl_dup d ON d._seq = c._seq GROUP BY ALL").fetchall()
    }


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
        reads = _prepare_reads(con, entity, batches, config, result.ignored_columns, Path(workdir))
        optimizers = con.execute("SELECT current_setting('disabled_optimizers')").fetchone()[0]
        # DuckDB turns a long IN list (the zone names a timestamp may carry) into a join that
        # runs for every row, whatever branch of the CASE the row takes; left as an expression it
        # is evaluated only for the rows that reach it. Same results, half the validation time.
        con.execute(f"SET disabled_optimizers = {n.quote(','.join(filter(None, [optimizers, 'in_clause'])))}")
        try:
            while True:
                attempt = EntityLoadResult(entity.name, load_id, ignored_columns=result.ignored_columns)
                con.execute("BEGIN TRANSACTION")
                try:
                    _load_slices(con, entity, batches, reads, timezone, default_region, load_id, load_time, limits,
                                 attempt, Path(workdir), slice_bytes or SLICE_BYTES)
                    con.execute("COMMIT")
                    break
                except _NeedsLfCopy:
                    con.execute("ROLLBACK")
                    _mark_lf_copies(con, reads)
                except _UnreadableGroup as group:
                    con.execute("ROLLBACK")
                    raise _name_unreadable_jsonl(con, entity, group) from group.error
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
                finally:
                    con.execute("SET preserve_insertion_order = true")
                    con.execute("DROP TABLE IF EXISTS _stl_checked; DROP TABLE IF EXISTS _stl_dup; "
                                "DROP TABLE IF EXISTS _stl_in; DROP TABLE IF EXISTS _stl_rej_lines; "
                                "DROP TABLE IF EXISTS _stl_rej; DROP TABLE IF EXISTS _stl_rej_scan")
        finally:
            con.execute(f"SET disabled_optimizers = {n.quote(optimizers)}")
    result.files.extend(attempt.files)
    for attr in ("naive_timestamps", "ambiguous_local_times", "nonexistent_local_times", "unparseable_phones"):
        setattr(result, attr, getattr(attempt, attr))
    return result


def _mark_lf_copies(con, reads: list[_Read]) -> None:
    """After a rollback: every CSV file of the load that DuckDB's parser stops on gets read from an
    LF copy when the load restarts (found in one pass, so the load restarts at most once)."""
    marked = False
    for r in reads:
        if r.format == "csv" and not r.lf_copy and _needs_lf_copy(con, r):
            r.lf_copy = marked = True
    if not marked:  # cannot happen unless the parser is not deterministic; never loop forever
        raise ContractError(reads[0].batch.identity, "unreadable CSV (the parser stopped on a file it then read)")


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
            _read_slice(con, entity, part, counted, workdir)
            # Row order is explicit (_source_row) from here on: let DuckDB write in parallel.
            con.execute("SET preserve_insertion_order = false")
            for key, k in validate_and_insert(con, entity, timezone, default_region, load_id, load_time, limits,
                                              result, {r.batch.identity: dates[r.batch.identity] for r in part}).items():
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
