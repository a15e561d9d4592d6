"""Web Push to staff phones: the VAPID key pair made on `loa init`, subscriptions, one push each.

The private key is kept Fernet-encrypted in the database (``AppSecret``), with its public
half beside it in the clear (the share page hands it to the browser as the application
server key). A push's payload is encrypted for the phone by pywebpush (RFC 8291,
``aes128gcm``) and signed with the VAPID key (RFC 8292); the push service only relays it.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from scheduler.errors import DeliveryError, InputError
from scheduler.i18n import msg
from scheduler.models import AppSecret, PushSubscription, utcnow
from scheduler.store import session_scope

VAPID_SECRET = "webpush.vapid"
MAX_ENDPOINT_CHARS = 2048


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def ensure_vapid(engine: Engine, cipher: Fernet) -> str:
    """The VAPID key pair, made once (`loa init`); returns the public key (base64url, uncompressed point)."""
    from py_vapid import Vapid02

    with session_scope(engine) as session:
        row = session.get(AppSecret, VAPID_SECRET)
        if row is not None and row.public:
            return row.public
        vapid = Vapid02()
        vapid.generate_keys()
        public = _b64url(
            vapid.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        )
        session.add(
            AppSecret(
                name=VAPID_SECRET,
                value_encrypted=cipher.encrypt(vapid.private_pem()).decode("ascii"),
                public=public,
                created_at=utcnow(),
            )
        )
        return public


def vapid_public_key(engine: Engine) -> str | None:
    with session_scope(engine, read_only=True) as session:
        row = session.get(AppSecret, VAPID_SECRET)
        return row.public if row is not None else None


def _vapid(engine: Engine, cipher: Fernet) -> Any:
    from py_vapid import Vapid02

    with session_scope(engine, read_only=True) as session:
        row = session.get(AppSecret, VAPID_SECRET)
    if row is None:
        raise DeliveryError(msg("delivery.push_no_key"), hint=msg("hint.run_loa_init"))
    return Vapid02.from_pem(cipher.decrypt(row.value_encrypted.encode("ascii")))


def subscribe(engine: Engine, *, staff_id: int, info: Any, now: datetime | None = None) -> int:
    """Keep a browser's subscription (``PushSubscription.toJSON()``); the same endpoint once."""
    endpoint = info.get("endpoint") if isinstance(info, dict) else None
    keys = info.get("keys") if isinstance(info, dict) else None
    if (
        not isinstance(endpoint, str)
        or len(endpoint) > MAX_ENDPOINT_CHARS
        or urlsplit(endpoint).scheme not in {"https", "http"}
        or not isinstance(keys, dict)
        or not all(isinstance(keys.get(k), str) and 0 < len(keys[k]) < 200 for k in ("p256dh", "auth"))
    ):
        raise InputError(msg("error.push_subscription"), field="subscription")
    try:
        with session_scope(engine) as session:
            row = session.exec(select(PushSubscription).where(PushSubscription.endpoint == endpoint)).first()
            row = row or PushSubscription(
                staff_id=staff_id, endpoint=endpoint, p256dh="", auth="", created_at=now or utcnow()
            )
            row.staff_id, row.p256dh, row.auth = staff_id, keys["p256dh"], keys["auth"]
            session.add(row)
            session.flush()
            assert row.id is not None
            return row.id
    except IntegrityError:
        return subscribe(engine, staff_id=staff_id, info=info, now=now)


@dataclass(frozen=True)
class PushMessage:
    title: str
    body: str
    url: str

    def payload(self) -> str:
        return json.dumps({"title": self.title, "body": self.body, "url": self.url}, ensure_ascii=False)


def send_push(
    engine: Engine, cipher: Fernet, *, subscription_id: int, payload: str, contact: str, timeout: float
) -> bool:
    """Encrypt and send one push; False when the subscription is gone (it is forgotten)."""
    from pywebpush import WebPushException, webpush

    with session_scope(engine, read_only=True) as session:
        row = session.get(PushSubscription, subscription_id)
    if row is None:
        return False
    info = {"endpoint": row.endpoint, "keys": {"p256dh": row.p256dh, "auth": row.auth}}
    audience = "{0.scheme}://{0.netloc}".format(urlsplit(row.endpoint))
    try:
        webpush(
            info,
            payload,
            vapid_private_key=_vapid(engine, cipher),
            vapid_claims={"sub": f"mailto:{contact}", "aud": audience},
            timeout=timeout,
            ttl=24 * 3600,
        )
    except WebPushException as exc:
        status = exc.response.status_code if exc.response is not None else None
        if status in (404, 410):  # the phone unsubscribed, or the push service forgot it
            with session_scope(engine) as session:
                gone = session.get(PushSubscription, subscription_id)
                if gone is not None:
                    session.delete(gone)
            return False
        raise DeliveryError(msg("delivery.push_refused", status=status or "?")) from None
    except Exception as exc:  # requests' errors and the crypto's, at the edge
        raise DeliveryError(msg("delivery.push_unreachable", reason=type(exc).__name__)) from None
    return True
