"""Housekeeping: the time-based work of a dispatcher pass, done by the holder of its lease only.

Leases that ran out become ``unknown`` (the call may have happened), publications overdue
beyond the grace become ``missed``, those overdue by more than a short window are checked on
the platform first, due publications of channels needing re-authorisation
wait as ``blocked``; and the end of each pass is recorded for ``/healthz``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from scheduler.config import Settings
from scheduler.i18n import N_
from scheduler.models import ChannelState, ChannelStatus, Publication, SchedulerTick, utcnow
from scheduler.publishing.outcomes import Event, sources, transition
from scheduler.store import acquire_lease, holder_is_gone, release_lease, session_scope

HOUSEKEEPING_LEASE = "housekeeping"


def hold_housekeeping(engine: Engine, settings: Settings, owner: str, now: datetime) -> bool:
    """Take or extend the housekeeping lease; True while ``owner`` holds it."""
    ttl = timedelta(seconds=max(60, 3 * settings.publishing.tick_seconds))
    return acquire_lease(engine, HOUSEKEEPING_LEASE, owner=owner, ttl=ttl, now=now)


def release_housekeeping(engine: Engine, owner: str) -> None:
    release_lease(engine, HOUSEKEEPING_LEASE, owner=owner)


def expire_leases(engine: Engine, now: datetime) -> None:
    """A lease that ran out, or whose process is gone, means the call may have happened."""
    with session_scope(engine) as session:
        rows = session.exec(select(Publication).where(col(Publication.status).in_(sources(Event.lease_lost))))
        for row in rows:
            expired = row.lease_until is None or row.lease_until < now
            if not expired and not holder_is_gone(row.lease_owner or ""):
                continue
            row.status = transition(row.status, Event.lease_lost)
            row.last_error = "the publishing process stopped during the call; checking the platform"
            row.lease_owner = None
            row.lease_until = None
            row.next_attempt_at = now
            row.updated_at = utcnow()
            session.add(row)


def mark_missed(engine: Engine, settings: Settings, now: datetime) -> list[int]:
    """Never a burst of old posts after downtime: beyond the grace they wait for a person."""
    cutoff = now - timedelta(minutes=settings.publishing.grace_minutes)
    with session_scope(engine) as session:
        rows = list(
            session.exec(
                select(Publication).where(
                    col(Publication.status).in_(sources(Event.overdue)),
                    Publication.due_at < cutoff,
                    col(Publication.next_attempt_at).is_(None),
                )
            )
        )
        for row in rows:
            local = row.due_at.astimezone(settings.tz).strftime("%d/%m/%Y %H:%M")
            row.status = transition(row.status, Event.overdue)
            row.last_error = (
                f"not published: it was due at {local}, more than "
                f"{settings.publishing.grace_minutes} minutes ago, while Loa was not running"
            )
            row.updated_at = utcnow()
            session.add(row)
        return [row.id for row in rows if row.id is not None]


OVERDUE_CHECK_REASON = N_("reason.overdue_check")


def check_overdue(engine: Engine, settings: Settings, now: datetime) -> list[int]:
    """Publications due a while ago are looked for on the platform before they are published.

    A database that was put back (a restore, a rewound PostgreSQL) still calls ``scheduled``
    what may have gone out since; only a search can tell. The reconciler does it next; until
    then no process claims them (``claim_due``'s ``check_before``).
    """
    cutoff = now - timedelta(minutes=settings.publishing.check_overdue_minutes)
    with session_scope(engine) as session:
        rows = list(
            session.exec(
                select(Publication).where(
                    col(Publication.status).in_(sources(Event.overdue_check)),
                    Publication.due_at < cutoff,
                    col(Publication.next_attempt_at).is_(None),
                )
            )
        )
        for row in rows:
            row.status = transition(row.status, Event.overdue_check)
            row.last_error = OVERDUE_CHECK_REASON
            row.next_attempt_at = now
            row.updated_at = utcnow()
            session.add(row)
        return [row.id for row in rows if row.id is not None]


def unavailable_channels(engine: Engine, now: datetime) -> set[str]:
    """Channels that may not publish now; a pause whose time is up is lifted on the way."""
    with session_scope(engine) as session:
        unavailable: set[str] = set()
        for state in session.exec(select(ChannelState)):
            if state.status == ChannelStatus.paused and state.paused_until and state.paused_until <= now:
                state.status = ChannelStatus.ok
                state.paused_until = None
                session.add(state)
            if state.status != ChannelStatus.ok:
                unavailable.add(state.id)
        return unavailable


def hold_blocked_channels(engine: Engine, now: datetime) -> list[int]:
    """Due publications of channels that must be reconnected wait as ``blocked``."""
    with session_scope(engine) as session:
        reauth = [
            s.id
            for s in session.exec(select(ChannelState).where(ChannelState.status == ChannelStatus.needs_reauth))
        ]
        if not reauth:
            return []
        rows = list(
            session.exec(
                select(Publication).where(
                    col(Publication.status).in_(sources(Event.held)),
                    col(Publication.channel_id).in_(reauth),
                    Publication.due_at <= now,
                )
            )
        )
        for row in rows:
            row.status = transition(row.status, Event.held)
            row.last_error = f"channel {row.channel_id} must be reconnected before it can publish"
            row.updated_at = utcnow()
            session.add(row)
        return [row.id for row in rows if row.id is not None]


def record_tick(engine: Engine) -> None:
    """The dispatcher's last completed pass, read by ``/healthz``."""
    for _ in range(2):  # the first pass of two workers at once: one inserts, one updates
        try:
            with session_scope(engine) as session:
                tick = session.get(SchedulerTick, "dispatcher") or SchedulerTick(role="dispatcher", at=utcnow())
                tick.at = utcnow()
                session.add(tick)
            return
        except IntegrityError:
            continue
