"""The leadership report: one self-contained HTML file (inline CSS and SVG, no script, font or
image to fetch), so it opens offline, attaches to an email and files as it is.

Sections read what other stages built; a table that does not exist (statistics or quality not
run, or not deployed) shows its section as "not available" with the reason instead of failing
the report. ``collect`` gathers plain data, ``render`` turns it into HTML.
"""

from __future__ import annotations

import datetime as dt
import math
from html import escape
from pathlib import Path

import duckdb

from orchestration.delivery import charts
from orchestration.delivery.snapshots import Period, kpi_rows_sql

TREND_PERIODS = 12
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
HEADLINE_KPIS = [
    ("lead_incidents", "Lead incidents", "count", False),
    ("share_answered", "Answered", "share", False),
    ("median_seconds_to_first_response", "Median response", "minutes", True),
    ("p90_seconds_to_first_response", "p90 response", "minutes", True),
    ("median_business_seconds_to_first_response", "Median response (business hours)", "minutes", True),
    ("sla_compliance", "SLA compliance", "share", False),
    ("share_answered_within_5m", "Answered within 5 min", "share", False),
    ("opportunity_conversion_rate", "Lead → opportunity", "share", False),
]


def minutes(seconds: float | None) -> str:
    """A duration given in seconds, in minutes (hours from two hours on)."""
    if seconds is None:
        return "n/a"
    return f"{seconds / 60:.1f} min" if abs(seconds) < 7200 else f"{seconds / 3600:.1f} h"


def share(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1%}"


def count(x: float | None) -> str:
    return "n/a" if x is None else f"{x:,.0f}"


FORMATS = {"minutes": minutes, "share": share, "count": count}


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float | None, float | None]:
    """Wilson score interval of a proportion (sensible at small n and near 0 or 1)."""
    if not n:
        return None, None
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def table_exists(con, qualified: str, base_table_only: bool = False) -> bool:
    """Whether ``schema.table`` exists (a view counts unless ``base_table_only``)."""
    schema, table = qualified.split(".")
    kinds = ["BASE TABLE"] if base_table_only else ["BASE TABLE", "VIEW", "LOCAL TEMPORARY"]
    return con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ? "
                       "AND table_type IN (SELECT unnest(?))", [schema, table, kinds]).fetchone()[0] > 0


def _section(con, tables: list[str], build, why_missing: str):
    """Run ``build`` when every table exists; otherwise (or on a query error) say why not."""
    missing = [t for t in tables if not table_exists(con, t)]
    if missing:
        return {"unavailable": f"{', '.join(missing)} not in the warehouse ({why_missing})"}
    try:
        return build()
    except duckdb.Error as exc:
        return {"unavailable": f"could not read {', '.join(tables)}: {exc}"}


def _rows(con, sql: str, params: list | None = None) -> list[dict]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def collect(con, period: Period, snapshot: list[dict], output_dir: Path) -> dict:
    """Everything the report shows. ``snapshot`` is this run's KPI rows (with their version)."""
    current = {(r["segment_type"], r["segment_value"], r["kpi"]): r["value"] for r in snapshot}
    periods = [period]
    while len(periods) < TREND_PERIODS:
        periods.insert(0, periods[0].previous())
    sql, params = kpi_rows_sql(periods, segments={"all": None})
    trend_rows = _rows(con, sql, params)
    trend = {p.start: {} for p in periods}
    for r in trend_rows:
        trend[r["period_start"]][r["kpi"]] = r["value"]
    previous = trend.get(period.previous().start, {})

    def by_segment(segment_type):
        return sorted(((value, v) for (t, value, kpi), v in current.items() if t == segment_type and kpi == "sla_compliance"),
                      key=lambda item: item[0])

    def heatmap():
        return {"cells": {(r["local_weekday"] - 1, r["local_hour"]): r["median_seconds_to_first_response"]
                          for r in _rows(con, "SELECT local_weekday, local_hour, median_seconds_to_first_response "
                                              "FROM marts.mart_response_by_hour_weekday")}}

    def funnel():
        rows = _rows(con, "SELECT response_bucket, leads, opportunities FROM marts.mart_funnel_by_response_bucket ORDER BY bucket_order")
        return {"rows": [(r["response_bucket"], r["opportunities"] / r["leads"] if r["leads"] else None,
                          *wilson_interval(r["opportunities"], r["leads"]), r["leads"]) for r in rows]}

    def effects():
        rows = _rows(con, """SELECT term, odds_ratio, ci_low, ci_high, p_value, n_leads, is_reference, design_note
                             FROM stats.speed_conversion_effects
                             WHERE outcome = 'opportunity' AND model = 'buckets_clustered'
                             ORDER BY bucket_order, term""")
        return {"rows": rows} if rows else {"unavailable": "no buckets_clustered model for the opportunity outcome"}

    def forecast():
        fc = _rows(con, """SELECT period_start, forecast, lo80, hi80 FROM stats.volume_forecast
                           WHERE frequency = 'hour' ORDER BY period_start LIMIT 168""")
        staff = _rows(con, """SELECT period_start, reps_required, reps_on_duty FROM stats.staffing_plan
                              WHERE team_id = 'all' ORDER BY period_start LIMIT 168""")
        # One line per series: the chosen model's mean MASE over the horizons, against seasonal naive.
        chosen = _rows(con, """SELECT frequency, any_value(model) FILTER (WHERE is_chosen) AS model,
                                      avg(mase) FILTER (WHERE is_chosen) AS mase,
                                      avg(mase) FILTER (WHERE model = 'seasonal_naive') AS naive_mase,
                                      count(DISTINCT horizon) AS horizons
                               FROM stats.forecast_backtest GROUP BY frequency ORDER BY frequency""") \
            if table_exists(con, "stats.forecast_backtest") else []
        return {"forecast": fc, "staffing": staff, "backtest": chosen}

    def quality():
        gates = _rows(con, """SELECT suite, asset_key, passed, evaluated_expectations, failed_expectations, failing_rows, checked_at
                              FROM quality.gate_results
                              WHERE run_id = (SELECT arg_max(run_id, checked_at) FROM quality.gate_results)
                              ORDER BY passed, suite""")
        alerts = _rows(con, """SELECT severity, kind, subject, what_failed, how_to_fix, raised_at FROM quality.alerts
                               ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, raised_at DESC
                               LIMIT 10""") if table_exists(con, "quality.alerts") else []
        return {"gates": gates, "alerts": alerts}

    return {
        "period": period,
        "snapshot_version": next((r["snapshot_version"] for r in snapshot), None),
        "metric_definition_version": next((r["metric_definition_version"] for r in snapshot), None),
        "headline": [(label, FORMATS[kind], current.get(("all", "all", kpi)), previous.get(kpi), lower_is_better)
                     for kpi, label, kind, lower_is_better in HEADLINE_KPIS],
        "trend": {"labels": [p.label[-3:] if p.frequency == "weekly" else p.label[5:] for p in periods], "values": [trend[p.start] for p in periods]},
        "sla_by_team": by_segment("team"),
        "sla_by_source": by_segment("source"),
        "heatmap": _section(con, ["marts.mart_response_by_hour_weekday"], heatmap, "dbt marts not built"),
        "funnel": _section(con, ["marts.mart_funnel_by_response_bucket"], funnel, "dbt marts not built"),
        "effects": _section(con, ["stats.speed_conversion_effects"], effects, "the statistics assets have not run"),
        "forecast": _section(con, ["stats.volume_forecast", "stats.staffing_plan"], forecast,
                             "the forecasting and staffing assets have not run"),
        "quality": _section(con, ["quality.gate_results"], quality, "the data-quality gates have not recorded results"),
        "data_docs": (output_dir / "data_docs" / "index.html").exists(),
        "generated_at": dt.datetime.now(dt.UTC),
    }


def _unavailable(section: dict) -> str | None:
    return charts.empty(section["unavailable"]) if "unavailable" in section else None


def _headline_html(data: dict) -> str:
    cards = []
    for label, fmt, value, before, lower_is_better in data["headline"]:
        change = ""
        if value is not None and before is not None:
            delta = value - before
            better = (delta < 0) == lower_is_better if delta else None
            arrow = "▲" if delta > 0 else "▼" if delta < 0 else "="
            shown = (f"{delta * 100:+.1f} pts" if fmt is share else f"{delta:+,.0f}" if fmt is count
                     else ("+" if delta >= 0 else "-") + minutes(abs(delta)))
            css = "same" if better is None else "better" if better else "worse"
            change = f'<span class="change {css}">{arrow} {escape(shown)} vs previous</span>'
        elif value is not None:
            change = '<span class="change same">no previous period</span>'
        cards.append(f'<div class="card"><div class="label">{escape(label)}</div>'
                     f'<div class="value">{escape(fmt(value))}</div>{change}</div>')
    return '<div class="cards">' + "".join(cards) + "</div>"


def _figure(chart_id: str, title: str, svg: str, note: str = "") -> str:
    return (f'<figure id="{chart_id}"><figcaption>{escape(title)}</figcaption>{svg}'
            + (f'<p class="note">{escape(note)}</p>' if note else "") + "</figure>")


def _table(rows: list[dict], columns: list[str]) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{escape('' if r.get(c) is None else str(r.get(c)))}</td>" for c in columns) + "</tr>"
                   for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render(data: dict) -> str:
    period = data["period"]
    labels, values = data["trend"]["labels"], data["trend"]["values"]
    series = {name: [v.get(kpi) for v in values] for name, kpi in [
        ("median", "median_seconds_to_first_response"), ("p90", "p90_seconds_to_first_response"),
        ("median (business)", "median_business_seconds_to_first_response"),
        ("p90 (business)", "p90_business_seconds_to_first_response")]}
    figures = [_figure("chart-response-trend", f"Time to first response, last {len(labels)} periods",
                       charts.line_chart("response-trend", "Median and p90 time to first response", labels, series, minutes))]
    figures.append(_figure("chart-sla-team", "SLA compliance by team (this period)",
                           charts.bar_chart("sla-team", "SLA compliance by team", data["sla_by_team"], share, x_max=1.0)))
    figures.append(_figure("chart-sla-source", "SLA compliance by source (this period)",
                           charts.bar_chart("sla-source", "SLA compliance by source", data["sla_by_source"], share, x_max=1.0)))
    heat = data["heatmap"]
    figures.append(_figure("chart-heatmap", "Median response by local weekday and hour (all data)",
                           _unavailable(heat) or charts.heatmap("heatmap", "Median response, weekday × hour", WEEKDAYS,
                                                                [f"{h:02d}" for h in range(24)], heat["cells"], minutes),
                           "Darker is slower; grey cells had no leads."))
    funnel = data["funnel"]
    figures.append(_figure("chart-conversion", "Lead → opportunity conversion by response bucket, 95% Wilson intervals (all data)",
                           _unavailable(funnel) or charts.interval_chart(
                               "conversion", "Conversion by response bucket", [r[:4] for r in funnel["rows"]], share),
                           "Raw rates, not adjusted for source, tier or time; the model below adjusts."))
    effects = data["effects"]
    figures.append(_figure("chart-effects", "Adjusted odds of an opportunity by response bucket (vs the reference bucket), 95% CI",
                           _unavailable(effects) or charts.interval_chart(
                               "effects", "Adjusted odds ratios",
                               [(r["term"] + (" (ref)" if r["is_reference"] else ""), r["odds_ratio"], r["ci_low"], r["ci_high"])
                                for r in effects["rows"]], lambda v: f"{v:.2f}", reference=1.0),
                           "" if "unavailable" in effects else (effects["rows"][0].get("design_note") or "")))
    fc = data["forecast"]
    if "unavailable" in fc:
        forecast_svg = staffing_svg = _unavailable(fc)
        backtest = ""
    else:
        f_rows, s_rows = fc["forecast"], fc["staffing"]
        forecast_svg = charts.line_chart(
            "forecast", "Forecast leads per hour", [r["period_start"].strftime("%a %H:00") for r in f_rows],
            {"forecast leads/hour": [r["forecast"] for r in f_rows]}, count,
            bands={"forecast leads/hour": ([r["lo80"] for r in f_rows], [r["hi80"] for r in f_rows])})
        staffing_svg = charts.line_chart(
            "staffing", "Reps required vs on duty", [r["period_start"].strftime("%a %H:00") for r in s_rows],
            {"reps required": [r["reps_required"] for r in s_rows], "reps on duty": [r["reps_on_duty"] for r in s_rows]}, count)
        backtest = "Backtest, mean MASE over the horizons (lower is better): " + "; ".join(
            f"{ {'hour': 'hourly', 'day': 'daily'}.get(r['frequency'], r['frequency'])}: {r['model']} {r['mase']:.2f}"
            + (f" vs seasonal naive {r['naive_mase']:.2f}" if r.get("naive_mase") is not None else "")
            + f" ({r['horizons']} horizons)"
            for r in fc["backtest"] if r.get("mase") is not None) if fc["backtest"] else ""
    figures.append(_figure("chart-forecast", "Lead volume forecast (80% band)", forecast_svg, backtest))
    figures.append(_figure("chart-staffing", "Staffing: reps required to hold the SLA vs reps on duty", staffing_svg))

    quality = data["quality"]
    if "unavailable" in quality:
        quality_html = _unavailable(quality)
    else:
        failed = [g for g in quality["gates"] if not g["passed"]]
        status = (f'<p class="status {"worse" if failed else "better"}">'
                  f'{"%d of %d gates failed" % (len(failed), len(quality["gates"])) if failed else "All %d gates passed" % len(quality["gates"])}'
                  " in the latest check.</p>")
        quality_html = status + _table(quality["gates"], ["suite", "asset_key", "passed", "failed_expectations", "failing_rows", "checked_at"])
        if quality["alerts"]:
            quality_html += "<h3>Recent alerts</h3>" + _table(quality["alerts"], ["severity", "kind", "subject", "what_failed", "how_to_fix"])
    if data["data_docs"]:
        quality_html += '<p><a href="data_docs/index.html">Data Docs: every expectation and its result</a></p>'

    period_text = f"{period.start:%d %b %Y} – {(period.end - dt.timedelta(days=1)):%d %b %Y} ({period.timezone})"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Speed to lead — {escape(period.label)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #1f2328; padding: 0 1rem; }}
h1 {{ margin-bottom: 0.2rem; }} .sub {{ color: #57606a; margin-top: 0; }}
.cards {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(210px, 1fr)); gap: 0.8rem; margin: 1rem 0 2rem; }}
.card {{ border: 1px solid #d0d7de; border-radius: 6px; padding: 0.7rem 0.9rem; }}
.card .label {{ color: #57606a; font-size: 0.85rem; }} .card .value {{ font-size: 1.6rem; font-weight: 600; }}
.change {{ font-size: 0.8rem; }} .better {{ color: #1a7f37; }} .worse {{ color: #cf222e; }} .same {{ color: #57606a; }}
.grid {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(480px, 1fr)); gap: 1.5rem; }}
figure {{ margin: 0; }} figcaption {{ font-weight: 600; margin-bottom: 0.4rem; }}
.note, .not-available {{ color: #57606a; font-size: 0.85rem; }}
table {{ border-collapse: collapse; font-size: 0.85rem; }} td, th {{ border: 1px solid #d0d7de; padding: 0.2rem 0.5rem; text-align: left; }}
</style></head><body>
<h1>Speed to lead: {escape(period.frequency)} report {escape(period.label)}</h1>
<p class="sub">{escape(period_text)} · snapshot version {data["snapshot_version"]} · metric definitions
v{escape(str(data["metric_definition_version"]))} · generated {data["generated_at"]:%Y-%m-%d %H:%M} UTC</p>
<h2>Headline</h2>
{_headline_html(data)}
<h2>Charts</h2>
<div class="grid">{"".join(figures)}</div>
<h2>Data quality</h2>
<section id="data-quality">{quality_html}</section>
</body></html>
"""
