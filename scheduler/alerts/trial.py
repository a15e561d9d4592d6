"""`loa alerts test`: one message through every configured way, to see that it arrives."""

from __future__ import annotations

import json
import uuid

from sqlalchemy import Engine
from sqlmodel import col, select

from scheduler.alerts.mail import enqueue_mail
from scheduler.alerts.recipients import mail_lang
from scheduler.alerts.render import console_url
from scheduler.config import Settings
from scheduler.i18n import translate
from scheduler.models import Outbox, OutboxStatus, Role, User, utcnow
from scheduler.store import session_scope

TEST_EVENT = "alert.test"


def queue_test_messages(settings: Settings, engine: Engine, *, to: str | None = None) -> list[int]:
    """Queue a test e-mail (to ``to``, else every active admin with an address) and a test call to every webhook."""
    now = utcnow()
    ids: list[int] = []
    base = console_url(settings)
    with session_scope(engine) as session:
        addresses = (
            [(to, "vi")]
            if to
            else [
                (u.email, mail_lang(u))
                for u in session.exec(select(User).where(User.role == Role.admin, col(User.active).is_(True)))
                if u.email
            ]
        )
        for address, lang in addresses:
            subject = translate(lang, "alert.subject.test")
            text = "\n\n".join([translate(lang, "alert.body.test"), translate(lang, "alert.open", url=base)])
            row = enqueue_mail(session, to=address, subject=subject, text=text, sender=settings.mail.sender, now=now)
            ids.append(row.id or 0)
        if to is None:
            for hook in settings.webhooks:
                key = f"loa-test-{uuid.uuid4().hex}"
                body = {"event": TEST_EVENT, "at": now.isoformat(), "id": key, "data": {"console": base}}
                row = Outbox(
                    key=key,
                    kind="webhook",
                    target=hook.url,
                    subject=TEST_EVENT,
                    body_text=json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")),
                    status=OutboxStatus.pending,
                    created_at=now,
                    next_attempt_at=now,
                )
                session.add(row)
                session.flush()
                ids.append(row.id or 0)
    return ids
