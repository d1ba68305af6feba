"""The weekly report by email: a message whose body carries the headline numbers and the
narrative as plain HTML tables (mail clients drop or block SVG), with the full report attached
as a PDF (WeasyPrint) and as the HTML file.

Sent over SMTP with the ``STL_SMTP_*`` settings (docs/delivery.md); the password comes from the
environment only. ``build_message`` is pure (testable without a server); ``send`` talks SMTP.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import jinja2

from orchestration.delivery import report
from orchestration.settings import Settings

PDF_NAME = "leadership_report.pdf"
HTML_NAME = "leadership_report.html"
SECURITY_MODES = ("starttls", "tls", "none")


class EmailNotConfigured(ValueError):
    """SMTP delivery was asked for without a host, a sender or recipients."""


def is_configured(settings: Settings) -> bool:
    return bool(settings.smtp_host and settings.report_recipients)


def render_pdf(report_html: str) -> bytes:
    """The report as PDF. WeasyPrint draws the inline SVG charts itself (about 1.5 s here);
    imported lazily because it loads pango."""
    # WeasyPrint logs a warning per CSS property it does not support (e.g. overflow-wrap: anywhere).
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    import weasyprint

    return weasyprint.HTML(string=report_html).write_pdf()


def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(report.TEMPLATES), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters.update(share=report.share, count=report.count, duration=report.duration)
    return env


def body_html(data: dict) -> str:
    """The message body: narrative, headline table, SLA and leads per team. Tables only."""
    teams = [(team, sla, data["team_leads"].get(team)) for team, sla in data["sla_by_team"]]
    return _env().get_template("email.html.j2").render(
        data=data, period=data["period"], narrative=report.narrative(data), cards=report.headline_cards(data), teams=teams,
        sla_target=data["targets"].get("sla_compliance"), last_day=data["period"].end - dt.timedelta(days=1))


def body_text(data: dict) -> str:
    """The plain-text alternative (for clients that show no HTML, and for the preview line)."""
    lines = [f"Speed to lead, {data['period'].label}", ""]
    lines += [f"- {sentence}" for sentence in report.narrative(data)]
    lines.append("")
    for card in report.headline_cards(data):
        extra = "; ".join(x for x in (card["change"], card["target"]["text"] if card["target"] else None) if x)
        lines.append(f"{card['label']}: {card['value']}" + (f" ({extra})" if extra else ""))
    lines += ["", f"The full report is attached as {PDF_NAME} and {HTML_NAME}."]
    return "\n".join(lines)


def build_message(data: dict, report_html: str, pdf: bytes, sender: str, recipients: tuple[str, ...] | list[str]) -> EmailMessage:
    """multipart/mixed: (text | HTML body) alternative, then the PDF and the HTML report."""
    if not sender or not recipients:
        raise EmailNotConfigured("a sender (STL_REPORT_SENDER) and recipients (STL_REPORT_RECIPIENTS) are needed")
    message = EmailMessage()
    sla = next((c for c in data["headline"] if c["kpi"].kpi == "sla_compliance"), None)
    subject = f"Speed to lead {data['period'].label}"
    if sla and sla["value"] is not None:
        subject += f": SLA compliance {report.share(sla['value'])}"
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message.set_content(body_text(data))
    message.add_alternative(body_html(data), subtype="html")
    message.add_attachment(pdf, maintype="application", subtype="pdf", filename=PDF_NAME)
    message.add_attachment(report_html, subtype="html", filename=HTML_NAME)
    return message


def send(message: EmailMessage, settings: Settings) -> None:
    """Deliver through the configured SMTP server: implicit TLS, STARTTLS or plain (a local relay)."""
    if not settings.smtp_host:
        raise EmailNotConfigured("STL_SMTP_HOST is not set")
    if settings.smtp_security not in SECURITY_MODES:
        raise EmailNotConfigured(f"STL_SMTP_SECURITY must be one of {', '.join(SECURITY_MODES)}, not {settings.smtp_security!r}")
    context = ssl.create_default_context()
    if settings.smtp_security == "tls":
        client = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, context=context, timeout=60)
    else:
        client = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=60)
    with client:
        if settings.smtp_security == "starttls":
            client.starttls(context=context)
        if settings.smtp_username:
            client.login(settings.smtp_username, settings.smtp_password or "")
        client.send_message(message)
