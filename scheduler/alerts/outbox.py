"""Delivering the outbox: alerts fanned out to their readers, then each message sent, once.

Runs in the holder of the engine's ``housekeeping`` lease (`loa run`, `loa worker`), or in
`loa alerts deliver` (cron). A pass:

1. **fans out** new alerts: one transaction per alert writes its e-mails, webhook calls and
   console notices, each with a key derived from the alert (so a second fan-out cannot
   double them), and marks the alert done;
2. **claims** what is due — pending rows whose time has come, and rows left ``sending`` by a
   process that died or whose claim ran out — in one commit, before any network call;
3. **sends** each and marks it ``sent``; a refusal, a timeout or a dead server puts it back
   to ``pending`` with a growing wait (full jitter, capped) and the reason, which the
   delivery log shows. Nothing is ever dropped.

A process killed after the server accepted a message and before the row was marked leaves
it ``sending``; the next pass sends it again with the same key (Message-ID, webhook ``id``),
which is what the receiving side deduplicates on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parseaddr

from sqlalchemy import Engine, or_
from sqlmodel import Session, col, select

from scheduler.alerts.mail import Attachment, MailSender, build_message, enqueue_mail
from scheduler.alerts.push import PushMessage, send_push
from scheduler.alerts.recipients import recipients
from scheduler.alerts.render import Rendered, render_alert, webhook_body
from scheduler.alerts.watch import NEW_POST_EVENT
from scheduler.alerts.webhooks import post_webhook
from scheduler.config import Settings
from scheduler.errors import DeliveryError, stored_error
from scheduler.i18n import translate
from scheduler.models import Alert, Outbox, OutboxAttachment, OutboxStatus, PushSubscription, Staff, utcnow
from scheduler.publishing.recording import backoff
from scheduler.store import holder_is_gone, is_sqlite, lease_owner_id, session_scope

log = logging.getLogger("loa.alerts")

FAN_OUT_BATCH = 100
SEND_BATCH = 50


@dataclass
class DeliverySummary:
    fanned_out: int = 0
    sent: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {"fanned_out": self.fanned_out, "sent": len(self.sent), "retrying": len(self.retrying)}


def webhook_key(alert_id: int, url: str) -> str:
    return f"loa-alert-{alert_id}-{hashlib.sha256(url.encode()).hexdigest()[:12]}"


def mail_key(settings: Settings, alert_id: int, user_id: int) -> str:
    domain = settings.mail.sender.rpartition("@")[2].rstrip(">").strip() or "loa.invalid"
    return f"loa-alert-{alert_id}-user-{user_id}@{domain}"


class Deliverer:
    """One process's sender of the outbox (see the module's description)."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        owner: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.owner = owner or lease_owner_id()
        self.environ = os.environ if environ is None else environ

    # -- fan-out ---------------------------------------------------------------------------

    def fan_out(self, now: datetime | None = None) -> int:
        now = now or utcnow()
        with session_scope(self.engine, read_only=True) as session:
            ids = list(
                session.exec(
                    select(Alert.id)
                    .where(col(Alert.fanned_out_at).is_(None))
                    .order_by(col(Alert.id))
                    .limit(FAN_OUT_BATCH)
                )
            )
        done = 0
        for alert_id in ids:
            assert alert_id is not None
            with session_scope(self.engine) as session:
                alert = session.get(Alert, alert_id)
                if alert is None or alert.fanned_out_at is not None:
                    continue
                self._fan_out_one(session, alert, now)
                alert.fanned_out_at = now
                session.add(alert)
                done += 1
        return done

    def _fan_out_one(self, session: Session, alert: Alert, now: datetime) -> None:
        assert alert.id is not None
        rendered: dict[str, Rendered] = {}  # one rendering per language
        for person in recipients(session, alert):
            if person.console:
                session.add(
                    Outbox(
                        key=f"loa-alert-{alert.id}-console-{person.user_id}",
                        kind="console",
                        target=str(person.user_id),
                        alert_id=alert.id,
                        user_id=person.user_id,
                        status=OutboxStatus.sent,
                        created_at=now,
                        next_attempt_at=now,
                        sent_at=now,
                    )
                )
            if person.email and person.address:
                if person.lang not in rendered:
                    rendered[person.lang] = render_alert(alert, self.settings, person.lang)
                mail = rendered[person.lang]
                enqueue_mail(
                    session,
                    to=person.address,
                    subject=mail.subject,
                    text=mail.text,
                    html=mail.html,
                    sender=self.settings.mail.sender,
                    key=mail_key(self.settings, alert.id, person.user_id),
                    alert_id=alert.id,
                    user_id=person.user_id,
                    now=now,
                )
        if alert.event == NEW_POST_EVENT:
            self._fan_out_push(session, alert, now)
        for hook in self.settings.webhooks:
            if not hook.wants(alert.event):
                continue
            key = webhook_key(alert.id, hook.url)
            session.add(
                Outbox(
                    key=key,
                    kind="webhook",
                    target=hook.url,
                    alert_id=alert.id,
                    subject=alert.event,
                    body_text=webhook_body(alert, key).decode("utf-8"),
                    status=OutboxStatus.pending,
                    created_at=now,
                    next_attempt_at=now,
                )
            )

    def _fan_out_push(self, session: Session, alert: Alert, now: datetime) -> None:
        """A push to every subscribed phone of an active staff member, pointing at their own page."""
        assert alert.id is not None
        data = json.loads(alert.data_json or "{}")
        rows = session.exec(
            select(PushSubscription, Staff)
            .join(Staff, col(Staff.id) == col(PushSubscription.staff_id))
            .where(col(Staff.active).is_(True))
        ).all()
        for subscription, staff in rows:
            message = PushMessage(
                title=translate("vi", "push.new_post_title"),
                body=str(data.get("excerpt") or ""),
                url=f"{self.settings.public_url}/s/{staff.share_token}",
            )
            session.add(
                Outbox(
                    key=f"loa-alert-{alert.id}-push-{subscription.id}",
                    kind="push",
                    target=str(subscription.id),
                    alert_id=alert.id,
                    subject=alert.event,
                    body_text=message.payload(),
                    status=OutboxStatus.pending,
                    created_at=now,
                    next_attempt_at=now,
                )
            )

    # -- claiming and sending ---------------------------------------------------------------

    def _claim_ttl(self) -> timedelta:
        return timedelta(seconds=3 * self.settings.mail.timeout_seconds + 60)

    def claim(self, now: datetime) -> list[int]:
        """Due rows taken for this process in one commit, before any message leaves."""
        with session_scope(self.engine) as session:
            query = (
                select(Outbox)
                .where(
                    col(Outbox.kind).in_(["email", "webhook", "push"]),
                    or_(
                        (col(Outbox.status) == OutboxStatus.pending) & (col(Outbox.next_attempt_at) <= now),
                        col(Outbox.status) == OutboxStatus.sending,
                    ),
                )
                .order_by(col(Outbox.next_attempt_at))
                .limit(SEND_BATCH)
            )
            if not is_sqlite(self.engine):
                # `loa alerts deliver` from cron beside `loa run`: each row to one claimer. SQLite
                # needs nothing more, its writers take the database's one write lock first.
                query = query.with_for_update(skip_locked=True)
            candidates = session.exec(query).all()
            claimed: list[int] = []
            for row in candidates:
                if row.status == OutboxStatus.sending:
                    lapsed = row.claimed_until is None or row.claimed_until <= now
                    if not lapsed and not holder_is_gone(row.claimed_by or ""):
                        continue  # another process is sending it right now
                row.status = OutboxStatus.sending
                row.claimed_by = self.owner
                row.claimed_until = now + self._claim_ttl()
                row.attempts += 1
                session.add(row)
                assert row.id is not None
                claimed.append(row.id)
            return claimed

    def run_once(self, now: datetime | None = None) -> DeliverySummary:
        now = now or utcnow()
        summary = DeliverySummary(fanned_out=self.fan_out(now))
        ids = self.claim(now)
        if not ids:
            return summary
        sender = MailSender(self.settings.mail, self.environ)
        try:
            for outbox_id in ids:
                ok = self._send(outbox_id, sender)
                (summary.sent if ok else summary.retrying).append(outbox_id)
        finally:
            sender.close()
        return summary

    def _send(self, outbox_id: int, sender: MailSender) -> bool:
        with session_scope(self.engine, read_only=True) as session:
            row = session.get(Outbox, outbox_id)
            assert row is not None
            files = [
                Attachment(a.filename, a.content_type, a.data)
                for a in session.exec(select(OutboxAttachment).where(OutboxAttachment.outbox_id == outbox_id))
            ]
        try:
            if row.kind == "email":
                sender.send(
                    build_message(
                        sender=self.settings.mail.sender,
                        to=row.target,
                        subject=row.subject or "",
                        text=row.body_text or "",
                        html=row.body_html,
                        key=row.key,
                        created_at=row.created_at,
                        attachments=files,
                    )
                )
            elif row.kind == "push":
                from scheduler.secrets import load_cipher

                delivered = send_push(
                    self.engine,
                    load_cipher(self.settings, self.environ),
                    subscription_id=int(row.target),
                    payload=row.body_text or "{}",
                    contact=parseaddr(self.settings.mail.sender)[1],
                    timeout=self.settings.mail.timeout_seconds,
                )
                if not delivered:
                    log.info("outbox %s: the phone unsubscribed; nothing to send", outbox_id)
            else:
                self._call_webhook(row)
        except DeliveryError as exc:
            self._mark_failed(outbox_id, exc)
            _count(row.kind, "retry")
            return False
        self._mark_sent(outbox_id)
        _count(row.kind, "sent")
        return True

    def _call_webhook(self, row: Outbox) -> None:
        hook = next((h for h in self.settings.webhooks if h.url == row.target), None)
        allow_private = hook.allow_private if hook is not None else False
        secret = None
        if hook is not None and hook.secret_env:
            secret = self.environ.get(hook.secret_env)
            if not secret:
                from scheduler.i18n import msg

                raise DeliveryError(msg("delivery.webhook_secret_missing", variable=hook.secret_env))
        post_webhook(
            row.target,
            (row.body_text or "").encode("utf-8"),
            key=row.key,
            event=row.subject or "",
            secret=secret,
            timeout=self.settings.mail.timeout_seconds,
            allow_private=allow_private,
        )

    def _mark_sent(self, outbox_id: int) -> None:
        with session_scope(self.engine) as session:
            row = session.get(Outbox, outbox_id)
            if row is None:
                return
            row.status = OutboxStatus.sent
            row.sent_at = utcnow()
            row.claimed_by = None
            row.claimed_until = None
            row.last_error = None
            session.add(row)
            # Sent: the attachment's bytes are no longer needed (the report can be made again).
            for attachment in session.exec(select(OutboxAttachment).where(OutboxAttachment.outbox_id == outbox_id)):
                session.delete(attachment)
        log.info("outbox %s sent", outbox_id)

    def _mark_failed(self, outbox_id: int, error: DeliveryError) -> None:
        alerts = self.settings.alerts
        with session_scope(self.engine) as session:
            row = session.get(Outbox, outbox_id)
            if row is None:
                return
            wait = backoff(row.attempts, base=alerts.retry_base_seconds, cap=alerts.retry_cap_seconds)
            row.status = OutboxStatus.pending
            row.next_attempt_at = utcnow() + wait
            row.claimed_by = None
            row.claimed_until = None
            row.last_error = stored_error(error)
            session.add(row)
        log.warning("outbox %s: %s; tried again in %.0f s", outbox_id, error.message, wait.total_seconds())


def _count(kind: str, outcome: str) -> None:
    """The operators' counter (`GET /metrics`, loa_alert_deliveries_total)."""
    from scheduler.operations.metrics import operations_metrics

    operations_metrics().alert_delivered({"email": "mail"}.get(kind, kind), outcome)


def delivery_log(engine: Engine, *, limit: int = 200) -> list[dict[str, object]]:
    """The newest messages with their state, for `loa alerts list` and the console."""
    with session_scope(engine, read_only=True) as session:
        rows = session.exec(
            select(Outbox).where(col(Outbox.kind) != "console").order_by(col(Outbox.id).desc()).limit(limit)
        ).all()
        events = {
            a.id: a.event
            for a in session.exec(select(Alert).where(col(Alert.id).in_({r.alert_id for r in rows if r.alert_id})))
        }
    return [
        {
            "id": r.id,
            "key": r.key,
            "kind": r.kind,
            "to": r.target,
            "event": events.get(r.alert_id) if r.alert_id else None,
            "subject": r.subject,
            "status": r.status.value,
            "attempts": r.attempts,
            "created_at": r.created_at.isoformat(),
            "next_attempt_at": r.next_attempt_at.isoformat() if r.status != OutboxStatus.sent else None,
            "sent_at": r.sent_at.isoformat() if r.sent_at else None,
            "last_error": r.last_error,
        }
        for r in rows
    ]
