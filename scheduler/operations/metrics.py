"""What `GET /metrics` shows operators, in Prometheus's text format (prometheus_client).

One registry per process, made on first use (nothing at import time). Each room counts its
own events through the methods below, and a room that has figures of its own adds them with
:meth:`OperationsMetrics.counter` / :meth:`OperationsMetrics.histogram`, which hand back the
same metric when two callers ask for one name. The queue depth is read from the database
when the page is scraped, so every process shows the same queue.

``loa_alert_deliveries_total`` is declared here for the alerts room, which increments it
through :meth:`OperationsMetrics.alert_delivered`; until alerts are sent it stays at zero.
"""

from __future__ import annotations

import threading
from collections import Counter as Tally
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import Engine, func
from sqlmodel import col, select

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Seconds between a publication's due time and its success: on time is a second or two.
LATENESS_BUCKETS = (1, 2, 5, 10, 30, 60, 120, 300, 900, 3600, 6 * 3600)
# Clicks the single writer stores in one commit: a crowd shares one fsync.
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


class OperationsMetrics:
    """The process's metrics; every method is cheap (a lock and an addition)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._own: dict[str, Counter | Histogram] = {}
        self._guard = threading.Lock()
        self.publications = self.counter(
            "loa_publications", "Publication attempts finished, by platform and outcome", ("platform", "outcome")
        )
        self.lateness = self.histogram(
            "loa_publish_lateness_seconds", "Seconds from due time to publication", ("platform",), LATENESS_BUCKETS
        )
        self.clicks = self.counter(
            "loa_tracked_link_clicks", "Tracked-link visits stored, counted or not, by reason", ("counted", "reason")
        )
        self.click_batches = self.histogram(
            "loa_click_writer_batch_size", "Clicks stored per commit by the click writer", (), BATCH_BUCKETS
        )
        self.metric_errors = self.counter(
            "loa_metric_collection_errors", "Failed reads of post counters, by platform and kind", ("platform", "kind")
        )
        self.alert_deliveries = self.counter(
            "loa_alert_deliveries", "Alert deliveries, by channel (mail, webhook) and outcome", ("channel", "outcome")
        )

    def counter(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Counter:
        with self._guard:
            known = self._own.get(name)
            if known is None:
                known = self._own[name] = Counter(name, documentation, labels, registry=self.registry)
        assert isinstance(known, Counter)
        return known

    def histogram(
        self, name: str, documentation: str, labels: Sequence[str] = (), buckets: Sequence[float] = LATENESS_BUCKETS
    ) -> Histogram:
        with self._guard:
            known = self._own.get(name)
            if known is None:
                known = self._own[name] = Histogram(
                    name, documentation, labels, buckets=buckets, registry=self.registry
                )
        assert isinstance(known, Histogram)
        return known

    # -- what the rooms report --------------------------------------------------------------

    def publication_done(self, platform: str, outcome: str, late_seconds: float | None) -> None:
        self.publications.labels(platform, outcome).inc()
        if late_seconds is not None:
            self.lateness.labels(platform).observe(max(0.0, late_seconds))

    def clicks_stored(self, reasons: Sequence[str]) -> None:
        """One writer commit: its size, and each click's verdict (off the request path)."""
        self.click_batches.observe(len(reasons))
        for reason, count in Tally(reasons).items():
            self.clicks.labels("yes" if reason == "counted" else "no", reason).inc(count)

    def metric_error(self, platform: str, kind: str) -> None:
        self.metric_errors.labels(platform, kind).inc()

    def alert_delivered(self, channel: str, outcome: str) -> None:
        self.alert_deliveries.labels(channel, outcome).inc()

    # -- the page ---------------------------------------------------------------------------

    def exposition(self, engine: Engine | None = None) -> bytes:
        """The text page: the process's metrics, then the queue read from ``engine`` now."""
        page = generate_latest(self.registry)
        if engine is not None:
            page += generate_latest(_QueueRegistry(engine))
        return page


class _QueueRegistry:
    """A one-scrape registry holding the queue depth by status (a read of the database)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> list[GaugeMetricFamily]:
        from scheduler.models import Publication, PublicationStatus
        from scheduler.store import session_scope

        with session_scope(self.engine, read_only=True) as session:
            rows = session.exec(select(Publication.status, func.count()).group_by(col(Publication.status))).all()
        found = {PublicationStatus(status).value: count for status, count in rows}
        gauge = GaugeMetricFamily("loa_queue_depth", "Publications by status, read when scraped", labels=["status"])
        for status in PublicationStatus:
            gauge.add_metric([status.value], float(found.get(status.value, 0)))
        return [gauge]


_instance: OperationsMetrics | None = None
_instance_guard = threading.Lock()


def operations_metrics() -> OperationsMetrics:
    """The process's metrics, made on first use."""
    global _instance
    if _instance is None:
        with _instance_guard:
            if _instance is None:
                _instance = OperationsMetrics()
    return _instance
