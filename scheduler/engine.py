"""APScheduler wiring: the alarm clock that wakes the dispatcher.

The database is the source of truth; APScheduler holds no job per post. One ``dispatch``
job runs at the next due time and at least every ``publishing.tick_seconds`` (the safety
sweep). Jobs live in the default in-memory store, never in a store shared between processes.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine, func
from sqlmodel import col, select

from scheduler.channels.base import TokenVault
from scheduler.config import Settings
from scheduler.metrics.collector import MetricsCollector
from scheduler.models import Publication, PublicationStatus, utcnow
from scheduler.publishing.dispatcher import Dispatcher, DispatchSummary
from scheduler.store import session_scope

log = logging.getLogger("loa.engine")

DISPATCH_JOB = "dispatch"
TOKENS_JOB = "refresh-tokens"
TOKENS_EVERY = timedelta(minutes=10)
METRICS_JOB = "collect-metrics"
# The first metrics pass waits a little: at start-up the dispatcher's catch-up comes first.
METRICS_FIRST_DELAY = timedelta(minutes=1)


class PublishingEngine:
    """Owns the background scheduler of a `loa run` process."""

    def __init__(self, settings: Settings, engine: Engine, vault: TokenVault) -> None:
        self.settings = settings
        self.engine = engine
        self.dispatcher = Dispatcher(settings, engine, vault)
        self.scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})
        self._lock = threading.Lock()
        self._woken = False
        self._stopping = False
        self.last_summary: DispatchSummary | None = None
        self.collector = (
            MetricsCollector(settings, engine, vault, dispatcher=self.dispatcher) if settings.metrics.enabled else None
        )

    def start(self) -> None:
        self.scheduler.start()
        self._schedule(utcnow())
        self.scheduler.add_job(
            self._refresh_tokens,
            trigger=IntervalTrigger(seconds=TOKENS_EVERY.total_seconds()),
            id=TOKENS_JOB,
            next_run_time=utcnow(),
        )
        if self.collector is not None:
            self.scheduler.add_job(
                self._collect_metrics,
                trigger=IntervalTrigger(minutes=self.settings.metrics.tick_minutes),
                id=METRICS_JOB,
                next_run_time=utcnow() + METRICS_FIRST_DELAY,
            )

    def shutdown(self) -> None:
        """Stop: no new runs, wait for the one in progress, give the housekeeping lease back."""
        self._stopping = True
        # Not shutdown(wait=True): APScheduler 3 holds its job-store lock while it waits, and a
        # running dispatch re-arming its alarm needs that lock: the two would wait forever.
        self.scheduler.shutdown(wait=False)
        with self._lock:  # the pass in progress, if any, finishes first
            pass
        self.dispatcher.release()
        self.dispatcher.close()

    def _refresh_tokens(self) -> None:
        from scheduler.channels.tokens import refresh_due_tokens

        # Time-based work runs in one process at a time: the holder of the housekeeping lease.
        if not self.dispatcher.hold_housekeeping(utcnow()):
            return
        try:
            renewed = refresh_due_tokens(self.settings, self.engine, self.dispatcher)
            if renewed:
                log.info("renewed Zalo tokens of %s", ", ".join(renewed))
        except Exception:
            log.exception("token renewal failed; it runs again in %s", TOKENS_EVERY)

    def _collect_metrics(self) -> None:
        """Poll what the metrics schedule says is due (scheduler.metrics.collector); housekeeping holder only."""
        if self.collector is None or not self.dispatcher.hold_housekeeping(utcnow()):
            return
        try:
            counts = {k: v for k, v in self.collector.run_once(only_due=True).counts().items() if v}
            if counts:
                log.info("metrics: %s", counts)
        except Exception:
            log.exception("metrics collection failed; it runs again in %s minutes", self.settings.metrics.tick_minutes)

    def wake(self) -> None:
        """Dispatch as soon as possible (a post was queued for now, approved, retried…)."""
        # If a pass is running it may already be past its claims: it must run again after.
        self._woken = True
        self._schedule(utcnow())

    def _dispatch(self) -> None:
        with self._lock:
            self._woken = False
            try:
                self.last_summary = self.dispatcher.run_once()
                counts = {k: v for k, v in self.last_summary.counts().items() if v}
                if counts:
                    log.info("dispatch: %s", counts)
            except Exception:
                log.exception("dispatch failed; the next tick retries")
            finally:
                self._schedule(utcnow() if self._woken else self._next_wake())

    def _next_wake(self) -> datetime:
        now = utcnow()
        tick = now + timedelta(seconds=self.settings.publishing.tick_seconds)
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
        candidates = [tick] + [self._aware(t) for t in (next_due, next_retry) if t is not None]
        return min(candidates)

    @staticmethod
    def _aware(value: datetime) -> datetime:
        from datetime import UTC

        return value if value.tzinfo else value.replace(tzinfo=UTC)

    def _schedule(self, when: datetime) -> None:
        if self._stopping:
            return
        self.scheduler.add_job(
            self._dispatch,
            trigger=DateTrigger(run_date=when),
            id=DISPATCH_JOB,
            replace_existing=True,
            misfire_grace_time=None,
        )
