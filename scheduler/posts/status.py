"""A post's status, derived from its publications' statuses."""

from __future__ import annotations

from collections.abc import Sequence

from scheduler.models import (
    PublicationStatus,
)

# Order matters: what needs a person's attention wins over what is still in progress.
_POST_STATUS_PRECEDENCE = [
    PublicationStatus.failed,
    PublicationStatus.unknown,
    PublicationStatus.blocked,
    PublicationStatus.missed,
    PublicationStatus.publishing,
    PublicationStatus.pending_approval,
    PublicationStatus.scheduled,
    PublicationStatus.draft,
    PublicationStatus.published,
    PublicationStatus.cancelled,
]


def post_status(statuses: Sequence[PublicationStatus]) -> PublicationStatus:
    """A post's status, derived from its publications' (never stored separately)."""
    present = set(statuses)
    if not present:
        return PublicationStatus.cancelled
    if len(present) == 1:
        return statuses[0]
    for status in _POST_STATUS_PRECEDENCE:
        if status in present and status not in {PublicationStatus.published, PublicationStatus.cancelled}:
            return status
    return PublicationStatus.published

