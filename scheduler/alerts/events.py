"""Raising alerts: a row in the same transaction as the change that causes it.

The callers are the places where a publication or a channel changes (the dispatcher,
housekeeping, the reconciler, people's decisions on a post); which transitions raise what
is the table ``ALERTS`` beside the state machine (scheduler/publishing/outcomes.py). Who
receives an alert is decided later, when the lease holder fans it out
(scheduler/alerts/outbox.py), so raising one costs a single insert and needs no settings.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from scheduler.models import Alert, Publication, utcnow
from scheduler.publishing.outcomes import Event, alert_of

EXCERPT_CHARS = 280
_PENDING = "loa.alerts.pending"  # session.info: alerts of this transaction, by (event, post)


def raise_alert(
    session: Session, event: str, data: dict[str, Any], *, key: str | None = None, now: datetime | None = None
) -> Alert | None:
    """Write one alert in ``session``'s transaction; with ``key``, at most one ever (None if it exists)."""
    if key is not None and session.exec(select(Alert.id).where(Alert.key == key)).first() is not None:
        return None
    alert = Alert(event=event, at=now or utcnow(), key=key, data_json=json.dumps(data, ensure_ascii=False))
    session.add(alert)
    return alert


def excerpt(text: str | None) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1].rstrip() + "…"


def publication_alert(
    session: Session,
    publication: Publication,
    event: Event,
    *,
    actor: str | None = None,
) -> Alert | None:
    """The alert ``event`` raises for ``publication``, if any, in ``session``'s transaction.

    A decision on a post (waiting for approval, approved, sent back) is one alert for the
    post, naming each of its channels, however many publications it moved.
    """
    name = alert_of(event)
    if name is None:
        return None
    pending: dict[tuple[str, int], Alert] = session.info.setdefault(_PENDING, {})
    if name.startswith("post."):
        existing = pending.get((name, publication.post_id))
        if existing is not None:
            known = json.loads(existing.data_json)
            if publication.channel_id not in known["channels"]:
                known["channels"].append(publication.channel_id)
                existing.data_json = json.dumps(known, ensure_ascii=False)
            return existing
    data: dict[str, Any] = {
        "post": publication.post_id,
        "publication": publication.id,
        "channel": publication.channel_id,
        "channels": [publication.channel_id],
        "platform": publication.platform,
        "status": str(publication.status),
        "due_at": publication.due_at.isoformat() if publication.due_at else None,
        "reason": publication.last_error,
        "excerpt": excerpt(publication.title or publication.text),
        "actor": actor,
    }
    alert = raise_alert(session, name, data)
    if alert is not None and name.startswith("post."):
        pending[(name, publication.post_id)] = alert
    return alert


def channel_alert(
    session: Session,
    event: str,
    channel_id: str,
    *,
    reason: str | None = None,
    key: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Alert | None:
    """``channel.needs_reauth`` / ``channel.token_expiring`` for one channel."""
    data: dict[str, Any] = {"channel": channel_id, "reason": reason, **(extra or {})}
    return raise_alert(session, event, data, key=key)
