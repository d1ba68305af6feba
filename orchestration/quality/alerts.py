"""Alert records and where they go. Every alert is a row of ``quality.alerts`` first (the
record), then goes through each configured notifier: a JSON-lines log file always, a webhook
when ``STL_ALERT_WEBHOOK_URL`` is set (Slack, Teams or plain JSON: ``STL_ALERT_WEBHOOK_FORMAT``).
A notifier that cannot deliver logs why and the run goes on: the alert is already recorded.
A failed Dagster run (orchestration/defs/sensors.py) goes through the same notifiers."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from orchestration.settings import Settings

log = logging.getLogger(__name__)

ALERTS_DDL = """
CREATE TABLE IF NOT EXISTS quality.alerts (
    alert_id VARCHAR, raised_at TIMESTAMP, severity VARCHAR, kind VARCHAR, subject VARCHAR,
    what_failed VARCHAR, how_to_fix VARCHAR, failing_rows BIGINT, run_id VARCHAR)"""


@dataclass(frozen=True)
class Alert:
    raised_at: dt.datetime
    severity: str  # critical | warning | info
    kind: str  # gate_failed | missing_extract | late_extract | volume_anomaly | run_failed
    subject: str
    what_failed: str
    how_to_fix: str
    failing_rows: int | None
    run_id: str

    @property
    def alert_id(self) -> str:
        return hashlib.sha256(f"{self.run_id}|{self.subject}".encode()).hexdigest()[:16]

    def as_dict(self) -> dict:
        return {"alert_id": self.alert_id, **asdict(self), "raised_at": self.raised_at.isoformat()}


def record_alerts(con, alerts: list[Alert]) -> None:
    con.execute(ALERTS_DDL)
    for a in alerts:
        con.execute("INSERT INTO quality.alerts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [a.alert_id, a.raised_at, a.severity, a.kind, a.subject, a.what_failed, a.how_to_fix,
                     a.failing_rows, a.run_id])


class Notifier(Protocol):
    def send(self, alerts: list[Alert]) -> None: ...


@dataclass(frozen=True)
class LogFileNotifier:
    path: Path

    def send(self, alerts: list[Alert]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            for a in alerts:
                f.write(json.dumps(a.as_dict(), default=str) + "\n")


WEBHOOK_FORMATS = ("slack", "teams", "json")
# Slack rejects a message with more than 50 blocks or a section text over 3,000 characters;
# a long alert list is cut to the first few and a count of the rest.
MAX_ALERTS_IN_MESSAGE = 10
SLACK_SECTION_LIMIT = 3000
SEVERITY_MARK = {"critical": "🔴", "warning": "🟠", "info": "🔵"}


def summary_line(alerts: list[Alert]) -> str:
    """One line a phone notification can show: how many, how bad, about what."""
    worst = min(alerts, key=lambda a: ["critical", "warning", "info"].index(a.severity)
                if a.severity in ("critical", "warning", "info") else 3)
    more = f" (+{len(alerts) - 1} more)" if len(alerts) > 1 else ""
    return f"Speed to lead: {worst.severity} alert: {worst.subject}: {worst.what_failed}{more}"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_payload(alerts: list[Alert]) -> dict:
    """Slack incoming-webhook message: ``text`` (the notification and fallback) plus blocks."""
    blocks: list[dict] = [{"type": "header", "text": {"type": "plain_text", "text": _clip(
        f"Speed to lead: {len(alerts)} alert{'s' if len(alerts) != 1 else ''}", 150)}}]
    for a in alerts[:MAX_ALERTS_IN_MESSAGE]:
        rows = f" ({a.failing_rows:,} rows)" if a.failing_rows else ""
        body = (f"{SEVERITY_MARK.get(a.severity, '•')} *{a.severity}* · {a.kind} · *{a.subject}*{rows}\n"
                f"{a.what_failed}\n_How to fix:_ {a.how_to_fix}")
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _clip(body, SLACK_SECTION_LIMIT)}})
    if len(alerts) > MAX_ALERTS_IN_MESSAGE:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text":
                       f"…and {len(alerts) - MAX_ALERTS_IN_MESSAGE} more in quality.alerts and alerts.log"}]})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"run {alerts[0].run_id}"}]})
    return {"text": summary_line(alerts), "blocks": blocks}


def teams_payload(alerts: list[Alert]) -> dict:
    """Microsoft Teams incoming webhook (Workflows): a message carrying one Adaptive Card."""
    body: list[dict] = [{"type": "TextBlock", "size": "Large", "weight": "Bolder", "wrap": True,
                         "text": f"Speed to lead: {len(alerts)} alert{'s' if len(alerts) != 1 else ''}"}]
    for a in alerts[:MAX_ALERTS_IN_MESSAGE]:
        body.append({"type": "TextBlock", "wrap": True, "weight": "Bolder", "separator": True,
                     "color": "Attention" if a.severity == "critical" else "Warning" if a.severity == "warning" else "Default",
                     "text": f"{a.severity} · {a.kind} · {a.subject}"})
        facts = [{"title": "What failed", "value": a.what_failed}, {"title": "How to fix", "value": a.how_to_fix}]
        if a.failing_rows:
            facts.append({"title": "Failing rows", "value": f"{a.failing_rows:,}"})
        body.append({"type": "FactSet", "facts": facts})
    if len(alerts) > MAX_ALERTS_IN_MESSAGE:
        body.append({"type": "TextBlock", "wrap": True, "isSubtle": True,
                     "text": f"…and {len(alerts) - MAX_ALERTS_IN_MESSAGE} more in quality.alerts and alerts.log"})
    card = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
            "version": "1.4", "body": body}
    return {"type": "message", "summary": summary_line(alerts),
            "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
                             "content": card}]}


def json_payload(alerts: list[Alert]) -> dict:
    """Your own receiver: every field of every alert (plus a ``text`` line for chat tools)."""
    return {"text": summary_line(alerts), "alerts": [a.as_dict() for a in alerts]}


PAYLOADS = {"slack": slack_payload, "teams": teams_payload, "json": json_payload}


@dataclass(frozen=True)
class WebhookNotifier:
    """POSTs the alerts as JSON in the chosen ``format`` (slack | teams | json)."""

    url: str
    format: str = "slack"
    timeout_seconds: float = 10.0

    def __post_init__(self):
        if self.format not in PAYLOADS:
            raise ValueError(f"STL_ALERT_WEBHOOK_FORMAT must be one of {', '.join(WEBHOOK_FORMATS)}, not {self.format!r}")

    def send(self, alerts: list[Alert]) -> None:
        body = json.dumps(PAYLOADS[self.format](alerts), default=str, ensure_ascii=False).encode()
        request = urllib.request.Request(self.url, data=body, method="POST",
                                         headers={"Content-Type": "application/json; charset=utf-8"})
        # urlopen raises HTTPError (an OSError) for 4xx/5xx answers: Slack's 400 "no_text" lands there.
        with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
            if response.status >= 300:
                raise OSError(f"webhook answered HTTP {response.status}")


def notifiers_for(settings: Settings) -> list[Notifier]:
    notifiers: list[Notifier] = [LogFileNotifier(settings.alert_log_path)]
    if settings.alert_webhook_url:
        notifiers.append(WebhookNotifier(settings.alert_webhook_url, settings.alert_webhook_format))
    return notifiers


def notify(alerts: list[Alert], notifiers: list[Notifier]) -> list[str]:
    """Send through every notifier; returns the delivery problems (never raises)."""
    problems = []
    if not alerts:
        return problems
    for notifier in notifiers:
        try:
            notifier.send(alerts)
        except OSError as exc:  # unreachable, refused, timed out or an HTTP error: the alert is already recorded
            problems.append(f"{type(notifier).__name__}: {exc}")
            log.warning("alert notifier %s failed: %s", type(notifier).__name__, exc)
    return problems
