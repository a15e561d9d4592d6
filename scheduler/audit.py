"""The append-only audit log: logins, approvals, schedule and channel changes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlmodel import Session

from scheduler.models import AuditEvent, utcnow


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    object: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Add an audit event to the caller's transaction, so it commits (or not) with the change."""
    session.add(
        AuditEvent(
            at=utcnow(),
            actor=actor,
            action=action,
            object=object,
            details=json.dumps(dict(details), ensure_ascii=False, default=str) if details else None,
        )
    )
