"""Mappings: how a user's (or a vendor's) export becomes the data contract, declared in the
landing directory's ``sources.yaml`` and in built-in presets (``orchestration/ingest/presets``).

A mapping renames source columns, maps vendor vocabularies to the contract's values, parses
vendor timestamp formats, scales numbers, adds constant columns and drops fields — all as text
transformations applied while a file is read, so the contract's validation (and its quarantine
reasons) still judges every value. The whole file is validated up front: an unknown key, entity,
column or preset is an error that names the file, the key and what is allowed. Format:
docs/mappings.md.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from orchestration.ingest import contract as c

SOURCES_FILE = "sources.yaml"
PRESETS_DIR = Path(__file__).resolve().parent / "presets"

MAPPING_KEYS = ("preset", "files", "timezone", "rename", "values", "timestamp_formats", "scale", "constants", "drop",
                "only_when", "fill_by_presence")
TOP_LEVEL_KEYS = (*c.FAMILIES, "presets", "extracts")
NUMERIC_TYPES = (c.INTEGER, c.DECIMAL)


class MappingError(ValueError):
    """sources.yaml or a preset says something the platform cannot do; the message names the
    file, the key and what is allowed."""

    def __init__(self, where: str, key: str, problem: str):
        self.where, self.key, self.problem = where, key, problem
        super().__init__(f"{where}: {key}: {problem}")


@dataclass(frozen=True)
class ExtractMapping:
    """How the files of one extract (optionally only those matching ``files``) map to the contract."""

    entity: str
    files: tuple[str, ...] = ()
    timezone: str | None = None
    # (source header as written, contract column) in priority order: the first present wins.
    rename: tuple[tuple[str, str], ...] = ()
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # column → {lower source value: value}
    timestamp_formats: dict[str, str] = field(default_factory=dict)
    scale: dict[str, float] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)
    drop: frozenset[str] = frozenset()  # lower-cased source headers
    # column → (other column, its lower-cased contract value): the column keeps its value only on
    # rows where the other column has that value (one source feeding the caller's number on
    # inbound calls and the callee's on outbound ones).
    only_when: dict[str, tuple[str, str]] = field(default_factory=dict)
    # column → (other column, value if it has a value, value if not): fills the column where the
    # export left it empty (Aircall's API gives an outbound call's outcome only as answered_at).
    fill_by_presence: dict[str, tuple[str, str | None, str | None]] = field(default_factory=dict)
    origin: str = ""  # where it was declared (for messages): "sources.yaml", "preset hubspot", both

    def matches(self, relative_path: str) -> bool:
        name = relative_path.rsplit("/", 1)[-1]
        return any(fnmatch.fnmatchcase(relative_path.lower(), p.lower()) or fnmatch.fnmatchcase(name.lower(), p.lower())
                   for p in self.files)

    def sources_for(self, column: str) -> list[str]:
        """Source headers (as written) that may hold a contract column, in priority order."""
        return [src for src, target in self.rename if target == column]


IDENTITY = {e.name: ExtractMapping(e.name, origin="the data contract") for e in c.ENTITIES}


@dataclass(frozen=True)
class SourcesConfig:
    """Everything sources.yaml declares: family timezones and the extracts' mappings."""

    timezones: dict[str, str]
    mappings: dict[str, tuple[ExtractMapping, ...]] = field(default_factory=dict)

    def for_file(self, entity: str, relative_path: str) -> ExtractMapping:
        """The mapping that applies to a file of ``entity``: the first whose patterns match it,
        else the entity's mapping without patterns, else the contract as it is."""
        candidates = self.mappings.get(entity, ())
        for m in candidates:
            if m.files and m.matches(relative_path):
                return m
        for m in candidates:
            if not m.files:
                return m
        return IDENTITY[entity]

    def entity_by_pattern(self, relative_path: str) -> str | None:
        """The entity whose declared file patterns match a file (patterns beat the naming rule)."""
        for entity, candidates in self.mappings.items():
            if any(m.files and m.matches(relative_path) for m in candidates):
                return entity
        return None

    def timezone_for(self, entity: c.Entity) -> str:
        zones = {m.timezone for m in self.mappings.get(entity.name, ()) if m.timezone}
        return zones.pop() if len(zones) == 1 else self.timezones[entity.family]


# ---------------------------------------------------------------- parsing and validation


def _require_mapping_dict(where: str, key: str, value) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MappingError(where, key, f"expected a mapping (key: value), got {type(value).__name__}")
    return value


def _str_list(where: str, key: str, value) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
        raise MappingError(where, key, "expected a list of strings")
    return tuple(str(v) for v in value)


def _check_column(where: str, key: str, entity: c.Entity, column: str) -> c.Column:
    names = [col.name for col in entity.columns]
    if column not in names:
        raise MappingError(where, key, f"{column!r} is not a column of {entity.name}; allowed: {', '.join(names)}")
    return entity.column(column)


def _check_timezone(where: str, key: str, zone) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(str(zone))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise MappingError(where, key, f"{zone!r} is not an IANA timezone name (e.g. America/New_York)") from exc
    return str(zone)


def parse_extract_mapping(where: str, entity_name: str, spec) -> ExtractMapping:
    """One extract mapping from its YAML form, validated against the contract."""
    key = f"extracts.{entity_name}"
    if entity_name not in c.ENTITY_BY_NAME:
        raise MappingError(where, key, f"unknown extract; allowed: {', '.join(c.ENTITY_BY_NAME)}")
    entity = c.ENTITY_BY_NAME[entity_name]
    spec = _require_mapping_dict(where, key, spec)
    unknown = set(spec) - set(MAPPING_KEYS)
    if unknown:
        raise MappingError(where, key, f"unknown key(s) {sorted(unknown)}; allowed: {', '.join(MAPPING_KEYS)}")

    rename = []
    for src, targets in _require_mapping_dict(where, f"{key}.rename", spec.get("rename")).items():
        # One source may feed several columns (a list), e.g. with only_when by direction.
        for target in (targets if isinstance(targets, list) else [targets]):
            _check_column(where, f"{key}.rename.{src}", entity, str(target))
            rename.append((str(src).strip(), str(target)))

    only_when = {}
    for column, condition in _require_mapping_dict(where, f"{key}.only_when", spec.get("only_when")).items():
        _check_column(where, f"{key}.only_when.{column}", entity, str(column))
        condition = _require_mapping_dict(where, f"{key}.only_when.{column}", condition)
        if len(condition) != 1:
            raise MappingError(where, f"{key}.only_when.{column}", "expected one condition, e.g. {direction: inbound}")
        ((other, value),) = condition.items()
        _check_column(where, f"{key}.only_when.{column}.{other}", entity, str(other))
        if str(other) == str(column):
            raise MappingError(where, f"{key}.only_when.{column}", "the condition must name another column")
        only_when[str(column)] = (str(other), _yaml_text(value).strip().lower())

    fill_by_presence = {}
    for column, rule in _require_mapping_dict(where, f"{key}.fill_by_presence", spec.get("fill_by_presence")).items():
        where_key = f"{key}.fill_by_presence.{column}"
        _check_column(where, where_key, entity, str(column))
        rule = _require_mapping_dict(where, where_key, rule)
        if set(rule) - {"of", "present", "absent"} or "of" not in rule or not ({"present", "absent"} & set(rule)):
            raise MappingError(where, where_key, "expected {of: <column>, present: <value>, absent: <value>} "
                                                 "(present or absent may be left out)")
        _check_column(where, f"{where_key}.of", entity, str(rule["of"]))
        if str(rule["of"]) == str(column):
            raise MappingError(where, f"{where_key}.of", "must name another column")
        fill_by_presence[str(column)] = (str(rule["of"]), *(None if rule.get(k) is None else _yaml_text(rule[k])
                                                            for k in ("present", "absent")))

    values = {}
    for column, table in _require_mapping_dict(where, f"{key}.values", spec.get("values")).items():
        _check_column(where, f"{key}.values.{column}", entity, str(column))
        table = _require_mapping_dict(where, f"{key}.values.{column}", table)
        values[str(column)] = {_yaml_text(k).strip().lower(): _yaml_text(v) for k, v in table.items()}

    formats = {}
    for column, fmt in _require_mapping_dict(where, f"{key}.timestamp_formats", spec.get("timestamp_formats")).items():
        col = _check_column(where, f"{key}.timestamp_formats.{column}", entity, str(column))
        if col.type not in (c.TIMESTAMP, c.DATE):
            raise MappingError(where, f"{key}.timestamp_formats.{column}", f"{column} is a {col.type}, not a timestamp or date")
        if not isinstance(fmt, str) or "%" not in fmt:
            raise MappingError(where, f"{key}.timestamp_formats.{column}", "expected a strptime format such as '%m/%d/%Y %I:%M %p'")
        if "%Z" in fmt:  # zone abbreviations (EST, IST …) are ambiguous: the contract rejects them
            raise MappingError(where, f"{key}.timestamp_formats.{column}",
                               "%Z (zone names) is not allowed: use %z for offsets, or declare the extract's timezone")
        formats[str(column)] = fmt

    scale = {}
    for column, factor in _require_mapping_dict(where, f"{key}.scale", spec.get("scale")).items():
        col = _check_column(where, f"{key}.scale.{column}", entity, str(column))
        if col.type not in NUMERIC_TYPES:
            raise MappingError(where, f"{key}.scale.{column}", f"{column} is a {col.type}, not a number")
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or factor == 0:
            raise MappingError(where, f"{key}.scale.{column}", "expected a non-zero number, e.g. 0.001 for milliseconds → seconds")
        scale[str(column)] = float(factor)

    constants = {}
    for column, value in _require_mapping_dict(where, f"{key}.constants", spec.get("constants")).items():
        _check_column(where, f"{key}.constants.{column}", entity, str(column))
        constants[str(column)] = _yaml_text(value)

    zone = _check_timezone(where, f"{key}.timezone", spec["timezone"]) if spec.get("timezone") else None
    return ExtractMapping(
        entity=entity_name, files=_str_list(where, f"{key}.files", spec.get("files")), timezone=zone,
        rename=tuple(rename), values=values, timestamp_formats=formats, scale=scale, constants=constants,
        drop=frozenset(s.strip().lower() for s in _str_list(where, f"{key}.drop", spec.get("drop"))),
        only_when=only_when, fill_by_presence=fill_by_presence, origin=where)


def _yaml_text(value) -> str:
    """YAML reads yes/no/1 as booleans and numbers: the mapping means the text as written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def compose(base: ExtractMapping, override: ExtractMapping) -> ExtractMapping:
    """A hand mapping on top of a preset: the hand mapping's entries win, the rest of the preset stays."""
    overridden = {src.lower() for src, _ in override.rename}
    rename = list(override.rename) + [r for r in base.rename if r[0].lower() not in overridden]
    values = {col: {**base.values.get(col, {}), **override.values.get(col, {})}
              for col in {*base.values, *override.values}}
    return ExtractMapping(
        entity=base.entity, files=override.files or base.files, timezone=override.timezone or base.timezone,
        rename=tuple(rename), values=values, timestamp_formats={**base.timestamp_formats, **override.timestamp_formats},
        scale={**base.scale, **override.scale}, constants={**base.constants, **override.constants},
        drop=base.drop | override.drop, only_when={**base.only_when, **override.only_when},
        fill_by_presence={**base.fill_by_presence, **override.fill_by_presence},
        origin=f"{base.origin} + {override.origin}")


# ---------------------------------------------------------------- presets


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    documentation: tuple[str, ...]
    extracts: dict[str, ExtractMapping]


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def load_preset(name: str, where: str = SOURCES_FILE) -> Preset:
    path = PRESETS_DIR / f"{name}.yaml"
    if not name or "/" in name or not path.is_file():
        raise MappingError(where, "preset", f"unknown preset {name!r}; available: {', '.join(preset_names()) or 'none'}")
    origin = f"preset {name}"
    data = _require_mapping_dict(origin, "(file)", yaml.safe_load(path.read_text()))
    unknown = set(data) - {"name", "title", "description", "documentation", "extracts"}
    if unknown:
        raise MappingError(origin, "(file)", f"unknown key(s) {sorted(unknown)}")
    extracts = {entity: parse_extract_mapping(origin, entity, spec)
                for entity, spec in _require_mapping_dict(origin, "extracts", data.get("extracts")).items()}
    for entity, spec in extracts.items():
        if entity in (data.get("extracts") or {}) and "preset" in (data["extracts"][entity] or {}):
            raise MappingError(origin, f"extracts.{entity}.preset", "a preset cannot name another preset")
    return Preset(name, str(data.get("title", name)), _str_list(origin, "documentation", data.get("documentation")), extracts)


# ---------------------------------------------------------------- sources.yaml


def load_sources(landing_dir: Path, defaults: dict[str, str], fallback: str) -> SourcesConfig:
    """Read and validate ``<landing_dir>/sources.yaml`` (absent: the contract as it is)."""
    zones = {family: defaults.get(family, fallback) for family in c.FAMILIES}
    path = landing_dir / SOURCES_FILE
    if not path.exists():
        return SourcesConfig(zones)
    where = str(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise MappingError(where, "(file)", f"not valid YAML ({exc})") from exc
    data = _require_mapping_dict(where, "(file)", data)
    unknown = set(data) - set(TOP_LEVEL_KEYS)
    if unknown:
        raise MappingError(where, ", ".join(sorted(map(str, unknown))),
                           f"unknown top-level key; allowed: {', '.join(TOP_LEVEL_KEYS)} "
                           "(a family takes {timezone: ...}; extract mappings go under extracts:)")
    for family in c.FAMILIES:
        spec = data.get(family)
        zone = spec.get("timezone") if isinstance(spec, dict) else spec
        if zone:
            zones[family] = _check_timezone(where, f"{family}.timezone", zone)

    presets = _str_list(where, "presets", data.get("presets"))
    mappings: dict[str, list[ExtractMapping]] = {}
    for name in presets:
        for entity, mapping in load_preset(name, where).extracts.items():
            mappings.setdefault(entity, []).append(mapping)

    for entity, specs in _require_mapping_dict(where, "extracts", data.get("extracts")).items():
        entity = str(entity)
        for spec in specs if isinstance(specs, list) else [specs]:
            hand = parse_extract_mapping(where, entity, spec)
            preset_name = (spec or {}).get("preset")
            if preset_name:
                preset = load_preset(str(preset_name), f"{where}: extracts.{entity}.preset")
                if entity not in preset.extracts:
                    raise MappingError(where, f"extracts.{entity}.preset",
                                       f"preset {preset_name!r} has no mapping for {entity}; it covers "
                                       f"{', '.join(preset.extracts)}")
                hand = compose(preset.extracts[entity], hand)
            existing = mappings.get(entity, [])
            # A hand mapping without its own preset refines the global presets' mapping of the entity.
            if not preset_name and existing and not hand.files:
                mappings[entity] = [compose(m, hand) for m in existing]
            else:
                mappings[entity] = [hand, *existing]
    _check_timezones_agree(where, mappings)
    return SourcesConfig(zones, {e: tuple(ms) for e, ms in mappings.items()})


def _check_timezones_agree(where: str, mappings: dict[str, list[ExtractMapping]]) -> None:
    for entity, ms in mappings.items():
        zones = {m.timezone for m in ms if m.timezone}
        if len(zones) > 1:
            raise MappingError(where, f"extracts.{entity}.timezone",
                               f"several mappings of {entity} declare different timezones {sorted(zones)}; "
                               "one extract has one timezone for naive timestamps (or use offsets in the data)")


# ---------------------------------------------------------------- SQL for the reader


def header_columns(entity: c.Entity, mapping: ExtractMapping, header: list[str], where: str
                   ) -> tuple[dict[str, str], list[str]]:
    """Contract column → source header as written, and the source headers left unused.

    Raises ``DuplicateColumn`` when two headers (after trimming and case-folding) are the same or
    two sources land on one column ambiguously, so no copy is dropped silently."""
    seen: dict[str, str] = {}
    for h in header:
        clean = h.strip().lower()
        if clean in seen:
            raise DuplicateColumn(where, h)
        seen[clean] = h
    result: dict[str, str] = {}
    used: set[str] = set()
    for col in entity.columns:
        for src in (s.lower() for s in mapping.sources_for(col.name)):
            if src in seen and src not in mapping.drop:
                result[col.name] = seen[src]
                used.add(src)
                break
        else:
            if col.name in seen and col.name not in mapping.drop and col.name not in used:
                result[col.name] = seen[col.name]
                used.add(col.name)
    ignored = [seen[h] for h in seen if h not in used and h not in mapping.drop]
    return result, ignored


class DuplicateColumn(ValueError):
    def __init__(self, where: str, column: str):
        self.where, self.column = where, column
        super().__init__(f"{where}: the header names column {column!r} twice; rename or remove one copy")


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def value_sql(column: c.Column, source_sql: str | None, mapping: ExtractMapping) -> str:
    """Text SQL of one contract column from its source expression (NULL when absent), with the
    mapping's value map, timestamp format, scale and constant applied in that order. A value the
    mapping cannot transform (an unparseable date, a non-number to scale) passes through as it
    was, so the contract's validation quarantines it with the original text."""
    name = column.name
    if source_sql is None:
        return _quote(mapping.constants[name]) if name in mapping.constants else "NULL"
    expr = source_sql
    if name in mapping.values and mapping.values[name]:
        cases = " ".join(f"WHEN {_quote(k)} THEN {_quote(v)}" for k, v in mapping.values[name].items())
        expr = f"CASE lower(trim({expr})) {cases} ELSE {expr} END"
    if name in mapping.timestamp_formats:
        fmt = _quote(mapping.timestamp_formats[name])
        parsed = f"try_strptime(trim({expr}), {fmt})"
        if column.type == c.DATE:
            text = f"strftime({parsed}, '%Y-%m-%d')"
        elif "%z" in mapping.timestamp_formats[name]:
            # Offset-aware: the instant in UTC, written with its Z so no source timezone applies.
            text = f"strftime(timezone('UTC', {parsed}), '%Y-%m-%dT%H:%M:%S.%fZ')"
        else:
            text = f"strftime({parsed}, '%Y-%m-%dT%H:%M:%S.%f')"
        expr = f"coalesce({text}, {expr})"
    if name in mapping.scale:
        scaled = f"try_cast({expr} AS DOUBLE) * {mapping.scale[name]!r}"
        if column.type == c.INTEGER:
            scaled = f"CAST(round({scaled}) AS BIGINT)"
        expr = f"coalesce(CAST({scaled} AS VARCHAR), {expr})"
    if name in mapping.constants:
        expr = f"coalesce(nullif(trim({expr}), ''), {_quote(mapping.constants[name])})"
    return expr


def row_sql(entity: c.Entity, sources: dict[str, str], mapping: ExtractMapping) -> str:
    """Text SQL of every contract column in contract order, from the source expressions found
    (``sources``: column → expression; absent columns are NULL or their constant), with
    ``fill_by_presence`` and then ``only_when`` applied on the other columns' mapped values."""
    def literal(value: str | None) -> str:
        return "NULL" if value is None else _quote(value)

    exprs = {col.name: value_sql(col, sources.get(col.name), mapping) for col in entity.columns}
    out = []
    for col in entity.columns:
        expr = exprs[col.name]
        if col.name in mapping.fill_by_presence:
            other, present, absent = mapping.fill_by_presence[col.name]
            fill = f"CASE WHEN nullif(trim({exprs[other]}), '') IS NOT NULL THEN {literal(present)} ELSE {literal(absent)} END"
            expr = f"coalesce(nullif(trim({expr}), ''), {fill})"
        if col.name in mapping.only_when:
            other, value = mapping.only_when[col.name]
            expr = f"CASE WHEN lower(trim({exprs[other]})) = {_quote(value)} THEN {expr} END"
        out.append(expr)
    return ", ".join(out)


def json_source_keys(entity: c.Entity, mapping: ExtractMapping) -> dict[str, list[str]]:
    """Per contract column, the JSON keys that may hold it (renamed sources first, then its own
    name), as written in the mapping: JSON keys are matched exactly."""
    out = {}
    for col in entity.columns:
        keys = [src for src in mapping.sources_for(col.name)] + [col.name]
        out[col.name] = [k for k in dict.fromkeys(keys) if k.lower() not in mapping.drop]
    return out
