"""Which outputs a run could produce, and why not: the minimum a user needs, what each output
needs, and a ``quality.output_status`` table the summary and the report read.

A user's landing directory may hold only leads and one activity channel. Every other extract is
optional; an output whose inputs are absent, empty or degenerate completes with an empty result
and a row here saying why and what to add, never an exception (docs/data_contract.md,
"What each output needs").
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

# Leads plus at least one of these: without an activity channel nothing can be measured.
REQUIRED_EXTRACTS = ("leads",)
ACTIVITY_CHANNELS = ("calls", "sms", "emails")


@dataclass(frozen=True)
class OutputNeeds:
    output: str
    title: str  # how the report and the summary name it
    needs: tuple[str, ...]  # extracts that must have rows (all of them)
    needs_any: tuple[str, ...] = ()  # at least one of these must have rows
    remedy: str = ""  # what a user adds to get it


OUTPUTS: tuple[OutputNeeds, ...] = (
    OutputNeeds("response_facts", "Response times", ("leads",), ACTIVITY_CHANNELS,
                "export leads and at least one activity channel (calls, sms or emails)"),
    OutputNeeds("business_time", "Business-hours clock", ("teams", "schedules"), (),
                "add the teams and schedules extracts (and holidays) so the business clock can run"),
    OutputNeeds("funnel_opportunities", "Lead → opportunity conversion", ("opportunities",), (),
                "add the opportunities extract"),
    OutputNeeds("funnel_appointments", "Appointment booking and show-up", ("appointments",), (),
                "add the appointments extract"),
    OutputNeeds("campaign_costs", "Cost per opportunity", ("campaign_costs", "opportunities"), (),
                "add the campaign_costs extract"),
    OutputNeeds("speed_conversion_effects", "Does speed pay (odds ratios)", ("leads",),
                ("opportunities", "appointments", "calls"),
                "add opportunities (or appointments) and at least a few weeks of leads with their outcomes"),
    OutputNeeds("conversion_curve", "Conversion by minutes to first response", ("leads",),
                ("opportunities", "appointments", "calls"),
                "add opportunities (or appointments) and at least a few weeks of leads with their outcomes"),
    OutputNeeds("volume_forecast", "Lead volume forecast", ("leads",), (),
                "at least three weeks of lead history are needed for a weekly profile and a backtest"),
    OutputNeeds("staffing_plan", "Staffing against the forecast", ("leads", "schedules"), (),
                "add schedules (reps on duty) and calls (handle time); the forecast must be available"),
    OutputNeeds("sla_breach_drivers", "Why are we slow (SLA breach drivers)", ("leads", "schedules"), (),
                "add schedules (reps on duty) and calls (handle time), so breaches can be split into after hours, "
                "capacity-bound and process-bound"),
    OutputNeeds("rep_outliers", "Rep outliers", ("leads",), (),
                "leads need an owner_rep_id, and at least a few reps with leads"),
    OutputNeeds("experiment_effects", "Experiments (A/B tests)", ("experiment_assignments",), (),
                "add the optional experiment_assignments extract"),
)
OUTPUT_BY_NAME = {o.output: o for o in OUTPUTS}

STATUS_DDL = [
    "CREATE SCHEMA IF NOT EXISTS quality",
    """CREATE TABLE IF NOT EXISTS quality.output_status (
        output VARCHAR, title VARCHAR, available BOOLEAN, reason VARCHAR, remedy VARCHAR,
        run_id VARCHAR, recorded_at TIMESTAMP)""",
]


@dataclass(frozen=True)
class OutputStatus:
    output: str
    available: bool
    reason: str | None = None  # why it is not available (None when it is)
    remedy: str | None = None  # what to add or change

    @property
    def title(self) -> str:
        needs = OUTPUT_BY_NAME.get(self.output)
        return needs.title if needs else self.output.replace("_", " ")

    def line(self) -> str:
        if self.available:
            return f"{self.title}: available"
        return f"{self.title}: not available: {self.reason}" + (f"; {self.remedy}" if self.remedy else "")


class InsufficientData(ValueError):
    """An analysis cannot run on this data (absent input, too few rows, no variation). Raised by
    the plain-Python statistics by name and turned into an empty result plus a status row."""

    def __init__(self, reason: str, remedy: str | None = None):
        self.reason, self.remedy = reason, remedy
        super().__init__(reason + (f" ({remedy})" if remedy else ""))


def available(output: str) -> OutputStatus:
    return OutputStatus(output, True)


def unavailable(output: str, reason: str, remedy: str | None = None) -> OutputStatus:
    needs = OUTPUT_BY_NAME.get(output)
    return OutputStatus(output, False, reason, remedy if remedy is not None else (needs.remedy if needs else None))


def record_status(con, statuses: list[OutputStatus], run_id: str | None = None) -> None:
    """Replace the current status of each given output (one row per output: the latest word)."""
    for ddl in STATUS_DDL:
        con.execute(ddl)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    for s in statuses:
        con.execute("DELETE FROM quality.output_status WHERE output = ?", [s.output])
        con.execute("INSERT INTO quality.output_status VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [s.output, s.title, s.available, s.reason, s.remedy, run_id, now])


def current_status(con) -> dict[str, OutputStatus]:
    """Every recorded output's latest status; {} before the first run that recorded any."""
    exists = con.execute("SELECT count(*) FROM information_schema.tables "
                         "WHERE table_schema = 'quality' AND table_name = 'output_status'").fetchone()[0]
    if not exists:
        return {}
    rows = con.execute("SELECT output, available, reason, remedy FROM quality.output_status ORDER BY output").fetchall()
    return {r[0]: OutputStatus(r[0], bool(r[1]), r[2], r[3]) for r in rows}


def status_from_extract_counts(counts: dict[str, int]) -> list[OutputStatus]:
    """What the loaded extracts allow, before any model runs: ``counts`` = rows per raw table."""
    out = []
    for needs in OUTPUTS:
        missing = [e for e in needs.needs if not counts.get(e)]
        if needs.needs_any and not any(counts.get(e) for e in needs.needs_any):
            missing.append(" or ".join(needs.needs_any))
        if missing:
            out.append(unavailable(needs.output, f"no rows in {', '.join(missing)}"))
        else:
            out.append(available(needs.output))
    return out
