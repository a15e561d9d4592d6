"""The publication state machine: one table, used by every status change."""

from __future__ import annotations

import pytest

from scheduler.models import PublicationStatus
from scheduler.publishing.outcomes import (
    TRANSITIONS,
    Event,
    IllegalTransition,
    queued,
    rescheduled,
    sources,
    status_after,
    transition,
)

S = PublicationStatus


def test_every_event_has_a_rule() -> None:
    assert set(TRANSITIONS) == set(Event)
    assert all(TRANSITIONS[event] for event in Event)


def test_published_and_cancelled_are_final() -> None:
    for event in Event:
        assert S.published not in sources(event) and S.cancelled not in sources(event), event


@pytest.mark.parametrize("event", list(Event))
def test_an_event_refuses_every_status_it_does_not_apply_to(event: Event) -> None:
    for status in S:
        if status in sources(event):
            assert transition(status, event) == TRANSITIONS[event][status]
        else:
            with pytest.raises(IllegalTransition):
                transition(status, event)


def test_a_platform_answer_leads_to_one_status() -> None:
    assert status_after(Event.published) == S.published
    assert status_after(Event.outcome_unknown) == S.unknown
    assert status_after(Event.auth_refused) == S.blocked
    assert status_after(Event.throttled) == status_after(Event.failed_transiently) == S.scheduled
    assert status_after(Event.failed) == S.failed
    with pytest.raises(ValueError):
        status_after(Event.rescheduled)  # depends on the status before


def test_approval_decides_where_a_queued_publication_waits() -> None:
    assert transition(S.draft, queued(approval=True)) == S.pending_approval
    assert transition(S.draft, queued(approval=False)) == S.scheduled
    assert transition(S.missed, rescheduled(approval=True)) == S.pending_approval
    assert transition(S.missed, rescheduled(approval=False)) == S.scheduled
    assert transition(S.draft, rescheduled(approval=False)) == S.draft


def test_an_unknown_outcome_is_settled_by_a_person_or_the_reconciler_only() -> None:
    leaving_unknown = {e for e in Event if S.unknown in sources(e) and TRANSITIONS[e][S.unknown] != S.unknown}
    assert leaving_unknown == {Event.confirmed_published, Event.confirmed_absent, Event.published, Event.found_absent}
    assert S.unknown not in sources(Event.retried) and S.unknown not in sources(Event.cancelled)


def test_a_restored_or_overdue_publication_is_looked_for_before_it_is_published() -> None:
    # In flight or due in a restored copy: the platform may have it already.
    assert transition(S.publishing, Event.restored_check) == S.unknown
    assert transition(S.scheduled, Event.restored_check) == S.unknown
    assert transition(S.unknown, Event.restored_check) == S.unknown
    for status in (S.published, S.failed, S.missed, S.cancelled, S.draft, S.blocked):
        with pytest.raises(IllegalTransition):
            transition(status, Event.restored_check)
    # Overdue beyond the check window: only a queued one, never one already being published.
    assert sources(Event.overdue_check) == {S.scheduled}
    assert transition(S.scheduled, Event.overdue_check) == S.unknown
    # Searches that keep failing hand the publication to a person; it stays unknown, unsent.
    assert sources(Event.checks_exhausted) == {S.unknown}
    assert transition(S.unknown, Event.checks_exhausted) == S.unknown
