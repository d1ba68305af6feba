"""Alert records and where they go. Every alert is a row of ``quality.alerts`` first (the
record), then goes through each configured notifier: a JSON-lines log file always, a webhook
when ``STL_ALERT_WEBHOOK_URL`` is set. A notifier that cannot deliver logs why and the run
goes on: the alert is already recorded."""

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
    kind: str  # gate_failed | missing_extract | late_extract | volume_anomaly
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


@dataclass(frozen=True)
class WebhookNotifier:
    """POSTs ``{"alerts": [...]}`` as JSON (Slack/Teams-style incoming webhooks, or your own)."""

    url: str
    timeout_seconds: float = 10.0

    def send(self, alerts: list[Alert]) -> None:
        body = json.dumps({"alerts": [a.as_dict() for a in alerts]}, default=str).encode()
        request = urllib.request.Request(self.url, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
            if response.status >= 300:
                raise OSError(f"webhook answered HTTP {response.status}")


def notifiers_for(settings: Settings) -> list[Notifier]:
    notifiers: list[Notifier] = [LogFileNotifier(settings.alert_log_path)]
    if settings.alert_webhook_url:
        notifiers.append(WebhookNotifier(settings.alert_webhook_url))
    return notifiers


def notify(alerts: list[Alert], notifiers: list[Notifier]) -> list[str]:
    """Send through every notifier; returns the delivery problems (never raises)."""
    problems = []
    if not alerts:
        return problems
    for notifier in notifiers:
        try:
            notifier.send(alerts)
        except Exception as exc:  # noqa: BLE001 - a broken webhook must not hide the gate result
            problems.append(f"{type(notifier).__name__}: {exc}")
            log.warning("alert notifier %s failed: %s", type(notifier).__name__, exc)
    return problems
