"""The append-only audit log: logins, approvals, schedule and channel changes.

An event stores ids, never sentences: ``action`` is an id such as ``post.approve`` and
``details`` its parameters (JSON). A page shows them in the reader's language with
:func:`action_label` and :func:`detail_label` (``audit_action.post.approve`` in the catalogue).
"""

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


def action_label(lang: str, action: str) -> str:
    """``post.approve`` → ``Duyệt bài``; an action without a wording shows its id."""
    from scheduler.i18n import translate

    msgid = f"audit_action.{action}"
    text = translate(lang, msgid)
    return action if text == msgid else text


def detail_label(lang: str, key: str) -> str:
    """The name of a detail (``reason`` → ``lý do``); an unknown key shows as stored."""
    from scheduler.i18n import translate

    msgid = f"audit_detail.{key}"
    text = translate(lang, msgid)
    return key if text == msgid else text


def detail_value(lang: str, value: str) -> str:
    """A stored reason id (``audit_reason.…``) in words; any other value as stored."""
    from scheduler.i18n import translate

    return translate(lang, value) if value.startswith("audit_reason.") else value
