"""Publishing one publication, and one dispatcher pass over everything due.

The database is the source of truth. A publication is claimed (``scheduled`` →
``publishing`` with a lease) before any HTTP call, no transaction is open during a call,
and the outcome is recorded afterwards in its own transaction. A call whose outcome is
unknown is never repeated blindly: the reconciler looks for the post on the platform first.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from scheduler.alerts.events import channel_alert, publication_alert
from scheduler.channels.base import (
    MediaFile,
    OutgoingPost,
    TokenVault,
)
from scheduler.channels.catalog import find_channel
from scheduler.channels.factory import PublisherFactory
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
    stored_error,
)
from scheduler.i18n import msg, process_text
from scheduler.media.library import publication_media, publications_media
from scheduler.models import (
    AttemptOutcome,
    ChannelState,
    ChannelStatus,
    Publication,
    utcnow,
)
from scheduler.posts.service import cover_url
from scheduler.publishing.housekeeping import (
    ONE_SHOT_ROLE,
    check_overdue,
    expire_leases,
    hand_back,
    hold_blocked_channels,
    hold_housekeeping,
    mark_missed,
    record_tick,
    release_housekeeping,
    unavailable_channels,
)
from scheduler.publishing.outcomes import Event, status_after
from scheduler.publishing.reconcile import RECONCILE_DELAY, ChannelChecks, Reconciler
from scheduler.publishing.recording import AttemptLog, DispatchSummary, backoff
from scheduler.publishing.steps import DatabaseSteps
from scheduler.schema import current_revision, head_revision
from scheduler.store import (
    Claim,
    claim_due,
    lease_owner_id,
)

log = logging.getLogger("loa.publishing")

MAX_TRANSIENT_ATTEMPTS = 5
DEFAULT_RATE_LIMIT_PAUSE = timedelta(minutes=15)


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
        role: str | None = None,
    ) -> None:
        self.settings = settings
        # A one-shot pass (`loa publish-due`) gives the housekeeping lease back when done.
        self.one_shot = one_shot
        self.engine = engine
        self.vault = vault
        self.clock = clock
        self.owner = owner or lease_owner_id()
        # Whose health a tick tells: `loa run`, `loa worker` or `loa publish-due` (one row per host).
        self.role = role or (ONE_SHOT_ROLE if one_shot else "worker")
        self._stopping = threading.Event()
        self.publishers = PublisherFactory(settings, vault, environ=environ)
        self.attempts = AttemptLog(engine, clock)
        self.reconciler = Reconciler(settings, engine, self.publishers, self.attempts)
        self._schema_warned: str | None = None
        # Pauses asked for by successful replies (usage headers), until the channel's row says so
        # too: publications of that channel already claimed in this pass must wait as well.
        self._held_until: dict[str, datetime] = {}
        self._channel_slots: dict[str, threading.Semaphore] = defaultdict(
            lambda: threading.Semaphore(settings.publishing.per_channel_concurrency)
        )

    # -- one pass -------------------------------------------------------------------------

    def _schema_matches(self) -> bool:
        """A running process stops claiming once another Loa has upgraded the database under it."""
        # The table list and the script directory were checked at start (`require_current`);
        # a pass only re-reads the stamp.
        current, head = current_revision(self.engine), head_revision()
        if current == head:
            self._schema_warned = None
            return True
        if self._schema_warned != current:
            log.error(
                "the database's schema is now %s, this process was written for %s: it publishes "
                "nothing until it is restarted with the matching Loa version",
                current or "0.1",
                head,
            )
            self._schema_warned = current
        return False


    def run_once(self) -> DispatchSummary:
        summary = DispatchSummary()
        if self._stopping.is_set() or not self._schema_matches():
            return summary
        now = self.clock()
        self.publishers.forget_credentials()  # credentials may have changed since the last pass (reconnect)
        self._held_until.clear()  # across passes the channel's row holds the pause (a person may lift it)
        # Housekeeping talks to platforms (the reconciler) and must not run twice at once:
        # one process at a time holds it, whichever host it is on.
        checks: dict[str, list[int]] = {}
        if self.hold_housekeeping(now):
            expire_leases(self.engine, now)
            summary.missed = mark_missed(self.engine, self.settings, now)
            check_overdue(self.engine, self.settings, now)
            summary.blocked.extend(hold_blocked_channels(self.engine, now))
            checks = self.reconciler.pending(now)
        lease = timedelta(seconds=self.settings.publishing.lease_seconds)
        publishing = self.settings.publishing
        check_window = timedelta(minutes=publishing.check_overdue_minutes)
        unavailable = unavailable_channels(self.engine, now)
        workers = max(1, min(publishing.max_parallel, len(self.settings.channels) * publishing.per_channel_concurrency))
        # Keep every thread busy: claim more as soon as a quarter of them are free, rather
        # than waiting for a whole batch (one slow call would hold back the next claims).
        in_flight: set[Future[tuple[str, int]]] = set()
        exhausted = False
        handed_back = 0
        # Each channel's platform search runs in a thread of its own beside the publishing
        # threads: a slow or failing platform holds back no other channel's posts.
        # Finished calls arrive on a queue: waiting on the set of every call in flight would cost
        # a look at all of them (up to max_parallel) for each one that ends.
        finished: queue.SimpleQueue[Future[Any]] = queue.SimpleQueue()
        with ThreadPoolExecutor(max_workers=workers + len(checks), thread_name_prefix="loa-publish") as pool:

            def submit(fn: Callable[..., Any], *args: Any) -> Future[Any]:
                future = pool.submit(fn, *args)
                future.add_done_callback(finished.put)
                return future

            searching: set[Future[ChannelChecks]] = {
                submit(self._reconcile_channel, channel_id, ids, now) for channel_id, ids in checks.items()
            }
            while True:
                free = workers - len(in_flight)
                if self._stopping.is_set():
                    exhausted = True  # a stop claims nothing more; what is in flight finishes
                if not exhausted and (free >= max(1, workers // 4) or not in_flight):
                    claimed = claim_due(
                        self.engine,
                        # The time of this claim, not of the pass: a long pass must not hand out
                        # leases that are already running out, and what fell due meanwhile goes too.
                        now=self.clock(),
                        owner=self.owner,
                        lease=lease,
                        limit=free,
                        exclude_channels=sorted(unavailable | self._held_channels()),
                        # What housekeeping would have sent to be checked first at the start of
                        # the pass is never claimed blind (another process may be the housekeeper).
                        check_before=now - check_window,
                    )
                    exhausted = not claimed
                    # The claim's photos and videos in one read, not one per publication.
                    media = publications_media(self.engine, self.settings, [c.publication_id for c in claimed])
                    in_flight.update(
                        submit(self.publish_claimed, claim, media[claim.publication_id]) for claim in claimed
                    )
                if not in_flight and not searching:
                    break
                done = [finished.get()]
                while True:
                    try:
                        done.append(finished.get_nowait())
                    except queue.Empty:
                        break
                for future in done:
                    if future in searching:
                        searching.discard(future)
                        result: ChannelChecks = future.result()
                        summary.reconciled.extend(result.published)
                        summary.deferred.extend(result.deferred)
                        summary.missed.extend(result.missed)
                        if result.deferred:  # surely absent: publish once more, in this pass
                            exhausted = False
                        continue
                    in_flight.discard(future)
                    outcome, publication_id = future.result()
                    if outcome == "handed_back":
                        handed_back += 1
                        continue
                    getattr(summary, outcome).append(publication_id)
                    if outcome == "deferred":
                        unavailable = unavailable_channels(self.engine, now)
        if handed_back:
            log.info(process_text("log.handed_back", count=handed_back))
        record_tick(self.engine, self.role, self._tick_instance(), self.clock())
        if self.one_shot:
            self.release()
            self.close()
        return summary

    def _reconcile_channel(self, channel_id: str, ids: list[int], now: datetime) -> ChannelChecks:
        try:
            return self.reconciler.reconcile_channel(channel_id, ids, now)
        except Exception:  # a bug in one channel's check must not stop the pass or the others
            log.exception("checking channel %s on the platform failed; the next pass tries again", channel_id)
            return ChannelChecks(channel_id)

    def hold_housekeeping(self, now: datetime) -> bool:
        """Take or extend the housekeeping lease; True while this process holds it."""
        return hold_housekeeping(self.engine, self.settings, self.owner, now)

    def stop(self) -> None:
        """Claim nothing more; claims not yet started are handed back (a process stopping)."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def _tick_instance(self) -> str:
        # A cron job's processes follow one another: one row per host, not one per run.
        return self.owner.partition(":")[0] if self.role == ONE_SHOT_ROLE else self.owner

    def release(self) -> None:
        """Give up the housekeeping lease at a clean stop, so another worker takes over at once."""
        release_housekeeping(self.engine, self.owner)

    # -- one publication ------------------------------------------------------------------

    def publish_claimed(self, claim: Claim, media: tuple[MediaFile, ...] | None = None) -> tuple[str, int]:
        """Publish a publication this process has claimed; returns (summary bucket, id).

        ``media``: what the publication shows, when the caller read it with its claim.
        """
        outcome, publication_id = self._publish_claimed(claim, media)
        if outcome != "handed_back":
            from scheduler.operations.metrics import operations_metrics

            channel = find_channel(self.engine, self.settings, claim.channel_id)
            late = (self.clock() - claim.due_at).total_seconds() if claim.due_at and outcome == "published" else None
            operations_metrics().publication_done(channel.platform, outcome, late)
        return outcome, publication_id

    def _publish_claimed(self, claim: Claim, media: tuple[MediaFile, ...] | None = None) -> tuple[str, int]:
        channel = find_channel(self.engine, self.settings, claim.channel_id)
        publication_id, attempt_id = claim.publication_id, claim.attempt_id
        by_url = publisher_class(channel.platform).cover_by_url
        try:
            outgoing = OutgoingPost(
                text=claim.text,
                title=claim.title,
                description=claim.description,
                link=claim.link,
                # Some platforms receive the image itself, others fetch it from Loa's public URL.
                cover_jpeg=self._cover_bytes(claim.cover_file) if not by_url and claim.cover_file else None,
                cover_url=cover_url(self.settings, channel, claim.cover_file) if by_url else None,
                media=publication_media(self.engine, self.settings, publication_id) if media is None else media,
                cover_chosen=claim.cover_file is not None,
                steps=DatabaseSteps(self.engine, publication_id),
            )
        except OSError as exc:  # the rendered cover is gone: nothing was sent
            missing = PermanentError(msg("error.cover_unreadable", reason=str(exc)), hint=msg("hint.queue_again_cover"))
            return self._record_failure(publication_id, attempt_id, channel, missing), publication_id
        if self._stopping.is_set():
            return self._hand_back(claim), publication_id
        with self._channel_slots[channel.id]:
            if self._stopping.is_set():  # it waited for its channel's slot: not started yet
                return self._hand_back(claim), publication_id
            held = self._held_until.get(channel.id)
            if held is not None and held > self.clock():
                wait_s = (held - self.clock()).total_seconds()
                throttled = RateLimited(msg("publishing.held_by_quota"), retry_after=wait_s, platform=channel.platform)
                return self._record_failure(publication_id, attempt_id, channel, throttled), publication_id
            publisher = self.publishers.build(channel)
            try:
                result = publisher.publish(outgoing)
            except PublishError as exc:
                return self._record_failure(publication_id, attempt_id, channel, exc), publication_id
            except Exception as exc:  # a bug must not leave the row stuck in "publishing"
                log.exception("publication %s: unexpected error while publishing", publication_id)
                internal = msg("error.internal_publishing", reason=repr(exc))
                unknown = UnknownOutcome(internal, hint=msg("hint.check_page"))
                return self._record_failure(publication_id, attempt_id, channel, unknown), publication_id
            finally:
                publisher.close()
            if result.pause_seconds:  # before the slot is free: the next publication must see it
                self._held_until[channel.id] = self.clock() + timedelta(seconds=result.pause_seconds)
        self.attempts.record_success(
            publication_id, attempt_id, result, AttemptOutcome.published, channel_id=channel.id
        )
        return "published", publication_id

    def _held_channels(self) -> set[str]:
        now = self.clock()
        return {channel_id for channel_id, until in self._held_until.items() if until > now}

    def _hand_back(self, claim: Claim) -> str:
        """A claim whose call never started goes back to the queue as if never claimed."""
        hand_back(self.engine, claim.publication_id, claim.attempt_id, self.owner)
        return "handed_back"

    def _cover_bytes(self, name: str) -> bytes:
        return (self.settings.media_path / name).read_bytes()

    def close(self) -> None:
        """Close the kept-alive connections (end of a process)."""
        self.publishers.close()

    # -- recording ------------------------------------------------------------------------

    def _record_failure(
        self, publication_id: int, attempt_id: int, channel: ChannelSettings, error: PublishError
    ) -> str:
        now = self.clock()
        if isinstance(error, DuplicateContent) and self.attempts.had_unknown_outcome(publication_id):
            # Facebook 506 after a lost reply: the first attempt got through. Find it.
            return self.reconciler.reconcile_one(publication_id, attempt_id, channel, now, duplicate_seen=True)

        def write(session: Session) -> str:
            publication = session.get(Publication, publication_id)
            assert publication is not None
            state = session.get(ChannelState, channel.id)
            assert state is not None
            publication.lease_owner = None
            publication.lease_until = None
            publication.updated_at = utcnow()
            publication.last_error = stored_error(error)
            if isinstance(error, UnknownOutcome):
                publication.status = status_after(Event.outcome_unknown)
                publication.next_attempt_at = now + RECONCILE_DELAY
                bucket, outcome = "unknown", AttemptOutcome.unknown
            elif isinstance(error, AuthError):
                publication.status = status_after(Event.auth_refused)
                publication_alert(session, publication, Event.auth_refused)
                if state.status != ChannelStatus.needs_reauth:
                    channel_alert(session, "channel.needs_reauth", channel.id, reason=stored_error(error))
                state.status = ChannelStatus.needs_reauth
                bucket, outcome = "blocked", AttemptOutcome.auth_error
            elif isinstance(error, RateLimited):
                pause = timedelta(seconds=error.retry_after) if error.retry_after else DEFAULT_RATE_LIMIT_PAUSE
                publication.status = status_after(Event.throttled)
                publication.next_attempt_at = now + pause
                publication.attempts = max(0, publication.attempts - 1)  # a throttle is not the post's fault
                state.status = ChannelStatus.paused
                state.paused_until = now + pause
                bucket, outcome = "deferred", AttemptOutcome.rate_limited
            elif isinstance(error, TransientError) and publication.attempts < MAX_TRANSIENT_ATTEMPTS:
                delay = timedelta(seconds=error.retry_after) if error.retry_after else backoff(publication.attempts)
                publication.status = status_after(Event.failed_transiently)
                publication.next_attempt_at = now + delay
                bucket, outcome = "deferred", AttemptOutcome.transient_error
            else:
                publication.status = status_after(Event.failed)
                publication_alert(session, publication, Event.failed)
                bucket = "failed"
                outcome = (
                    AttemptOutcome.transient_error
                    if isinstance(error, TransientError)
                    else AttemptOutcome.permanent_error
                )
            if not isinstance(error, PermanentError | UnknownOutcome):
                state.last_error = stored_error(error)
                state.last_error_at = now
            session.add_all([publication, state])
            self.attempts.finish(session, attempt_id, outcome, error)
            return bucket

        bucket = self.attempts.writes.run(write)
        log.warning("publication %s: %s (%s)", publication_id, bucket, error.message)
        return bucket

