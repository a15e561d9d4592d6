"""The month's report e-mailed on its day, through the alerts room's outbox.

On ``[reports] email_day`` (a day of the month, local time) the report of the month before
is queued for every address of ``[reports] email_to``: the words in the body, the Word file
and the PDF attached. Each message's Message-ID is derived from the month and the address,
so the engine's alerts job (which calls :func:`queue_due_reports` on every pass) and any
number of `loa report send --due-only` runs queue it once; the outbox (retries, the delivery
log) does the sending.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from email.utils import parseaddr

from sqlalchemy import Engine
from sqlmodel import col, select

from scheduler.alerts.mail import Attachment, enqueue_mail
from scheduler.config import Settings
from scheduler.i18n import translate
from scheduler.models import Outbox, utcnow
from scheduler.reports.document import render_report
from scheduler.reports.queries import monthly_summary, summary_month, summary_text
from scheduler.store import session_scope

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def report_key(settings: Settings, year: int, month: int, address: str) -> str:
    domain = parseaddr(settings.mail.sender)[1].rpartition("@")[2] or "loa.invalid"
    digest = hashlib.sha256(address.strip().lower().encode()).hexdigest()[:16]
    return f"bao-cao-{year:04d}-{month:02d}.{digest}.loa@{domain}"


def previous_month(today: date) -> tuple[int, int]:
    last = today.replace(day=1) - timedelta(days=1)
    return last.year, last.month


def queue_report(
    engine: Engine, settings: Settings, year: int, month: int, *, to: list[str], issued_on: date, lang: str = "vi"
) -> list[int]:
    """Queue the month's report for each address not already sent it; the outbox rows' ids."""
    summary = monthly_summary(engine, settings, year, month)
    attachments = [
        Attachment(f"bao-cao-thang_{year:04d}-{month:02d}.docx", DOCX, render_report(summary, settings, "docx",
                   issued_on=issued_on, lang=lang)),
        Attachment(f"bao-cao-thang_{year:04d}-{month:02d}.pdf", "application/pdf", render_report(summary, settings,
                   "pdf", issued_on=issued_on, lang=lang)),
    ]  # fmt: skip
    issuer = settings.reports.issuer_in_text
    subject = translate(lang, "report.mail_subject", month=summary_month(summary), issuer=issuer)
    queued: list[int] = []
    with session_scope(engine) as session:
        for address in to:
            key = report_key(settings, year, month, address)
            if session.exec(select(Outbox.id).where(col(Outbox.key) == key)).first() is not None:
                continue  # already queued (or sent) for this month
            row = enqueue_mail(
                session,
                to=address,
                subject=subject,
                text=summary_text(summary, lang),
                attachments=attachments,
                sender=settings.mail.sender,
                key=key,
            )
            assert row.id is not None
            queued.append(row.id)
    return queued


def queue_due_reports(engine: Engine, settings: Settings, now: datetime | None = None) -> list[int]:
    """On the configured day, the month before's report for the configured addresses."""
    office = settings.reports
    today = (now or utcnow()).astimezone(settings.tz).date()
    if office.email_day is None or not office.email_to or today.day != office.email_day:
        return []
    year, month = previous_month(today)
    return queue_report(engine, settings, year, month, to=office.email_to, issued_on=today)
