"""Writing what happened: attempt rows, successes (group-committed), and a pass's summary."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, bindparam, update
from sqlmodel import Session, col, select

from scheduler.channels.base import PublishResult
from scheduler.errors import PublishError, stored_error
from scheduler.i18n import msg, stored
from scheduler.models import AttemptOutcome, ChannelState, ChannelStatus, Publication, PublishAttempt, utcnow
from scheduler.publishing.outcomes import Event, status_after
from scheduler.store import GroupCommit, session_scope

log = logging.getLogger("loa.publishing")

# Prepared once: a success is two plain UPDATEs, no read first, sent in batches.
_publication = Publication.__table__  # type: ignore[attr-defined]
_attempt = PublishAttempt.__table__  # type: ignore[attr-defined]
_PUBLISHED = (
    update(_publication)
    .where(_publication.c.id == bindparam("pid"))
    .values(
        status=bindparam("new_status", type_=_publication.c.status.type),
        remote_id=bindparam("new_remote_id"),
        permalink=bindparam("new_permalink", type_=_publication.c.permalink.type),
        published_at=bindparam("new_published_at", type_=_publication.c.published_at.type),
        lease_owner=None,
        lease_until=None,
        last_error=None,
        updated_at=bindparam("new_updated_at", type_=_publication.c.updated_at.type),
    )
)
_FINISHED = (
    update(_attempt)
    .where(_attempt.c.id == bindparam("aid"))
    .values(
        finished_at=bindparam("new_finished_at", type_=_attempt.c.finished_at.type),
        outcome=bindparam("new_outcome", type_=_attempt.c.outcome.type),
    )
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


def backoff(attempts: int, *, base: float = 30.0, cap: float = 3600.0, steady: bool = False) -> timedelta:
    """Exponential backoff with full jitter: spreads retries of many publications apart.

    ``steady``: at least half the ceiling each time (equal jitter), so the wait surely grows:
    a platform search that keeps failing is asked less and less often.
    """
    ceiling = min(cap, base * 2 ** max(0, attempts - 1))
    low = ceiling / 2 if steady else min(base / 2, ceiling)
    return timedelta(seconds=random.uniform(low, ceiling))


class AttemptLog:
    """A publication's attempts and the outcomes they lead to, as the dispatcher records them."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self.clock = clock
        self.writes = GroupCommit(engine)

    def start(self, publication_id: int) -> int:
        with session_scope(self.engine) as session:
            attempt = PublishAttempt(publication_id=publication_id, started_at=self.clock())
            session.add(attempt)
            session.flush()
            assert attempt.id is not None
            return attempt.id

    def finish(
        self, session: Session, attempt_id: int, outcome: AttemptOutcome, error: PublishError | None = None
    ) -> None:
        # A plain UPDATE: no read first, the attempt row only gains its ending.
        values: dict[str, object] = {"finished_at": self.clock(), "outcome": outcome}
        if error is not None:
            values["error_code"] = error.code_label
            values["error_message"] = stored_error(error)
        session.execute(update(PublishAttempt).where(col(PublishAttempt.id) == attempt_id).values(**values))

    def record_success(
        self,
        publication_id: int,
        attempt_id: int,
        result: PublishResult,
        outcome: AttemptOutcome,
        *,
        channel_id: str | None = None,
    ) -> None:
        """The publication is live; a pause the reply asked for holds its channel (same commit)."""
        now = self.clock()
        published = {
            "pid": publication_id,
            "new_status": status_after(Event.published),
            "new_remote_id": result.remote_id,
            "new_permalink": result.permalink,
            "new_published_at": result.published_at or now,
            "new_updated_at": utcnow(),
        }
        finished = {"aid": attempt_id, "new_finished_at": now, "new_outcome": outcome}
        if channel_id is not None and result.pause_seconds:
            pause_until = now + timedelta(seconds=result.pause_seconds)

            def write(session: Session) -> None:
                session.execute(_PUBLISHED, published)
                session.execute(_FINISHED, finished)
                pause_channel(session, channel_id, pause_until)

            self.writes.run(write)
        else:
            # The hot path of a burst: every success of the batch in one statement per table.
            self.writes.run_rows([(_PUBLISHED, published), (_FINISHED, finished)])
        log.info("publication %s published as %s", publication_id, result.remote_id)

    def had_unknown_outcome(self, publication_id: int) -> bool:
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



def pause_channel(session: Session, channel_id: str, until: datetime) -> None:
    """Pause a channel the platform asked to slow down; a longer pause already set stays."""
    state = session.get(ChannelState, channel_id)
    if state is None or state.status == ChannelStatus.needs_reauth:
        return
    if state.status == ChannelStatus.paused and state.paused_until and state.paused_until >= until:
        return
    state.status = ChannelStatus.paused
    state.paused_until = until
    state.last_error = stored(msg("publishing.paused_by_usage"))
    state.last_error_at = utcnow()
    session.add(state)
    log.warning("channel %s: the platform's quota is spent, paused until %s", channel_id, until.isoformat())
