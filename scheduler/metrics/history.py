"""Reading stored counters back: the newest snapshot, the recent failures, a post's history."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import col, select

from scheduler.i18n import process_lang, render_stored
from scheduler.models import (
    MetricError,
    MetricSnapshot,
    Publication,
)
from scheduler.store import session_scope

METRIC_NAMES = ("views", "reach", "reactions", "comments", "shares")


def aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def latest_snapshot(session: Any, publication_id: int) -> MetricSnapshot | None:
    """The newest snapshot of a publication (what `loa post show` displays)."""
    found: MetricSnapshot | None = session.exec(
        select(MetricSnapshot)
        .where(MetricSnapshot.publication_id == publication_id)
        .order_by(col(MetricSnapshot.at).desc(), col(MetricSnapshot.id).desc())
        .limit(1)
    ).first()
    return found


def metric_errors(session: Any, publication_id: int, *, limit: int = 20) -> list[MetricError]:
    """The newest recorded failures of a publication's metrics calls."""
    return list(
        session.exec(
            select(MetricError)
            .where(MetricError.publication_id == publication_id)
            .order_by(col(MetricError.at).desc(), col(MetricError.id).desc())
            .limit(limit)
        )
    )


def metrics_history(engine: Engine, post_id: int, *, limit: int = 50, lang: str | None = None) -> dict[str, Any]:
    """A post's snapshots and failed metrics calls, newest first, per publication."""
    reader = lang or process_lang()
    with session_scope(engine, read_only=True) as session:
        publications = list(
            session.exec(select(Publication).where(Publication.post_id == post_id).order_by(col(Publication.id)))
        )
        found = []
        for publication in publications:
            assert publication.id is not None
            snapshots = session.exec(
                select(MetricSnapshot)
                .where(MetricSnapshot.publication_id == publication.id)
                .order_by(col(MetricSnapshot.at).desc(), col(MetricSnapshot.id).desc())
                .limit(limit)
            )
            found.append(
                {
                    "id": publication.id,
                    "channel": publication.channel_id,
                    "platform": publication.platform,
                    "status": publication.status.value,
                    "remote_id": publication.remote_id,
                    "snapshots": [
                        {"at": s.at.isoformat(), **{name: getattr(s, name) for name in METRIC_NAMES}} for s in snapshots
                    ],
                    "errors": [
                        {
                            "at": e.at.isoformat(),
                            "kind": e.kind,
                            "code": e.code,
                            "reason": render_stored(reader, e.message),
                        }
                        for e in metric_errors(session, publication.id, limit=limit)
                    ],
                }
            )
    return {"post": post_id, "publications": found}
