"""The alerts no single change causes: the morning digest and a credential about to lapse.

Raised by the holder of the engine's lease on each delivery pass; each has a key (the local
date, the channel and its expiry date), so however often it looks, it is raised once.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import col, select

from scheduler.alerts.events import excerpt, raise_alert
from scheduler.channels.base import TokenVault
from scheduler.channels.registry import publisher_class
from scheduler.config import Settings
from scheduler.i18n.formats import format_day
from scheduler.models import ChannelState, Publication, PublicationStatus, utcnow
from scheduler.store import session_scope

S = PublicationStatus
DIGEST_LIST = 30  # the queue listed in the digest; beyond it, the console


def _day_bounds(settings: Settings, day: Any) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=settings.tz)
    return start, start + timedelta(days=1)


def raise_digest(settings: Settings, engine: Engine, now: datetime | None = None) -> bool:
    """Today's digest once the configured local hour has come; True when raised now."""
    now = now or utcnow()
    local = now.astimezone(settings.tz)
    if not settings.alerts.digest or local.hour < settings.alerts.digest_hour:
        return False
    today = local.date()
    start, end = _day_bounds(settings, today)
    y_start = start - timedelta(days=1)
    with session_scope(engine) as session:
        queue = session.exec(
            select(Publication)
            .where(
                col(Publication.status).in_([S.scheduled, S.pending_approval]),
                Publication.due_at >= start,
                Publication.due_at < end,
            )
            .order_by(col(Publication.due_at))
            .limit(DIGEST_LIST)
        ).all()
        yesterday = dict(
            session.exec(
                select(Publication.status, func.count())
                .where(Publication.due_at >= y_start, Publication.due_at < start)
                .group_by(Publication.status)
            ).all()
        )
        waiting = session.exec(
            select(func.count()).select_from(Publication).where(Publication.status == S.pending_approval)
        ).one()
        data = {
            "date": today.isoformat(),
            "date_label": format_day(today),
            "today": [
                {
                    "post": p.post_id,
                    "channel": p.channel_id,
                    "at": p.due_at.isoformat(),
                    "status": str(p.status),
                    "excerpt": excerpt(p.title or p.text)[:120],
                }
                for p in queue
            ],
            "yesterday": {
                s: int(yesterday.get(S(s), 0)) for s in ("published", "failed", "missed", "blocked", "unknown")
            },
            "pending_approval": int(waiting),
        }
        return raise_alert(session, "digest.daily", data, key=f"digest.daily:{today.isoformat()}", now=now) is not None


def raise_token_expiry(settings: Settings, engine: Engine, vault: TokenVault, now: datetime | None = None) -> list[str]:
    """``channel.token_expiring`` for each credential that lapses within the configured days.

    Credentials Loa renews itself (a single-use refresh token) are left out: they lapse only
    when renewal fails, which raises ``channel.needs_reauth``.
    """
    now = now or utcnow()
    horizon = now + timedelta(days=settings.alerts.token_expiring_days)
    raised: list[str] = []
    for channel in settings.channels:
        if publisher_class(channel.platform).single_use_refresh_token:
            continue
        with session_scope(engine, read_only=True) as session:
            state = session.get(ChannelState, channel.id)
        # What the token check learned from the platform (debug_token), else what was stored with the token.
        expires = state.token_expires_at if state is not None else None
        if expires is None:
            value = (vault.load(channel.id) or {}).get("expires_at")
            try:
                expires = datetime.fromisoformat(value) if value else None
            except ValueError:
                expires = None
        if expires is None:
            continue
        if expires.tzinfo is None or expires > horizon or expires < now - timedelta(days=1):
            continue
        local = expires.astimezone(settings.tz)
        key = f"channel.token_expiring:{channel.id}:{local.date().isoformat()}"
        with session_scope(engine) as session:
            data = {"channel": channel.id, "expires_at": expires.isoformat(), "date_label": format_day(local)}
            if raise_alert(session, "channel.token_expiring", data, key=key, now=now) is not None:
                raised.append(channel.id)
    return raised


NEW_POST_EVENT = "share.new_post"
NEW_POST_WINDOW = timedelta(hours=6)


def raise_new_posts(settings: Settings, engine: Engine, now: datetime | None = None) -> list[int]:
    """``share.new_post`` once per post that went out lately: staff phones subscribed to push hear of it."""
    now = now or utcnow()
    raised: list[int] = []
    with session_scope(engine) as session:
        rows = session.exec(
            select(Publication)
            .where(Publication.status == S.published, col(Publication.published_at) >= now - NEW_POST_WINDOW)
            .order_by(col(Publication.published_at))
        ).all()
        seen: set[int] = set()
        for row in rows:
            if row.post_id in seen:
                continue
            seen.add(row.post_id)
            data = {"post": row.post_id, "excerpt": excerpt(row.title or row.text)[:140]}
            if raise_alert(session, NEW_POST_EVENT, data, key=f"{NEW_POST_EVENT}:{row.post_id}", now=now) is not None:
                raised.append(row.post_id)
    return raised
