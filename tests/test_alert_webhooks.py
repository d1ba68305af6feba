"""Alerts that arrive: webhook payloads checked by a local server that answers the way Slack and
Teams do, and the run-failure sensor sending through the same notifiers."""

from __future__ import annotations

import datetime as dt
import json
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from orchestration.quality.alerts import Alert, WebhookNotifier, notifiers_for, notify
from orchestration.settings import Settings

SLACK_BLOCK_TYPES = {"header", "section", "context", "divider", "actions", "image", "rich_text"}


def slack_problem(body: dict) -> str | None:
    """Slack's incoming-webhook checks that this payload must pass (its 400 answers: no_text,
    invalid_blocks); None when Slack would accept it."""
    if not body.get("text") and not body.get("blocks"):
        return "no_text"
    blocks = body.get("blocks", [])
    if not isinstance(blocks, list) or len(blocks) > 50:
        return "invalid_blocks"
    for block in blocks:
        if block.get("type") not in SLACK_BLOCK_TYPES:
            return "invalid_blocks"
        if block["type"] == "header" and (block["text"]["type"] != "plain_text" or len(block["text"]["text"]) > 150):
            return "invalid_blocks"
        if block["type"] == "section" and (block["text"]["type"] not in ("mrkdwn", "plain_text")
                                           or not 0 < len(block["text"]["text"]) <= 3000):
            return "invalid_blocks"
        if block["type"] == "context" and not all(e.get("type") in ("mrkdwn", "plain_text", "image") for e in block["elements"]):
            return "invalid_blocks"
    return None


def teams_problem(body: dict) -> str | None:
    """The shape a Teams (Workflows) incoming webhook needs: a message whose attachments are
    Adaptive Cards with a version and a body of typed elements."""
    if body.get("type") != "message" or not body.get("attachments"):
        return "not a message with attachments"
    for attachment in body["attachments"]:
        card = attachment.get("content") or {}
        if attachment.get("contentType") != "application/vnd.microsoft.card.adaptive":
            return "attachment is not an adaptive card"
        if card.get("type") != "AdaptiveCard" or not card.get("version") or not card.get("body"):
            return "card lacks type, version or body"
        if not all(isinstance(e, dict) and e.get("type") for e in card["body"]):
            return "card element without a type"
    return None


@pytest.fixture
def webhook_server():
    """A loopback server with /slack and /teams endpoints; records what it accepted."""
    received: list[tuple[str, int, dict]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            try:
                body = json.loads(raw)
            except json.JSONDecodeError:
                body, problem = {}, "invalid_payload"
            else:
                problem = slack_problem(body) if self.path == "/slack" else teams_problem(body)
            status = 400 if problem else 200
            received.append((self.path, status, body))
            self.send_response(status)
            self.end_headers()
            self.wfile.write((problem or "ok").encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


def _alert(i: int = 0, severity: str = "critical") -> Alert:
    return Alert(raised_at=dt.datetime(2026, 11, 23, 7), severity=severity, kind="gate_failed",
                 subject=f"raw_leads on raw/leads #{i}", what_failed="3 of 12 expectations failed: lead_id is null",
                 how_to_fix="fix the CRM export and re-run", failing_rows=42, run_id="run-1")


def test_slack_accepts_the_slack_payload_and_rejects_the_old_one(webhook_server):
    url, received = webhook_server
    notify([_alert()], [WebhookNotifier(f"{url}/slack", "slack")])
    path, status, body = received[-1]
    assert status == 200
    assert body["text"].startswith("Speed to lead: critical alert: raw_leads on raw/leads #0")
    assert "42 rows" in body["blocks"][1]["text"]["text"]
    # The payload this notifier used to send ({"alerts": [...]}, no text): Slack answers 400.
    old_shape = json.dumps({"alerts": [_alert().as_dict()]}).encode()
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(f"{url}/slack", data=old_shape, method="POST"), timeout=5)
    assert refused.value.code == 400 and refused.value.read() == b"no_text"


def test_a_long_alert_list_stays_within_slacks_limits(webhook_server):
    url, received = webhook_server
    alerts = [_alert(i, "warning") for i in range(60)]
    alerts[7] = Alert(**{**alerts[7].__dict__, "what_failed": "x" * 5000})
    assert notify(alerts, [WebhookNotifier(f"{url}/slack", "slack")]) == []
    _, status, body = received[-1]
    assert status == 200 and len(body["blocks"]) == 1 + 10 + 2
    assert "50 more" in body["blocks"][-2]["elements"][0]["text"]
    assert body["text"].endswith("(+59 more)")


def test_teams_gets_an_adaptive_card(webhook_server):
    url, received = webhook_server
    assert notify([_alert(), _alert(1, "warning")], [WebhookNotifier(f"{url}/teams", "teams")]) == []
    _, status, body = received[-1]
    assert status == 200
    card = body["attachments"][0]["content"]
    facts = [f for e in card["body"] if e["type"] == "FactSet" for f in e["facts"]]
    assert {"title": "Failing rows", "value": "42"} in facts
    assert [e["color"] for e in card["body"] if e.get("separator")] == ["Attention", "Warning"]
    # A Slack payload sent to Teams is refused by the same server: the format setting matters.
    assert notify([_alert()], [WebhookNotifier(f"{url}/teams", "slack")]) != []
    assert received[-1][1] == 400


def test_a_refused_webhook_is_reported_not_raised(webhook_server, tmp_path):
    url, received = webhook_server
    settings = Settings.from_env({"STL_DATA_DIR": str(tmp_path), "STL_ALERT_WEBHOOK_URL": f"{url}/teams",
                                  "STL_ALERT_WEBHOOK_FORMAT": "json"})
    problems = notify([_alert()], notifiers_for(settings))
    assert len(problems) == 1 and "WebhookNotifier" in problems[0] and "400" in problems[0]
    assert json.loads(settings.alert_log_path.read_text().splitlines()[0])["subject"] == "raw_leads on raw/leads #0"
    with pytest.raises(ValueError, match="slack, teams, json"):
        WebhookNotifier(url, "discord")


def test_run_failure_sensor_alerts_with_the_root_cause(webhook_server, tmp_path, use_settings):
    import dagster as dg

    from orchestration.defs.sensors import run_failure_alert_sensor

    url, received = webhook_server
    use_settings(Settings.from_env({"STL_DATA_DIR": str(tmp_path), "STL_ALERT_WEBHOOK_URL": f"{url}/slack"}))

    @dg.op
    def load_leads():
        raise FileNotFoundError("leads/leads_2026-11-21.csv: missing required column 'created_at'")

    @dg.job
    def failing_job():
        load_leads()

    instance = dg.DagsterInstance.ephemeral()
    result = failing_job.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
    context = dg.build_run_status_sensor_context(sensor_name="run_failure_alert_sensor", dagster_event=failure,
                                                 dagster_instance=instance, dagster_run=result.dagster_run)
    run_failure_alert_sensor(context.for_run_failure())
    _, status, body = received[-1]
    assert status == 200
    section = body["blocks"][1]["text"]["text"]
    assert "run_failed" in section and "run of failing_job" in section
    assert "step load_leads failed: FileNotFoundError: leads/leads_2026-11-21.csv: missing required column 'created_at'" in section
    logged = json.loads((tmp_path / "output" / "alerts.log").read_text().splitlines()[-1])
    assert logged["kind"] == "run_failed" and logged["run_id"] == result.run_id
