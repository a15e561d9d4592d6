"""Publishing one publication, and one dispatcher pass over everything due.

The database is the source of truth. A publication is claimed (``scheduled`` →
``publishing`` with a lease) before any HTTP call, no transaction is open during a call,
and the outcome is recorded afterwards in its own transaction. A call whose outcome is
unknown is never repeated blindly: the reconciler looks for the post on the platform first.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import requests
import requests.adapters
from sqlalchemy import Engine, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from scheduler.channels.base import (
    ChannelAccess,
    OutgoingPost,
    Publisher,
    PublishResult,
    TokenVault,
)
from scheduler.channels.registry import publisher_class
from scheduler.config import ChannelSettings, Settings
from scheduler.errors import (
    AuthError,
    DuplicateContent,
    PermanentError,
    PublishError,
    RateLimited,
    TransientError,
    UnknownOutcome,
)
from scheduler.models import (
    AttemptOutcome,
    ChannelState,
    ChannelStatus,
    Publication,
    PublicationStatus,
    PublishAttempt,
    SchedulerTick,
    utcnow,
)
from scheduler.posts.service import cover_url
from scheduler.store import (
    Claim,
    GroupCommit,
    acquire_lease,
    claim_due,
    holder_is_gone,
    lease_owner_id,
    release_lease,
    session_scope,
)

log = logging.getLogger("loa.publishing")

MAX_TRANSIENT_ATTEMPTS = 5
DEFAULT_RATE_LIMIT_PAUSE = timedelta(minutes=15)
# How long after an unknown outcome the platform is searched, and how far back.
RECONCILE_DELAY = timedelta(seconds=30)
RECONCILE_LOOKBACK = timedelta(minutes=10)
HOUSEKEEPING_LEASE = "housekeeping"


def channel_access(
    settings: Settings,
    channel: ChannelSettings,
    environ: Mapping[str, str] | None = None,
    stored: Mapping[str, str] | None = None,
) -> ChannelAccess:
    """Credentials for one channel: what the vault holds, the named variables, sandbox defaults.

    A Page token stored when the channel was reconnected is newer than the environment's.
    """
    environ = os.environ if environ is None else environ
    stored = stored or {}
    sandbox = channel.mode == "sandbox"

    def secret(name: str | None, sandbox_default: str) -> str | None:
        value = environ.get(name) if name else None
        return value or (sandbox_default if sandbox else None)

    return ChannelAccess(
        channel_id=channel.id,
        external_id=channel.external_id,
        api_base=settings.api_base(channel),
        oauth_base=settings.oauth_base(channel) if channel.platform == "zalo" else None,
        access_token=stored.get("access_token")
        or secret(channel.token_env, f"sandbox-page-token-{channel.external_id}"),
        app_id=channel.app_id or ("sandbox-app" if sandbox else None),
        app_secret=secret(channel.app_secret_env, "sandbox-app-secret"),
        initial_refresh_token=secret(channel.refresh_token_env, f"oa:{channel.external_id}:sandbox-seed"),
    )


@dataclass
class DispatchSummary:
    published: list[int] = field(default_factory=list)
    unknown: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    blocked: list[int] = field(default_factory=list)
    deferred: list[int] = field(default_factory=list)
    missed: list[int] = field(default_factory=list)
    reconciled: list[int] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {name: len(ids) for name, ids in self.__dict__.items()}

    def as_json(self) -> dict[str, object]:
        return {"counts": self.counts(), "publications": {k: v for k, v in self.__dict__.items() if v}}


def backoff(attempts: int, *, base: float = 30.0, cap: float = 3600.0) -> timedelta:
    """Exponential backoff with full jitter: spreads retries of many publications apart."""
    return timedelta(seconds=random.uniform(base / 2, min(cap, base * 2 ** max(0, attempts - 1))))


def _normalised(text: str | None) -> str:
    return " ".join(unicodedata.normalize("NFC", text or "").split())


class Dispatcher:
    """Publishes what is due. One instance per process; safe to run in several processes."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        vault: TokenVault,
        *,
        clock: Callable[[], datetime] = utcnow,
        environ: Mapping[str, str] | None = None,
        owner: str | None = None,
        one_shot: bool = False,
    ) -> None:
        self.settings = settings
        # A one-shot pass (`loa publish-due`) gives the housekeeping lease back when done.
        self.one_shot = one_shot
        self.engine = engine
        self.vault = vault
        self.clock = clock
        self.environ = os.environ if environ is None else environ
        self.owner = owner or lease_owner_id()
        self._writes = GroupCommit(engine)
        self._accesses: dict[str, ChannelAccess] = {}
        self._sessions: dict[str, requests.Session] = {}
        self._access_guard = threading.Lock()
        self._channel_slots: dict[str, threading.Semaphore] = defaultdict(
            lambda: threading.Semaphore(settings.publishing.per_channel_concurrency)
        )

    # -- one pass -------------------------------------------------------------------------

    def run_once(self) -> DispatchSummary:
        summary = DispatchSummary()
        now = self.clock()
        self._accesses.clear()  # credentials may have changed since the last pass (reconnect)
        # Housekeeping talks to platforms (the reconciler) and must not run twice at once:
        # one process at a time holds it, whichever host it is on.
        if self.hold_housekeeping(now):
            self._expire_leases(now)
            summary.missed = self._mark_missed(now)
            summary.blocked.extend(self._hold_blocked_channels(now))
            summary.reconciled = self._reconcile(now, summary)
        lease = timedelta(seconds=self.settings.publishing.lease_seconds)
        unavailable = self._unavailable_channels(now)
        publishing = self.settings.publishing
        workers = max(1, min(publishing.max_parallel, len(self.settings.channels) * publishing.per_channel_concurrency))
        # Keep every thread busy: claim more as soon as a quarter of them are free, rather
        # than waiting for a whole batch (one slow call would hold back the next claims).
        in_flight: set[Future[tuple[str, int]]] = set()
        exhausted = False
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="loa-publish") as pool:
            while True:
                free = workers - len(in_flight)
                if not exhausted and (free >= max(1, workers // 4) or not in_flight):
                    claimed = claim_due(
                        self.engine,
                        # The time of this claim, not of the pass: a long pass must not hand out
                        # leases that are already running out, and what fell due meanwhile goes too.
                        now=self.clock(),
                        owner=self.owner,
                        lease=lease,
                        limit=free,
                        exclude_channels=sorted(unavailable),
                    )
                    exhausted = not claimed
                    in_flight.update(pool.submit(self.publish_claimed, claim) for claim in claimed)
                if not in_flight:
                    break
                done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    outcome, publication_id = future.result()
                    getattr(summary, outcome).append(publication_id)
                    if outcome == "deferred":
                        unavailable = self._unavailable_channels(now)
        self._record_tick()
        if self.one_shot:
            self.release()
            self.close()
        return summary

    def hold_housekeeping(self, now: datetime) -> bool:
        """Take or extend the housekeeping lease; True while this process holds it."""
        ttl = timedelta(seconds=max(60, 3 * self.settings.publishing.tick_seconds))
        return acquire_lease(self.engine, HOUSEKEEPING_LEASE, owner=self.owner, ttl=ttl, now=now)

    def release(self) -> None:
        """Give up the housekeeping lease at a clean stop, so another worker takes over at once."""
        release_lease(self.engine, HOUSEKEEPING_LEASE, owner=self.owner)

    # -- one publication ------------------------------------------------------------------

    def publish_claimed(self, claim: Claim) -> tuple[str, int]:
        """Publish a publication this process has claimed; returns (summary bucket, id)."""
        channel = self.settings.channel(claim.channel_id)
        publication_id, attempt_id = claim.publication_id, claim.attempt_id
        try:
            outgoing = OutgoingPost(
                text=claim.text,
                title=claim.title,
                description=claim.description,
                link=claim.link,
                # Facebook receives the image itself; Zalo fetches it from Loa's public URL.
                cover_jpeg=self._cover_bytes(claim.cover_file)
                if channel.platform == "facebook" and claim.cover_file
                else None,
                cover_url=cover_url(self.settings, channel, claim.cover_file) if channel.platform == "zalo" else None,
            )
        except OSError as exc:  # the rendered cover is gone: nothing was sent
            missing = PermanentError(
                f"the cover image of this post cannot be read: {exc}", hint="queue the post again with its cover"
            )
            return self._record_failure(publication_id, attempt_id, channel, missing), publication_id
        with self._channel_slots[channel.id]:
            publisher = self.publisher(channel)
            try:
                result = publisher.publish(outgoing)
            except PublishError as exc:
                return self._record_failure(publication_id, attempt_id, channel, exc), publication_id
            except Exception as exc:  # a bug must not leave the row stuck in "publishing"
                log.exception("publication %s: unexpected error while publishing", publication_id)
                unknown = UnknownOutcome(f"internal error while publishing: {exc!r}", hint="check the page")
                return self._record_failure(publication_id, attempt_id, channel, unknown), publication_id
            finally:
                publisher.close()
        self._record_success(publication_id, attempt_id, result, AttemptOutcome.published)
        return "published", publication_id

    def _cover_bytes(self, name: str) -> bytes:
        return (self.settings.media_path / name).read_bytes()

    def _access(self, channel: ChannelSettings) -> ChannelAccess:
        """One vault read per channel per pass, not one per publication."""
        with self._access_guard:
            access = self._accesses.get(channel.id)
            if access is None:
                stored = self.vault.load(channel.id) if channel.platform == "facebook" else None
                access = channel_access(self.settings, channel, self.environ, stored)
                self._accesses[channel.id] = access
            return access

    def _session(self, channel_id: str) -> requests.Session:
        """One HTTP session per channel: its publications reuse kept-alive connections."""
        with self._access_guard:
            session = self._sessions.get(channel_id)
            if session is None:
                session = requests.Session()
                size = self.settings.publishing.per_channel_concurrency
                adapter = requests.adapters.HTTPAdapter(pool_connections=2, pool_maxsize=size)
                session.mount("https://", adapter)
                session.mount("http://", adapter)
                self._sessions[channel_id] = session
            return session

    def close(self) -> None:
        """Close the kept-alive connections (end of a process)."""
        with self._access_guard:
            for session in self._sessions.values():
                session.close()
            self._sessions.clear()

    def publisher(self, channel: ChannelSettings) -> Publisher:
        cls = publisher_class(channel.platform)
        publishing = self.settings.publishing
        options: dict[str, object] = {}
        if channel.platform == "zalo":
            options = {
                "verify_polls": publishing.zalo_verify_polls,
                "verify_interval": publishing.zalo_verify_interval_seconds,
                "author": channel.name,
            }
        return cls(
            self._access(channel),
            vault=self.vault,
            timeout=publishing.request_timeout_seconds,
            session=self._session(channel.id),
            **options,
        )

    # -- recording ------------------------------------------------------------------------

    def _start_attempt(self, publication_id: int) -> int:
        with session_scope(self.engine) as session:
            attempt = PublishAttempt(publication_id=publication_id, started_at=self.clock())
            session.add(attempt)
            session.flush()
            assert attempt.id is not None
            return attempt.id

    def _finish_attempt(
        self, session: Session, attempt_id: int, outcome: AttemptOutcome, error: PublishError | None = None
    ) -> None:
        # A plain UPDATE: no read first, the attempt row only gains its ending.
        values: dict[str, object] = {"finished_at": self.clock(), "outcome": outcome}
        if error is not None:
            values["error_code"] = error.code_label
            values["error_message"] = str(error)
        session.execute(update(PublishAttempt).where(col(PublishAttempt.id) == attempt_id).values(**values))

    def _record_success(
        self, publication_id: int, attempt_id: int, result: PublishResult, outcome: AttemptOutcome
    ) -> None:

        def write(session: Session) -> None:
            # Plain UPDATEs: the hot path of a burst, where every write waits for one commit.
            session.execute(
                update(Publication)
                .where(col(Publication.id) == publication_id)
                .values(
                    status=PublicationStatus.published,
                    remote_id=result.remote_id,
                    permalink=result.permalink,
                    published_at=result.published_at or self.clock(),
                    lease_owner=None,
                    lease_until=None,
                    last_error=None,
                    updated_at=utcnow(),
                )
            )
            self._finish_attempt(session, attempt_id, outcome)

        self._writes.run(write)
        log.info("publication %s published as %s", publication_id, result.remote_id)

    def _record_failure(
        self, publication_id: int, attempt_id: int, channel: ChannelSettings, error: PublishError
    ) -> str:
        now = self.clock()
        if isinstance(error, DuplicateContent) and self._had_unknown_outcome(publication_id):
            # Facebook 506 after a lost reply: the first attempt got through. Find it.
            return self._reconcile_one(publication_id, attempt_id, channel, now, duplicate_seen=True)

        def write(session: Session) -> str:
            publication = session.get(Publication, publication_id)
            assert publication is not None
            state = session.get(ChannelState, channel.id)
            assert state is not None
            publication.lease_owner = None
            publication.lease_until = None
            publication.updated_at = utcnow()
            publication.last_error = str(error)
            if isinstance(error, UnknownOutcome):
                publication.status = PublicationStatus.unknown
                publication.next_attempt_at = now + RECONCILE_DELAY
                bucket, outcome = "unknown", AttemptOutcome.unknown
            elif isinstance(error, AuthError):
                publication.status = PublicationStatus.blocked
                state.status = ChannelStatus.needs_reauth
                bucket, outcome = "blocked", AttemptOutcome.auth_error
            elif isinstance(error, RateLimited):
                pause = timedelta(seconds=error.retry_after) if error.retry_after else DEFAULT_RATE_LIMIT_PAUSE
                publication.status = PublicationStatus.scheduled
                publication.next_attempt_at = now + pause
                publication.attempts = max(0, publication.attempts - 1)  # a throttle is not the post's fault
                state.status = ChannelStatus.paused
                state.paused_until = now + pause
                bucket, outcome = "deferred", AttemptOutcome.rate_limited
            elif isinstance(error, TransientError) and publication.attempts < MAX_TRANSIENT_ATTEMPTS:
                delay = timedelta(seconds=error.retry_after) if error.retry_after else backoff(publication.attempts)
                publication.status = PublicationStatus.scheduled
                publication.next_attempt_at = now + delay
                bucket, outcome = "deferred", AttemptOutcome.transient_error
            else:
                publication.status = PublicationStatus.failed
                bucket = "failed"
                outcome = (
                    AttemptOutcome.transient_error
                    if isinstance(error, TransientError)
                    else AttemptOutcome.permanent_error
                )
            if not isinstance(error, PermanentError | UnknownOutcome):
                state.last_error = str(error)
                state.last_error_at = now
            session.add_all([publication, state])
            self._finish_attempt(session, attempt_id, outcome, error)
            return bucket

        bucket = self._writes.run(write)
        log.warning("publication %s: %s (%s)", publication_id, bucket, error.message)
        return bucket

    def _had_unknown_outcome(self, publication_id: int) -> bool:
        with session_scope(self.engine, read_only=True) as session:
            return (
                session.exec(
                    select(PublishAttempt.id).where(
                        PublishAttempt.publication_id == publication_id,
                        PublishAttempt.outcome == AttemptOutcome.unknown,
                    )
                ).first()
                is not None
            )

    # -- housekeeping ---------------------------------------------------------------------

    def _expire_leases(self, now: datetime) -> None:
        """A lease that ran out, or whose process is gone, means the call may have happened."""
        with session_scope(self.engine) as session:
            rows = session.exec(select(Publication).where(Publication.status == PublicationStatus.publishing))
            for row in rows:
                expired = row.lease_until is None or row.lease_until < now
                if not expired and not holder_is_gone(row.lease_owner or ""):
                    continue
                row.status = PublicationStatus.unknown
                row.last_error = "the publishing process stopped during the call; checking the platform"
                row.lease_owner = None
                row.lease_until = None
                row.next_attempt_at = now
                row.updated_at = utcnow()
                session.add(row)

    def _mark_missed(self, now: datetime) -> list[int]:
        """Never a burst of old posts after downtime: beyond the grace they wait for a person."""
        cutoff = now - timedelta(minutes=self.settings.publishing.grace_minutes)
        with session_scope(self.engine) as session:
            rows = list(
                session.exec(
                    select(Publication).where(
                        Publication.status == PublicationStatus.scheduled,
                        Publication.due_at < cutoff,
                        col(Publication.next_attempt_at).is_(None),
                    )
                )
            )
            for row in rows:
                local = row.due_at.astimezone(self.settings.tz).strftime("%d/%m/%Y %H:%M")
                row.status = PublicationStatus.missed
                row.last_error = (
                    f"not published: it was due at {local}, more than "
                    f"{self.settings.publishing.grace_minutes} minutes ago, while Loa was not running"
                )
                row.updated_at = utcnow()
                session.add(row)
            return [row.id for row in rows if row.id is not None]

    def _unavailable_channels(self, now: datetime) -> set[str]:
        with session_scope(self.engine) as session:
            unavailable: set[str] = set()
            for state in session.exec(select(ChannelState)):
                if state.status == ChannelStatus.paused and state.paused_until and state.paused_until <= now:
                    state.status = ChannelStatus.ok
                    state.paused_until = None
                    session.add(state)
                if state.status != ChannelStatus.ok:
                    unavailable.add(state.id)
            return unavailable

    def _hold_blocked_channels(self, now: datetime) -> list[int]:
        with session_scope(self.engine) as session:
            reauth = [
                s.id
                for s in session.exec(select(ChannelState).where(ChannelState.status == ChannelStatus.needs_reauth))
            ]
            if not reauth:
                return []
            rows = list(
                session.exec(
                    select(Publication).where(
                        Publication.status == PublicationStatus.scheduled,
                        col(Publication.channel_id).in_(reauth),
                        Publication.due_at <= now,
                    )
                )
            )
            for row in rows:
                row.status = PublicationStatus.blocked
                row.last_error = f"channel {row.channel_id} must be reconnected before it can publish"
                row.updated_at = utcnow()
                session.add(row)
            return [row.id for row in rows if row.id is not None]

    def _record_tick(self) -> None:
        for _ in range(2):  # the first pass of two workers at once: one inserts, one updates
            try:
                with session_scope(self.engine) as session:
                    tick = session.get(SchedulerTick, "dispatcher") or SchedulerTick(role="dispatcher", at=utcnow())
                    tick.at = utcnow()
                    session.add(tick)
                return
            except IntegrityError:
                continue

    # -- reconciliation -------------------------------------------------------------------

    def _reconcile(self, now: datetime, summary: DispatchSummary) -> list[int]:
        with session_scope(self.engine, read_only=True) as session:
            pending = list(
                session.exec(
                    # An unknown outcome left for a person has no next_attempt_at: not ours.
                    select(Publication.id).where(
                        Publication.status == PublicationStatus.unknown,
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
            attempt_id = self._start_attempt(publication_id)
            bucket = self._reconcile_one(publication_id, attempt_id, channel, now)
            if bucket == "published":
                reconciled.append(publication_id)
            elif bucket != "unknown":
                getattr(summary, bucket).append(publication_id)
        return reconciled

    def _reconcile_one(
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
        publisher = self.publisher(channel)
        try:
            found = publisher.find_recent(since=since)
        except PublishError as exc:
            with session_scope(self.engine) as session:
                row = session.get(Publication, publication_id)
                assert row is not None
                row.status = PublicationStatus.unknown
                row.next_attempt_at = now + backoff(unknown_count + 1)
                row.last_error = f"could not check the platform yet: {exc.message}"
                row.lease_owner = row.lease_until = None
                session.add(row)
                if isinstance(exc, AuthError):
                    state = session.get(ChannelState, channel.id)
                    assert state is not None
                    state.status = ChannelStatus.needs_reauth
                    state.last_error = str(exc)
                    state.last_error_at = now
                    session.add(state)
                self._finish_attempt(session, attempt_id, AttemptOutcome.check_failed, exc)
            return "unknown"
        finally:
            publisher.close()
        wanted = {_normalised(publication.text), _normalised(publication.title)} - {""}
        match = next((p for p in found if _normalised(p.text) in wanted), None)
        if match is not None:
            result = PublishResult(remote_id=match.remote_id, permalink=match.permalink, published_at=match.created_at)
            self._record_success(publication_id, attempt_id, result, AttemptOutcome.reconciled)
            return "published"
        with session_scope(self.engine) as session:
            row = session.get(Publication, publication_id)
            assert row is not None
            row.lease_owner = row.lease_until = None
            row.updated_at = utcnow()
            if duplicate_seen or unknown_count >= 2:
                # The platform says it has the post but we cannot see it, or a second
                # attempt was lost too: only a person can tell now.
                row.status = PublicationStatus.unknown
                row.next_attempt_at = None
                row.last_error = "Loa cannot tell whether this post went out: check the page, then confirm or retry it"
                self._finish_attempt(session, attempt_id, AttemptOutcome.unknown)
                session.add(row)
                return "unknown"
            # Searched and absent: one more publish is safe.
            row.status = PublicationStatus.scheduled
            row.next_attempt_at = now
            row.last_error = "not found on the platform after an unknown outcome; publishing again"
            session.add(row)
            self._finish_attempt(session, attempt_id, AttemptOutcome.checked_absent)
        return "deferred"
