"""Reach collection: each recent publication's counters, as the platforms report them.

A pass picks the published publications that are due by the polling schedule (often while a
post is young, rarely after, never past ``metrics.max_age_days``), asks each channel for
their counters in as few calls as its API allows, and stores one time-stamped
:class:`MetricSnapshot` per answer. Snapshots are never updated: the newest is what Loa
shows, the older ones are the history.

Failures stay local. A post the platform refuses gets a :class:`MetricError` row (the
snapshot is skipped, the reason kept) and the pass goes on. A throttle or a rejected token
stops that channel only, recorded as a :class:`MetricPause` that later passes (and other
processes) honour until the platform's regain time. A channel that publishing has paused or
that needs re-connecting is left alone too: the quota is shared, and publishing comes first.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func
from sqlalchemy import select as sa_select
from sqlmodel import col, select

from scheduler.channels.base import PostMetrics, Publisher, TokenVault
from scheduler.channels.catalog import find_channel
from scheduler.channels.factory import PublisherFactory
from scheduler.config import ChannelSettings, Settings
from scheduler.errors import AuthError, PermanentError, PublishError, RateLimited, TransientError, stored_error
from scheduler.i18n import Message, msg, parse_stored, process_lang, stored
from scheduler.metrics.history import METRIC_NAMES, aware
from scheduler.metrics.schedule import PollingSchedule
from scheduler.models import (
    ChannelState,
    ChannelStatus,
    MetricError,
    MetricPause,
    MetricSnapshot,
    Publication,
    PublicationStatus,
    utcnow,
)
from scheduler.operations.metrics import operations_metrics
from scheduler.store import session_scope

log = logging.getLogger("loa.metrics")

# When the platform throttles without a regain time. Graph's app-level windows are an hour
# long and roll (A7); a quarter of it lets usage fall without idling the collector for long.
DEFAULT_THROTTLE_PAUSE = timedelta(minutes=15)
# A rejected token will not heal by itself; looking again hourly notices a re-connection
# without hammering the platform with a dead token.
AUTH_PAUSE = timedelta(hours=1)
# Usage at the ceiling with no error yet: the same rolling windows, so the same wait.
CEILING_PAUSE = timedelta(minutes=15)
# Slack on `since` for listing-based batches: the platform's creation time and Loa's
# published_at come from different clocks.
SINCE_SLACK = timedelta(minutes=10)


@dataclass(frozen=True)
class Target:
    """One publication to poll."""

    publication_id: int
    post_id: int
    channel_id: str
    remote_id: str
    published_at: datetime
    last_attempt: datetime | None


@dataclass
class CollectReport:
    """What one pass did; the shape of `loa metrics collect --json`."""

    started_at: datetime
    snapshots: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    paused_channels: list[dict[str, Any]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "collected": len(self.snapshots),
            "errors": len(self.errors),
            "skipped": len(self.skipped),
            "paused_channels": len(self.paused_channels),
        }

    def as_json(self) -> dict[str, Any]:
        return {"at": self.started_at.isoformat(), "counts": self.counts(), **self._lists()}

    def _lists(self) -> dict[str, Any]:
        return {
            "snapshots": sorted(self.snapshots, key=lambda s: s["publication"]),
            "errors": sorted(self.errors, key=lambda e: e["publication"]),
            "skipped": sorted(self.skipped, key=lambda s: s["publication"]),
            "paused_channels": sorted(self.paused_channels, key=lambda p: p["channel"]),
        }


def error_kind(error: PublishError) -> str:
    if isinstance(error, AuthError):
        return "auth"
    if isinstance(error, RateLimited):
        return "rate_limited"
    if isinstance(error, TransientError):
        return "transient"
    if isinstance(error, PermanentError):
        return "permanent"
    return "internal"


class MetricsCollector:
    """Polls the platforms for the counters of recent publications. One per process is enough."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        vault: TokenVault,
        *,
        clock: Callable[[], datetime] = utcnow,
        environ: Mapping[str, str] | None = None,
        publishers: PublisherFactory | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock
        self.schedule = PollingSchedule.from_settings(settings.metrics)
        # The engine shares its dispatcher's factory, and with it the kept-alive sessions.
        self.publishers = publishers or PublisherFactory(settings, vault, environ=environ)

    def publisher(self, channel: ChannelSettings) -> Publisher:
        return self.publishers.build(channel)

    # -- one pass -------------------------------------------------------------------------

    def run_once(self, *, only_due: bool = True, post_id: int | None = None) -> CollectReport:
        """Poll what is due (``only_due``) or every recent publication now.

        ``post_id`` limits the pass to that post's publications, whatever their age.
        """
        now = self.clock()
        report = CollectReport(started_at=now)
        targets = self.targets(now, only_due=only_due, post_id=post_id)
        by_channel: dict[str, list[Target]] = defaultdict(list)
        for target in targets:
            by_channel[target.channel_id].append(target)
        blocked = self._blocked_channels(now)
        runnable: list[tuple[ChannelSettings, list[Target]]] = []
        for channel_id, batch in sorted(by_channel.items()):
            if channel_id in blocked:
                until, reason = blocked[channel_id]
                report.paused_channels.append(
                    {
                        "channel": channel_id,
                        "until": until.isoformat() if until else None,
                        "reason": _words(reason),
                    }
                )
                paused = msg("reason.metrics_channel_paused", reason=reason)
                report.skipped.extend(_skip(t, paused.render(process_lang())) for t in batch)
                continue
            runnable.append((find_channel(self.engine, self.settings, channel_id), batch))
        if not runnable:
            return report
        workers = min(8, len(runnable))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="loa-metrics") as pool:
            for part in pool.map(lambda job: self._collect_channel(*job), runnable):
                report.snapshots.extend(part.snapshots)
                report.errors.extend(part.errors)
                report.skipped.extend(part.skipped)
                report.paused_channels.extend(part.paused_channels)
        return report

    def targets(self, now: datetime, *, only_due: bool = True, post_id: int | None = None) -> list[Target]:
        """Published publications to poll, never-polled first, then the most overdue."""
        configured = [c.id for c in self.settings.channels]
        last_snapshot = (
            select(func.max(MetricSnapshot.at))
            .where(MetricSnapshot.publication_id == Publication.id)
            .correlate(Publication)
            .scalar_subquery()
        )
        last_error = (
            select(func.max(MetricError.at))
            .where(MetricError.publication_id == Publication.id)
            .correlate(Publication)
            .scalar_subquery()
        )
        # SQLAlchemy's own select: sqlmodel's typed overloads stop at four columns.
        query = sa_select(
            col(Publication.id),
            col(Publication.post_id),
            col(Publication.channel_id),
            col(Publication.remote_id),
            col(Publication.published_at),
            last_snapshot.label("last_snapshot"),
            last_error.label("last_error"),
        ).where(
            col(Publication.status) == PublicationStatus.published,
            col(Publication.remote_id).is_not(None),
            col(Publication.published_at).is_not(None),
            col(Publication.channel_id).in_(configured),
        )
        if post_id is not None:
            query = query.where(col(Publication.post_id) == post_id)
        else:
            query = query.where(col(Publication.published_at) >= now - self.schedule.max_age)
        with session_scope(self.engine, read_only=True) as session:
            rows = list(session.execute(query))
        found: list[Target] = []
        for pub_id, pid, channel_id, remote_id, published_at, snap_at, err_at in rows:
            attempts = [aware(t) for t in (snap_at, err_at) if t is not None]
            target = Target(
                publication_id=pub_id,
                post_id=pid,
                channel_id=channel_id,
                remote_id=remote_id,
                published_at=aware(published_at),
                last_attempt=max(attempts) if attempts else None,
            )
            if only_due and not self.schedule.is_due(
                published_at=target.published_at, last_attempt=target.last_attempt, now=now
            ):
                continue
            found.append(target)

        def urgency(target: Target) -> tuple[bool, datetime]:
            due = self.schedule.next_due(published_at=target.published_at, last_attempt=target.last_attempt)
            return target.last_attempt is not None, due or target.published_at

        found.sort(key=urgency)
        return found if post_id is not None else found[: self.settings.metrics.max_per_pass]

    # -- one channel ----------------------------------------------------------------------

    def _collect_channel(self, channel: ChannelSettings, batch: list[Target]) -> CollectReport:
        part = CollectReport(started_at=self.clock())
        since = min(t.published_at for t in batch) - SINCE_SLACK
        publisher = self.publisher(channel)
        try:
            results = publisher.fetch_metrics_many(
                [t.remote_id for t in batch], since=since, usage_ceiling=self.settings.metrics.usage_ceiling_percent
            )
            usage = publisher.usage_percent
        except Exception as exc:  # a bug in one publisher must not stop the other channels
            log.exception("metrics for channel %s failed unexpectedly", channel.id)
            internal = PublishError(msg("error.metrics_internal", reason=repr(exc)), platform=channel.platform)
            results = {t.remote_id: internal for t in batch}
            usage = 0.0
        finally:
            publisher.close()
        at = self.clock()
        pause: tuple[datetime, Message] | None = None
        snapshots: list[MetricSnapshot] = []
        errors: list[MetricError] = []
        for target in batch:
            result = results.get(target.remote_id)
            if isinstance(result, PostMetrics):
                snapshots.append(
                    MetricSnapshot(
                        publication_id=target.publication_id,
                        at=at,
                        **{name: getattr(result, name) for name in METRIC_NAMES},
                    )
                )
                part.snapshots.append(
                    {
                        "publication": target.publication_id,
                        "post": target.post_id,
                        "channel": channel.id,
                        **{name: getattr(result, name) for name in METRIC_NAMES},
                    }
                )
            elif isinstance(result, PublishError):
                kind = error_kind(result)
                operations_metrics().metric_error(channel.platform, kind)
                errors.append(
                    MetricError(
                        publication_id=target.publication_id,
                        channel_id=channel.id,
                        at=at,
                        kind=kind,
                        code=result.code_label,
                        message=stored_error(result),
                    )
                )
                part.errors.append(
                    {
                        "publication": target.publication_id,
                        "post": target.post_id,
                        "channel": channel.id,
                        "kind": kind,
                        "code": result.code_label,
                        "reason": result.message,
                    }
                )
                if isinstance(result, RateLimited):
                    wait = timedelta(seconds=result.retry_after) if result.retry_after else DEFAULT_THROTTLE_PAUSE
                    pause = (at + wait, msg("reason.metrics_throttled", reason=msg(result.msgid, **result.params)))
                elif isinstance(result, AuthError):
                    refused = msg(result.msgid, **result.params)
                    pause = (at + AUTH_PAUSE, msg("reason.metrics_credentials_rejected", reason=refused))
            else:
                reason = (
                    msg("reason.metrics_quota_left", percent=round(usage))
                    if usage >= self.settings.metrics.usage_ceiling_percent
                    else msg("reason.metrics_batch_stopped")
                )
                part.skipped.append(_skip(target, reason.render(process_lang())))
        if pause is None and part.skipped and usage >= self.settings.metrics.usage_ceiling_percent:
            pause = (at + CEILING_PAUSE, msg("reason.metrics_quota_reached", percent=round(usage)))
        with session_scope(self.engine) as session:
            session.add_all(snapshots)
            session.add_all(errors)
            if pause is not None:
                row = session.get(MetricPause, channel.id) or MetricPause(
                    channel_id=channel.id, until=pause[0], reason=stored(pause[1]), updated_at=at
                )
                row.until, row.reason, row.updated_at = pause[0], stored(pause[1]), at
                session.add(row)
        if pause is not None:
            words = pause[1].render(process_lang())
            part.paused_channels.append({"channel": channel.id, "until": pause[0].isoformat(), "reason": words})
            log.warning("metrics for channel %s paused until %s: %s", channel.id, pause[0].isoformat(), words)
        for error in part.errors:
            log.warning("metrics of publication %s skipped: %s", error["publication"], error["reason"])
        return part

    def _blocked_channels(self, now: datetime) -> dict[str, tuple[datetime | None, Message | str]]:
        """Channels not to call now: paused for metrics, paused by publishing, or needing re-auth."""
        blocked: dict[str, tuple[datetime | None, Message | str]] = {}
        with session_scope(self.engine, read_only=True) as session:
            for pause in session.exec(select(MetricPause).where(col(MetricPause.until) > now)):
                stored_reason, _hint = parse_stored(pause.reason)
                blocked[pause.channel_id] = (pause.until, stored_reason or pause.reason)
            for state in session.exec(select(ChannelState)):
                if state.status == ChannelStatus.needs_reauth:
                    blocked[state.id] = (None, msg("reason.metrics_reconnect"))
                elif state.status == ChannelStatus.paused and state.paused_until and state.paused_until > now:
                    blocked.setdefault(state.id, (state.paused_until, msg("reason.metrics_publishing_paused")))
        return blocked


def _words(reason: Message | str) -> str:
    """A reason as the collection report prints it, in the process language."""
    return reason.render(process_lang()) if isinstance(reason, Message) else reason


def _skip(target: Target, reason: str) -> dict[str, Any]:
    return {
        "publication": target.publication_id,
        "post": target.post_id,
        "channel": target.channel_id,
        "reason": reason,
    }
