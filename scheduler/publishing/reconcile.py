"""Reconciling an unknown outcome: look for the post on the platform before publishing again.

Found (the exact text, or a Zalo article's title) → ``published``; searched and surely absent
→ published again once; lost a second time, or a duplicate the platform reports but Loa
cannot see → left ``unknown`` for a person.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import col, select

from scheduler.channels.base import PublishResult
from scheduler.channels.factory import PublisherFactory
from scheduler.config import ChannelSettings, Settings
from scheduler.errors import AuthError, PublishError, stored_error
from scheduler.i18n import msg, stored
from scheduler.models import AttemptOutcome, ChannelState, ChannelStatus, Publication, PublishAttempt, utcnow
from scheduler.publishing.outcomes import Event, sources, status_after
from scheduler.publishing.recording import AttemptLog, DispatchSummary, backoff
from scheduler.store import session_scope

# How long after an unknown outcome the platform is searched, and how far back.
RECONCILE_DELAY = timedelta(seconds=30)
RECONCILE_LOOKBACK = timedelta(minutes=10)


def _normalised(text: str | None) -> str:
    return " ".join(unicodedata.normalize("NFC", text or "").split())


class Reconciler:
    """Settles the ``unknown`` publications whose check is due (housekeeping-lease holder only)."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        publishers: PublisherFactory,
        attempts: AttemptLog,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.publishers = publishers
        self.attempts = attempts

    def reconcile(self, now: datetime, summary: DispatchSummary) -> list[int]:
        with session_scope(self.engine, read_only=True) as session:
            pending = list(
                session.exec(
                    # An unknown outcome left for a person has no next_attempt_at: not ours.
                    select(Publication.id).where(
                        col(Publication.status).in_(sources(Event.found_absent)),
                        col(Publication.next_attempt_at) <= now,
                        col(Publication.channel_id).not_in(
                            select(ChannelState.id).where(ChannelState.status == ChannelStatus.needs_reauth)
                        ),
                    )
                )
            )
        reconciled: list[int] = []
        for publication_id in pending:
            assert publication_id is not None
            with session_scope(self.engine, read_only=True) as session:
                publication = session.get(Publication, publication_id)
                assert publication is not None
                channel = self.settings.channel(publication.channel_id)
            attempt_id = self.attempts.start(publication_id)
            bucket = self.reconcile_one(publication_id, attempt_id, channel, now)
            if bucket == "published":
                reconciled.append(publication_id)
            elif bucket != "unknown":
                getattr(summary, bucket).append(publication_id)
        return reconciled

    def reconcile_one(
        self,
        publication_id: int,
        attempt_id: int,
        channel: ChannelSettings,
        now: datetime,
        *,
        duplicate_seen: bool = False,
    ) -> str:
        """Look for the post on the platform: found → published; surely absent → publish again once."""
        with session_scope(self.engine, read_only=True) as session:
            publication = session.get(Publication, publication_id)
            assert publication is not None
            first_attempt = session.exec(
                select(PublishAttempt.started_at)
                .where(PublishAttempt.publication_id == publication_id)
                .order_by(col(PublishAttempt.started_at))
            ).first()
            unknown_count = len(
                list(
                    session.exec(
                        select(PublishAttempt.id).where(
                            PublishAttempt.publication_id == publication_id,
                            PublishAttempt.outcome == AttemptOutcome.unknown,
                        )
                    )
                )
            )
        since = (first_attempt or publication.due_at) - RECONCILE_LOOKBACK
        publisher = self.publishers.build(channel)
        try:
            found = publisher.find_recent(since=since)
        except PublishError as exc:
            with session_scope(self.engine) as session:
                row = session.get(Publication, publication_id)
                assert row is not None
                row.status = status_after(Event.check_failed)
                row.next_attempt_at = now + backoff(unknown_count + 1)
                row.last_error = stored(msg("reason.check_failed", reason=msg(exc.msgid, **exc.params)))
                row.lease_owner = row.lease_until = None
                session.add(row)
                if isinstance(exc, AuthError):
                    state = session.get(ChannelState, channel.id)
                    assert state is not None
                    state.status = ChannelStatus.needs_reauth
                    state.last_error = stored_error(exc)
                    state.last_error_at = now
                    session.add(state)
                self.attempts.finish(session, attempt_id, AttemptOutcome.check_failed, exc)
            return "unknown"
        finally:
            publisher.close()
        wanted = {_normalised(publication.text), _normalised(publication.title)} - {""}
        match = next((p for p in found if _normalised(p.text) in wanted), None)
        if match is not None:
            result = PublishResult(remote_id=match.remote_id, permalink=match.permalink, published_at=match.created_at)
            self.attempts.record_success(publication_id, attempt_id, result, AttemptOutcome.reconciled)
            return "published"
        with session_scope(self.engine) as session:
            row = session.get(Publication, publication_id)
            assert row is not None
            row.lease_owner = row.lease_until = None
            row.updated_at = utcnow()
            if duplicate_seen or unknown_count >= 2:
                # The platform says it has the post but we cannot see it, or a second
                # attempt was lost too: only a person can tell now.
                row.status = status_after(Event.undecidable)
                row.next_attempt_at = None
                row.last_error = stored(msg("reason.undecidable"))
                self.attempts.finish(session, attempt_id, AttemptOutcome.unknown)
                session.add(row)
                return "unknown"
            # Searched and absent: one more publish is safe.
            row.status = status_after(Event.found_absent)
            row.next_attempt_at = now
            row.last_error = stored(msg("reason.found_absent"))
            session.add(row)
            self.attempts.finish(session, attempt_id, AttemptOutcome.checked_absent)
        return "deferred"
