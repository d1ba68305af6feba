"""Great Expectations 1.x, run inside the warehouse: each suite is validated by GX's SQL engine
against the DuckDB file (GX sends SQL, DuckDB scans; nothing is pulled into pandas), the result
goes to GX's validation store and Data Docs, and comes back as a plain ``SuiteOutcome``.

GX is imported lazily (several seconds) so that loading the Dagster definitions stays fast.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import re
import sys
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from orchestration.delivery import privacy
from orchestration.quality.suites import ExpectationSpec, Suite, resolved
from orchestration.settings import Settings

DATASOURCE = "warehouse"
DOCS_SITE = "speed_to_lead"
SAMPLE_ROWS = 5
# Validation results kept per suite in GX's store (and rendered in Data Docs): a month of daily
# runs. Older gate outcomes stay in the warehouse.
RESULTS_KEPT_PER_SUITE = 31


@dataclass(frozen=True)
class ExpectationOutcome:
    spec: ExpectationSpec
    success: bool
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    observed_value: object = None
    sample: list = field(default_factory=list)  # a few failing values or rows, fit to be shown (privacy.safe_sample)
    error: str | None = None  # GX could not evaluate it (counts as a failure)
    # The same sample as read, personal data included: only for the restricted schema.
    restricted_sample: list = field(default_factory=list)


@dataclass(frozen=True)
class SuiteOutcome:
    suite: Suite
    results: tuple[ExpectationOutcome, ...]
    checked_at: dt.datetime
    seconds: float
    data_docs_path: Path | None
    new_rows_only: bool = False  # validated the rows loaded since the suite last passed

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [r for r in self.results if not r.success]

    @property
    def passed(self) -> bool:
        """The gate holds unless an error-severity expectation failed (warnings only alert)."""
        return not any(r.spec.severity == "error" for r in self.failed)

    @property
    def failing_rows(self) -> int:
        return sum(r.unexpected_count or 0 for r in self.failed)


@lru_cache(maxsize=1)
def _guard_pyspark_connect() -> None:
    """Let GX import in any process. GX probes ``pyspark.sql.connect`` when pyspark is installed
    (the spark extra), and pyspark calls ``sys.exit(0)`` from that import when it believes it is
    running doctests: in a ``python -c`` process without Spark Connect's grpc dependencies. The
    probe is GX's optional Spark Connect support, so such a process gets an ImportError instead,
    which GX handles."""
    try:
        import pyspark.sql.connect.dataframe  # noqa: F401
    except ImportError:
        pass
    except SystemExit:
        for name in ("pyspark.sql.connect", "pyspark.sql.connect.dataframe"):
            sys.modules[name] = None  # a later import of it raises ImportError


def patch_duckdb_lazy_results() -> None:
    """GX's ``execute_query`` returns its result after leaving the connection context; results
    from duckdb_engine are lazy and read as empty once the connection is closed, so every
    metric fails with 'list index out of range'. Buffer the rows before the connection closes
    (SQLAlchemy's ``Result.freeze()``). Checked on GX 1.24; tests/test_quality.py guards it."""
    from great_expectations.execution_engine.sqlalchemy_execution_engine import SqlAlchemyExecutionEngine

    if getattr(SqlAlchemyExecutionEngine.execute_query, "stl_buffered", False):
        return

    def execute_query(self, query):
        with self.get_connection() as connection:
            return self._execute_query_with_recovery(connection, query).freeze()()

    execute_query.stl_buffered = True
    SqlAlchemyExecutionEngine.execute_query = execute_query


class _CompiledTemplates:
    """A process-wide cache of compiled Data Docs templates, as a Jinja bytecode cache. GX builds
    a new Jinja environment for every page it renders and so parses and compiles the same ~50
    templates again each time: about 60 % of a gate's time on small data. Jinja checks each
    entry against the template source's checksum, so a changed template is compiled afresh."""

    def __init__(self):
        import jinja2

        class InMemory(jinja2.BytecodeCache):
            def __init__(self):
                self.code: dict[str, bytes] = {}

            def load_bytecode(self, bucket):
                if bucket.key in self.code:
                    bucket.bytecode_from_string(self.code[bucket.key])

            def dump_bytecode(self, bucket):
                self.code[bucket.key] = bucket.bytecode_to_string()

        self.cache = InMemory()


@lru_cache(maxsize=1)
def _compiled_templates() -> _CompiledTemplates:
    return _CompiledTemplates()


def patch_data_docs_template_cache() -> None:
    """Give every GX Jinja view the shared bytecode cache (GX 1.x ``DefaultJinjaView`` keeps its
    environment in ``self.env``; tests/test_quality.py guards that the patch still applies)."""
    from great_expectations.render.view.view import DefaultJinjaView

    if getattr(DefaultJinjaView.__init__, "stl_cached", False):
        return
    original = DefaultJinjaView.__init__

    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.env.bytecode_cache = _compiled_templates().cache

    __init__.stl_cached = True
    DefaultJinjaView.__init__ = __init__


@lru_cache(maxsize=4)
def _context(gx_dir: Path, docs_dir: Path):
    """A file-backed GX project under the data directory (its validation store feeds the Data
    Docs index), with one Data Docs site written to the output directory."""
    _guard_pyspark_connect()
    # No usage analytics from GX, also where no `stl` entry point exported TELEMETRY_OFF (a bare
    # `dagster dev`); set before GX reads it, an explicit setting wins.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    patch_duckdb_lazy_results()
    patch_data_docs_template_cache()
    gx_dir.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=str(gx_dir))
    context.variables.progress_bars = {"globally": False}
    sites = {s["site_name"] if isinstance(s, dict) else s for s in context.list_data_docs_sites()}
    for site in sites - {DOCS_SITE}:
        context.delete_data_docs_site(site)
    configured = (context.variables.data_docs_sites or {}).get(DOCS_SITE, {})
    if DOCS_SITE in sites and configured.get("store_backend", {}).get("base_directory") != str(docs_dir):
        # The output directory moved (a copied or relocated data directory): follow it.
        context.delete_data_docs_site(DOCS_SITE)
        sites.discard(DOCS_SITE)
    if DOCS_SITE not in sites:
        context.add_data_docs_site(site_name=DOCS_SITE, site_config={
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        })
    return context


def _gx_expectation(spec: ExpectationSpec):
    import great_expectations as gx

    class_name = "".join(part.capitalize() for part in spec.type.split("_"))
    try:
        cls = getattr(gx.expectations, class_name)
    except AttributeError as exc:
        raise ValueError(f"unknown expectation type {spec.type!r} (no gx.expectations.{class_name})") from exc
    return cls(**spec.kwargs, meta={"severity": spec.severity, "why": spec.why, "how_to_fix": spec.how_to_fix})


def named_columns(spec: ExpectationSpec) -> frozenset[str]:
    """Column names the check mentions (its column arguments, every identifier of its query):
    the columns a failing row's sample may show."""
    named = set(spec.kwargs.get("column_list") or [])
    named.update(spec.kwargs[k] for k in ("column", "column_A", "column_B") if k in spec.kwargs)
    query = spec.sample_query or spec.kwargs.get("unexpected_rows_query") or ""
    named.update(re.findall(r"[a-z_][a-z0-9_]*", query.lower()))
    return frozenset(named)


def _safe_observed(key: bytes, spec: ExpectationSpec, observed):
    """An observed value can be column values too (distinct values, a most common value)."""
    if isinstance(observed, list):
        return privacy.safe_sample(key, observed, spec.kwargs.get("column"), named_columns(spec))
    if isinstance(observed, str):
        shown = privacy.safe_sample(key, [observed], spec.kwargs.get("column"), named_columns(spec))
        return shown[0] if shown else None
    return observed


def _outcome(spec: ExpectationSpec, result, sample_rows: list, key: bytes) -> ExpectationOutcome:
    info = result.exception_info or {}
    errors = [v.get("exception_message") for v in info.values() if isinstance(v, dict) and v.get("raised_exception")]
    if info.get("raised_exception"):
        errors.append(info.get("exception_message"))
    r = result.result or {}
    sample = sample_rows or list(r.get("partial_unexpected_list") or [])[:SAMPLE_ROWS]
    count = r.get("unexpected_count")
    if count is None and spec.type == "unexpected_rows_expectation":
        count = r.get("observed_value")
    error = "; ".join(str(e) for e in errors if e) or None
    return ExpectationOutcome(
        spec=spec, success=bool(result.success) and not errors, unexpected_count=count,
        unexpected_percent=r.get("unexpected_percent"), observed_value=_safe_observed(key, spec, r.get("observed_value")),
        sample=privacy.safe_sample(key, sample, spec.kwargs.get("column"), named_columns(spec)),
        error=privacy.scrub_text(error) if error else None, restricted_sample=sample)


def run_suite(suite: Suite, settings: Settings, params: dict, run_name: str, index: bool = False,
              new_rows_only: bool = False) -> SuiteOutcome:
    """Validate ``suite`` against the warehouse and render its Data Docs pages (with the index
    when ``index`` or when an expectation failed). The caller holds the warehouse lock.
    ``new_rows_only``: the suite's batch is the rows loaded since it last passed (see
    ``Suite.batch_query``)."""
    # GX prints (not logs) a note for every unexpected-rows query that does not read {batch};
    # the file-level checks read raw.ingested_files on purpose.
    with contextlib.redirect_stdout(io.StringIO()):
        return _run_suite(suite, settings, params, run_name, index, new_rows_only)


def _run_suite(suite: Suite, settings: Settings, params: dict, run_name: str, index: bool,
               new_rows_only: bool) -> SuiteOutcome:
    _guard_pyspark_connect()
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier
    from sqlalchemy import text

    started = time.perf_counter()
    checked_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    context = _context(settings.gx_dir, settings.data_docs_dir)
    datasource = _datasource(context, f"duckdb:///{settings.warehouse_path}?access_mode=read_only")
    # A query asset, not a table asset: GX's column-type metric drops the schema of a table asset.
    # Kept from run to run while its query is the same (re-adding one rewrites the GX project).
    query = suite.batch_query(new_rows_only)
    asset = next((a for a in datasource.assets if a.name == suite.name), None)
    if asset is not None and (asset.query != query or not asset.batch_definitions):
        datasource.delete_asset(suite.name)
        asset = None
    batch = (asset.batch_definitions[0] if asset is not None
             else datasource.add_query_asset(suite.name, query=query).add_batch_definition_whole_table("all"))
    specs = [resolved(s, params) for s in suite.expectations]
    gx_suite = gx.ExpectationSuite(name=suite.name, expectations=[_gx_expectation(s) for s in specs])
    gx_suite = context.suites.add_or_update(gx_suite)  # the resolved parameters ($now_utc) change per gate
    validation = _validation_definition(context, suite.name, batch, gx_suite)
    engine = datasource.get_engine()
    key = privacy.pseudonym_key(settings)  # samples show the same pseudonyms as the published marts
    try:
        # The validation definition on its own (it stores its result), not through a checkpoint:
        # a checkpoint only added a Data Docs action, and build_docs_index renders the pages.
        run_id = RunIdentifier(run_name=run_name, run_time=dt.datetime.now(dt.UTC))
        validation_result = validation.run(
            run_id=run_id, result_format={"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_ROWS})
        # Results come back in GX's evaluation order: pair them with specs by expectation id.
        spec_by_id = {e.id: spec for e, spec in zip(gx_suite.expectations, specs)}
        outcomes = []
        with engine.connect() as con:
            for result in validation_result.results:
                spec = spec_by_id[result.expectation_config.id]
                rows = []
                if spec.sample_query and not result.success:
                    query = spec.sample_query.replace("{batch}", f"({suite.batch_query(new_rows_only)})")
                    rows = [dict(m) for m in con.execute(text(f"select * from ({query}) limit {SAMPLE_ROWS}")).mappings()]
                outcomes.append(_outcome(spec, result, rows, key))
    finally:
        # Release the DuckDB file: the validator's execution engine has its own SQLAlchemy engine
        # (and DuckDB refuses a read-write open in this process while a read-only one lives).
        datasource.get_execution_engine().close()
        engine.dispose()
    outcome = SuiteOutcome(suite, tuple(outcomes), checked_at, round(time.perf_counter() - started, 3),
                           settings.data_docs_dir / "index.html", new_rows_only and suite.incremental)
    # Pages are rendered together (build_docs_index): at the end of the run, or at once when this
    # gate stops the run (its alert links to the index). GX's site builder lists every stored
    # result for each call, so one call per run instead of one per gate.
    if index or not outcome.passed:
        build_docs_index(settings, [suite])
    return outcome


# The datasource and the validation definitions are written only when they change (the warehouse
# moved, the suite's batch is new): each add-or-update rewrites great_expectations.yml or the
# definition's JSON, and the definition's own add_or_update saves its suite a second time (a
# quarter of a small gate's time when done every gate, measured).


def _datasource(context, connection_string: str):
    from great_expectations.exceptions import DataContextError

    try:
        datasource = context.data_sources.get(DATASOURCE)
    except (KeyError, ValueError, DataContextError):
        datasource = None
    if datasource is None or str(datasource.connection_string) != connection_string:
        datasource = context.data_sources.add_or_update_sql(DATASOURCE, connection_string=connection_string)
    return datasource


def _validation_definition(context, name: str, batch, gx_suite):
    import great_expectations as gx
    from great_expectations.exceptions import DataContextError

    try:
        stored = context.validation_definitions.get(name)
    except (DataContextError, ValueError):
        stored = None
    if stored is not None and stored.suite.id == gx_suite.id and stored.batch_definition.id == batch.id:
        return stored  # its suite is read from the store: the version saved just now
    return context.validation_definitions.add_or_update(gx.ValidationDefinition(name=name, data=batch, suite=gx_suite))


def prune_stored_results(settings: Settings, keep: int = RESULTS_KEPT_PER_SUITE) -> int:
    """Keep each suite's newest ``keep`` validation results in GX's store, and their rendered
    pages; returns how many were removed. Without this the store grows by one result per gate
    per run, and every index build deserialises all of them (0.7 s at 266 results, growing
    linearly). The gates' history stays in the warehouse (quality.gate_results)."""
    store = settings.gx_dir / "gx" / "uncommitted" / "validations"
    removed = 0
    if not store.is_dir():
        return removed
    for suite_dir in store.iterdir():
        # <suite>/<run name>/<run time>/<batch>.json; run times sort as text (20261201T052014.4Z).
        results = sorted(suite_dir.glob("*/*/*.json"), key=lambda p: (p.parent.name, p.parent.parent.name))
        for result in results[:-keep] if keep else results:
            relative = result.relative_to(store)
            result.unlink(missing_ok=True)
            (settings.data_docs_dir / "validations" / relative.with_suffix(".html")).unlink(missing_ok=True)
            removed += 1
    for root in (store, settings.data_docs_dir / "validations"):
        # Empty run-time and run-name folders (deepest first).
        for folder in sorted((d for d in root.glob("*/*/*") if d.is_dir()), reverse=True) + sorted(
                (d for d in root.glob("*/*") if d.is_dir()), reverse=True):
            with contextlib.suppress(OSError):
                folder.rmdir()
    return removed


def _results_without_pages(settings: Settings) -> list:
    """Identifiers of the stored validation results whose Data Docs page is not rendered yet."""
    from great_expectations.data_context.types.resource_identifiers import ValidationResultIdentifier

    store = settings.gx_dir / "gx" / "uncommitted" / "validations"
    pages = settings.data_docs_dir / "validations"
    return [ValidationResultIdentifier.from_tuple(result.relative_to(store).with_suffix("").parts)
            for result in sorted(store.glob("*/*/*/*.json"))  # <suite>/<run name>/<run time>/<batch>.json
            if not (pages / result.relative_to(store).with_suffix(".html")).exists()]


def build_docs_index(settings: Settings, suites: list[Suite]) -> Path:
    """Render the pages of the results not rendered yet, the suites' pages and the Data Docs
    index over every stored validation result (at the end of a run, or when a gate stops it)."""
    _guard_pyspark_connect()
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    prune_stored_results(settings)
    # A non-empty list: GX reads an empty one as "render every stored result again".
    pages = [*_results_without_pages(settings), *(ExpectationSuiteIdentifier(s.name) for s in suites)]
    with contextlib.redirect_stdout(io.StringIO()):
        _context(settings.gx_dir, settings.data_docs_dir).build_data_docs(site_names=[DOCS_SITE], resource_identifiers=pages)
    return settings.data_docs_dir / "index.html"
