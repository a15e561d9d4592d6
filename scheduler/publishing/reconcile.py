"""Reconciling an unknown outcome: look for the post on the platform before publishing again.

Found (the exact text, or a Zalo article's title) → ``published``; searched and surely absent
→ published again once; lost a second time, or a duplicate the platform reports but Loa
cannot see → left ``unknown`` for a person. A search that fails is tried again later, each
time later (full jitter, capped), and after ``publishing.reconcile_max_checks`` failures the
publication waits for a person, with the reason.

Each channel is searched once per pass, for all of its publications waiting for a check, in
its own thread: a platform that answers slowly or not at all holds back no other channel.
"""

from __future__ import annotations

import logging
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import col, select

from scheduler.alerts.events import channel_alert, publication_alert
from scheduler.channels.base import PublishResult, RemotePost
from scheduler.channels.catalog import find_channel
from scheduler.channels.factory import PublisherFactory
from scheduler.config import ChannelSettings, Settings
from scheduler.errors import AuthError, PublishError, stored_error
from scheduler.i18n import msg, stored
from scheduler.models import AttemptOutcome, ChannelState, ChannelStatus, Publication, PublishAttempt, utcnow
from scheduler.publishing.outcomes import Event, sources, status_after, transition
from scheduler.publishing.recording import AttemptLog, DispatchSummary, backoff
from scheduler.store import session_scope

log = logging.getLogger("loa.publishing")

# How long after an unknown outcome the platform is searched, and how far back.
RECONCILE_DELAY = timedelta(seconds=30)
RECONCILE_LOOKBACK = timedelta(minutes=10)


def _normalised(text: str | None) -> str:
    return " ".join(unicodedata.normalize("NFC", text or "").split())


@dataclass
class ChannelChecks:
    """What one channel's checks came to in a pass."""

    channel_id: str
    published: list[int] = field(default_factory=list)  # found on the platform
    deferred: list[int] = field(default_factory=list)  # surely absent: publishing once more
    unknown: list[int] = field(default_factory=list)  # not yet, or left for a person
    missed: list[int] = field(default_factory=list)  # absent, and later than the grace: a person decides


@dataclass
class _Waiting:
    publication_id: int
    text: str
    title: str | None
    due_at: datetime
    first_attempt: datetime | None
    unknown_outcomes: int
    failed_checks: int  # searches that failed since the last one that answered


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

    @property
    def grace(self) -> timedelta:
        return timedelta(minutes=self.settings.publishing.grace_minutes)

    def pending(self, now: datetime) -> dict[str, list[int]]:
        """The publications whose check is due, by channel."""
        with session_scope(self.engine, read_only=True) as session:
            rows = session.exec(
                # An unknown outcome left for a person has no next_attempt_at: not ours.
                select(Publication.id, Publication.channel_id)
                .where(
                    col(Publication.status).in_(sources(Event.found_absent)),
                    col(Publication.next_attempt_at) <= now,
                    col(Publication.channel_id).not_in(
                        select(ChannelState.id).where(ChannelState.status == ChannelStatus.needs_reauth)
                    ),
                )
                .order_by(col(Publication.due_at), col(Publication.id))
            ).all()
        by_channel: dict[str, list[int]] = defaultdict(list)
        for publication_id, channel_id in rows:
            if publication_id is not None:
                by_channel[channel_id].append(publication_id)
        return dict(by_channel)

    def reconcile(self, now: datetime, summary: DispatchSummary) -> list[int]:
        """Every channel's checks one after the other (the dispatcher runs them side by side)."""
        reconciled: list[int] = []
        for channel_id, ids in self.pending(now).items():
            checks = self.reconcile_channel(channel_id, ids, now)
            reconciled.extend(checks.published)
            summary.deferred.extend(checks.deferred)
            summary.missed.extend(checks.missed)
        return reconciled

    def reconcile_channel(self, channel_id: str, publication_ids: Sequence[int], now: datetime) -> ChannelChecks:
        """One search of the channel for all of ``publication_ids``, then each settled on what it found."""
        checks = ChannelChecks(channel_id)
        if not publication_ids:
            return checks
        try:
            channel = find_channel(self.engine, self.settings, channel_id)
        except Exception:  # a channel removed from config.toml: nothing can be searched
            log.warning("publications %s wait on channel %s, which is not configured", publication_ids, channel_id)
            return checks
        waiting = [w for w in (self._waiting(pid) for pid in publication_ids) if w is not None]
        attempt_ids = {w.publication_id: self.attempts.start(w.publication_id) for w in waiting}
        since = min((w.first_attempt or w.due_at) for w in waiting) - RECONCILE_LOOKBACK
        try:
            found = self._search(channel, since)
        except PublishError as exc:
            for w in waiting:
                self._check_failed(w, attempt_ids[w.publication_id], channel, exc, now)
                checks.unknown.append(w.publication_id)
            return checks
        for w in waiting:
            bucket = self._settle(w, attempt_ids[w.publication_id], found, now, duplicate_seen=False)
            getattr(checks, bucket).append(w.publication_id)
        return checks

    def reconcile_one(
        self,
        publication_id: int,
        attempt_id: int,
        channel: ChannelSettings,
        now: datetime,
        *,
        duplicate_seen: bool = False,
    ) -> str:
        """Look for one post on the platform: found → published; surely absent → publish again once."""
        waiting = self._waiting(publication_id)
        assert waiting is not None
        try:
            found = self._search(channel, (waiting.first_attempt or waiting.due_at) - RECONCILE_LOOKBACK)
        except PublishError as exc:
            self._check_failed(waiting, attempt_id, channel, exc, now)
            return "unknown"
        return self._settle(waiting, attempt_id, found, now, duplicate_seen=duplicate_seen)

    # -- the steps ----------------------------------------------------------------------------

    def _waiting(self, publication_id: int) -> _Waiting | None:
        with session_scope(self.engine, read_only=True) as session:
            publication = session.get(Publication, publication_id)
            if publication is None:
                return None
            outcomes = list(
                session.exec(
                    select(PublishAttempt.started_at, PublishAttempt.outcome)
                    .where(PublishAttempt.publication_id == publication_id)
                    .order_by(col(PublishAttempt.started_at), col(PublishAttempt.id))
                ).all()
            )
        failed_checks = 0
        for _, outcome in reversed(outcomes):
            if outcome is None:  # an attempt that never finished (this one, or one cut short)
                continue
            if outcome != AttemptOutcome.check_failed:
                break
            failed_checks += 1
        return _Waiting(
            publication_id=publication_id,
            text=publication.text,
            title=publication.title,
            due_at=publication.due_at,
            first_attempt=outcomes[0][0] if outcomes else None,
            unknown_outcomes=sum(1 for _, outcome in outcomes if outcome == AttemptOutcome.unknown),
            failed_checks=failed_checks,
        )

    def _search(self, channel: ChannelSettings, since: datetime) -> list[RemotePost]:
        publisher = self.publishers.build(channel)
        try:
            return list(publisher.find_recent(since=since))
        finally:
            publisher.close()

    def _check_failed(
        self, waiting: _Waiting, attempt_id: int, channel: ChannelSettings, exc: PublishError, now: datetime
    ) -> None:
        failures = waiting.failed_checks + 1
        publishing = self.settings.publishing
        with session_scope(self.engine) as session:
            row = session.get(Publication, waiting.publication_id)
            assert row is not None
            row.lease_owner = row.lease_until = None
            row.updated_at = utcnow()
            if failures >= publishing.reconcile_max_checks and row.status == status_after(Event.check_failed):
                # Searching has not worked for a long while: a person looks at the page instead.
                row.status = transition(row.status, Event.checks_exhausted)
                row.next_attempt_at = None
                row.last_error = stored(msg("reason.checks_exhausted"))
                publication_alert(session, row, Event.checks_exhausted)
            else:
                row.status = status_after(Event.check_failed)
                row.next_attempt_at = now + backoff(
                    failures, cap=publishing.reconcile_backoff_cap_seconds, steady=True
                )
                row.last_error = stored(msg("reason.check_failed", reason=msg(exc.msgid, **exc.params)))
            session.add(row)
            if isinstance(exc, AuthError):
                state = session.get(ChannelState, channel.id)
                assert state is not None
                if state.status != ChannelStatus.needs_reauth:
                    channel_alert(session, "channel.needs_reauth", channel.id, reason=stored_error(exc))
                state.status = ChannelStatus.needs_reauth
                state.last_error = stored_error(exc)
                state.last_error_at = now
                session.add(state)
            self.attempts.finish(session, attempt_id, AttemptOutcome.check_failed, exc)

    def _settle(
        self, waiting: _Waiting, attempt_id: int, found: Sequence[RemotePost], now: datetime, *, duplicate_seen: bool
    ) -> str:
        wanted = {_normalised(waiting.text), _normalised(waiting.title)} - {""}
        match = next((p for p in found if _normalised(p.text) in wanted), None)
        publication_id = waiting.publication_id
        if match is not None:
            result = PublishResult(remote_id=match.remote_id, permalink=match.permalink, published_at=match.created_at)
            self.attempts.record_success(publication_id, attempt_id, result, AttemptOutcome.reconciled)
            return "published"
        with session_scope(self.engine) as session:
            row = session.get(Publication, publication_id)
            assert row is not None
            row.lease_owner = row.lease_until = None
            row.updated_at = utcnow()
            if duplicate_seen or waiting.unknown_outcomes >= 2:
                # The platform says it has the post but we cannot see it, or a second
                # attempt was lost too: only a person can tell now.
                row.status = status_after(Event.undecidable)
                row.next_attempt_at = None
                row.last_error = stored(msg("reason.undecidable"))
                publication_alert(session, row, Event.undecidable)
                self.attempts.finish(session, attempt_id, AttemptOutcome.unknown)
                session.add(row)
                return "unknown"
            if waiting.unknown_outcomes == 0 and waiting.due_at < now - self.grace:
                # Never sent as far as this database knows (a restored copy, a process that
                # died before its call) and later than the grace: as after downtime, no burst
                # of old posts; a person decides.
                row.status = transition(transition(row.status, Event.found_absent), Event.overdue)
                row.next_attempt_at = None
                row.last_error = stored(msg("reason.absent_past_grace"))
                publication_alert(session, row, Event.overdue)
                session.add(row)
                self.attempts.finish(session, attempt_id, AttemptOutcome.checked_absent)
                return "missed"
            # Searched and absent: one more publish is safe.
            row.status = status_after(Event.found_absent)
            row.next_attempt_at = now
            row.last_error = stored(msg("reason.found_absent"))
            session.add(row)
            self.attempts.finish(session, attempt_id, AttemptOutcome.checked_absent)
        return "deferred"
