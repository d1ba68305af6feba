"""The leadership report: one self-contained HTML file (inline CSS and SVG, no script, font or
image to fetch), so it opens offline, attaches to an email and files as it is.

``collect`` gathers plain data from the warehouse; ``narrative`` turns the figures into the few
sentences at the top; ``render`` fills the Jinja2 template ``templates/report.html.j2``
(autoescaped; edit it to rebrand). A section whose output is unavailable says "Not available:
<reason>. <remedy>" (from ``quality.output_status``, or the missing or empty table); empty
tables and a warehouse without statistics or quality results never make the report fail.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import jinja2
from markupsafe import Markup

from orchestration.delivery import charts
from orchestration.delivery.snapshots import (HISTORY_TABLE, KPI_MART, Period, data_coverage, latest_versions_sql,
                                              period_is_whole)
from orchestration.quality.availability import current_status
from orchestration.metric_definitions import definitions
from orchestration.stats.tables import FITS

TREND_PERIODS = 12
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
TEMPLATES = Path(__file__).parent / "templates"
# Default leadership targets; STL_REPORT_TARGETS overrides them ("kpi=value,...", shares as 0–1,
# durations in seconds). A KPI without a target shows none.
DEFAULT_TARGETS = {"sla_compliance": 0.90, "share_answered": 0.95, "median_business_seconds_to_first_response": 300.0}
# A team needs this many leads in the period before the narrative calls it out.
MIN_TEAM_LEADS = 20


@dataclass(frozen=True)
class Kpi:
    kpi: str
    label: str
    kind: str  # count | share | duration
    higher_is_better: bool | None  # None: neither (lead volume is demand, not performance)


HEADLINE_KPIS = [
    Kpi("lead_incidents", "Leads", "count", None),
    Kpi("sla_compliance", "SLA compliance", "share", True),
    Kpi("median_business_seconds_to_first_response", "Median response, business hours", "duration", False),
    Kpi("median_seconds_to_first_response", "Median response, calendar time", "duration", False),
    Kpi("p90_seconds_to_first_response", "Slowest 10 % waited more than (p90)", "duration", False),
    Kpi("share_answered_within_5m", "Answered within 5 min", "share", True),
    Kpi("share_answered", "Answered at all", "share", True),
    Kpi("opportunity_conversion_rate", "Lead → opportunity", "share", True),
]
# Report section → the output in quality.output_status whose unavailability replaces it.
SECTION_OUTPUTS = {"heatmap": "response_facts", "funnel": "funnel_opportunities", "effects": "speed_conversion_effects",
                   "forecast": "volume_forecast", "staffing": "staffing_plan"}


# --- units -------------------------------------------------------------------------------------

DURATION_UNITS = [("s", 1.0, 90.0), ("min", 60.0, 120 * 60.0), ("h", 3600.0, 72 * 3600.0), ("days", 86400.0, math.inf)]


def duration_unit(seconds: float) -> tuple[str, float]:
    """The unit a duration of this size reads best in: seconds below 90 s, minutes below 2 h,
    hours below 3 days, then days."""
    for name, size, below in DURATION_UNITS:
        if abs(seconds) < below:
            return name, size
    return DURATION_UNITS[-1][:2]


def duration(seconds: float | None, unit: tuple[str, float] | None = None) -> str:
    if seconds is None:
        return "n/a"
    name, size = unit or duration_unit(seconds)
    if name == "s":
        return f"{seconds:,.0f} s"
    shown = f"{seconds / size:,.1f}"
    return f"{shown[:-2] if shown.endswith('.0') else shown} {name}"  # "5 min", not "5.0 min"


def share(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1%}"


def count(x: float | None) -> str:
    return "n/a" if x is None else f"{x:,.0f}"


def format_value(kind: str, value: float | None) -> str:
    return {"count": count, "share": share, "duration": duration}[kind](value)


def format_change(kind: str, value: float, before: float) -> str:
    """The change in the unit the value itself is shown in (a 20.5 h p90 changes by +1.7 h)."""
    delta = value - before
    if kind == "share":
        return f"{delta * 100:+.1f} pts"
    if kind == "count":
        relative = f" ({delta / before:+.0%})" if before else ""
        return f"{delta:+,.0f}{relative}"
    return ("+" if delta >= 0 else "−") + duration(abs(delta), duration_unit(value))


def parse_targets(raw: str | None) -> dict[str, float]:
    """``sla_compliance=0.9,median_business_seconds_to_first_response=300`` over the defaults."""
    targets = dict(DEFAULT_TARGETS)
    for part in (raw or "").split(","):
        if part.strip():
            kpi, _, value = part.partition("=")
            targets[kpi.strip()] = float(value)
    return targets


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float | None, float | None]:
    """Wilson score interval of a proportion (sensible at small n and near 0 or 1)."""
    if not n:
        return None, None
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


# --- reading the warehouse ----------------------------------------------------------------------

def table_exists(con, qualified: str, base_table_only: bool = False) -> bool:
    """Whether ``schema.table`` exists (a view counts unless ``base_table_only``)."""
    schema, table = qualified.split(".")
    kinds = ["BASE TABLE"] if base_table_only else ["BASE TABLE", "VIEW", "LOCAL TEMPORARY"]
    return con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ? "
                       "AND table_type IN (SELECT unnest(?))", [schema, table, kinds]).fetchone()[0] > 0


def _columns(con, qualified: str) -> list[str]:
    schema, table = qualified.split(".")
    return [r[0] for r in con.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = ? "
                                      "AND table_name = ? ORDER BY ordinal_position", [schema, table]).fetchall()]


def _section(con, tables: list[str], build, why_missing: str):
    """Run ``build`` when every table exists; otherwise (or on a query error) say why not."""
    missing = [t for t in tables if not table_exists(con, t)]
    if missing:
        return {"unavailable": f"{', '.join(missing)} is not in the warehouse ({why_missing})"}
    try:
        return build()
    except duckdb.Error as exc:
        return {"unavailable": f"could not read {', '.join(tables)}: {exc}"}


def _rows(con, sql: str, params: list | None = None) -> list[dict]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def _local(ts: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """A naive UTC warehouse timestamp in the report's timezone."""
    return ts.replace(tzinfo=dt.UTC).astimezone(zone)


def sla_definition(con) -> dict:
    """How the SLA is defined, in words: the rules from dbt_project.yml (the single source of the
    metric definitions) and how many of the period's leads fell under each target."""
    stl = definitions()
    rules = []
    for rule in stl.get("sla_rules") or []:
        conditions = " and ".join(f"{k.replace('_', ' ')} {v}" for k, v in rule.items() if k != "sla_seconds")
        rules.append(f"{duration(rule['sla_seconds'])} for {conditions} leads")
    if stl.get("sla_default_seconds") is not None:
        rules.append(f"{duration(stl['sla_default_seconds'])} for all other leads")
    clock = stl.get("sla_clock", "business")
    clock_text = ("counted in business hours of the lead's team (nights, weekends and holidays do not count)"
                  if clock == "business" else "counted in calendar time")
    return {"rules": rules, "clock": clock_text,
            "text": ("A lead meets the SLA when a rep's first qualifying response (a call connected or a voicemail, "
                     "an SMS or email sent) comes within " + "; ".join(rules or ["its target"]) + ", " + clock_text
                     + ". Compliance = met ÷ (met + breached); leads still inside their window are left out.")}


def breach_facts(con, period: Period) -> dict:
    """The period's SLA breaches and how many arrived after hours, from the fact."""
    start, end = period.utc_bounds()
    # Without schedules there is no business clock, so is_after_hours is unknown (NULL), not false.
    breaches, after_hours, clock_known = con.execute(
        """SELECT count_if(sla_status = 'breached'), count_if(sla_status = 'breached' AND coalesce(is_after_hours, false)),
                  count(is_after_hours)
           FROM marts.fct_lead_response WHERE clock_started_at >= ? AND clock_started_at < ?""", [start, end]).fetchone()
    known = bool(clock_known)
    return {"breaches": breaches, "after_hours": after_hours if known else None,
            "share_after_hours": after_hours / breaches if breaches and known else None}


def breach_drivers(con) -> dict | None:
    """Shares of breaches by driver from ``stats.sla_breach_drivers`` (statistics' staffing
    decomposition) when that table exists. Read by column name pattern so an added or renamed
    column does not break the report: the overall row is ``team_id = 'all'``."""
    if not table_exists(con, "stats.sla_breach_drivers"):
        return None
    columns = _columns(con, "stats.sla_breach_drivers")
    if "team_id" not in columns:
        return None
    wanted = {"after_hours": "after_hours", "capacity": "capacity", "process": "process"}
    found = {key: next((c for c in columns if pattern in c and ("share" in c or c.endswith("_bound"))), None)
             for key, pattern in wanted.items()}
    found = {k: c for k, c in found.items() if c}
    if not found:
        return None
    period_col = next((c for c in columns if c.startswith("period")), None)
    latest = f"WHERE {period_col} = (SELECT max({period_col}) FROM stats.sla_breach_drivers)" if period_col else ""
    rows = _rows(con, f"SELECT team_id, {', '.join(found.values())} FROM stats.sla_breach_drivers {latest}")
    by_team = {r["team_id"]: {k: r[c] for k, c in found.items()} for r in rows}
    overall = by_team.pop("all", None)
    most_capacity = None
    if "capacity" in found:
        teams = [(team, v["capacity"]) for team, v in by_team.items() if v.get("capacity") is not None]
        most_capacity = max(teams, key=lambda item: item[1]) if teams else None
    return {"overall": overall, "most_capacity_bound_team": most_capacity}


def trend_values(con, periods: list[Period], history_sql: str) -> dict[dt.date, dict[str, float | None]]:
    """KPI → value of the all segment per period, from the KPI history (latest snapshot version
    of each period; the first snapshot backfills earlier whole periods, snapshots.py)."""
    values = {p.start: {} for p in periods}
    if table_exists(con, HISTORY_TABLE):
        rows = _rows(con, f"""SELECT period_start, kpi, value FROM ({latest_versions_sql(history_sql)})
                              WHERE frequency = ? AND period_timezone = ? AND segment_type = 'all'
                                AND period_start >= ? AND period_start <= ?""",
                     [periods[-1].frequency, periods[-1].timezone, periods[0].start, periods[-1].start])
        for r in rows:
            values[r["period_start"]][r["kpi"]] = r["value"]
    return values


def partial_period_leads(con, periods: list[Period]) -> dict[dt.date, int]:
    """Lead incidents per period from the KPI mart: named under the trend for the periods the data
    covers only in part (never snapshotted or backfilled, so not in the history)."""
    if not table_exists(con, KPI_MART):
        return {}
    rows = con.execute(f"""SELECT period_start, segment_lead_incidents FROM {KPI_MART}
                           WHERE frequency = ? AND period_timezone = ? AND segment_type = 'all' AND kpi = 'lead_incidents'
                             AND period_start >= ? AND period_start <= ?""",
                       [periods[-1].frequency, periods[-1].timezone, periods[0].start, periods[-1].start]).fetchall()
    return dict(rows)


def collect(con, period: Period, snapshot: list[dict], output_dir: Path, targets: dict[str, float] | None = None,
            history_sql: str = HISTORY_TABLE) -> dict:
    """Everything the report shows. ``snapshot`` is this run's KPI rows (with their version);
    ``history_sql`` the KPI history as the trend reads it (before the commit: with this run's
    pending rows, ``snapshots.history_with_pending_sql``)."""
    targets = DEFAULT_TARGETS if targets is None else targets
    zone = ZoneInfo(period.timezone)
    status = current_status(con)
    current = {(r["segment_type"], r["segment_value"], r["kpi"]): r["value"] for r in snapshot}
    fact_exists = table_exists(con, "marts.fct_lead_response")
    data_start, data_end = data_coverage(con) if fact_exists else (None, None)

    periods = [period]
    while len(periods) < TREND_PERIODS:
        periods.insert(0, periods[0].previous())
    trend = trend_values(con, periods, history_sql)
    # Whole periods only: a period the data covers in part (the first week of an extract) would
    # read as a collapse or a jump; it is left out and named under the chart. Periods before the
    # data starts are simply not there, so the chart does not open on a run of empty weeks.
    whole = [p for p in periods if p is period or period_is_whole(p, data_start, data_end)]
    partial_leads = partial_period_leads(con, periods)
    left_out = [(p.label, partial_leads[p.start]) for p in periods if p not in whole and partial_leads.get(p.start)]
    previous_period = period.previous()
    previous = trend.get(previous_period.start, {}) if period_is_whole(previous_period, data_start, data_end) else {}

    def segment(segment_type: str, kpi: str) -> list[tuple[str, float]]:
        return sorted(((value, v) for (t, value, k), v in current.items() if t == segment_type and k == kpi),
                      key=lambda item: item[0])

    def heatmap():
        cells = {(r["local_weekday"] - 1, r["local_hour"]): r["median_seconds_to_first_response"]
                 for r in _rows(con, "SELECT local_weekday, local_hour, median_seconds_to_first_response "
                                     "FROM marts.mart_response_by_hour_weekday")}
        return {"cells": cells} if cells else {"unavailable": "no answered leads yet"}

    def funnel():
        rows = _rows(con, "SELECT response_bucket, leads, opportunities FROM marts.mart_funnel_by_response_bucket ORDER BY bucket_order")
        if not any(r["leads"] for r in rows):
            return {"unavailable": "no leads in marts.mart_funnel_by_response_bucket"}
        return {"rows": [(r["response_bucket"], r["opportunities"] / r["leads"] if r["leads"] else None,
                          *wilson_interval(r["opportunities"], r["leads"]), r["leads"]) for r in rows]}

    def effects():
        rows = _rows(con, """SELECT term, odds_ratio, ci_low, ci_high, p_value, n_leads, is_reference, design_note
                             FROM stats.speed_conversion_effects
                             WHERE outcome = 'opportunity' AND model = 'buckets_clustered'
                             ORDER BY bucket_order, term""")
        return {"rows": rows} if rows else {"unavailable": "no adjusted model for the opportunity outcome (too little data to fit)"}

    def forecast():
        # The chosen model only, over its whole horizon (every model's rows are stored side by side).
        rows = _rows(con, """SELECT period_start, model, forecast, lo80, hi80 FROM stats.volume_forecast
                             WHERE frequency = 'hour' AND is_chosen ORDER BY period_start""")
        if not rows:
            return {"unavailable": "stats.volume_forecast has no chosen hourly forecast"}
        backtest = _rows(con, """SELECT frequency, any_value(model) FILTER (WHERE is_chosen) AS model,
                                        avg(mase) FILTER (WHERE is_chosen) AS mase,
                                        avg(mase) FILTER (WHERE model = 'seasonal_naive') AS naive_mase
                                 FROM stats.forecast_backtest WHERE frequency = 'hour' GROUP BY frequency""") \
            if table_exists(con, "stats.forecast_backtest") else []
        for r in rows:
            r["local_start"] = _local(r["period_start"], zone)
        first_week_end = rows[0]["period_start"] + dt.timedelta(days=7)
        return {"rows": rows, "model": rows[0]["model"], "backtest": backtest[0] if backtest else None,
                "hours": len(rows), "next_7_days": sum(r["forecast"] for r in rows if r["period_start"] < first_week_end)}

    def staffing():
        rows = _rows(con, """SELECT period_start, reps_required, reps_on_duty, target_service_level, target_seconds
                             FROM stats.staffing_plan WHERE team_id = 'all' ORDER BY period_start""")
        if not rows:
            return {"unavailable": "stats.staffing_plan has no rows for all teams"}
        for r in rows:
            r["local_start"] = _local(r["period_start"], zone)
        short = sum(1 for r in rows if r["reps_on_duty"] is not None and r["reps_required"] is not None
                    and r["reps_on_duty"] < r["reps_required"])
        return {"rows": rows, "hours_short": short}

    def quality():
        gates = _rows(con, """SELECT suite, asset_key, passed, evaluated_expectations, failed_expectations, failing_rows,
                                     date_trunc('minute', checked_at) AS checked_at
                              FROM quality.gate_results
                              WHERE run_id = (SELECT arg_max(run_id, checked_at) FROM quality.gate_results)
                              ORDER BY passed, suite""")
        alerts = _rows(con, """SELECT severity, kind, subject, what_failed, how_to_fix, date_trunc('minute', raised_at) AS raised_at
                               FROM quality.alerts
                               ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, raised_at DESC
                               LIMIT 10""") if table_exists(con, "quality.alerts") else []
        if not gates:
            return {"unavailable": "no gate results recorded yet"}
        return {"gates": gates, "alerts": alerts, "failed": [g for g in gates if not g["passed"]],
                "checked_at": max(g["checked_at"] for g in gates)}

    sections = {
        "heatmap": _section(con, ["marts.mart_response_by_hour_weekday"], heatmap, "dbt marts not built"),
        "funnel": _section(con, ["marts.mart_funnel_by_response_bucket"], funnel, "dbt marts not built"),
        "effects": _section(con, ["stats.speed_conversion_effects"], effects, "the statistics assets have not run"),
        "forecast": _section(con, ["stats.volume_forecast"], forecast, "the forecasting asset has not run"),
        "staffing": _section(con, ["stats.staffing_plan"], staffing, "the staffing asset has not run"),
        "quality": _section(con, ["quality.gate_results"], quality, "the data-quality gates have not recorded results"),
    }
    # The recorded status says why an output is missing and what to add: it wins over our guess.
    for name, output in SECTION_OUTPUTS.items():
        recorded = status.get(output)
        if recorded is not None and not recorded.available:
            sections[name] = {"unavailable": recorded.reason or "not produced by the last run", "remedy": recorded.remedy}

    headline = []
    for k in HEADLINE_KPIS:
        value, before = current.get(("all", "all", k.kpi)), previous.get(k.kpi)
        headline.append({"kpi": k, "value": value, "previous": before, "target": targets.get(k.kpi)})
    data_docs = output_dir / "data_docs" / "index.html"
    fits = (dict(con.execute(f"SELECT table_name, date_trunc('minute', fitted_at) FROM {FITS}").fetchall())
            if table_exists(con, FITS, base_table_only=True) else {})
    return {
        "period": period,
        # When the statistics shown were fitted (weekly by default: up to a week before the report).
        "fitted_at": {"effects": fits.get("speed_conversion_effects"), "forecast": fits.get("volume_forecast")},
        "snapshot_version": next((r["snapshot_version"] for r in snapshot), None),
        "metric_definition_version": next((r["metric_definition_version"] for r in snapshot), None),
        "headline": headline,
        "targets": targets,
        "trend": [(p, trend[p.start]) for p in whole],
        "trend_left_out": left_out,
        "data_start": data_start, "data_end": data_end,
        "sla_by_team": segment("team", "sla_compliance"),
        "sla_by_source": segment("source", "sla_compliance"),
        "leads_by_team": segment("team", "lead_incidents"),
        "team_leads": dict(segment("team", "lead_incidents")),
        "sla_definition": sla_definition(con),
        "breaches": breach_facts(con, period) if fact_exists else None,
        "drivers": breach_drivers(con),
        **sections,
        "status": status,
        "data_docs_uri": data_docs.resolve().as_uri() if data_docs.exists() else None,
        "generated_at": dt.datetime.now(dt.UTC),
    }


# --- the narrative ------------------------------------------------------------------------------

def narrative(data: dict) -> list[str]:
    """A few sentences a leader reads first, every figure taken from ``data`` (the marts)."""
    cards = {c["kpi"].kpi: c for c in data["headline"]}
    period_name = "week" if data["period"].frequency == "weekly" else "day"
    out = []

    sla = cards["sla_compliance"]
    if sla["value"] is None:
        out.append(f"No SLA outcome this {period_name}: no lead reached the end of its response window.")
    else:
        sentence = f"SLA compliance was {share(sla['value'])}"
        if sla["target"] is not None:
            sentence += f" against a target of {sla['target']:.0%}"
        if sla["previous"] is not None:
            delta = (sla["value"] - sla["previous"]) * 100
            sentence += (f", {'up' if delta > 0 else 'down'} {abs(delta):.1f} pts on the previous {period_name}"
                         if round(delta, 1) else f", unchanged on the previous {period_name}")
        out.append(sentence + ".")

    breaches, drivers = data.get("breaches"), data.get("drivers")
    if breaches and breaches["breaches"]:
        sentence = (f"{share(breaches['share_after_hours'])} of the {breaches['breaches']:,} breaches arrived after hours"
                    if breaches["share_after_hours"] is not None else
                    f"{breaches['breaches']:,} leads breached the SLA (no schedules, so after-hours arrivals cannot be told apart)")
        overall = (drivers or {}).get("overall") or {}
        parts = []
        if overall.get("capacity") is not None:
            parts.append(f"{share(overall['capacity'])} were capacity-bound (too few reps on duty)")
        if overall.get("process") is not None:
            parts.append(f"{share(overall['process'])} process-bound (reps on duty, response still late)")
        out.append(sentence + ("; " + " and ".join(parts) if parts else "") + ".")
        team = (drivers or {}).get("most_capacity_bound_team")
        if team and team[1]:
            out.append(f"Team {team[0]} is the most capacity-bound: {share(team[1])} of its breaches came when too few reps were on duty.")

    median, p90 = cards["median_business_seconds_to_first_response"], cards["p90_seconds_to_first_response"]
    if median["value"] is not None:
        sentence = f"Half of the answered leads got a response within {duration(median['value'])} of business time"
        if median["previous"] is not None:
            sentence += f" ({'slower' if median['value'] > median['previous'] else 'faster'} than {duration(median['previous'])} the {period_name} before)"
        if p90["value"] is not None:
            sentence += f"; the slowest 10 % waited more than {duration(p90['value'])} in calendar time"
        out.append(sentence + ".")

    leads = cards["lead_incidents"]
    if leads["value"] is not None:
        sentence = f"{count(leads['value'])} leads came in"
        if leads["previous"]:
            sentence += f" ({(leads['value'] - leads['previous']) / leads['previous']:+.0%} on the previous {period_name})"
        out.append(sentence + ".")

    teams = [(team, v) for team, v in data["sla_by_team"] if data["team_leads"].get(team, 0) >= MIN_TEAM_LEADS]
    if len(teams) > 1:
        worst = min(teams, key=lambda item: item[1])
        out.append(f"Lowest SLA compliance: team {worst[0]} at {share(worst[1])} ({count(data['team_leads'][worst[0]])} leads).")

    staffing = data.get("staffing") or {}
    if "rows" in staffing and sla["value"] is not None and sla["target"] is not None and sla["value"] < sla["target"]:
        if staffing["hours_short"] == 0:
            out.append("The schedules put at least the required number of reps on duty in every forecast hour: "
                       "the breaches point to process (routing, follow-up), not headcount.")
        else:
            out.append(f"The schedules are short of the required reps in {staffing['hours_short']} of the "
                       f"{len(staffing['rows'])} forecast hours.")

    fc = data.get("forecast") or {}
    if "rows" in fc:
        out.append(f"About {count(fc['next_7_days'])} leads are forecast for the next 7 days.")

    quality = data.get("quality") or {}
    if quality.get("failed"):
        out.append(f"Check before acting: {len(quality['failed'])} of {len(quality['gates'])} data-quality gates failed.")
    return out


# --- rendering ----------------------------------------------------------------------------------

def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters.update(share=share, count=count, duration=duration)
    return env


def _not_available(section: dict) -> Markup:
    remedy = section.get("remedy")
    text = f"{section['unavailable'].rstrip('.')}." + (f" {remedy[0].upper()}{remedy[1:].rstrip('.')}." if remedy else "")
    return charts.empty(text)


def _duration_series(series: dict[str, list[float | None]]) -> tuple[dict[str, list[float | None]], str]:
    """Durations converted to the one unit their largest value reads best in."""
    values = [v for s in series.values() for v in s if v is not None]
    name, size = duration_unit(max(values)) if values else ("min", 60.0)
    return {k: [None if v is None else v / size for v in s] for k, s in series.items()}, name


def headline_cards(data: dict) -> list[dict]:
    out = []
    for c in data["headline"]:
        k, value, before, target = c["kpi"], c["value"], c["previous"], c["target"]
        card = {"label": k.label, "value": format_value(k.kind, value), "change": None, "css": "same", "target": None}
        if value is not None and before is not None:
            delta = value - before
            arrow = "▲" if delta > 0 else "▼" if delta < 0 else "="
            if k.higher_is_better is not None and delta:
                card["css"] = "better" if (delta > 0) == k.higher_is_better else "worse"
            card["change"] = f"{arrow} {format_change(k.kind, value, before)} vs previous"
        elif value is not None:
            card["change"] = "no previous whole period"
        if target is not None:
            met = value is not None and ((value >= target) if k.higher_is_better else (value <= target))
            sign = "≥" if k.higher_is_better else "≤"
            card["target"] = {"text": f"target {sign} {format_value(k.kind, target)}", "met": met}
        out.append(card)
    return out


def _period_label(p: Period) -> str:
    return p.label[-3:] if p.frequency == "weekly" else p.label[5:]


def render(data: dict, for_email: bool = False) -> str:
    """The report as HTML. ``for_email``: the copy attached to a message, without links to files
    on this machine (a file:// link means nothing in someone else's mail client)."""
    period = data["period"]
    sections = {}
    labels = [_period_label(p) for p, _ in data["trend"]]
    medians, unit = _duration_series({"median, calendar time": [v.get("median_seconds_to_first_response") for _, v in data["trend"]],
                                      "median, business hours": [v.get("median_business_seconds_to_first_response") for _, v in data["trend"]]})
    sections["response_trend"] = charts.line_chart("response-trend", "Median time to first response", labels, medians,
                                                   y_label=unit)
    p90s, p90_unit = _duration_series({"p90, calendar time": [v.get("p90_seconds_to_first_response") for _, v in data["trend"]],
                                       "p90, business hours": [v.get("p90_business_seconds_to_first_response") for _, v in data["trend"]]})
    sections["p90_trend"] = charts.line_chart("response-p90-trend", "p90 time to first response", labels, p90s, y_label=p90_unit)
    sections["sla_trend"] = charts.line_chart(
        "sla-trend", "SLA compliance", labels,
        {"SLA compliance": [None if v.get("sla_compliance") is None else 100 * v["sla_compliance"] for _, v in data["trend"]],
         **({"target": [100 * data["targets"]["sla_compliance"]] * len(labels)} if "sla_compliance" in data["targets"] else {})},
        y_label="%")
    sections["volume_trend"] = charts.line_chart("volume-trend", "Leads per period", labels,
                                                 {"leads": [v.get("lead_incidents") for _, v in data["trend"]]}, y_label="leads")
    sla_target = data["targets"].get("sla_compliance")
    sections["sla_team"] = charts.bar_chart("sla-team", "SLA compliance by team", data["sla_by_team"], share, x_max=1.0,
                                            target=sla_target, higher_is_better=True)
    sections["sla_source"] = charts.bar_chart("sla-source", "SLA compliance by source", data["sla_by_source"], share, x_max=1.0,
                                              target=sla_target, higher_is_better=True)
    sections["leads_team"] = charts.bar_chart("leads-team", "Leads by team", data["leads_by_team"], count)

    heat = data["heatmap"]
    if "unavailable" in heat:
        sections["heatmap"] = _not_available(heat)
    else:
        sections["heatmap"] = charts.heatmap("heatmap", "Median response, weekday × hour", WEEKDAYS,
                                             [f"{h:02d}" for h in range(24)], heat["cells"], duration)
    funnel = data["funnel"]
    sections["conversion"] = _not_available(funnel) if "unavailable" in funnel else charts.interval_chart(
        "conversion", "Conversion by response bucket", [r[:4] for r in funnel["rows"]], share)
    effects = data["effects"]
    sections["effects"] = _not_available(effects) if "unavailable" in effects else charts.interval_chart(
        "effects", "Adjusted odds ratios",
        [(r["term"] + (" (ref)" if r["is_reference"] else ""), r["odds_ratio"], r["ci_low"], r["ci_high"]) for r in effects["rows"]],
        lambda v: f"{v:.2f}", reference=1.0)
    fc = data["forecast"]
    if "unavailable" in fc:
        sections["forecast"] = _not_available(fc)
    else:
        rows = fc["rows"]
        labels_fc = [r["local_start"].strftime("%a %d") for r in rows]
        midnights = [i for i, r in enumerate(rows) if r["local_start"].hour == 0]
        sections["forecast"] = charts.line_chart(
            "forecast", "Forecast leads per hour", labels_fc, {"forecast leads per hour": [r["forecast"] for r in rows]},
            bands={"forecast leads per hour": ([r["lo80"] for r in rows], [r["hi80"] for r in rows])}, y_label="leads/h",
            x_ticks=midnights[::2] if len(midnights) > 8 else midnights)
    st = data["staffing"]
    if "unavailable" in st:
        sections["staffing"] = _not_available(st)
    else:
        rows = st["rows"]
        midnights = [i for i, r in enumerate(rows) if r["local_start"].hour == 0]
        sections["staffing"] = charts.line_chart(
            "staffing", "Reps required vs on duty", [r["local_start"].strftime("%a %d") for r in rows],
            {"reps required": [r["reps_required"] for r in rows], "reps on duty (schedules)": [r["reps_on_duty"] for r in rows]},
            y_label="reps", x_ticks=midnights[::2] if len(midnights) > 8 else midnights)

    backtest = None
    if "rows" in fc and fc["backtest"] and fc["backtest"].get("mase") is not None:
        b = fc["backtest"]
        if b["model"] == "seasonal_naive" or b.get("naive_mase") is None:
            backtest = (f"Forecast method: the same hour of last week (in the backtest no model beat it). "
                        f"Typical error: {b['mase']:.2f}× the average week-to-week change.")
        else:
            backtest = (f"Forecast method: {b['model'].replace('_', ' ')}, chosen because it was the most accurate in a backtest: "
                        f"its typical error was {b['mase'] / b['naive_mase']:.0%} of that of simply repeating last week.")

    page = _env().get_template("report.html.j2").render(
        data=data, period=period, cards=headline_cards(data), narrative=narrative(data),
        charts={k: Markup(v) for k, v in sections.items()},
        period_text=f"{period.start:%a %d %b %Y} – {(period.end - dt.timedelta(days=1)):%a %d %b %Y}",
        backtest=backtest, for_email=for_email,
        data_docs_uri=None if for_email else data["data_docs_uri"],
        not_available=lambda s: Markup(_not_available(s)),
        unavailable_outputs=[s for s in data["status"].values() if not s.available],
    )
    return page
