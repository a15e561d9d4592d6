"""The step record of a multi-step publish, kept in the database per publication.

Each step is committed on its own before the publisher goes on, so a process killed between
two platform calls leaves a record a later attempt resumes from (see
``scheduler.channels.base.StepRecord``).
"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import select

from scheduler.models import PublishStep, utcnow
from scheduler.store import session_scope


class DatabaseSteps:
    """The steps of one publication; read once, each new step written at once."""

    def __init__(self, engine: Engine, publication_id: int) -> None:
        self.engine = engine
        self.publication_id = publication_id
        self._known: dict[str, str] | None = None

    def _all(self) -> dict[str, str]:
        if self._known is None:
            with session_scope(self.engine, read_only=True) as session:
                rows = session.exec(select(PublishStep).where(PublishStep.publication_id == self.publication_id))
                self._known = {row.step: row.value for row in rows}
        return self._known

    def get(self, step: str) -> str | None:
        return self._all().get(step)

    def put(self, step: str, value: str) -> None:
        known = self._all()
        with session_scope(self.engine) as session:
            row = session.exec(
                select(PublishStep)
                .where(PublishStep.publication_id == self.publication_id)
                .where(PublishStep.step == step)
            ).first()
            if row is None:
                row = PublishStep(publication_id=self.publication_id, step=step, value=value, at=utcnow())
            else:
                row.value, row.at = value, utcnow()
            session.add(row)
        known[step] = value

    def drop(self, step: str) -> None:
        known = self._all()
        if step not in known:
            return
        with session_scope(self.engine) as session:
            for row in session.exec(
                select(PublishStep)
                .where(PublishStep.publication_id == self.publication_id)
                .where(PublishStep.step == step)
            ):
                session.delete(row)
        known.pop(step, None)
