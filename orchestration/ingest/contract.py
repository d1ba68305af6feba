"""The data contract: every extract the platform accepts, its columns, types and rules.

This module is the single source of truth: ingestion validates against it, the demo generator
writes to it, and ``docs/data_contract.md`` is generated from it (a test keeps them in sync).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Column types. Values arrive as text (CSV), JSON scalars or Parquet values; ingestion reads
# everything as text first, so a bad value becomes a quarantine row, not a failed load.
STRING = "string"
TIMESTAMP = "timestamp"  # ISO-8601; offset-aware preferred, naive read in the source timezone
DATE = "date"  # YYYY-MM-DD
LOCAL_TIME = "local_time"  # HH:MM[:SS], 24:00 allowed as an end of day
INTEGER = "integer"
DECIMAL = "decimal"
BOOLEAN = "boolean"  # true/false, t/f, yes/no, y/n, 1/0 (any case)
PHONE = "phone"  # any human format; normalised to E.164 in <column>_e164
EMAIL = "email"  # normalised (trimmed, lower-cased) in <column>_normalized
TIMEZONE = "timezone"  # an IANA zone name such as Europe/Berlin
WEEKDAY = "weekday"  # ISO number 1 (Monday) .. 7 (Sunday), or a day name / 3-letter abbreviation

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".parquet": "parquet"}


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool = False
    description: str = ""
    allowed: tuple[str, ...] = ()  # accepted values (compared lower-cased), empty = any
    minimum: float | None = None
    maximum: float | None = None
    may_be_future: bool = False  # a plan (e.g. a scheduled start), not an event that happened
    # Identifies a person (name, email, phone): never published, purged after the retention age.
    personal: bool = False


@dataclass(frozen=True)
class Entity:
    name: str
    family: str  # crm | telephony | messaging: which source timezone applies to naive times
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    # Timestamp that says when the thing happened: a value past the load time is future-dated,
    # and the SQL source uses it to select a day's rows.
    event_time: str | None = None
    # Pairs (earlier, later) that must not be reversed: a reversed pair is a negative duration.
    ordered: tuple[tuple[str, str], ...] = ()
    optional_extract: bool = False
    aliases: tuple[str, ...] = field(default=())

    @property
    def personal_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.personal]

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def _c(name, type_, required=False, description="", **kw) -> Column:
    return Column(name, type_, required, description, **kw)


CALL_DISPOSITIONS = ("connected", "voicemail", "no_answer", "busy", "failed", "cancelled")
SMS_STATUSES = ("queued", "sent", "delivered", "failed", "undelivered", "received")
EMAIL_STATUSES = ("sent", "delivered", "bounced", "failed", "received")
APPOINTMENT_STATUSES = ("scheduled", "completed", "no_show", "cancelled", "rescheduled")
DIRECTIONS = ("inbound", "outbound")


def _message_entity(name: str, what: str, id_column: str, contact_type: str, contact_suffix: str,
                    statuses: tuple[str, ...]) -> Entity:
    """SMS and emails: the same messaging shape, with their own id, contact type and statuses."""
    return Entity(
        name, "messaging", f"{what}, both directions; automated ones flagged.",
        (
            _c(id_column, STRING, True),
            _c("sent_at", TIMESTAMP, True),
            _c("direction", STRING, True, "", allowed=DIRECTIONS),
            _c(f"from_{contact_suffix}", contact_type, personal=True),
            _c(f"to_{contact_suffix}", contact_type, personal=True),
            _c("rep_id", STRING),
            _c("delivery_status", STRING, False, "", allowed=statuses),
            _c("is_automated", BOOLEAN, False, "Sent by a template or workflow, not a person."),
            _c("lead_id", STRING),
        ),
        key=(id_column,), event_time="sent_at",
    )


ENTITIES: tuple[Entity, ...] = (
    Entity(
        "leads", "crm",
        "One row per lead record in the CRM (a web form, chat, call-in or imported lead).",
        (
            _c("lead_id", STRING, True, "CRM id of the lead."),
            _c("created_at", TIMESTAMP, True, "When the CRM created the record."),
            _c("form_submitted_at", TIMESTAMP, False, "When the person submitted the form, where the form tool records it; the gap to created_at is intake latency."),
            _c("source", STRING, False, "Acquisition channel, e.g. paid_search, organic, referral, event, partner."),
            _c("campaign", STRING, False, "Campaign name or id."),
            _c("score", INTEGER, False, "Lead score, 0-100.", minimum=0, maximum=100),
            _c("score_tier", STRING, False, "Score tier as the CRM grades it (e.g. a letter grade mapped to hot / warm / cold in sources.yaml); empty: derived from score."),
            _c("region", STRING, False, "Sales region of the lead."),
            _c("country", STRING, False, "ISO 3166 alpha-2 country; the numbering plan for phones written without a country code."),
            _c("owner_rep_id", STRING, False, "Rep the lead is assigned to."),
            _c("team_id", STRING, False, "Team the lead is routed to (its schedule sets business hours)."),
            _c("email", EMAIL, False, "Contact email.", personal=True),
            _c("phone", PHONE, False, "Contact phone.", personal=True),
            _c("first_name", STRING, personal=True),
            _c("last_name", STRING, personal=True),
            _c("user_agent", STRING, False, "Browser user agent of the form submission (bot detection)."),
            _c("is_test", BOOLEAN, False, "Marked as an internal test lead in the CRM."),
        ),
        key=("lead_id",), event_time="created_at",
    ),
    Entity(
        "reps", "crm", "One row per sales or support rep.",
        (
            _c("rep_id", STRING, True),
            _c("team_id", STRING, True),
            _c("full_name", STRING, personal=True),
            _c("email", EMAIL, personal=True),
            _c("phone", PHONE, personal=True),
            _c("hired_on", DATE),
            _c("terminated_on", DATE),
            _c("is_active", BOOLEAN),
            _c("max_concurrent_leads", INTEGER, False, "Open leads a rep can work at once (capacity).", minimum=0),
        ),
        key=("rep_id",), ordered=(("hired_on", "terminated_on"),),
    ),
    Entity(
        "teams", "crm", "One row per team; its timezone is where its business hours are kept.",
        (
            _c("team_id", STRING, True),
            _c("team_name", STRING),
            _c("timezone", TIMEZONE, True, "IANA timezone of the team's schedule."),
            _c("region", STRING),
        ),
        key=("team_id",),
    ),
    Entity(
        "schedules", "crm",
        "Business hours: one row per team (or rep), weekday and shift, valid between effective dates.",
        (
            _c("team_id", STRING, True),
            _c("rep_id", STRING, False, "Set for a rep-specific schedule; empty for the team's."),
            _c("weekday", WEEKDAY, True, "Day the shift starts on."),
            _c("start_local", LOCAL_TIME, True, "Shift start, local time of the team."),
            _c("end_local", LOCAL_TIME, True, "Shift end; earlier than start means it ends the next day; 24:00 is midnight."),
            _c("effective_from", DATE, False, "First day this row applies (empty: always)."),
            _c("effective_to", DATE, False, "Last day this row applies, inclusive (empty: open-ended)."),
            _c("timezone", TIMEZONE, False, "Overrides the team's timezone for this row."),
        ),
        key=("team_id", "rep_id", "weekday", "start_local", "effective_from"),
        ordered=(("effective_from", "effective_to"),),
    ),
    Entity(
        "holidays", "crm", "Closed days, whole days in the team's local time; multi-day holidays span start to end.",
        (
            _c("start_date", DATE, True),
            _c("end_date", DATE, False, "Last closed day, inclusive (empty: same as start_date)."),
            _c("team_id", STRING, False, "Empty: applies to every team."),
            _c("name", STRING),
        ),
        key=("start_date", "team_id"), ordered=(("start_date", "end_date"),),
    ),
    Entity(
        "lead_status_history", "crm", "Every status change of a lead.",
        (
            _c("lead_id", STRING, True),
            _c("status", STRING, True, "New status, e.g. new, contacted, qualified, unqualified, converted."),
            _c("changed_at", TIMESTAMP, True),
            _c("previous_status", STRING),
            _c("rep_id", STRING),
        ),
        key=("lead_id", "changed_at", "status"), event_time="changed_at",
    ),
    Entity(
        "appointments", "crm", "Meetings booked with leads.",
        (
            _c("appointment_id", STRING, True),
            _c("lead_id", STRING, True),
            _c("rep_id", STRING),
            _c("booked_at", TIMESTAMP, True, "When the appointment was booked."),
            _c("scheduled_start_at", TIMESTAMP, True, may_be_future=True),
            _c("scheduled_end_at", TIMESTAMP, may_be_future=True),
            _c("status", STRING, True, "", allowed=APPOINTMENT_STATUSES),
        ),
        key=("appointment_id",), event_time="booked_at",
        ordered=(("scheduled_start_at", "scheduled_end_at"),),
    ),
    Entity(
        "opportunities", "crm", "Sales opportunities created from leads.",
        (
            _c("opportunity_id", STRING, True),
            _c("lead_id", STRING, True),
            _c("created_at", TIMESTAMP, True),
            _c("stage", STRING),
            _c("amount", DECIMAL, False, "Value in currency units.", minimum=0),
            _c("currency", STRING),
            _c("closed_at", TIMESTAMP),
            _c("is_won", BOOLEAN),
        ),
        key=("opportunity_id",), event_time="created_at", ordered=(("created_at", "closed_at"),),
    ),
    Entity(
        "campaign_costs", "crm", "Optional: spend per campaign and day, for cost per opportunity.",
        (
            _c("campaign", STRING, True),
            _c("cost_date", DATE, True),
            _c("cost", DECIMAL, True, "", minimum=0),
            _c("currency", STRING),
            _c("source", STRING),
        ),
        key=("campaign", "cost_date"), optional_extract=True,
    ),
    Entity(
        "experiment_assignments", "crm",
        "Optional: which arm of an A/B test each rep or lead was in (e.g. the notification method).",
        (
            _c("experiment_id", STRING, True, "The experiment."),
            _c("unit_type", STRING, True, "What was randomised: a rep (all their leads in the dates) or a single lead.",
               allowed=("rep", "lead")),
            _c("unit_id", STRING, True, "rep_id or lead_id of the unit."),
            _c("arm", STRING, True, "Arm the unit was in; the arm named control (else the first by name) is the baseline."),
            _c("started_on", DATE, False, "First day of the experiment for this unit (empty: from the start of the data)."),
            _c("ended_on", DATE, False, "Last day, inclusive (empty: still running)."),
        ),
        key=("experiment_id", "unit_type", "unit_id"), optional_extract=True,
        ordered=(("started_on", "ended_on"),),
    ),
    Entity(
        "calls", "telephony",
        "Phone calls from the telephony system; the other party is identified by number.",
        (
            _c("call_id", STRING, True),
            _c("started_at", TIMESTAMP, True, "When the call was placed or rang in."),
            _c("answered_at", TIMESTAMP, False, "When it connected; empty if never answered."),
            _c("ended_at", TIMESTAMP),
            _c("direction", STRING, True, "", allowed=DIRECTIONS),
            _c("from_number", PHONE, personal=True),
            _c("to_number", PHONE, personal=True),
            _c("rep_id", STRING, False, "Agent on the call, if the telephony system knows the CRM user."),
            _c("disposition", STRING, False, "", allowed=CALL_DISPOSITIONS),
            _c("duration_seconds", INTEGER, False, "", minimum=0),
            _c("lead_id", STRING, False, "CRM id, when the dialler was launched from the CRM."),
        ),
        key=("call_id",), event_time="started_at",
        ordered=(("started_at", "answered_at"), ("started_at", "ended_at"), ("answered_at", "ended_at")),
    ),
    _message_entity("sms", "Text messages", "message_id", PHONE, "number", SMS_STATUSES),
    _message_entity("emails", "Emails", "email_id", EMAIL, "address", EMAIL_STATUSES),
)

ENTITY_BY_NAME = {e.name: e for e in ENTITIES}
ACTIVITY_ENTITIES = ("calls", "sms", "emails")
FAMILIES = ("crm", "telephony", "messaging")

# Quarantine reasons: every rejected row carries exactly one, the first that applies.
QUARANTINE_REASONS = {
    "malformed_row": "The line could not be parsed (wrong number of fields, broken quoting, invalid JSON).",
    "missing_required_value": "A required column is empty.",
    "invalid_value": "A value does not parse as its type, or is outside its allowed values or range.",
    "future_timestamp": "The event time lies after the load time (plus a small clock-skew tolerance).",
    "negative_duration": "Two timestamps that must be ordered are reversed (e.g. a call that ended before it started).",
    "duplicate_key": "Another row of the same file has the same key; the first is kept.",
    "empty_file": "The file has no bytes at all (not even a header): recorded so a broken export is visible.",
}
