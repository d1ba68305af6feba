"""Renders docs/data_contract.md from the contract, so the document cannot drift from the code.

    python -m orchestration.ingest.contract_doc > docs/data_contract.md
"""

from __future__ import annotations

from orchestration.ingest import contract as c
from orchestration.ingest import normalize as n
from orchestration.quality.availability import OUTPUTS

INTRO = """\
# Data contract: the extracts the platform accepts

*Generated from `orchestration/ingest/contract.py` by
`python -m orchestration.ingest.contract_doc > docs/data_contract.md`; a test keeps it in sync.
The dbt staging models take their columns and keys from the same contract
(`python -m orchestration.ingest.contract_dbt > dbt_project/macros/contract_columns.sql`;
tests/test_staging_contract.py fails while it is stale).*

Export these from your CRM, telephony and messaging systems and drop them in the landing
directory (`STL_LANDING_DIR`, default `data/landing`), or expose them as tables in a SQL
database (`STL_SOURCE_DATABASE_URL`).

## Files

- **Formats**: CSV (`.csv`: comma-separated, header row, RFC-4180 quoting, UTF-8 with or without
  BOM, LF or CRLF line endings), JSON Lines (`.jsonl`, `.ndjson`, `.json`: one object per line),
  Parquet (`.parquet`). CSV and JSON Lines may be gzip-compressed (`.csv.gz`, `.jsonl.gz`).
- **Naming**: the file name starts with the entity name, then optionally `_`, `-` or `.` and
  anything: `leads.csv`, `calls_2026-03-08.csv`, `sms-export-20260308.jsonl.gz`. Subdirectories
  are fine (`calls/calls_2026-03-08.csv`). Names starting with `_` or `.` are ignored.
- **Extract date**: a date in the name (`YYYY-MM-DD` or `YYYYMMDD`) puts the file in that day's
  ingestion partition. A file without a date is a snapshot (teams, reps, schedules …) that
  every run looks at.
- **Columns**: names as below (case and surrounding spaces in headers are ignored). Extra columns
  are ignored and listed in the run's metadata. In CSV and Parquet a *required column* must be
  present in the header; in JSON Lines a key may be left out when its value is empty.
- **Versions**: the same record may appear in many files (daily extracts repeat and correct
  rows); the current version is the one loaded last. A file re-delivered with the same name and
  different content replaces everything its earlier version loaded; the same content changes
  nothing.

## Values

- **Timestamps**: ISO-8601. Offset-aware values (`2026-03-08T14:03:07.123Z`,
  `2026-03-08 09:03:07.123-05:00`, `+0100`, `+01`) are preferred and converted to UTC.
  Naive values (`2026-03-08 09:03:07.123`) are local time in the *source timezone* of the
  file's family (crm, telephony, messaging), declared in `sources.yaml` in the landing directory:

  ```yaml
  crm: {timezone: America/New_York}
  telephony: {timezone: UTC}
  messaging: {timezone: UTC}
  ```

  (or `STL_SOURCE_TIMEZONES=crm=America/New_York,telephony=UTC`; default `UTC`). A naive time in
  the repeated hour of a daylight-saving fall-back is ambiguous: it is read as the **earlier**
  instant (daylight time). A naive time in the skipped hour of a spring-forward does not exist:
  it is shifted forward by the gap (02:30 → 03:30). Both are counted in the run's metadata.
  10- or 13-digit numbers are Unix epoch seconds or milliseconds. A zone written in the value is
  honoured when it is unambiguous (`Z`, `UTC`, `GMT`, an offset, or an IANA name such as
  `2026-03-08 09:03 Europe/Berlin`); an abbreviation such as `EST` or `IST` is ambiguous and the
  value is invalid, never silently read in the source timezone. `infinity`, `epoch`, `now` and
  years outside the supported range are invalid. Sub-second precision is kept to the
  microsecond. Everything is stored as UTC.
- **Dates**: `YYYY-MM-DD`. **Local times**: `HH:MM[:SS]`, `24:00` allowed as an end.
  **Booleans**: true/false, t/f, yes/no, y/n, 1/0. **Weekdays**: ISO 1 (Monday) – 7, or names.
- **Phones**: any human format. Normalised to E.164 (`+14155550123`) in `<column>_e164`, using
  the lead's `country` when given, else `STL_DEFAULT_PHONE_REGION` (default `US`), for numbers
  written without a country code; `00`/`011` international prefixes, `(0)` and extensions are
  understood. A phone that cannot be normalised keeps its raw value and an empty `_e164`
  (counted, never a reason to reject the row).
- **Emails**: trimmed and lower-cased in `<column>_normalized`; a value that is not an address
  leaves it empty.

## Matching telephony and messaging to leads

Calls, SMS and emails identify the other party by number or address. Each record is matched to
a lead by CRM `lead_id` when it names an existing lead, else by the other party's E.164 phone
(the `to` side of an outbound record, the `from` side of an inbound one), else by email; among
several leads with that number or address, the most recent one created at or before the
activity. An activity older than every such lead goes to the earliest one and is flagged
`matched_before_lead_created`. Unmatched records are kept. The result is
`raw.activity_lead_matches`; match rates per channel are in the asset's metadata and the run
summary.
"""

MAPPINGS = """\
## Your column names and vocabularies: mappings and presets

Exports rarely arrive in these column names. Between your files and this contract sits a
mapping layer, declared per extract in the landing directory's `sources.yaml` (renames, value
maps, timestamp formats, scale, constants, dropped fields, file patterns) or taken from a
built-in vendor preset (`presets: [hubspot, twilio]`): [docs/mappings.md](mappings.md) and
[docs/presets.md](presets.md). The mapping only rewrites text as the file is read; every value
is then validated against the contract below, so a vendor value the mapping does not know is
quarantined with its original text. `stl check` shows what a mapping does to the first rows of
each file without writing anything.
"""

BAD_INPUT = """\
## Bad input: what happens

| case | outcome |
|---|---|
| a required column is missing from a CSV header or Parquet schema | **error** naming the file and the column; the entity's whole load is rolled back (the warehouse stays as before) |
| unsupported extension for an entity's file (e.g. `leads.xlsx`) | **error** naming the file and the accepted formats; rolled back |
| unreadable file (bad encoding, corrupt Parquet, not gzip) | **error** naming the file; rolled back |
| the same column twice in a header (after trimming and case-folding) | **error** naming the file and the column; rolled back |
| `*`, `?`, `[ ]`, `{ }`, quotes or spaces in a file name | read literally, as that one file (never as a pattern) |
| a file whose name matches no entity | ignored (not data); the sensor does not react to it |
| empty file (0 bytes) | loaded as an empty extract with an `empty_file` quarantine row naming it, so a broken export is visible |
| header only | loaded: 0 rows |
| UTF-8 BOM, Windows (CRLF) line endings, CRLF and LF mixed in one file | read transparently (each file is read on its own with this contract's dialect: nothing is guessed from another file) |
| a quoted field left open (a file cut short) | the broken record is quarantined: `malformed_row`, with its line; the records before it load |
| a row with the wrong number of fields, broken quoting, invalid JSON | quarantined: `malformed_row` (with the raw line) |
| a required value empty | quarantined: `missing_required_value` (column named) |
| a value that does not parse as its type, outside its allowed values or range | quarantined: `invalid_value` (column and value named) |
| an event time after the load time | quarantined: `future_timestamp` |
| a planned time (an appointment's start) more than `STL_MAX_FUTURE_DAYS` (default 730) ahead | quarantined: `future_timestamp` |
| reversed timestamps (ended before started …) | quarantined: `negative_duration` |
| the same key twice in one file | the first row loads, later ones are quarantined: `duplicate_key` |
| an activity before its lead existed, an unmatched phone/email, a bot or test lead, a repeat submission | loaded; flagged downstream (matching, dbt exclusions, quality gates) |

Every quarantined row is in `raw.quarantine` with the file, row (and line) number, reason, column,
a readable detail and the raw record; per file, rows read = rows loaded + rows quarantined
(`raw.ingested_files`, and the asset's `row_accounting` metadata). For CSV, rows read is counted
independently of the parser (a quote-aware count of the file's records), so a record the parser
dropped becomes a `malformed_row` instead of disappearing. A row gets the first reason that
applies, in the order of the table above.

"""


def _entity_section(entity: c.Entity) -> str:
    lines = [f"### `{entity.name}` ({entity.family}{', optional extract' if entity.optional_extract else ''})", "",
             entity.description, "",
             f"Key: `{', '.join(entity.key)}` (unique within a file)."
             + (f" Event time: `{entity.event_time}`." if entity.event_time else ""), ""]
    if entity.ordered:
        lines += ["Must not be reversed: " + "; ".join(f"`{a}` ≤ `{b}`" for a, b in entity.ordered) + ".", ""]
    lines += ["| column | type | required | rules | description |", "|---|---|---|---|---|"]
    for col in entity.columns:
        rules = []
        if col.allowed:
            rules.append("one of " + ", ".join(f"`{v}`" for v in col.allowed))
        if col.minimum is not None:
            rules.append(f"≥ {col.minimum:g}")
        if col.maximum is not None:
            rules.append(f"≤ {col.maximum:g}")
        if col.may_be_future:
            rules.append("may be in the future")
        if col.personal:
            rules.append("**personal data**: stays in raw layers, purged after `STL_RETENTION_DAYS`")
        companions = [name for name, _ in n.companion_columns(col)]
        if companions:
            rules.append("adds `" + "`, `".join(companions) + "`")
        lines.append(f"| `{col.name}` | {col.type} | {'yes' if col.required else ''} | {'; '.join(rules)} | {col.description} |")
    return "\n".join(lines) + "\n"


def _outputs_section() -> str:
    lines = ["## What each output needs", "",
             "The minimum is **leads plus at least one activity channel** (calls, SMS or emails). Every other",
             "extract is optional: an output whose extracts are missing, empty or too thin to fit is left",
             "empty with a reason (the run summary's *Not available* list, the report's sections,",
             "`quality.output_status`), and the rest of the run goes on.", "",
             "| output | needs rows in | when missing |", "|---|---|---|"]
    for o in OUTPUTS:
        needs = ", ".join(f"`{e}`" for e in o.needs)
        if o.needs_any:
            needs += (" and " if needs else "") + "one of " + ", ".join(f"`{e}`" for e in o.needs_any)
        lines.append(f"| {o.title} | {needs} | {o.remedy} |")
    return "\n".join(lines) + "\n"


def render() -> str:
    families = {"crm": "CRM extracts", "telephony": "Telephony extracts", "messaging": "Messaging extracts"}
    parts = [INTRO, MAPPINGS, _outputs_section(), "## Entities", ""]
    for family, title in families.items():
        parts.append(f"## {title}\n")
        parts += [_entity_section(e) for e in c.ENTITIES if e.family == family]
    parts.append(BAD_INPUT)
    parts.append("## Quarantine reasons\n\n| reason | meaning |\n|---|---|\n"
                 + "".join(f"| `{k}` | {v} |\n" for k, v in c.QUARANTINE_REASONS.items()))
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")
