"""``stl check``: a dry run over a landing directory that answers in seconds and writes nothing.

It validates sources.yaml, finds the files of each extract and the mapping that applies, and
loads a sample of each extract (the first rows of its first files) into an in-memory DuckDB with
the real loader, so missing columns, quarantine reasons and parsed values are exactly what a run
would give, and says which outputs the extracts allow."""

from __future__ import annotations

import csv
import gzip
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from orchestration.ingest import contract as c
from orchestration.ingest.files import LandingFile, scan
from orchestration.ingest.batches import ContractError
from orchestration.ingest.loader import load_entity
from orchestration.ingest.normalize import companion_columns
from orchestration.ingest.mapping import MappingError, load_sources
from orchestration.ingest.raw_schema import ensure_raw_schema, prepare_connection, raw_columns
from orchestration.quality.availability import OutputStatus, status_from_extract_counts
from orchestration.settings import Settings

SAMPLE_FILES = 3
SAMPLE_ROWS = 2000
SHOWN_ROWS = 3


@dataclass
class ExtractCheck:
    entity: str
    files: list[str] = field(default_factory=list)
    mappings: list[str] = field(default_factory=list)
    error: str | None = None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    ignored_columns: dict[str, list[str]] = field(default_factory=dict)
    sample: list[dict] = field(default_factory=list)


@dataclass
class CheckReport:
    landing_dir: Path
    config_error: str | None = None
    extracts: dict[str, ExtractCheck] = field(default_factory=dict)
    unrecognised: list[str] = field(default_factory=list)
    outputs: list[OutputStatus] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.config_error is None and not any(e.error for e in self.extracts.values())


def _copy_head(file: LandingFile, target: Path, rows: int) -> None:
    """The file's first ``rows`` records (whole records: quoting respected), same format."""
    target.parent.mkdir(parents=True, exist_ok=True)
    gz = file.compression == "gzip"
    if file.format == "parquet":
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(file.path)
        head = parquet.read_row_group(0).slice(0, rows) if parquet.num_row_groups else parquet.read()
        pq.write_table(head, target)
        return
    opener = gzip.open if gz else open
    with opener(file.path, "rt", encoding="utf-8", errors="surrogateescape", newline="") as src, \
            open(target, "w", encoding="utf-8", errors="surrogateescape", newline="") as dst:
        if file.format == "csv":
            reader, writer = csv.reader(src), csv.writer(dst, lineterminator="\n")
            for i, record in enumerate(reader):
                if i > rows:
                    break
                writer.writerow(record)
        else:
            for i, line in enumerate(src):
                if i >= rows:
                    break
                dst.write(line)


def _sample_landing(files: list[LandingFile], workdir: Path) -> list[LandingFile]:
    sampled = []
    for f in files:
        relative = f.relative[:-3] if f.compression == "gzip" else f.relative
        target = workdir / relative
        try:
            _copy_head(f, target, SAMPLE_ROWS)
        except (csv.Error, OSError, EOFError, UnicodeError, pa.ArrowException) as exc:
            raise ContractError(f.relative, f"unreadable file ({exc.__class__.__name__}: {exc})") from exc
        stat = target.stat()
        sampled.append(LandingFile(target, f.relative, f.entity, f.format, None, f.extract_date,
                                   stat.st_size, stat.st_mtime_ns))
    return sampled


def check_landing(settings: Settings) -> CheckReport:
    landing = settings.landing_dir
    report = CheckReport(landing)
    try:
        config = load_sources(landing, settings.source_timezones, settings.default_source_timezone)
    except MappingError as exc:
        report.config_error = str(exc)
        return report
    files = scan(landing, config)
    report.unrecognised = [f.relative for f in files if f.entity is None]
    con = duckdb.connect(":memory:")
    prepare_connection(con)
    ensure_raw_schema(con)
    counts: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="stl_check_") as tmp:
        for entity in c.ENTITIES:
            mine = [f for f in files if f.entity == entity.name]
            if not mine:
                continue
            check = report.extracts[entity.name] = ExtractCheck(entity.name, [f.relative for f in mine])
            check.mappings = sorted({config.for_file(entity.name, f.relative).origin for f in mine})
            try:
                sample = _sample_landing(mine[:SAMPLE_FILES], Path(tmp) / entity.name)
                result = load_entity(con, entity, sample, config.timezone_for(entity), settings.default_phone_region,
                                     tolerance_s=settings.future_tolerance_seconds, config=config,
                                     max_future_days=settings.max_future_days)
            except ContractError as exc:
                check.error = str(exc)
                continue
            check.rows_read, check.rows_loaded = result.total("rows_read"), result.total("rows_loaded")
            check.rows_quarantined, check.reasons = result.total("rows_quarantined"), result.reasons()
            check.ignored_columns = result.ignored_columns
            check.sample = _shown_rows(con, entity)
            counts[entity.name] = check.rows_loaded
            shutil.rmtree(Path(tmp) / entity.name, ignore_errors=True)
    report.outputs = status_from_extract_counts(counts)
    return report


def _shown_rows(con, entity: c.Entity) -> list[dict]:
    """A few loaded rows as the platform typed them, with the normalised companions (E.164 phone,
    normalised email) present when normalising worked; personal values masked (this is a
    terminal, but its output gets pasted into tickets)."""
    columns = [name for name, _ in raw_columns(entity) if not name.startswith("_")]
    personal = {name for col in entity.columns if col.personal
                for name in [col.name, *(n for n, _ in companion_columns(col))]}
    rows = con.execute(f"SELECT {', '.join(columns)} FROM raw.{entity.name} LIMIT {SHOWN_ROWS}").fetchall()
    return [{k: ("***" if k in personal else v) for k, v in zip(columns, row) if v is not None} for row in rows]


def format_report(report: CheckReport) -> str:
    lines = [f"landing directory: {report.landing_dir}"]
    if report.config_error:
        return "\n".join(lines + [f"sources.yaml is invalid: {report.config_error}"])
    if not report.extracts:
        lines.append("no extract files found (file names must start with an extract name, or be claimed by "
                     "extracts.<name>.files in sources.yaml; see docs/data_contract.md)")
    for name, e in report.extracts.items():
        lines.append(f"\n{name}: {len(e.files)} file(s); mapping: {', '.join(e.mappings)}")
        if e.error:
            lines.append(f"  ERROR {e.error}")
            continue
        sampled = min(len(e.files), SAMPLE_FILES)
        lines.append(f"  sample of {sampled} file(s), up to {SAMPLE_ROWS:,} rows each: read {e.rows_read:,}, "
                     f"loaded {e.rows_loaded:,}, quarantined {e.rows_quarantined:,}"
                     + (f" {e.reasons}" if e.reasons else ""))
        for file, columns in e.ignored_columns.items():
            lines.append(f"  ignored columns in {file}: {', '.join(columns)}")
        for row in e.sample:
            lines.append("  row: " + ", ".join(f"{k}={v}" for k, v in row.items()))
    if report.unrecognised:
        lines.append(f"\nfiles matching no extract (not loaded): {', '.join(report.unrecognised[:20])}"
                     + (" …" if len(report.unrecognised) > 20 else ""))
    lines.append("\noutputs:")
    lines += [f"  {'ok ' if s.available else 'n/a'} {s.line()}" for s in report.outputs]
    lines.append("\nverdict: " + ("ready to run (stl run)" if report.ok else "fix the errors above before a run"))
    return "\n".join(lines)
