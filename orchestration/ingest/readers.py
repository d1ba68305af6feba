"""Reading a slice of batches into the temporary table ``_stl_in``: one reader per format (CSV,
JSON Lines, Parquet, SQL rows), every value as text, malformed records as rows of their own.

Every file is read on its own (the CSV dialect is the contract's, never guessed from another
file), through a symlink with a plain generated name (a path is data, never a glob pattern).
Headers are checked before the load's transaction begins (``prepare_reads``), so a file whose
columns break the contract is named before anything is written; a file the reader rejects later
rolls the whole transaction back and is named too.

A CSV file's rows are accounted for twice: the reader's parsed rows plus its rejected lines must
equal an independent, quote-aware record count, so a record the parser silently dropped still
ends in the quarantine.
"""

from __future__ import annotations

import csv
import gzip
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb

from orchestration.ingest import contract as c
from orchestration.ingest import mapping as m
from orchestration.ingest import normalize as n
from orchestration.ingest.batches import Batch, ContractError
from orchestration.ingest.record_count import RecordCount


# ---------------------------------------------------------------- settling reads and reading a slice

# Compressed files (gzip, Parquet) hold several times their size in text: slice sizing only.
COMPRESSED_TEXT_FACTOR = 5


@dataclass
class Read:
    """How one batch is read, settled before the transaction."""

    batch: Batch
    index: int  # names the batch's symlink / copies in the work dir
    mapping: m.ExtractMapping | None = None
    columns: dict[str, str] | None = None  # contract column → source column (CSV, Parquet)
    header: list[str] | None = None  # CSV header as written
    path: str | None = None  # literal symlink (CSV, Parquet)
    expected_rows: int | None = None  # Parquet metadata
    lf_copy: bool = False  # CSV with mixed line endings: read a copy with every CRLF made LF
    alone: bool = False  # CSV read in a statement of its own (its group's statement failed)
    text_bytes: int = 0

    @property
    def format(self) -> str:
        return "sql" if self.batch.kind == "sql" else self.batch.file.format


class NeedsLfCopy(Exception):
    """DuckDB's parser stopped on a CSV that holds carriage returns: the load restarts with the
    CSV files that need it read from LF copies (decided outside the transaction)."""


class CsvGroupFailed(Exception):
    """DuckDB's parser stopped on one of several CSV files read in one statement: the load
    restarts with each of them read alone, where the file is named (or read from an LF copy)."""

    def __init__(self, reads: list[Read]):
        super().__init__(", ".join(r.batch.identity for r in reads))
        self.reads = reads


class UnreadableGroup(Exception):
    """A JSON Lines statement over several files failed; which file it was is found after the
    rollback, by reading them one at a time."""

    def __init__(self, reads: list[Read], paths: list[str], error: duckdb.Error):
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


def prepare_reads(con, entity: c.Entity, batches: list[Batch], config: m.SourcesConfig | None,
                   ignored: dict, workdir: Path) -> list[Read]:
    """Header, mapping and sizes of every non-empty batch, in order; file-level contract errors
    (missing or duplicated column, unreadable header or Parquet metadata) are raised here, before
    the transaction."""
    reads = []
    for index, b in enumerate(batches):
        if b.kind == "sql":
            reads.append(Read(b, index, text_bytes=int(b.rows.nbytes)))
            continue
        if b.size == 0:
            continue  # recorded as an empty file, never read
        r = Read(b, index, config.for_file(entity.name, b.identity) if config else m.IDENTITY[entity.name],
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


def read_slice(con, entity: c.Entity, reads: list[Read], counts: dict, workdir: Path) -> None:
    """Read one slice's batches into _stl_in. ``counts``: identity → future of the CSV file's
    independent record count (computed in a thread while DuckDB reads)."""
    _create_input_table(con, entity)
    con.execute("DROP TABLE IF EXISTS _stl_rej; DROP TABLE IF EXISTS _stl_rej_scan")
    jsonl_groups: dict[tuple, list[Read]] = {}
    csv_groups: dict[tuple, list[Read]] = {}
    for r in reads:
        if r.format == "sql":
            _read_sql_rows(con, entity, r.batch)
        elif r.format == "csv":
            csv_groups.setdefault(_csv_group_key(entity, r), []).append(r)
        elif r.format == "parquet":
            _read_parquet(con, entity, r)
        else:  # files with the same mapping are parsed by one statement, each file still its own text
            jsonl_groups.setdefault(_jsonl_mapping_key(entity, r.mapping), []).append(r)
    if csv_groups:
        read_paths = [pair for group in csv_groups.values() for pair in _read_csv(con, entity, group)]
        # Parsed CSV rows are the only ones so far without a row number and without a reason.
        parsed = dict(con.execute("SELECT _file, count(*) FROM _stl_in WHERE _row IS NULL AND _malformed IS NULL "
                                  "GROUP BY 1").fetchall())
        rejected = _insert_csv_rejects(con, read_paths)
        for group in csv_groups.values():
            for r in group:
                identity = r.batch.identity
                _account_csv_records(con, r.batch, counts[identity].result(),
                                     parsed.get(identity, 0) + rejected.get(identity, 0))
    for group in jsonl_groups.values():
        _read_jsonl(con, entity, group, workdir)


# ---- CSV


def _csv_scan_sql(paths_sql: str, header: list[str]) -> str:
    # The dialect is the contract's (RFC 4180, header row): nothing is sniffed, so a broken row
    # can never change how the rest of the file is read. Rejected lines accumulate in _stl_rej
    # (_stl_rej_scan names each file's path).
    return (f"read_csv({paths_sql}, auto_detect = false, header = true, filename = '_stl_file', "
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


def _needs_lf_copy(con, r: Read) -> bool:
    """Outside the transaction: does DuckDB's parser stop on this file as it is? (Mixed CRLF / LF
    line endings do; the contract accepts them, so such a file is read from an LF copy.)"""
    if not _has_carriage_returns(r.batch):
        return False
    con.execute("DROP TABLE IF EXISTS _stl_rej; DROP TABLE IF EXISTS _stl_rej_scan")
    try:
        con.execute(f"SELECT count(*) FROM {_csv_scan_sql(n.quote(r.path), r.header)}").fetchone()
    except duckdb.InvalidInputException:
        return True
    except duckdb.Error as exc:
        raise ContractError(r.batch.identity, f"unreadable CSV ({exc})") from exc
    finally:
        con.execute("DROP TABLE IF EXISTS _stl_rej; DROP TABLE IF EXISTS _stl_rej_scan")
    return False


def mark_lf_copies(con, reads: list[Read]) -> None:
    """After a rollback: every CSV file of the load that DuckDB's parser stops on gets read from an
    LF copy when the load restarts (found in one pass, so the load restarts at most once)."""
    marked = False
    for r in reads:
        if r.format == "csv" and not r.lf_copy and _needs_lf_copy(con, r):
            r.lf_copy = marked = True
    if not marked:  # cannot happen unless the parser is not deterministic; never loop forever
        raise ContractError(reads[0].batch.identity, "unreadable CSV (the parser stopped on a file it then read)")


def _csv_values_sql(entity: c.Entity, r: Read) -> str:
    return m.row_sql(entity, {col: _ident(src) for col, src in r.columns.items()}, r.mapping)


def _csv_group_key(entity: c.Entity, r: Read) -> tuple:
    """CSV files with the same header and mapping are read by one statement: one statement per
    file cost three times the reading of a year of daily files (365 statements, 7.7 s against
    2.5 s for 2.6M calls)."""
    return (r.index,) if r.alone else (tuple(r.header), _csv_values_sql(entity, r), r.lf_copy, r.batch.file.compression)


def _read_csv(con, entity: c.Entity, group: list[Read]) -> list[tuple[str, str]]:
    """Parsed rows of CSV files that share a header and a mapping into _stl_in, straight from the
    reader; returns (identity, path read) per file.

    Their _row is left NULL: one scan keeps each file's rows, in the file's order, in consecutive
    row ids, so validation numbers them from the file's first row id (no copy in between). The
    file a row came from is its path's batch index (symlinks and copies are named f<index>...)."""
    paths = [_lf_copy(r.batch, r.path) if r.lf_copy else r.path for r in group]
    by_index = [None] * (max(r.index for r in group) + 1)
    for r in group:
        by_index[r.index] = r.batch.identity
    identities = "[" + ", ".join("NULL" if i is None else n.quote(i) for i in by_index) + "]"
    identity = rf"{identities}[CAST(regexp_extract(_stl_file, '/f(\d+)[^/]*$', 1) AS INTEGER) + 1]"
    names = ", ".join(_ident(col.name) for col in entity.columns)
    scan = _csv_scan_sql("[" + ", ".join(n.quote(p) for p in paths) + "]", group[0].header)
    try:
        con.execute(f"INSERT INTO _stl_in (_file, _row, _line, _malformed, _raw, {names}) "
                    f"SELECT {identity}, NULL, NULL, NULL, NULL, {_csv_values_sql(entity, group[0])} FROM {scan}")
    except duckdb.Error as exc:
        if len(group) > 1:
            raise CsvGroupFailed(group) from exc
        r = group[0]
        if isinstance(exc, duckdb.InvalidInputException) and not r.lf_copy and _has_carriage_returns(r.batch):
            raise NeedsLfCopy(r.batch.identity) from exc
        raise ContractError(r.batch.identity, f"unreadable CSV ({exc})") from exc
    finally:
        for r, path in zip(group, paths):
            if r.lf_copy:
                Path(path).unlink(missing_ok=True)
    return [(r.batch.identity, path) for r, path in zip(group, paths)]


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
    return m.row_sql(entity, {col: f"({expr})" for col, expr in extracted.items()}, mapping)


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


def _read_jsonl(con, entity: c.Entity, reads: list[Read], workdir: Path) -> None:
    paths = [_jsonl_plain_path(r.batch, workdir, r.index) for r in reads]
    names = ", ".join(_ident(col.name) for col in entity.columns)
    select = _jsonl_select(entity, reads[0].mapping, [(p, r.batch.identity) for p, r in zip(paths, reads)])
    try:
        con.execute(f"INSERT INTO _stl_in (_file, _row, _line, _malformed, _raw, {names}) {select}")
    except duckdb.Error as exc:
        if len(reads) == 1:
            raise ContractError(reads[0].batch.identity, f"unreadable JSON Lines ({exc})") from exc
        raise UnreadableGroup(reads, paths, exc) from exc
    for p in paths:  # copies and links of this slice are done with
        Path(p).unlink(missing_ok=True)


def name_unreadable_jsonl(con, entity: c.Entity, group: UnreadableGroup) -> ContractError:
    """Outside the transaction: read the group's files one at a time; the first that fails is named."""
    for r, path in zip(group.reads, group.paths):
        try:
            con.execute(f"SELECT count(*) FROM ({_jsonl_select(entity, r.mapping, [(path, r.batch.identity)])})").fetchone()
        except duckdb.Error as exc:
            return ContractError(r.batch.identity, f"unreadable JSON Lines ({exc})")
    first = group.reads[0].batch.identity
    return ContractError(first, f"unreadable JSON Lines (read together with {len(group.reads) - 1} other files: {group.error})")


# ---- Parquet and SQL


def _read_parquet(con, entity: c.Entity, r: Read) -> None:
    batch = r.batch
    text_columns = {col: f"CAST({_ident(src)} AS VARCHAR)" for col, src in r.columns.items()}
    names = ", ".join(_ident(col.name) for col in entity.columns)
    values = m.row_sql(entity, text_columns, r.mapping)
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
