"""E-mail: the `[mail]` settings turned into an SMTP conversation, and the one call that queues a message.

Nothing here sends from inside a transaction: :func:`enqueue_mail` writes an outbox row in
the caller's session (so a message is queued if and only if what caused it is committed),
and the holder of the engine's lease sends it later (``scheduler.alerts.outbox``). The
row's key is the message's ``Message-ID``: when a process dies after the server took the
message and before the row was marked sent, the retry carries the same Message-ID, so the
receiving side can tell it is the same message.
"""

from __future__ import annotations

import base64
import os
import smtplib
import ssl
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from sqlmodel import Session

from scheduler.config import MailSettings
from scheduler.errors import DeliveryError
from scheduler.i18n import msg
from scheduler.models import Outbox, OutboxAttachment, OutboxStatus, utcnow

# An attachment bigger than this is refused when it is queued: most servers refuse 25 MB.
MAX_ATTACHMENTS_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str  # e.g. application/vnd.openxmlformats-officedocument.wordprocessingml.document
    data: bytes


def message_id(sender: str) -> str:
    """A new Message-ID (without the angle brackets) in the sender's domain."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "loa.invalid"
    return f"{uuid.uuid4().hex}.loa@{domain}"


def enqueue_mail(
    session: Session,
    *,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    attachments: Sequence[Attachment] = (),
    sender: str,
    key: str | None = None,
    alert_id: int | None = None,
    user_id: int | None = None,
    now: datetime | None = None,
) -> Outbox:
    """Queue one e-mail in the caller's transaction; the lease holder sends it.

    ``sender`` is ``settings.mail.sender`` (its domain names the Message-ID); ``key``, when
    given, is the Message-ID (an alert's fan-out passes one derived from the alert, so doing
    it twice cannot queue two messages).
    """
    if "@" not in parseaddr(to)[1]:
        from scheduler.errors import InputError

        raise InputError(msg("error.mail_address", address=to), field="to")
    total = sum(len(a.data) for a in attachments)
    if total > MAX_ATTACHMENTS_BYTES:
        from scheduler.errors import LimitError

        raise LimitError(msg("error.mail_attachments_too_big", mib=MAX_ATTACHMENTS_BYTES // (1024 * 1024)))
    now = now or utcnow()
    row = Outbox(
        key=key or message_id(sender),
        kind="email",
        target=to,
        alert_id=alert_id,
        user_id=user_id,
        subject=subject,
        body_text=text,
        body_html=html,
        status=OutboxStatus.pending,
        created_at=now,
        next_attempt_at=now,
    )
    session.add(row)
    session.flush()
    assert row.id is not None
    for attachment in attachments:
        session.add(
            OutboxAttachment(
                outbox_id=row.id,
                filename=attachment.filename,
                content_type=attachment.content_type,
                data=attachment.data,
            )
        )
    return row


def build_message(
    *,
    sender: str,
    to: str,
    subject: str,
    text: str,
    html: str | None,
    key: str,
    created_at: datetime,
    attachments: Sequence[Attachment] = (),
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = f"<{key}>"
    message["Date"] = format_datetime(created_at)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to an alert
    message.set_content(text, charset="utf-8")
    if html is not None:
        message.add_alternative(html, subtype="html", charset="utf-8")
    for attachment in attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        message.add_attachment(
            attachment.data, maintype=maintype, subtype=subtype or "octet-stream", filename=attachment.filename
        )
    return message


class MailSender:
    """One SMTP conversation per batch, as `[mail]` describes: STARTTLS, TLS or plain."""

    def __init__(self, settings: MailSettings, environ: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.environ = os.environ if environ is None else environ
        self._smtp: smtplib.SMTP | None = None

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.settings.ca_file)

    def _password(self) -> str | None:
        if self.settings.username is None:
            return None
        name = self.settings.password_env
        value = self.environ.get(name) if name else None
        if not value:
            raise DeliveryError(
                msg("delivery.mail_password_missing", variable=name or "password_env"),
                hint=msg("hint.mail_password_env"),
            )
        return value

    def _connect(self) -> smtplib.SMTP:
        mail = self.settings
        if not mail.host:
            raise DeliveryError(msg("delivery.mail_not_configured"), hint=msg("hint.mail_configure"))
        password = self._password()
        timeout = mail.timeout_seconds
        smtp: smtplib.SMTP
        try:
            if mail.security == "tls":
                smtp = smtplib.SMTP_SSL(mail.host, mail.effective_port, timeout=timeout, context=self._context())
            else:
                smtp = smtplib.SMTP(mail.host, mail.effective_port, timeout=timeout)
            try:
                smtp.ehlo()
                if mail.security == "starttls":
                    smtp.starttls(context=self._context())
                    smtp.ehlo()
                if mail.username is not None and password is not None:
                    _login(smtp, mail.username, password)
            except BaseException:
                smtp.close()
                raise
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(
                msg("delivery.mail_login_refused", code=exc.smtp_code), hint=msg("hint.mail_password_env")
            ) from None
        except smtplib.SMTPNotSupportedError:
            raise DeliveryError(msg("delivery.mail_no_starttls"), hint=msg("hint.mail_security")) from None
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(
                msg("delivery.mail_refused", code=exc.smtp_code, reply=_reply(exc.smtp_error))
            ) from None
        except ssl.SSLError as exc:
            raise DeliveryError(
                msg("delivery.mail_tls", reason=exc.reason or str(exc)), hint=msg("hint.mail_security")
            ) from None
        except TimeoutError:
            raise DeliveryError(msg("delivery.mail_timeout", seconds=timeout)) from None
        except smtplib.SMTPServerDisconnected as exc:
            # smtplib reports a greeting that never came as a disconnection that "timed out".
            if "timed out" in str(exc):
                raise DeliveryError(msg("delivery.mail_timeout", seconds=timeout)) from None
            raise DeliveryError(
                msg("delivery.mail_unreachable", host=mail.host, port=mail.effective_port, reason=_reason(exc))
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(
                msg("delivery.mail_unreachable", host=mail.host, port=mail.effective_port, reason=_reason(exc))
            ) from None
        return smtp

    def send(self, message: EmailMessage) -> None:
        """Hand ``message`` to the server; :class:`DeliveryError` unless it accepted it."""
        if self._smtp is None:
            self._smtp = self._connect()
        try:
            refused = self._smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            self.close()
            code, reply = next(iter(exc.recipients.values()))
            raise DeliveryError(msg("delivery.mail_recipient_refused", code=code, reply=_reply(reply))) from None
        except smtplib.SMTPResponseException as exc:
            self.close()
            raise DeliveryError(
                msg("delivery.mail_refused", code=exc.smtp_code, reply=_reply(exc.smtp_error))
            ) from None
        except TimeoutError:
            self.close()
            raise DeliveryError(msg("delivery.mail_timeout", seconds=self.settings.timeout_seconds)) from None
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise DeliveryError(
                msg(
                    "delivery.mail_unreachable",
                    host=self.settings.host or "",
                    port=self.settings.effective_port,
                    reason=_reason(exc),
                )
            ) from None
        if refused:
            code, reply = next(iter(refused.values()))
            raise DeliveryError(msg("delivery.mail_recipient_refused", code=code, reply=_reply(reply)))

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()


def _login(smtp: smtplib.SMTP, username: str, password: str) -> None:
    """smtplib's login encodes as ASCII; a Vietnamese password goes as UTF-8 in AUTH PLAIN (RFC 4616)."""
    if (username + password).isascii():
        smtp.login(username, password)
        return
    token = base64.b64encode(b"\0" + username.encode("utf-8") + b"\0" + password.encode("utf-8")).decode("ascii")
    code, reply = smtp.docmd("AUTH", "PLAIN " + token)
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, reply)


def _reply(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return text[:200]


def _reason(exc: BaseException) -> str:
    return (getattr(exc, "strerror", None) or type(exc).__name__)[:200]
