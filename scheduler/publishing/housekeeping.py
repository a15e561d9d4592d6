"""Housekeeping: the time-based work of a dispatcher pass, done by the holder of its lease only.

Leases that ran out become ``unknown`` (the call may have happened), publications overdue
beyond the grace become ``missed``, those overdue by more than a short window are checked on
the platform first, due publications of channels needing re-authorisation
wait as ``blocked``; and the end of each pass is recorded for ``/healthz``.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from scheduler.alerts.events import publication_alert
from scheduler.config import Settings
from scheduler.i18n import msg, stored
from scheduler.models import ChannelState, ChannelStatus, Publication, PublishAttempt, SchedulerTick, utcnow
from scheduler.publishing.outcomes import Event, sources, transition
from scheduler.store import acquire_lease, holder_is_gone, release_lease, session_scope

HOUSEKEEPING_LEASE = "housekeeping"
# The role of `loa publish-due`'s ticks: one row per host, since cron starts a new process each time.
ONE_SHOT_ROLE = "publish-due"
TICKS_KEPT = timedelta(days=7)


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
            row.last_error = stored(msg("reason.lease_lost"))
            row.lease_owner = None
            row.lease_until = None
            row.next_attempt_at = now
            row.updated_at = utcnow()
            session.add(row)


def _due_before(session: Session, event: Event, cutoff: datetime) -> list[Publication]:
    """Publications ``event`` may move that fell due before ``cutoff`` and wait for no retry."""
    return list(
        session.exec(
            select(Publication).where(
                col(Publication.status).in_(sources(event)),
                Publication.due_at < cutoff,
                col(Publication.next_attempt_at).is_(None),
            )
        )
    )


def mark_missed(engine: Engine, settings: Settings, now: datetime) -> list[int]:
    """Never a burst of old posts after downtime: beyond the grace they wait for a person."""
    cutoff = now - timedelta(minutes=settings.publishing.grace_minutes)
    with session_scope(engine) as session:
        rows = _due_before(session, Event.overdue, cutoff)
        for row in rows:
            local = row.due_at.astimezone(settings.tz).strftime("%d/%m/%Y %H:%M")
            row.status = transition(row.status, Event.overdue)
            row.last_error = stored(msg("reason.missed", due=local, minutes=settings.publishing.grace_minutes))
            row.updated_at = utcnow()
            session.add(row)
            publication_alert(session, row, Event.overdue)
        return [row.id for row in rows if row.id is not None]




def check_overdue(engine: Engine, settings: Settings, now: datetime) -> list[int]:
    """Publications due a while ago are looked for on the platform before they are published.

    A database that was put back (a restore, a rewound PostgreSQL) still calls ``scheduled``
    what may have gone out since; only a search can tell. The reconciler does it next; until
    then no process claims them (``claim_due``'s ``check_before``).
    """
    cutoff = now - timedelta(minutes=settings.publishing.check_overdue_minutes)
    with session_scope(engine) as session:
        rows = _due_before(session, Event.overdue_check, cutoff)
        for row in rows:
            row.status = transition(row.status, Event.overdue_check)
            row.last_error = stored(msg("reason.overdue_check"))
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
            row.last_error = stored(msg("reason.held", channel=row.channel_id))
            row.updated_at = utcnow()
            session.add(row)
            publication_alert(session, row, Event.held)
        return [row.id for row in rows if row.id is not None]


def record_tick(engine: Engine, role: str, instance: str, now: datetime) -> None:
    """This process's last completed pass, read by ``/healthz`` (each process its own row)."""
    host = instance.partition(":")[0] or socket.gethostname()
    pid = os.getpid()
    for _ in range(2):  # two cron runs on one host at once: one inserts, one updates
        try:
            with session_scope(engine) as session:
                tick = session.get(SchedulerTick, (role, instance))
                tick = tick or SchedulerTick(role=role, instance=instance, at=now)
                tick.at, tick.host, tick.pid = now, host, pid
                session.add(tick)
                # Processes restarted long ago leave their rows behind; they tell nothing now.
                old = col(SchedulerTick.at) < now - TICKS_KEPT
                session.execute(delete(SchedulerTick).where(old, col(SchedulerTick.instance) != instance))
            return
        except IntegrityError:
            continue


def hand_back(engine: Engine, publication_id: int, attempt_id: int, owner: str) -> None:
    """A claim whose platform call never started: back to ``scheduled``, its attempt row gone."""
    with session_scope(engine) as session:
        row = session.get(Publication, publication_id)
        if row is None or row.lease_owner != owner:
            return  # the lease ran out and housekeeping has it now
        row.status = transition(row.status, Event.handed_back)
        row.lease_owner = None
        row.lease_until = None
        row.attempts = max(0, row.attempts - 1)
        row.updated_at = utcnow()
        session.add(row)
        attempt = session.get(PublishAttempt, attempt_id)
        if attempt is not None:
            session.delete(attempt)
