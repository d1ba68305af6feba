"""The weekly email, received by a local SMTP server (aiosmtpd on 127.0.0.1): its structure, the
PDF's pages, and the headline numbers in a body without SVG."""

from __future__ import annotations

import email
import email.policy
import io
import socket

import duckdb
import pytest

from orchestration.delivery import email_delivery, report, snapshots
from orchestration.settings import Settings
from tests.planted_report_warehouse import PERIOD, build_warehouse


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller

    class Inbox:
        def __init__(self):
            self.messages: list[tuple[str, list[str], bytes]] = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
            return "250 Message accepted for delivery"

    # A free loopback port (the controller's start-up check connects to the port it was given).
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, inbox
    controller.stop()


@pytest.fixture
def report_data(tmp_path):
    con = duckdb.connect()
    snapshots.ensure_tables(con)
    snapshot = build_warehouse(con)
    # As in the run: the report is built before the commit, so the history includes this run's rows.
    return report.collect(con, PERIOD, snapshot, tmp_path, history_sql=snapshots.history_with_pending_sql("run-1"))


def test_weekly_email_arrives_with_pdf_and_headline_numbers(smtp_server, report_data, tmp_path):
    from pypdf import PdfReader

    port, inbox = smtp_server
    settings = Settings.from_env({"STL_DATA_DIR": str(tmp_path), "STL_SMTP_HOST": "127.0.0.1", "STL_SMTP_PORT": str(port),
                                  "STL_SMTP_SECURITY": "none", "STL_REPORT_SENDER": "reports@example.net",
                                  "STL_REPORT_RECIPIENTS": "ceo@example.net, vp.sales@example.net"})
    assert email_delivery.is_configured(settings)
    attached = report.render(report_data, for_email=True)
    pdf = email_delivery.render_pdf(attached)
    email_delivery.send(email_delivery.build_message(report_data, attached, pdf, settings.report_sender,
                                                     settings.report_recipients), settings)

    assert len(inbox.messages) == 1
    sender, recipients, raw = inbox.messages[0]
    assert sender == "reports@example.net" and recipients == ["ceo@example.net", "vp.sales@example.net"]
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["Subject"] == "Speed to lead 2026-W47: SLA compliance 50.0%"
    assert message.get_content_type() == "multipart/mixed"
    body, *attachments = message.iter_parts()
    assert body.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in body.iter_parts()] == ["text/plain", "text/html"]
    assert [(a.get_content_type(), a.get_filename()) for a in attachments] == [
        ("application/pdf", "leadership_report.pdf"), ("text/html", "leadership_report.html")]

    html_body = body.get_body(("html",)).get_content()
    text_body = body.get_body(("plain",)).get_content()
    # The headline numbers and the narrative, without SVG (mail clients drop it).
    assert "<svg" not in html_body and "<img" not in html_body
    for figure in ("50.0%", "12", "target ≥ 90.0%", "▲ +25.0 pts vs previous", "83.3% of the 6 breaches arrived after hours"):
        assert figure in html_body and figure in text_body, figure
    assert "Data Docs" not in attachments[1].get_content()  # no link to a file on the pipeline's machine

    reader = PdfReader(io.BytesIO(attachments[0].get_content()))
    assert len(reader.pages) >= 2  # the whole report, charts and all, not a truncated first page
    first_page = reader.pages[0].extract_text()
    assert "Speed to lead: weekly report, 2026-W47" in first_page and "SLA compliance was 50.0%" in first_page
    assert "Forecast leads per hour" in "".join(p.extract_text() for p in reader.pages)


def test_message_needs_a_sender_and_recipients(report_data):
    with pytest.raises(email_delivery.EmailNotConfigured):
        email_delivery.build_message(report_data, "<html></html>", b"%PDF", "", ["a@example.net"])
    assert not email_delivery.is_configured(Settings.from_env({"STL_SMTP_HOST": "smtp.example.net"}))
