"""Expectation suites as reviewed files: every ``expectations/*.yml`` is one suite, run as one
Dagster asset check on the asset it names (see expectations/README.md for the format).

A suite lists GX 1.x expectations by their snake-case type with their keyword arguments, plus
what this platform adds to each: ``severity`` (``error`` fails the gate, ``warning`` only
alerts), ``why`` (what a failure means) and ``how_to_fix``. ``unexpected_rows`` is shorthand for
GX's ``UnexpectedRowsExpectation``: a SQL query returning the offending rows.

Raw-extract suites name their extract (``contract: leads``) and get the checks the data contract
implies (``contract_expectations``), so a column added to the contract is checked without
editing YAML; ``include: [_raw_extract]`` adds the shared file-level checks of ``_raw_extract.yml``
(files whose name starts with ``_`` are includes, not suites).
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from orchestration.ingest import contract as c
from orchestration.ingest.raw_schema import raw_columns
from orchestration.settings import EXPECTATIONS_DIR

SEVERITIES = ("error", "warning")
ALERT_KINDS = ("gate_failed", "missing_extract", "late_extract", "volume_anomaly")


class SuiteError(ValueError):
    """A suite file that cannot be used (the message names the file and the problem)."""


@dataclass(frozen=True)
class ExpectationSpec:
    type: str  # GX snake-case type, e.g. expect_column_values_to_not_be_null
    kwargs: dict
    severity: str = "error"
    why: str = ""
    how_to_fix: str = ""
    alert_kind: str = "gate_failed"
    sample_query: str | None = None  # SQL returning a few failing rows ({batch} = the table)

    @property
    def label(self) -> str:
        columns = self.kwargs.get("column_list") or [self.kwargs[k] for k in ("column", "column_A", "column_B") if k in self.kwargs]
        column = ",".join(columns)
        if self.type == "unexpected_rows_expectation":
            return self.kwargs.get("description") or "unexpected rows"
        return f"{self.type}({column})" if column else self.type


@dataclass(frozen=True)
class Suite:
    name: str
    asset: tuple[str, ...]  # Dagster asset key path, e.g. ("marts", "fct_lead_response")
    table: str  # schema.table in the warehouse
    description: str
    blocking: bool
    expectations: tuple[ExpectationSpec, ...] = field(default=())
    path: Path | None = None
    # A raw-extract suite (``contract:``) may validate only the rows loaded since it last passed
    # (``batch_query(new_rows_only=True)``): rows are only ever appended or replaced by new ones,
    # so older rows were validated when they came. ``incremental: false`` in the file opts out.
    incremental: bool = False

    def batch_query(self, new_rows_only: bool = False) -> str:
        """The rows the suite validates: the whole table, or (``new_rows_only``, incremental
        suites) those with ``_loaded_at`` after the suite's last passing check."""
        if not (new_rows_only and self.incremental):
            return f"select * from {self.table}"
        return (f"select * from {self.table} where _loaded_at > (select coalesce(max(checked_at), "
                f"timestamp '0001-01-01') from quality.gate_results where suite = '{self.name}' and passed)")


def _expectation(item: dict, where: str) -> ExpectationSpec:
    meta = {k: item.pop(k) for k in ("severity", "why", "how_to_fix", "alert_kind") if k in item}
    if len(item) != 1:
        raise SuiteError(f"{where}: each expectation is one mapping `<type>: {{kwargs}}` plus "
                         f"severity/why/how_to_fix/alert_kind; got keys {sorted(item)}")
    (type_, kwargs), = item.items()
    kwargs = dict(kwargs or {})
    sample_query = None
    if type_ == "unexpected_rows":
        type_ = "unexpected_rows_expectation"
        kwargs["unexpected_rows_query"] = kwargs.pop("query")
        sample_query = kwargs["unexpected_rows_query"]
    severity = meta.get("severity", "error")
    if severity not in SEVERITIES:
        raise SuiteError(f"{where}: severity must be one of {SEVERITIES}, not {severity!r}")
    if meta.get("alert_kind", "gate_failed") not in ALERT_KINDS:
        raise SuiteError(f"{where}: alert_kind must be one of {ALERT_KINDS}")
    return ExpectationSpec(type_, kwargs, severity, meta.get("why", "").strip(),
                           meta.get("how_to_fix", "").strip(), meta.get("alert_kind", "gate_failed"), sample_query)


def contract_expectations(entity: c.Entity) -> list[ExpectationSpec]:
    """What the data contract implies for a raw extract table: its exact columns, required
    values present, numeric ranges, ordered timestamp pairs, and one row per key per file (the
    loader enforces all of these; the gate proves it did, whatever wrote the table)."""
    fix_loader = "The loader should have quarantined these rows: check raw.quarantine and the loader version."
    specs = [ExpectationSpec(
        "expect_table_columns_to_match_set",
        {"column_set": [name for name, _ in raw_columns(entity)], "exact_match": True},
        why="The raw table no longer has the columns the data contract defines.",
        how_to_fix="Re-create the raw table from the contract (a schema change needs a migration).")]
    for col in entity.columns:
        if col.required:
            specs.append(ExpectationSpec("expect_column_values_to_not_be_null", {"column": col.name},
                                         why=f"{col.name} is required by the contract.", how_to_fix=fix_loader))
        if col.minimum is not None or col.maximum is not None:
            specs.append(ExpectationSpec("expect_column_values_to_be_between",
                                         {"column": col.name, "min_value": col.minimum, "max_value": col.maximum},
                                         why=f"{col.name} is outside the contract's range.", how_to_fix=fix_loader))
    for earlier, later in entity.ordered:
        specs.append(ExpectationSpec(
            "expect_column_pair_values_a_to_be_greater_than_b",
            {"column_A": later, "column_B": earlier, "or_equal": True, "ignore_row_if": "either_value_is_missing"},
            why=f"{later} before {earlier} is a negative duration.", how_to_fix=fix_loader))
    if entity.event_time:
        query = (f"select * from {{batch}} where {entity.event_time} > _loaded_at + interval ($future_tolerance_seconds) second"
                 f" or {entity.event_time} < timestamp '2000-01-01'")
        specs.append(ExpectationSpec(
            "unexpected_rows_expectation", {"unexpected_rows_query": query, "description": f"implausible {entity.event_time}"},
            why=f"{entity.event_time} lies after the load time or before 2000: a clock, timezone or parsing error.",
            how_to_fix=fix_loader, sample_query=query))
    specs.append(ExpectationSpec(
        "expect_compound_columns_to_be_unique", {"column_list": [*entity.key, "_source_file"]},
        why=f"Two rows of one file share the key {', '.join(entity.key)}.", how_to_fix=fix_loader))
    return specs


def _substitute(value, params: dict):
    """``$name`` placeholders in strings (thresholds that come from settings at run time)."""
    if isinstance(value, str):
        return string.Template(value).safe_substitute(params)
    if isinstance(value, list):
        return [_substitute(v, params) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, params) for k, v in value.items()}
    return value


def load_suite(path: Path) -> Suite:
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SuiteError(f"{path.name}: not valid YAML: {exc}") from exc
    missing = {"asset", "table"} - set(doc or {})
    if missing:
        raise SuiteError(f"{path.name}: missing {sorted(missing)}")
    specs: list[ExpectationSpec] = []
    load_params = {"entity": doc.get("contract", "")}
    if "contract" in doc:
        try:
            specs.extend(contract_expectations(c.ENTITY_BY_NAME[doc["contract"]]))
        except KeyError as exc:
            raise SuiteError(f"{path.name}: unknown contract entity {doc['contract']!r}") from exc
    items = []
    for include in doc.get("include") or []:  # shared expectations, e.g. _raw_extract.yml
        included = path.parent / f"{include}.yml"
        if not included.exists():
            raise SuiteError(f"{path.name}: include {include!r} has no file {included.name}")
        items += [(f"{included.name} expectation {i + 1}", _substitute(item, load_params))
                  for i, item in enumerate(yaml.safe_load(included.read_text()).get("expectations") or [])]
    items += [(f"{path.name} expectation {i + 1}", item) for i, item in enumerate(doc.get("expectations") or [])]
    for where, item in items:
        specs.append(_expectation(dict(item), where))
    if not specs:
        raise SuiteError(f"{path.name}: no expectations")
    name = doc.get("suite", path.stem)
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise SuiteError(f"{path.name}: suite name must be snake_case, not {name!r}")
    return Suite(name=name, asset=tuple(doc["asset"].split("/")), table=doc["table"],
                 description=(doc.get("description") or "").strip(), blocking=bool(doc.get("blocking", True)),
                 expectations=tuple(specs), path=path, incremental=bool(doc.get("incremental", "contract" in doc)))


def load_suites(directory: Path = EXPECTATIONS_DIR) -> list[Suite]:
    suites = [load_suite(p) for p in sorted(directory.glob("*.yml")) if not p.name.startswith("_")]
    names = [s.name for s in suites]
    if len(names) != len(set(names)):
        raise SuiteError(f"duplicate suite names in {directory}: {sorted(n for n in names if names.count(n) > 1)}")
    return suites


def resolved(spec: ExpectationSpec, params: dict) -> ExpectationSpec:
    """The spec with its run-time ``$name`` placeholders filled in."""
    return replace(spec, kwargs=_substitute(spec.kwargs, params), sample_query=_substitute(spec.sample_query, params))
