"""Who hears about what: defaults by role, each user's own choices, and their address.

An account scoped to a unit (`loa user add --unit`) hears about the channels of that unit and
the units below it only; an account of the whole office, about every channel.

The person who must act is the default reader: an editor hears about their own posts
(failed, held, missed, approved, sent back), an approver about posts waiting for them, an
admin about everything that stops publishing (and the channels). A user's
:class:`~scheduler.models.AlertPreference` rows override their role's default per event
and per medium (e-mail, the console's notification list).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlmodel import Session, col, select

from scheduler.config import ALERT_EVENTS
from scheduler.i18n import LANGS
from scheduler.models import Alert, AlertPreference, ChannelState, Post, Role, Staff, User

PUBLICATION_EVENTS = frozenset(e for e in ALERT_EVENTS if e.startswith("publication."))
CHANNEL_EVENTS = frozenset(e for e in ALERT_EVENTS if e.startswith("channel."))
# Events about one post: an editor hears about their own posts only.
POST_SCOPED = PUBLICATION_EVENTS | {"post.approved", "post.sent_back"}

ROLE_DEFAULTS: dict[Role, frozenset[str]] = {
    Role.admin: PUBLICATION_EVENTS | CHANNEL_EVENTS | {"digest.daily"},
    Role.editor: PUBLICATION_EVENTS | {"post.approved", "post.sent_back", "digest.daily"},
    Role.approver: frozenset({"post.pending_approval", "digest.daily"}),
    Role.staff: frozenset(),
}


@dataclass(frozen=True)
class Choice:
    email: bool
    console: bool


@dataclass(frozen=True)
class Recipient:
    user_id: int
    username: str
    address: str | None  # None: the console only
    email: bool
    console: bool
    lang: str = "vi"  # the language of their e-mails


def mail_lang(user: User) -> str:
    """The language of ``user``'s alert e-mails: their choice, Vietnamese unless they made one."""
    return user.lang if user.lang in LANGS else "vi"


def default_choice(role: Role, event: str) -> Choice:
    wanted = event in ROLE_DEFAULTS.get(role, frozenset())
    return Choice(email=wanted, console=wanted)


def choices(session: Session, user: User) -> dict[str, Choice]:
    """Every event with what ``user`` receives for it (their rows, else their role's default)."""
    own = {p.event: p for p in session.exec(select(AlertPreference).where(AlertPreference.user_id == user.id))}
    result: dict[str, Choice] = {}
    for event in ALERT_EVENTS:
        row = own.get(event)
        result[event] = Choice(row.email, row.console) if row is not None else default_choice(user.role, event)
    return result


def save_choices(session: Session, user: User, wanted: dict[str, Choice]) -> None:
    """Keep a row only where the choice differs from the role's default."""
    assert user.id is not None
    for event in ALERT_EVENTS:
        choice = wanted.get(event, default_choice(user.role, event))
        row = session.get(AlertPreference, (user.id, event))
        if choice == default_choice(user.role, event):
            if row is not None:
                session.delete(row)
            continue
        row = row or AlertPreference(user_id=user.id, event=event)
        row.email, row.console = choice.email, choice.console
        session.add(row)


def _address(session: Session, user: User) -> str | None:
    if user.email:
        return user.email
    if user.staff_id is not None:
        staff = session.get(Staff, user.staff_id)
        if staff is not None and staff.email:
            return staff.email
    return None


def _concerns(user: User, alert: Alert, data: dict[str, object], author: str | None) -> bool:
    """Whether an alert about one post is this user's business."""
    if user.role == Role.admin:
        return True
    if alert.event in POST_SCOPED:
        return author is not None and author == user.username
    if alert.event == "post.pending_approval":
        return author != user.username  # nobody approves their own post
    return True


def _in_scope(session: Session, user: User, channel_units: set[int | None], scopes: dict[int, set[int]]) -> bool:
    """An account of a unit hears about the channels of its unit and the units below it only."""
    if user.unit_id is None or not channel_units:
        return True
    if user.unit_id not in scopes:
        from scheduler.staff.units import units_below

        scopes[user.unit_id] = units_below(session, user.unit_id)
    return any(unit is not None and unit in scopes[user.unit_id] for unit in channel_units)


def recipients(session: Session, alert: Alert) -> list[Recipient]:
    data = json.loads(alert.data_json or "{}")
    author = None
    if isinstance(data.get("post"), int):
        post = session.get(Post, data["post"])
        author = post.created_by if post is not None else None
    channel_ids = [c for c in (data.get("channels") or [data.get("channel")]) if isinstance(c, str)]
    channel_units: set[int | None] = set()
    for channel_id in channel_ids:
        state = session.get(ChannelState, channel_id)
        channel_units.add(state.unit_id if state is not None else None)
    scopes: dict[int, set[int]] = {}
    users = session.exec(select(User).where(col(User.active).is_(True)).order_by(col(User.id))).all()
    result: list[Recipient] = []
    prefs = {
        (p.user_id, p.event): p
        for p in session.exec(select(AlertPreference).where(AlertPreference.event == alert.event))
    }
    for user in users:
        assert user.id is not None
        row = prefs.get((user.id, alert.event))
        choice = Choice(row.email, row.console) if row is not None else default_choice(user.role, alert.event)
        if not (choice.email or choice.console) or not _concerns(user, alert, data, author):
            continue
        if not _in_scope(session, user, channel_units, scopes):
            continue
        address = _address(session, user) if choice.email else None
        result.append(
            Recipient(
                user.id,
                user.username,
                address,
                choice.email and address is not None,
                choice.console,
                mail_lang(user),
            )
        )
    return result
