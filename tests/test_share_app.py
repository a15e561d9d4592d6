"""The share page as an app: manifest, icons, offline shell, and a real Web Push decrypted here.

A phone's subscription is made in the test with its own P-256 key and auth secret; the push
arrives at a push endpoint on loopback, where its VAPID signature is checked (RFC 8292) and
its payload decrypted with the phone's key (RFC 8291, aes128gcm) — real crypto both ends.
"""

from __future__ import annotations

import base64
import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import http_ece
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from PIL import Image
from sqlalchemy import update
from sqlmodel import col, select
from starlette.testclient import TestClient

from scheduler.alerts.outbox import Deliverer
from scheduler.alerts.watch import raise_new_posts
from scheduler.app import Loa
from scheduler.config import load_settings
from scheduler.models import AppSecret, Post, Publication, PublicationStatus, PushSubscription, Staff, Unit
from scheduler.store import session_scope
from scheduler.web.app import create_app
from tests.alerts_support import webhook_receiver
from tests.conftest import write_config

TOKEN = "app-token-lan-0000000000001"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.fixture
def app(tmp_path: Path) -> Any:
    loa = Loa(load_settings(write_config(tmp_path)))
    loa.init()
    now = datetime.now(UTC)
    with session_scope(loa.engine) as session:
        unit = Unit(code="vinh", name="BHXH thành phố Vinh")
        session.add(unit)
        session.flush()
        session.add(Staff(unit_id=unit.id or 0, full_name="Nguyễn Thị Lan", share_token=TOKEN, created_at=now))
    client = TestClient(create_app(loa), base_url="http://127.0.0.1:8000", follow_redirects=False)
    yield loa, client
    loa.close()


def test_init_makes_the_vapid_key_once_and_keeps_it_encrypted(app: Any) -> None:
    loa, _client = app
    with session_scope(loa.engine, read_only=True) as session:
        (secret,) = session.exec(select(AppSecret))
    assert "PRIVATE KEY" not in secret.value_encrypted and "MIG" not in secret.value_encrypted
    assert len(unb64url(secret.public or "")) == 65  # an uncompressed P-256 point
    loa.init()
    with session_scope(loa.engine, read_only=True) as session:
        assert [s.public for s in session.exec(select(AppSecret))] == [secret.public]
    assert secret.value_encrypted not in repr(secret)


def test_the_page_is_installable_and_works_offline(app: Any) -> None:
    _loa, client = app
    page = client.get(f"/s/{TOKEN}")
    assert f'<link rel="manifest" href="/s/{TOKEN}/manifest.webmanifest">' in page.text
    policy = page.headers["content-security-policy"]
    assert "manifest-src 'self'" in policy and "worker-src 'self'" in policy
    manifest = client.get(f"/s/{TOKEN}/manifest.webmanifest")
    assert manifest.headers["content-type"].startswith("application/manifest+json")
    document = manifest.json()
    assert document["start_url"] == f"/s/{TOKEN}" and document["display"] == "standalone"
    assert document["name"] == "Loa — Chia sẻ tin bài" and document["lang"] == "vi"
    for entry in document["icons"]:
        icon = client.get(entry["src"])
        size = int(entry["sizes"].split("x")[0])
        assert icon.status_code == 200 and Image.open(io.BytesIO(icon.content)).size == (size, size)
    worker = client.get(f"/s/{TOKEN}/sw.js")
    assert worker.headers["service-worker-allowed"] == f"/s/{TOKEN}"
    assert "caches.match" in worker.text and "showNotification" in worker.text
    assert client.get("/s/nobody-0000000000000000/manifest.webmanifest").status_code == 404


def verify_vapid(header: str, audience: str) -> dict[str, Any]:
    """The push service's check: the JWT in ``vapid t=…, k=…`` is signed by ``k`` (ES256)."""
    fields = dict(part.strip().split("=", 1) for part in header.removeprefix("vapid ").split(","))
    jwt, public = fields["t"], unb64url(fields["k"])
    head, claims, signature = jwt.split(".")
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), public)
    raw = unb64url(signature)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    key.verify(der, f"{head}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))  # raises if forged
    payload: dict[str, Any] = json.loads(unb64url(claims))
    assert payload["aud"] == audience and payload["exp"] > datetime.now(UTC).timestamp()
    return payload


def test_a_new_post_reaches_the_subscribed_phone_encrypted(app: Any) -> None:
    loa, client = app
    phone_key = ec.generate_private_key(ec.SECP256R1())
    phone_public = phone_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    auth = b"0123456789abcdef"
    with webhook_receiver() as endpoint:
        page = client.get(f"/s/{TOKEN}").text
        form = re.search(r'data-form="([^"]+)"', page)
        key = re.search(r'data-key="([^"]+)"', page)
        assert form and key
        subscription = {"endpoint": endpoint.url, "keys": {"p256dh": b64url(phone_public), "auth": b64url(auth)}}
        stale = client.post(f"/s/{TOKEN}/push", json={"t": "giả", "subscription": subscription})
        assert stale.status_code == 403
        made = client.post(f"/s/{TOKEN}/push", json={"t": form.group(1), "subscription": subscription})
        assert made.status_code == 201

        now = datetime.now(UTC)
        with session_scope(loa.engine) as session:
            post = Post(
                template="thang-van-dong", text="Tháng Vận động: ra quân tuyên truyền", scheduled_at=now, created_at=now
            )
            session.add(post)
            session.flush()
            session.add(
                Publication(
                    post_id=post.id or 0,
                    channel_id="fb-bhxh-nghean",
                    platform="facebook",
                    status=PublicationStatus.published,
                    text=post.text,
                    due_at=now,
                    published_at=now,
                )
            )
        assert raise_new_posts(loa.settings, loa.engine) == [post.id]
        assert raise_new_posts(loa.settings, loa.engine) == []  # once per post
        assert Deliverer(loa.settings, loa.engine).run_once().counts()["sent"] == 1

        (call,) = endpoint.calls
        assert call.headers["content-encoding"] == "aes128gcm"
        claims = verify_vapid(call.headers["authorization"], endpoint.url.rsplit("/hooks", 1)[0])
        assert claims["sub"].startswith("mailto:")
        assert call.headers["authorization"].split("k=")[1] == key.group(1)  # the key the page offered
        plain = http_ece.decrypt(call.body, private_key=phone_key, auth_secret=auth, version="aes128gcm")
        message = json.loads(plain)
        assert message == {
            "title": "Bài mới cần chia sẻ",
            "body": "Tháng Vận động: ra quân tuyên truyền",
            "url": f"http://127.0.0.1:8000/s/{TOKEN}",
        }
        assert call.body.find(b"Th\xc3\xa1ng") < 0  # nothing readable on the wire

        # The phone unsubscribed: the push service answers 410 and the subscription is forgotten.
        endpoint.replies.append((410, {}))
        with session_scope(loa.engine) as session:
            session.execute(update(Publication).where(col(Publication.post_id) == post.id).values(published_at=now))
            second = Post(template="thang-van-dong", text="Bài thứ hai", scheduled_at=now, created_at=now)
            session.add(second)
            session.flush()
            session.add(
                Publication(
                    post_id=second.id or 0,
                    channel_id="fb-bhxh-nghean",
                    platform="facebook",
                    status=PublicationStatus.published,
                    text="Bài thứ hai",
                    due_at=now,
                    published_at=now + timedelta(seconds=1),
                )
            )
        raise_new_posts(loa.settings, loa.engine)
        assert Deliverer(loa.settings, loa.engine).run_once().counts()["sent"] == 1
        with session_scope(loa.engine, read_only=True) as session:
            assert list(session.exec(select(PushSubscription))) == []
