"""Load extracts of one entity into ``raw.<entity>``: validate, normalise, quarantine, account.

One call of ``load_entity`` is one transaction: either every new or changed file of the entity
lands (rows in ``raw.<entity>``, rejects in ``raw.quarantine``, a row per file in
``raw.ingested_files``), or — on a file-level contract error — nothing changes at all.

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
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from orchestration.ingest import contract as c
from orchestration.ingest import mapping as m
from orchestration.ingest import normalize as n
from orchestration.ingest.files import LandingFile, sha256_of
from orchestration.ingest.record_count import count_csv_records


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


# ---------------------------------------------------------------- reading into _stl_in
#
# Every file is read on its own (the CSV dialect is never guessed from another file), through a
# symlink with a plain generated name (a path is data, never a glob pattern), before the load's
# transaction begins (a file the reader rejects names itself, and cannot abort the transaction).


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


def _insert_mapped(con, entity: c.Entity, mapping: m.ExtractMapping, columns: dict[str, str],
                   source: str, file_sql: str, row_sql: str) -> None:
    names = ", ".join(_ident(col.name) for col in entity.columns)
    values = ", ".join(
        m.value_sql(col, _ident(columns[col.name]) if col.name in columns else None, mapping) for col in entity.columns)
    con.execute(f"INSERT INTO _stl_in (_file, _row, _line, _malformed, _raw, {names}) "
                f"SELECT {file_sql}, {row_sql}, NULL, NULL, NULL, {values} FROM {source}")


def _read_csv_text(con, path: str, header: list[str]) -> None:
    con.execute("DROP TABLE IF EXISTS _stl_csv; DROP TABLE IF EXISTS _stl_rej; DROP TABLE IF EXISTS _stl_rej_scan")
    con.execute(
        # The dialect is the contract's (RFC 4180, header row): nothing is sniffed, so a broken
        # row can never change how the rest of the file is read.
        f"CREATE TEMP TABLE _stl_csv AS SELECT * FROM read_csv({n.quote(path)}, auto_detect = false, header = true, "
        f"columns = {{{', '.join(f'{n.quote(h)}: {chr(39)}VARCHAR{chr(39)}' for h in header)}}}, "
        "delim = ',', quote = '\"', escape = '\"', ignore_errors = true, "
        "store_rejects = true, rejects_table = '_stl_rej', rejects_scan = '_stl_rej_scan', "
        "null_padding = false, parallel = true)"
    )


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


def _read_csv(con, entity: c.Entity, batch: Batch, mapping: m.ExtractMapping, path: str, ignored: dict) -> None:
    header = _csv_header(batch)
    columns, extra = _header_mapping(entity, mapping, batch.identity, header)
    if extra:
        ignored[batch.identity] = extra
    try:
        _read_csv_text(con, path, header)
    except duckdb.InvalidInputException as exc:
        # Mixed CRLF / LF line endings stop DuckDB's parser; the contract accepts them, so the
        # file is read again with every CRLF made LF (a copy in the work dir, the source untouched).
        if not _has_carriage_returns(batch):
            raise ContractError(batch.identity, f"unreadable CSV ({exc})") from exc
        try:
            _read_csv_text(con, _lf_copy(batch, path), header)
        except duckdb.Error as again:
            raise ContractError(batch.identity, f"unreadable CSV ({again})") from again
    except duckdb.Error as exc:
        raise ContractError(batch.identity, f"unreadable CSV ({exc})") from exc
    file_sql = n.quote(batch.identity)
    _insert_mapped(con, entity, mapping, columns, "_stl_csv", file_sql, "rowid + 1")
    con.execute(
        "INSERT INTO _stl_in (_file, _row, _line, _malformed, _raw) "
        f"SELECT {file_sql}, NULL, r.line, r.error_type || ': ' || r.error_message, trim(r.csv_line, chr(10) || chr(13)) "
        "FROM _stl_rej r "
        # DuckDB reports one error per bad column; a line is one rejected row.
        "QUALIFY row_number() OVER (PARTITION BY r.scan_id, r.file_id, r.line ORDER BY r.column_idx) = 1"
    )
    _account_csv_records(con, batch)
    con.execute("DROP TABLE _stl_csv; DROP TABLE _stl_rej; DROP TABLE _stl_rej_scan")


def _account_csv_records(con, batch: Batch) -> None:
    """Compare the reader's rows + rejects with an independent, quote-aware record count; a
    record the reader dropped becomes a quarantine row (malformed_row) naming its line."""
    counted = count_csv_records(batch.file.path, gzipped=batch.file.compression == "gzip")
    seen = con.execute("SELECT count(*) FROM _stl_in WHERE _file = ?", [batch.identity]).fetchone()[0]
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


def _read_jsonl(con, entity: c.Entity, batch: Batch, mapping: m.ExtractMapping, path: str) -> None:
    keys = m.json_source_keys(entity, mapping)
    flat = [(col, key) for col in entity.columns for key in keys[col.name]]
    json_paths = "[" + ", ".join(n.quote("$." + json.dumps(key)) for _, key in flat) + "]"
    extracted, position = {}, 1
    for col in entity.columns:
        parts = [f"v[{position + i}]" for i in range(len(keys[col.name]))]
        position += len(parts)
        extracted[col.name] = f"coalesce({', '.join(parts)})" if len(parts) > 1 else (parts[0] if parts else "NULL")
    names = ", ".join(_ident(col.name) for col in entity.columns)
    values = ", ".join(m.value_sql(col, f"({extracted[col.name]})", mapping) for col in entity.columns)
    try:
        con.execute(f"""
            INSERT INTO _stl_in (_file, _row, _line, _malformed, _raw, {names})
            WITH lines AS (
                SELECT unnest(string_split(content, chr(10))) AS line_text,
                       unnest(range(1, len(string_split(content, chr(10))) + 1)) AS line_no
                FROM read_text({n.quote(path)})),
            cleaned AS (
                SELECT line_no,
                       trim(CASE WHEN line_no = 1 THEN ltrim(line_text, chr(65279)) ELSE line_text END, chr(13)) AS line
                FROM lines),
            parsed AS (
                SELECT line_no, line,
                       CASE WHEN NOT json_valid(line) THEN 'invalid JSON'
                            WHEN NOT starts_with(ltrim(line), '{{') THEN 'not a JSON object' END AS malformed
                FROM cleaned WHERE trim(line) <> '')
            SELECT {n.quote(batch.identity)}, row_number() OVER (ORDER BY line_no), line_no, malformed,
                   CASE WHEN malformed IS NOT NULL THEN line END, {values}
            FROM (SELECT *, CASE WHEN malformed IS NULL THEN json_extract_string(line, {json_paths}) END AS v
                  FROM parsed)""")
    except duckdb.Error as exc:
        raise ContractError(batch.identity, f"unreadable JSON Lines ({exc})") from exc


def _read_parquet(con, entity: c.Entity, batch: Batch, mapping: m.ExtractMapping, path: str, ignored: dict) -> None:
    source = f"read_parquet({n.quote(path)}, file_row_number = true)"
    try:
        schema = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet({n.quote(path)})").fetchall()]
        expected = con.execute(f"SELECT sum(num_rows) FROM parquet_file_metadata({n.quote(path)})").fetchone()[0]
    except duckdb.Error as exc:
        raise ContractError(batch.identity, f"unreadable Parquet ({exc})") from exc
    columns, extra = _header_mapping(entity, mapping, batch.identity, schema)
    if extra:
        ignored[batch.identity] = extra
    text_columns = {col: f"CAST({_ident(src)} AS VARCHAR)" for col, src in columns.items()}
    names = ", ".join(_ident(col.name) for col in entity.columns)
    values = ", ".join(m.value_sql(col, text_columns.get(col.name), mapping) for col in entity.columns)
    try:
        con.execute(f"INSERT INTO _stl_in (_file, _row, _line, _malformed, _raw, {names}) "
                    f"SELECT {n.quote(batch.identity)}, file_row_number + 1, NULL, NULL, NULL, {values} FROM {source}")
    except duckdb.Error as exc:
        raise ContractError(batch.identity, f"unreadable Parquet ({exc})") from exc
    seen = con.execute("SELECT count(*) FROM _stl_in WHERE _file = ?", [batch.identity]).fetchone()[0]
    if seen != int(expected or 0):
        raise ContractError(batch.identity, f"the Parquet reader returned {seen} rows; the file's metadata says {expected}")


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


def read_batches(con, entity: c.Entity, batches: list[Batch], result: EntityLoadResult,
                 config: m.SourcesConfig | None = None) -> list[Batch]:
    """Read every batch into _stl_in, each file on its own; returns the 0-byte files (recorded, not read)."""
    _create_input_table(con, entity)
    empty = [b for b in batches if b.kind == "file" and b.size == 0]
    with tempfile.TemporaryDirectory(prefix="stl_ingest_") as workdir:
        for index, b in enumerate(batches):
            if b in empty:
                continue
            if b.kind == "sql":
                _read_sql_rows(con, entity, b)
                continue
            mapping = config.for_file(entity.name, b.identity) if config else m.IDENTITY[entity.name]
            if b.file.format == "csv":
                _read_csv(con, entity, b, mapping, _safe_path(b, Path(workdir), index), result.ignored_columns)
            elif b.file.format == "jsonl":
                _read_jsonl(con, entity, b, mapping, _jsonl_plain_path(b, Path(workdir), index))
            else:
                _read_parquet(con, entity, b, mapping, _safe_path(b, Path(workdir), index), result.ignored_columns)
    return empty


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
                        extract_dates: dict[str, dt.date | None]) -> None:
    """Type every value, pick each row's first failing check, insert into raw or quarantine."""
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
        WITH vals AS (
            SELECT i._file, i._row, i._line, i._malformed, i._raw, {plan_cc} AS _cc, {plan_trunk} AS _trunk,
                   {', '.join(value_cols)}
            FROM _stl_in i {join}),
        typed AS (SELECT *, {', '.join(typed_cols + flag_cols)} FROM vals),
        failed AS (SELECT *, {fail} AS _fail FROM typed),
        dedup AS (
            SELECT *, CASE WHEN _fail IS NULL AND row_number() OVER (
                        PARTITION BY _file, _fail IS NULL, {key_typed} ORDER BY _row) > 1
                    THEN TRUE ELSE FALSE END AS _duplicate
            FROM failed)
        SELECT *,
               CASE WHEN _duplicate THEN 'duplicate_key' ELSE {reason} END AS _reason,
               CASE WHEN _duplicate THEN {n.quote(', '.join(entity.key))} ELSE {column} END AS _reason_column,
               CASE WHEN _duplicate THEN 'same key as an earlier row of this file' ELSE {detail} END AS _reason_detail
        FROM dedup""")

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
    con.execute(
        f"INSERT INTO raw.{entity.name} ({', '.join(target_cols)}) "
        f"SELECT {', '.join(select_cols)} FROM _stl_checked WHERE _reason IS NULL"
    )
    record = "json_object(" + ", ".join(f"{n.quote(col.name)}, \"v_{col.name}\"" for col in entity.columns) + ")"
    con.execute(
        "INSERT INTO raw.quarantine SELECT "
        f"{n.quote(entity.name)}, _file, _row, _line, _reason, _reason_column, _reason_detail, "
        f"coalesce(_raw, {record}::VARCHAR), {n.quote(load_id)}, TIMESTAMP '{load_ts}' "
        "FROM _stl_checked WHERE _reason IS NOT NULL"
    )
    # Timezone and phone notes, for the asset's metadata.
    ts_cols = [col.name for col in entity.columns if col.type == c.TIMESTAMP]
    phone_cols = [col.name for col in entity.columns if col.type == c.PHONE]
    parts = [" + ".join(f'count_if("{kind}_{name}")' for name in ts_cols) or "0"
             for kind in ("naive", "ambiguous", "nonexistent")]
    parts.append(" + ".join(
        f'count_if("v_{name}" IS NOT NULL AND "c_{name}_e164" IS NULL)' for name in phone_cols) or "0")
    naive, ambiguous, nonexistent, bad_phones = con.execute(
        f"SELECT {', '.join(parts)} FROM _stl_checked WHERE _reason IS NULL").fetchone()
    result.naive_timestamps += int(naive or 0)
    result.ambiguous_local_times += int(ambiguous or 0)
    result.nonexistent_local_times += int(nonexistent or 0)
    result.unparseable_phones += int(bad_phones or 0)


# ---------------------------------------------------------------- the whole load


def load_entity(con: duckdb.DuckDBPyConnection, entity: c.Entity, files: list[LandingFile],
                timezone: str, default_region: str, load_time: dt.datetime | None = None,
                tolerance_s: int = 300, sql_batches: list[Batch] | None = None,
                config: m.SourcesConfig | None = None, max_future_days: int = 730) -> EntityLoadResult:
    """Load new and changed files (and SQL batches) of one entity in one transaction.

    The files are read first (each on its own, into temporary tables), so a file the reader
    rejects raises a ContractError naming it before anything is written."""
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
    empty = read_batches(con, entity, batches, result, config)
    con.execute("BEGIN TRANSACTION")
    try:
        _load_batches(con, entity, batches, empty, timezone, default_region, load_id, load_time,
                      (tolerance_s, max_future_days), result)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.execute("DROP TABLE IF EXISTS _stl_checked; DROP TABLE IF EXISTS _stl_in")
    return result


def _load_batches(con, entity, batches, empty, timezone, default_region, load_id, load_time, limits, result):
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
    # Row order is explicit (_source_row) from here on: let DuckDB write in parallel.
    con.execute("SET preserve_insertion_order = false")
    try:
        validate_and_insert(con, entity, timezone, default_region, load_id, load_time, limits, result,
                            {b.identity: b.extract_date for b in batches})
    finally:
        con.execute("SET preserve_insertion_order = true")

    counts = {
        (row[0], row[1]): row[2]
        for row in con.execute("SELECT _file, _reason, count(*) FROM _stl_checked GROUP BY ALL").fetchall()
    }
    for b in batches:
        per_reason = {r: k for (f, r), k in counts.items() if f == b.identity and r is not None}
        loaded = counts.get((b.identity, None), 0)
        quarantined = sum(per_reason.values())
        status = "empty" if b in empty else ("replaced" if b.identity in previous else "loaded")
        if b in empty:
            per_reason = {}
            con.execute(
                "INSERT INTO raw.quarantine VALUES (?, ?, NULL, NULL, 'empty_file', NULL, ?, NULL, ?, ?)",
                [entity.name, b.identity, "the file has no bytes, not even a header", load_id, load_time],
            )
        fr = FileResult(b.identity, status, loaded + quarantined, loaded, quarantined, dict(sorted(per_reason.items())))
        result.files.append(fr)
        con.execute(
            "INSERT INTO raw.ingested_files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [b.identity, entity.name, b.kind, b.fingerprint, b.size, b.mtime_ns, b.extract_date, status,
             fr.rows_read, fr.rows_loaded, fr.rows_quarantined, load_id, load_time],
        )
        con.execute(
            "INSERT INTO raw.load_history VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [load_id, entity.name, b.identity, status, b.fingerprint, fr.rows_read, fr.rows_loaded,
             fr.rows_quarantined, load_time],
        )
