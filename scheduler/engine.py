"""The alarm clock that wakes the dispatcher, on the monotonic clock.

The database is the source of truth; the engine holds no job per post. The ``dispatch``
alarm rings at the next due time and at least every ``publishing.tick_seconds`` (the safety
sweep); token renewal and metrics ring on their own intervals. Every wait is counted in
monotonic seconds (a wall time is turned into a delay when it is armed, and a delay is never
longer than a tick), so moving the host's clock back or forward cannot stall the engine or
make it catch up on runs it "missed": APScheduler 3 computes run times from the wall clock,
and a jump to 2200 had it list every ten-minute run until then. What time it is comes from a
:class:`~scheduler.clock.TrustedClock`, which believes a jump forward only once it is
confirmed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine, func
from sqlmodel import col, select

from scheduler.channels.base import TokenVault
from scheduler.clock import TrustedClock
from scheduler.config import Settings
from scheduler.metrics.collector import MetricsCollector
from scheduler.models import Publication, PublicationStatus, utcnow
from scheduler.publishing.dispatcher import Dispatcher
from scheduler.publishing.recording import DispatchSummary
from scheduler.publishing.signals import QueueSignal
from scheduler.store import session_scope

log = logging.getLogger("loa.engine")

DISPATCH_JOB = "dispatch"
TOKENS_JOB = "refresh-tokens"
TOKENS_EVERY = timedelta(minutes=10)
METRICS_JOB = "collect-metrics"
ALERTS_JOB = "deliver-alerts"
# The first metrics pass waits a little: at start-up the dispatcher's catch-up comes first.
METRICS_FIRST_DELAY = timedelta(minutes=1)
RETRY_AFTER_ERROR = 30.0  # seconds, for a job without an interval of its own
# Rows changed this long before the last pass began are looked at again when the queue
# changes: the wall clocks of the processes writing them may differ a little.
CHANGE_MARGIN = timedelta(seconds=2)
BACKUP_JOB = "backup"
# The backup alarm looks at least this often: a copy deleted by hand is made again soon.
BACKUP_LOOK_EVERY = timedelta(hours=1)


class Alarm:
    """Runs ``job`` in its own thread each time its monotonic deadline passes.

    The job returns the delay until its next run, in seconds. ``wake()`` brings the next
    run forward; a wake that comes while the job runs makes it run again right after.
    """

    def __init__(
        self, name: str, job: Callable[[], float], *, first_delay: float, every: timedelta | None = None
    ) -> None:
        self.name = name
        self.every = every  # the fixed interval, when the job has one
        self._job = job
        self._cond = threading.Condition()
        self._deadline = time.monotonic() + first_delay
        self._woken = False
        self._running = False
        self._requested = float("inf")  # a deadline asked for while the job ran
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name=f"loa-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        with self._cond:
            self._woken = True
            self._deadline = min(self._deadline, time.monotonic())
            self._cond.notify()

    def bring_forward(self, delay: float) -> None:
        """Run no later than ``delay`` seconds from now (an earlier deadline stays)."""
        with self._cond:
            at = time.monotonic() + max(0.0, delay)
            if self._running:  # the run in progress sets the next deadline when it ends
                self._requested = min(self._requested, at)
            else:
                self._deadline = min(self._deadline, at)
                self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the run in progress, if any; True once the thread has ended."""
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and (left := self._deadline - time.monotonic()) > 0:
                    self._cond.wait(left)
                if self._stopping:
                    return
                self._woken = False
                self._running = True
            try:
                delay = self._job()
            except Exception:  # the thread must live on: a dead alarm would stop the engine silently
                delay = self.every.total_seconds() if self.every else RETRY_AFTER_ERROR
                log.exception("%s failed; it runs again in %.0f s", self.name, delay)
            with self._cond:
                self._running = False
                self._deadline = min(time.monotonic() + (0.0 if self._woken else max(0.0, delay)), self._requested)
                self._requested = float("inf")


class PublishingEngine:
    """The alarms of a `loa run` or `loa worker` process, around its dispatcher."""

    def __init__(self, settings: Settings, engine: Engine, vault: TokenVault, *, role: str = "worker") -> None:
        from scheduler.store import is_sqlite

        self.settings = settings
        self.engine = engine
        self.clock = TrustedClock(confirm_after=settings.publishing.clock_jump_confirm_seconds)
        self.dispatcher = Dispatcher(settings, engine, vault, clock=self.clock.now, role=role)
        self.role = role
        self._lock = threading.Lock()
        self._stopping = False
        self.last_summary: DispatchSummary | None = None
        publishers = self.dispatcher.publishers
        self.collector = (
            MetricsCollector(settings, engine, vault, publishers=publishers) if settings.metrics.enabled else None
        )
        # When the last pass began (this host's wall clock, as `updated_at` is written): rows
        # changed before it were seen by that pass, and its alarm already allows for them.
        self._pass_began = utcnow()
        self.signal = QueueSignal(engine, self._queue_changed)
        self.alarms: dict[str, Alarm] = {
            DISPATCH_JOB: Alarm(DISPATCH_JOB, self._dispatch, first_delay=0),
            TOKENS_JOB: Alarm(TOKENS_JOB, self._refresh_tokens, first_delay=0, every=TOKENS_EVERY),
        }
        from scheduler.alerts.outbox import Deliverer

        self.deliverer = Deliverer(settings, engine, owner=self.dispatcher.owner)
        self.vault = vault
        self.alarms[ALERTS_JOB] = Alarm(
            ALERTS_JOB,
            self._deliver_alerts,
            first_delay=0,
            every=timedelta(seconds=settings.alerts.deliver_every_seconds),
        )
        if self.collector is not None:
            every = timedelta(minutes=settings.metrics.tick_minutes)
            self.alarms[METRICS_JOB] = Alarm(
                METRICS_JOB, self._collect_metrics, first_delay=METRICS_FIRST_DELAY.total_seconds(), every=every
            )
        # One `loa run` per SQLite file, so it alone makes the scheduled copies.
        if role == "run" and settings.backups.enabled and is_sqlite(engine):
            self.alarms[BACKUP_JOB] = Alarm(BACKUP_JOB, self._backup, first_delay=0, every=BACKUP_LOOK_EVERY)

    @property
    def instance(self) -> str:
        """The name this process's ticks and leases carry (host:pid:random)."""
        return self.dispatcher.owner

    def start(self) -> None:
        for alarm in self.alarms.values():
            alarm.start()
        self.signal.start()

    def shutdown(self) -> None:
        """Stop at once: no new claims, the calls in flight finish, the rest is handed back."""
        self._stopping = True
        self.dispatcher.stop()
        self.signal.stop()
        for alarm in self.alarms.values():
            alarm.stop()
        self.alarms[DISPATCH_JOB].join()  # the pass in progress hands back what it has not started
        self.signal.join(timeout=2.0)
        # A token renewal is waited for (the new token must be saved); a metrics pass only
        # for as long as one call may take: its snapshots are written call by call.
        self.alarms[TOKENS_JOB].join()
        if METRICS_JOB in self.alarms:
            self.alarms[METRICS_JOB].join(timeout=self.settings.publishing.request_timeout_seconds)
        # A message being sent is finished or, if the server is slow, left to the next holder:
        # its row is marked as claimed by this process, which is then gone.
        self.alarms[ALERTS_JOB].join(timeout=self.settings.mail.timeout_seconds)
        if BACKUP_JOB in self.alarms:
            self.alarms[BACKUP_JOB].join()  # a copy half-written is only a .part file, but finish it
        self.dispatcher.release()
        self.dispatcher.close()

    def _refresh_tokens(self) -> float:
        from scheduler.channels.health import run_checks
        from scheduler.channels.tokens import refresh_due_tokens
        from scheduler.secrets import DatabaseTokenVault

        every = TOKENS_EVERY.total_seconds()
        # Time-based work runs in one process at a time: the holder of the housekeeping lease.
        if self._stopping or self._clock_in_doubt() or not self.dispatcher.hold_housekeeping(self.clock.now()):
            return every
        try:
            renewed = refresh_due_tokens(self.settings, self.engine, self.dispatcher.publishers)
            if renewed:
                log.info("renewed Zalo tokens of %s", ", ".join(renewed))
            vault = self.dispatcher.publishers.vault
            if isinstance(vault, DatabaseTokenVault):
                # The daily token check, and the pre-flight an hour before each channel's next post.
                run_checks(self.settings, self.engine, vault)
        except Exception:
            log.exception("token renewal failed; it runs again in %s", TOKENS_EVERY)
        return every

    def _deliver_alerts(self) -> float:
        """The outbox (scheduler/alerts/outbox.py), the digest and expiring credentials; lease holder only."""
        from scheduler.alerts.watch import raise_digest, raise_new_posts, raise_token_expiry

        every = float(self.settings.alerts.deliver_every_seconds)
        # A stopping dispatcher means a process on its way out: its messages go to the next holder.
        if self._stopping or self.dispatcher.stopping or not self.dispatcher.hold_housekeeping(self.clock.now()):
            return every
        if not self._clock_in_doubt():  # a mistaken 2200 must not raise the digest of a day to come
            try:
                raise_digest(self.settings, self.engine, self.clock.now())
                raise_token_expiry(self.settings, self.engine, self.vault, self.clock.now())
                raise_new_posts(self.settings, self.engine, self.clock.now())
                from scheduler.reports.delivery import queue_due_reports

                queue_due_reports(self.engine, self.settings, self.clock.now())  # on [reports] email_day
            except Exception:
                log.exception("the digest or the credential check failed; it runs again in %.0f s", every)
        counts = {k: v for k, v in self.deliverer.run_once().counts().items() if v}
        if counts:
            log.info("alerts: %s", counts)
        return every

    def _collect_metrics(self) -> float:
        """Poll what the metrics schedule says is due (scheduler.metrics.collector); housekeeping holder only."""
        every = self.settings.metrics.tick_minutes * 60.0
        if self.collector is None or self._stopping or self._clock_in_doubt():
            return every
        if not self.dispatcher.hold_housekeeping(self.clock.now()):
            return every
        try:
            counts = {k: v for k, v in self.collector.run_once(only_due=True).counts().items() if v}
            if counts:
                log.info("metrics: %s", counts)
        except Exception:
            log.exception("metrics collection failed; it runs again in %s minutes", self.settings.metrics.tick_minutes)
        return every

    def _backup(self) -> float:
        from scheduler.operations.backups import due_in, run_round

        every = BACKUP_LOOK_EVERY.total_seconds()
        if self._stopping or self._clock_in_doubt():
            return every
        now = self.clock.now()
        try:
            result = run_round(self.settings, self.engine, now)
        except Exception:
            log.exception("the scheduled backup failed; it is tried again in %s", BACKUP_LOOK_EVERY)
            return every
        if result.written is not None:
            log.info("backup written: %s", result.written)
        for path in result.deleted:
            log.info("backup older than %d days deleted: %s", self.settings.backups.keep_days, path)
        return min(every, max(1.0, due_in(self.settings, now)))

    def _clock_in_doubt(self) -> bool:
        """While a jump forward is unconfirmed, work that reads the wall clock itself waits.

        Token renewal and metrics compare expiry and polling times with the wall clock
        directly: at a mistaken 2200 they would renew every token and store 2200 expiries.
        """
        self.clock.now()
        return self.clock.pending is not None

    def wake(self) -> None:
        """Dispatch as soon as possible (a post was queued for now, approved, retried…)."""
        self.alarms[DISPATCH_JOB].wake()

    def _queue_changed(self) -> None:
        """Another connection committed: bring the dispatch forward if something is due sooner.

        Only rows changed since the last pass began are read (the pass saw the others), so a
        row that stays due but cannot be claimed (its channel paused) wakes nothing again.
        """
        if self._stopping:
            return
        since = self._pass_began - CHANGE_MARGIN
        with session_scope(self.engine, read_only=True) as session:
            next_due = session.exec(
                select(func.min(Publication.due_at)).where(
                    Publication.status == PublicationStatus.scheduled,
                    col(Publication.next_attempt_at).is_(None),
                    col(Publication.updated_at) >= since,
                )
            ).first()
            next_retry = session.exec(
                select(func.min(Publication.next_attempt_at)).where(
                    col(Publication.status).in_([PublicationStatus.scheduled, PublicationStatus.unknown]),
                    col(Publication.next_attempt_at).is_not(None),
                    col(Publication.updated_at) >= since,
                )
            ).first()
        times = [self._aware(t) for t in (next_due, next_retry) if t is not None]
        if times:
            self.alarms[DISPATCH_JOB].bring_forward((min(times) - self.clock.now()).total_seconds())

    def _dispatch(self) -> float:
        with self._lock:
            if self._stopping:
                return 0.0
            self._pass_began = utcnow()
            try:
                self.last_summary = self.dispatcher.run_once()
                counts = {k: v for k, v in self.last_summary.counts().items() if v}
                if counts:
                    log.info("dispatch: %s", counts)
            except Exception:
                log.exception("dispatch failed; the next tick retries")
            try:
                return self._next_wake()
            except Exception:
                log.exception("the next due time could not be read; the next tick looks again")
                return float(self.settings.publishing.tick_seconds)

    def _next_wake(self) -> float:
        """Seconds until the next due time or retry, never more than a tick."""
        now = self.clock.now()
        tick = float(self.settings.publishing.tick_seconds)
        with session_scope(self.engine, read_only=True) as session:
            next_due = session.exec(
                select(func.min(Publication.due_at)).where(
                    Publication.status == PublicationStatus.scheduled, Publication.due_at > now
                )
            ).first()
            next_retry = session.exec(
                select(func.min(Publication.next_attempt_at)).where(
                    col(Publication.status).in_([PublicationStatus.scheduled, PublicationStatus.unknown]),
                    col(Publication.next_attempt_at) > now,
                )
            ).first()
        delays = [tick] + [(self._aware(t) - now).total_seconds() for t in (next_due, next_retry) if t is not None]
        return max(0.0, min(delays))

    @staticmethod
    def _aware(value: datetime) -> datetime:
        from datetime import UTC

        return value if value.tzinfo else value.replace(tzinfo=UTC)
