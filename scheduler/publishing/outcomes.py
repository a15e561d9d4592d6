"""The publication state machine: one table of what may happen to a publication, and what follows.

Every place that changes a publication's status — the dispatcher after a platform call,
housekeeping, reconciliation, a person's decision, a channel reconnected — asks
:func:`transition` (or :func:`sources` to select the rows an event applies to), so the rules
are written here once. The claim (``scheduled`` → ``publishing``) is made by
``scheduler.store.claim_due`` in the same transaction as its attempt row; it is listed here
as :attr:`Event.claimed` so the table is whole.

The result of a platform call is newer evidence than a guess made meanwhile (a lease that
lapsed during a slow call becomes ``unknown``), so the dispatcher records what the platform
answered with :func:`status_after`, whatever the row's status has become.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from scheduler.errors import InputError
from scheduler.i18n import msg
from scheduler.models import PublicationStatus

S = PublicationStatus


class Event(StrEnum):
    # A person's decisions.
    queued = "queued"  # submitted, or a missed one rescheduled, on a channel without approval
    queued_for_approval = "queued_for_approval"  # … on a channel that needs approval
    approved = "approved"
    sent_back = "sent_back"
    rescheduled = "rescheduled"  # a new time; the status stays, a missed one is queued again
    rescheduled_for_approval = "rescheduled_for_approval"  # … on a channel that needs approval
    retried = "retried"
    confirmed_published = "confirmed_published"
    confirmed_absent = "confirmed_absent"
    cancelled = "cancelled"
    reconnected = "reconnected"  # the channel has a new credential: held publications go out
    edited = "edited"  # its words, media or time changed before any claim: queued (again)
    edited_for_approval = "edited_for_approval"  # … on a channel that needs approval: approved again
    # The dispatcher, after a platform call.
    claimed = "claimed"
    published = "published"  # the platform took it, or the reconciler found it
    outcome_unknown = "outcome_unknown"
    auth_refused = "auth_refused"
    throttled = "throttled"
    failed_transiently = "failed_transiently"  # retried later with backoff
    failed = "failed"  # refused for good, or out of retries
    handed_back = "handed_back"  # claimed by a process that stopped before calling the platform
    # Housekeeping and reconciliation.
    lease_lost = "lease_lost"  # the process holding it stopped during the call
    overdue = "overdue"  # due longer ago than the grace
    held = "held"  # its channel must be reconnected first
    check_failed = "check_failed"  # the platform could not be searched yet
    found_absent = "found_absent"  # searched and not there: publish again once
    undecidable = "undecidable"  # only a person can tell now
    checks_exhausted = "checks_exhausted"  # the platform could not be searched, time after time
    overdue_check = "overdue_check"  # due a while ago: look on the platform before publishing
    # `loa restore`: the copy is older than the platforms; what it had in flight or overdue
    # may have gone out after the copy was made.
    restored_check = "restored_check"


_CANCELLABLE = (S.draft, S.pending_approval, S.scheduled, S.blocked, S.missed, S.failed)
_EDITABLE = (S.draft, S.pending_approval, S.scheduled, S.failed, S.missed, S.blocked)
_KEEP_ON_RESCHEDULE = {S.draft: S.draft, S.pending_approval: S.pending_approval, S.scheduled: S.scheduled}

# event → {status before: status after}
TRANSITIONS: Mapping[Event, Mapping[PublicationStatus, PublicationStatus]] = {
    Event.queued: {S.draft: S.scheduled, S.missed: S.scheduled},
    Event.queued_for_approval: {S.draft: S.pending_approval, S.missed: S.pending_approval},
    Event.approved: {S.pending_approval: S.scheduled},
    Event.sent_back: {S.pending_approval: S.draft},
    Event.rescheduled: {**_KEEP_ON_RESCHEDULE, S.missed: S.scheduled},
    Event.rescheduled_for_approval: {**_KEEP_ON_RESCHEDULE, S.missed: S.pending_approval},
    Event.retried: {S.failed: S.scheduled, S.missed: S.scheduled, S.blocked: S.scheduled},
    Event.confirmed_published: {S.unknown: S.published},
    Event.confirmed_absent: {S.unknown: S.scheduled},
    Event.cancelled: {s: S.cancelled for s in _CANCELLABLE},
    Event.reconnected: {S.blocked: S.scheduled},
    Event.edited: {
        S.draft: S.draft,
        S.pending_approval: S.pending_approval,
        **{s: S.scheduled for s in _EDITABLE if s not in (S.draft, S.pending_approval)},
    },
    Event.edited_for_approval: {
        S.draft: S.draft,
        **{s: S.pending_approval for s in _EDITABLE if s != S.draft},
    },
    Event.claimed: {S.scheduled: S.publishing},
    Event.published: {S.publishing: S.published, S.unknown: S.published},
    Event.outcome_unknown: {S.publishing: S.unknown},
    Event.auth_refused: {S.publishing: S.blocked},
    Event.throttled: {S.publishing: S.scheduled},
    Event.failed_transiently: {S.publishing: S.scheduled},
    Event.failed: {S.publishing: S.failed},
    Event.handed_back: {S.publishing: S.scheduled},
    Event.lease_lost: {S.publishing: S.unknown},
    Event.overdue: {S.scheduled: S.missed},
    Event.held: {S.scheduled: S.blocked},
    # A duplicate reported after a lost reply is checked while the row is still publishing.
    Event.check_failed: {S.unknown: S.unknown, S.publishing: S.unknown},
    Event.found_absent: {S.unknown: S.scheduled},
    Event.undecidable: {S.unknown: S.unknown, S.publishing: S.unknown},
    Event.checks_exhausted: {S.unknown: S.unknown},
    Event.overdue_check: {S.scheduled: S.unknown},
    Event.restored_check: {S.publishing: S.unknown, S.scheduled: S.unknown, S.unknown: S.unknown},
}


# event → the alert it raises (scheduler/alerts/events.py writes it in the same transaction).
# An unknown outcome is raised only once only a person can settle it: a lost reply or a
# lapsed lease is looked for on the platform first and usually settles itself within a minute.
ALERTS: Mapping[Event, str] = {
    Event.failed: "publication.failed",
    Event.auth_refused: "publication.blocked",
    Event.held: "publication.blocked",
    Event.undecidable: "publication.unknown",
    Event.checks_exhausted: "publication.unknown",
    Event.overdue: "publication.missed",
    Event.queued_for_approval: "post.pending_approval",
    Event.approved: "post.approved",
    Event.sent_back: "post.sent_back",
}


def alert_of(event: Event) -> str | None:
    """The alert ``event`` raises, if any."""
    return ALERTS.get(event)


class IllegalTransition(InputError):
    """An event that does not apply to a publication in its current status."""


def sources(event: Event) -> frozenset[PublicationStatus]:
    """The statuses ``event`` applies to."""
    return frozenset(TRANSITIONS[event])


def may(status: PublicationStatus | str, event: Event) -> bool:
    return PublicationStatus(status) in TRANSITIONS[event]


def transition(status: PublicationStatus | str, event: Event) -> PublicationStatus:
    """The status after ``event``; :class:`IllegalTransition` when it does not apply."""
    current = PublicationStatus(status)
    after = TRANSITIONS[event].get(current)
    if after is None:
        # The event is named by its code: it is what a developer reads in the transition table.
        allowed = [msg(f"status.{s.value}") for s in TRANSITIONS[event]]
        raise IllegalTransition(
            msg("error.illegal_transition", status=msg(f"status.{current.value}"), event=event.value),
            hint=msg("hint.allowed_statuses", statuses=allowed),
        )
    return after


def status_after(event: Event) -> PublicationStatus:
    """The status ``event`` leads to from any status it applies to (a platform's answer, a new row)."""
    (after,) = set(TRANSITIONS[event].values())
    return after


def queued(approval: bool) -> Event:
    """The event that queues a publication on a channel that does or does not need approval."""
    return Event.queued_for_approval if approval else Event.queued


def rescheduled(approval: bool) -> Event:
    """The event that gives a publication a new time on a channel that does or does not need approval."""
    return Event.rescheduled_for_approval if approval else Event.rescheduled
