"""Console users, passwords, sessions, API tokens and roles.

Security choices (docs/reliability.md §4.3–4.4):

* passwords are Argon2id hashes (argon2-cffi's RFC 9106 low-memory profile), upgraded on
  login when the parameters change; an unknown username costs the same as a wrong password;
* failed logins are throttled per username + address, and per address across usernames;
* sessions live on the server: the cookie carries 256 random bits, the database keeps only
  their SHA-256, a login always starts a new session (the pre-login one is deleted), and
  sessions end after 2 h idle or 12 h in all; disabling a user deletes their sessions and
  revokes their API tokens;
* each session has its own CSRF token; API bearer tokens are stored as SHA-256;
* what a role may do is one table (``PERMISSIONS``), checked on the server for every page
  and API call; a refusal is written to the audit log.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Engine, delete, func, text
from sqlmodel import Session, col, select

from scheduler.audit import record
from scheduler.errors import InputError, NotFound
from scheduler.i18n import N_, Message, msg
from scheduler.models import ApiToken, LoginFailure, Role, Staff, User, UserSession, utcnow
from scheduler.render.messages import nfc
from scheduler.store import is_sqlite, session_scope

if TYPE_CHECKING:
    from collections.abc import Iterable

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,31}$")
PASSWORD_MIN = 10
PASSWORD_MAX = 256
SESSION_IDLE = timedelta(hours=2)
SESSION_ABSOLUTE = timedelta(hours=12)
# A login form left open this long needs a reload (its anonymous session carries the CSRF token).
ANONYMOUS_SESSION = timedelta(hours=1)
# Writing last_seen_at on every request would turn every page view into a write transaction.
TOUCH_EVERY = timedelta(minutes=1)
THROTTLE_WINDOW = timedelta(minutes=15)
THROTTLE_PER_USER_IP = 5
THROTTLE_PER_IP = 30
TOKEN_PREFIX = "loa_"

# What each role may do. Data-level rules (an editor's *own* drafts) are in ``may_manage_post``.
PERMISSIONS: dict[str, frozenset[Role]] = {
    "dashboard.view": frozenset({Role.admin, Role.editor, Role.approver, Role.staff}),
    "posts.view": frozenset({Role.admin, Role.editor, Role.approver}),
    "posts.compose": frozenset({Role.admin, Role.editor}),
    "posts.manage": frozenset({Role.admin, Role.editor}),  # cancel, reschedule, retry, confirm: own posts
    "posts.approve": frozenset({Role.admin, Role.approver}),
    "templates.manage": frozenset({Role.admin, Role.editor}),  # message templates, saved for everyone
    "campaigns.manage": frozenset({Role.admin}),
    "channels.view": frozenset({Role.admin, Role.editor, Role.approver}),
    "channels.manage": frozenset({Role.admin}),
    "staff.view": frozenset({Role.admin}),
    "staff.manage": frozenset({Role.admin}),
    "reports.view": frozenset({Role.admin, Role.editor, Role.approver}),
    "users.manage": frozenset({Role.admin}),
    "account.password": frozenset({Role.admin, Role.editor, Role.approver, Role.staff}),
    "audit.view": frozenset({Role.admin}),
    "alerts.own": frozenset({Role.admin, Role.editor, Role.approver, Role.staff}),  # notices and choices
    "alerts.log": frozenset({Role.admin}),  # every message's delivery
    "own.figures": frozenset({Role.staff}),
}

_hasher = PasswordHasher()  # Argon2id, t=3, m=64 MiB, p=4 (RFC 9106 low-memory profile)


@cache
def _dummy_hash() -> str:
    """Verified against when the username is unknown, so both cases take the same time."""
    return _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(nfc(password))


@dataclass(frozen=True)
class AuthUser:
    """The signed-in user as pages see it: a plain snapshot, detached from any DB session."""

    id: int
    username: str
    role: Role
    staff_id: int | None
    # The unit the account acts for (and the units below it); None: the whole office.
    unit_id: int | None = None

    def can(self, permission: str) -> bool:
        return self.role in PERMISSIONS[permission]


@dataclass(frozen=True)
class SessionInfo:
    id_hash: str
    csrf_token: str
    user: AuthUser | None


@dataclass(frozen=True)
class LoginResult:
    user: AuthUser
    cookie_value: str
    session: SessionInfo


class LoginRefused(InputError):
    """Wrong username or password (one message for both), or too many tries."""

    def __init__(self, message: Message, *, throttled: bool = False, retry_minutes: int = 0) -> None:
        super().__init__(message, field="password")
        self.throttled = throttled
        self.retry_minutes = retry_minutes


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def masked_name(typed: str) -> str:
    """How a typed name that is no account is kept: ``?`` and 8 hex digits of its SHA-256."""
    return "?" + _sha256(typed)[:8]


def _snapshot(user: User) -> AuthUser:
    assert user.id is not None
    return AuthUser(id=user.id, username=user.username, role=user.role, staff_id=user.staff_id, unit_id=user.unit_id)


# -- users --------------------------------------------------------------------------------


def check_username(username: str) -> str:
    username = nfc(username).strip().lower()
    if not USERNAME_PATTERN.match(username):
        wrong = msg("error.username_not_allowed", username=username)
        raise InputError(wrong, hint=msg("hint.username"), field="username")
    return username


def check_password(password: str, *, username: str) -> None:
    if len(password) < PASSWORD_MIN:
        raise InputError(
            msg("error.password_too_short", length=len(password), minimum=PASSWORD_MIN),
            hint=msg("hint.password_words"),
            field="password",
        )
    if len(password) > PASSWORD_MAX:
        raise InputError(msg("error.password_too_long", maximum=PASSWORD_MAX), field="password")
    if password.strip().lower() == username:
        raise InputError(msg("error.password_is_username"), field="password")


def parse_role(value: str) -> Role:
    try:
        return Role(value.strip().lower())
    except ValueError:
        raise InputError(
            msg("error.unknown_role", role=value), hint=msg("hint.one_of", choices=", ".join(Role)), field="role"
        ) from None


def add_user(
    engine: Engine,
    *,
    username: str,
    role: Role,
    password: str | None,
    actor: str,
    staff: str | None = None,
    unit: str | None = None,
    email: str | None = None,
) -> AuthUser:
    """Create a console account; a user without a password cannot log in (API token only).

    ``unit`` (a code) scopes the account to that unit and the units below it; ``email`` is
    where the account's alerts go (else its staff member's address)."""
    username = check_username(username)
    if email is not None:
        from email.utils import parseaddr

        email = email.strip()
        if "@" not in parseaddr(email)[1]:
            raise InputError(msg("error.mail_address", address=email), field="email")
    if password is not None:
        password = nfc(password)
        check_password(password, username=username)
    password_hash = _hasher.hash(password) if password is not None else None
    with session_scope(engine) as session:
        if session.exec(select(User).where(User.username == username)).first() is not None:
            raise InputError(
                msg("error.user_exists", username=username), hint=msg("hint.other_username"), field="username"
            )
        staff_id = _staff_id(session, staff) if staff is not None else None
        from scheduler.channels.catalog import unit_id_of

        unit_id = unit_id_of(session, unit) if unit else None
        user = User(
            username=username, password_hash=password_hash, role=role, staff_id=staff_id, unit_id=unit_id,
            created_at=utcnow(), email=email or None,
        )  # fmt: skip
        session.add(user)
        session.flush()
        record(session, actor=actor, action="user.add", object=f"user:{username}",
               details={"role": role.value, "unit": unit})  # fmt: skip
        return _snapshot(user)


def _staff_id(session: Session, reference: str) -> int:
    reference = reference.strip()
    row = (
        session.get(Staff, int(reference))
        if reference.isdigit()
        else session.exec(select(Staff).where(func.lower(Staff.email) == reference.lower())).first()
    )
    if row is None or row.id is None:
        raise NotFound(msg("error.no_staff_member", staff=reference), hint=msg("hint.staff_reference"), field="staff")
    return row.id


def set_password(engine: Engine, username: str, password: str, *, actor: str) -> None:
    password = nfc(password)
    check_password(password, username=username)
    with session_scope(engine) as session:
        user = _user(session, username)
        user.password_hash = _hasher.hash(password)
        session.add(user)
        # A new password ends every session that might have been opened with the old one.
        session.exec(delete(UserSession).where(col(UserSession.user_id) == user.id))
        record(session, actor=actor, action="user.password", object=f"user:{username}")


def disable_user(engine: Engine, username: str, *, actor: str) -> int:
    """Disable an account: its sessions end and its API tokens are revoked. Returns sessions ended."""
    with session_scope(engine) as session:
        user = _user(session, username)
        user.active = False
        session.add(user)
        ended = _end_sessions(session, user)
        live_tokens = select(ApiToken).where(ApiToken.user_id == user.id, col(ApiToken.revoked).is_(False))
        for token in session.exec(live_tokens):
            token.revoked = True
            session.add(token)
        record(
            session,
            actor=actor,
            action="user.disable",
            object=f"user:{user.username}",
            details={"sessions_ended": ended},
        )
        return ended


def enable_user(engine: Engine, username: str, *, actor: str) -> None:
    with session_scope(engine) as session:
        user = _user(session, username)
        user.active = True
        session.add(user)
        record(session, actor=actor, action="user.enable", object=f"user:{user.username}")


def end_sessions(engine: Engine, username: str, *, actor: str) -> int:
    """Sign a user out everywhere (ASVS 7.4.5)."""
    with session_scope(engine) as session:
        user = _user(session, username)
        ended = _end_sessions(session, user)
        record(
            session,
            actor=actor,
            action="user.sessions_ended",
            object=f"user:{user.username}",
            details={"sessions_ended": ended},
        )
        return ended


def _end_sessions(session: Session, user: User) -> int:
    rows = list(session.exec(select(UserSession).where(UserSession.user_id == user.id)))
    for row in rows:
        session.delete(row)
    return len(rows)


def _user(session: Session, username: str) -> User:
    user = session.exec(select(User).where(User.username == username.strip().lower())).first()
    if user is None:
        raise NotFound(msg("error.no_user", username=username), hint=msg("hint.user_list"), field="username")
    return user


def list_users(engine: Engine) -> list[dict[str, object]]:
    with session_scope(engine, read_only=True) as session:
        users = list(session.exec(select(User).order_by(col(User.username))))
        now = utcnow()
        live = dict(
            session.exec(
                select(UserSession.user_id, func.count())
                .where(col(UserSession.user_id).is_not(None), UserSession.expires_at > now)
                .group_by(col(UserSession.user_id))
            ).all()
        )
        tokens = dict(
            session.exec(
                select(ApiToken.user_id, func.count())
                .where(col(ApiToken.revoked).is_(False))
                .group_by(col(ApiToken.user_id))
            ).all()
        )
        return [
            {
                "id": u.id,
                "username": u.username,
                "role": u.role.value,
                "active": u.active,
                "staff_id": u.staff_id,
                "has_password": u.password_hash is not None,
                "created_at": u.created_at.isoformat(),
                "sessions": int(live.get(u.id or 0, 0)),
                "tokens": int(tokens.get(u.id or 0, 0)),
            }
            for u in users
        ]


# -- API tokens -----------------------------------------------------------------------------


def new_api_token(engine: Engine, username: str, *, actor: str) -> str:
    """A new bearer token for the user, returned once; only its SHA-256 is kept."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with session_scope(engine) as session:
        user = _user(session, username)
        if not user.active:
            wrong = msg("error.user_disabled", username=username)
            raise InputError(wrong, hint=msg("hint.enable_first"), field="username")
        assert user.id is not None
        session.add(ApiToken(user_id=user.id, token_hash=_sha256(token), created_at=utcnow()))
        record(
            session,
            actor=actor,
            action="user.token",
            object=f"user:{user.username}",
            details={"token": token[:8] + "…"},
        )
    return token


def user_for_token(engine: Engine, token: str) -> AuthUser | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    digest = _sha256(token)
    now = utcnow()
    with session_scope(engine, read_only=True) as session:
        row = session.exec(select(ApiToken).where(ApiToken.token_hash == digest)).first()
        if row is None or row.revoked:
            return None
        user = session.get(User, row.user_id)
        if user is None or not user.active:
            return None
        snapshot = _snapshot(user)
        stale = row.last_used_at is None or now - row.last_used_at > TOUCH_EVERY
    if stale:
        with session_scope(engine) as session:
            fresh = session.get(ApiToken, row.id)
            if fresh is not None:
                fresh.last_used_at = now
                session.add(fresh)
    return snapshot


# -- sessions -------------------------------------------------------------------------------


def new_anonymous_session(engine: Engine, *, ip: str | None) -> tuple[str, SessionInfo]:
    """A pre-login session: it only carries the login form's CSRF token."""
    value = secrets.token_urlsafe(32)
    now = utcnow()
    row = UserSession(
        id_hash=_sha256(value),
        user_id=None,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
        expires_at=now + ANONYMOUS_SESSION,
        ip=ip,
    )
    with session_scope(engine) as session:
        session.add(row)
    return value, SessionInfo(id_hash=row.id_hash, csrf_token=row.csrf_token, user=None)


def load_session(engine: Engine, cookie_value: str | None, *, now: datetime | None = None) -> SessionInfo | None:
    """The live session behind a cookie, or None (unknown, expired, idle too long, user disabled)."""
    if not cookie_value or len(cookie_value) > 200:
        return None
    now = now or utcnow()
    digest = _sha256(cookie_value)
    with session_scope(engine, read_only=True) as session:
        row = session.get(UserSession, digest)
        if row is None or row.expires_at <= now:
            return None
        user = session.get(User, row.user_id) if row.user_id is not None else None
        if row.user_id is not None and (user is None or not user.active):
            return None
        if user is not None and now - row.last_seen_at > SESSION_IDLE:
            return None
        info = SessionInfo(id_hash=row.id_hash, csrf_token=row.csrf_token, user=_snapshot(user) if user else None)
        stale = user is not None and now - row.last_seen_at > TOUCH_EVERY
    if stale:
        with session_scope(engine) as session:
            fresh = session.get(UserSession, digest)
            if fresh is not None:
                fresh.last_seen_at = now
                session.add(fresh)
    return info


def end_session(engine: Engine, info: SessionInfo) -> None:
    with session_scope(engine) as session:
        row = session.get(UserSession, info.id_hash)
        if row is not None:
            session.delete(row)
            if info.user is not None:
                record(session, actor=info.user.username, action="auth.logout", object=f"user:{info.user.username}")


def csrf_ok(info: SessionInfo | None, token: str | None) -> bool:
    return bool(info and token and hmac.compare_digest(info.csrf_token.encode(), token.encode()))


def login(
    engine: Engine,
    username: str,
    password: str,
    *,
    ip: str,
    previous: SessionInfo | None = None,
    now: datetime | None = None,
) -> LoginResult:
    """Check the password and open a new session (the pre-login one, if any, is deleted)."""
    now = now or utcnow()
    typed = nfc(username).strip().lower()[:64]
    since = now - THROTTLE_WINDOW
    with session_scope(engine, read_only=True) as session:
        user = session.exec(select(User).where(User.username == typed)).first()
        stored_hash = user.password_hash if user is not None else None
        active = bool(user is not None and user.active)
    # What is typed as a username may be a password typed in the wrong field: a name that is
    # no account is kept only as a short digest (enough to see repeats, not to read it back).
    who = typed if user is not None else masked_name(typed)
    reserved = _reserve_try(engine, username=who, ip=ip, now=now, per_ip=True)
    if reserved is None:
        with session_scope(engine) as session:
            record(session, actor=who, action="auth.throttled", object=f"user:{who}", details={"ip": ip})
        minutes = int(THROTTLE_WINDOW.total_seconds() // 60)
        raise LoginRefused(msg("login.throttled", minutes=minutes), throttled=True, retry_minutes=minutes)
    verified = False
    try:
        verified = _hasher.verify(stored_hash or _dummy_hash(), nfc(password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        verified = False
    if not (verified and active and stored_hash is not None and user is not None):
        # The reserved try stays: it is this failure's row.
        with session_scope(engine) as session:
            disabled = user is not None and not active and verified
            reason = N_("audit_reason.login_disabled") if disabled else N_("audit_reason.bad_credentials")
            record(
                session,
                actor=who,
                action="auth.login_failed",
                object=f"user:{who}",
                details={"ip": ip, "reason": reason},
            )
        raise LoginRefused(msg("login.wrong"))
    value = secrets.token_urlsafe(32)
    with session_scope(engine) as session:
        row_user = session.get(User, user.id)
        assert row_user is not None
        if _hasher.check_needs_rehash(stored_hash):
            row_user.password_hash = _hasher.hash(nfc(password))
            session.add(row_user)
        if previous is not None:
            old = session.get(UserSession, previous.id_hash)
            if old is not None:
                session.delete(old)
        # Housekeeping at a moment that writes anyway: expired sessions, old failures.
        session.exec(delete(UserSession).where(col(UserSession.expires_at) <= now))
        session.exec(delete(LoginFailure).where(col(LoginFailure.at) < since))
        session.exec(delete(LoginFailure).where(col(LoginFailure.username) == typed, col(LoginFailure.ip) == ip))
        row = UserSession(
            id_hash=_sha256(value),
            user_id=user.id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
            expires_at=now + SESSION_ABSOLUTE,
            ip=ip,
        )
        session.add(row)
        record(session, actor=typed, action="auth.login", object=f"user:{typed}", details={"ip": ip})
        snapshot = _snapshot(row_user)
    return LoginResult(
        user=snapshot,
        cookie_value=value,
        session=SessionInfo(id_hash=row.id_hash, csrf_token=row.csrf_token, user=snapshot),
    )


def _reserve_try(engine: Engine, *, username: str, ip: str, now: datetime, per_ip: bool) -> int | None:
    """Count recent failures and, under the limits, book this try as one — in one write transaction.

    The password is checked only after the booking commits, and a right password deletes it,
    so however many tries arrive at once no more passwords are checked than the limit allows.
    Counting and booking must not interleave between two tries from the same address: SQLite
    write transactions are one at a time (BEGIN IMMEDIATE); on PostgreSQL a transaction-scoped
    advisory lock on the address serialises them. Returns the booking's id, or None when throttled.
    """
    since = now - THROTTLE_WINDOW
    with session_scope(engine) as session:
        if not is_sqlite(engine):
            key = f"loa/login/{ip}"
            session.connection().execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})
        if _count_failures(session, since, username=username, ip=ip) >= THROTTLE_PER_USER_IP:
            return None
        if per_ip and _count_failures(session, since, ip=ip) >= THROTTLE_PER_IP:
            return None
        booking = LoginFailure(username=username, ip=ip, at=now)
        session.add(booking)
        session.flush()
        return booking.id


def _count_failures(session: Session, since: datetime, *, ip: str, username: str | None = None) -> int:
    query = select(func.count()).select_from(LoginFailure).where(LoginFailure.ip == ip, LoginFailure.at >= since)
    if username is not None:
        query = query.where(LoginFailure.username == username)
    return int(session.exec(query).one())


# -- authorisation --------------------------------------------------------------------------


def channel_scope(engine: Engine, user: AuthUser) -> frozenset[str] | None:
    """The channels an account acts for: those of its unit and the units below it.

    None means every channel: admins, accounts without a unit, and accounts of the unit at the
    top of the tree (the province, whose approvers approve for all). A scoped account never
    acts for a channel without a unit — those are the province's.
    """
    if user.role == Role.admin or user.unit_id is None:
        return None
    from scheduler.models import ChannelState, Unit
    from scheduler.staff.units import current, units_below

    with session_scope(engine, read_only=True) as session:
        unit = session.get(Unit, user.unit_id)
        if unit is None:
            return frozenset()
        unit = current(session, unit)
        if unit.parent_id is None:
            return None
        assert unit.id is not None
        below = units_below(session, unit.id)
        rows = session.exec(select(ChannelState.id).where(col(ChannelState.unit_id).in_(below)))
        return frozenset(rows.all())


def unit_scope(engine: Engine, user: AuthUser) -> tuple[frozenset[int] | None, str]:
    """The units an account acts for (its unit and those below; None: all) and its unit's label.

    The same rule as ``channel_scope``: admins, accounts without a unit and the province's
    accounts act for the whole office.
    """
    if user.role == Role.admin or user.unit_id is None:
        return None, ""
    from scheduler.models import Unit
    from scheduler.staff.units import current, units_below

    with session_scope(engine, read_only=True) as session:
        unit = session.get(Unit, user.unit_id)
        if unit is None:
            return frozenset(), ""
        unit = current(session, unit)
        if unit.parent_id is None:
            return None, ""
        assert unit.id is not None
        return frozenset(units_below(session, unit.id)), f"{unit.name} ({unit.code})"


def account(engine: Engine, username: str) -> AuthUser:
    """An active account by name (``loa --as``): NotFound naming the problem otherwise."""
    with session_scope(engine, read_only=True) as session:
        user = session.exec(select(User).where(User.username == username.strip().lower())).first()
        if user is None or not user.active:
            raise NotFound(msg("error.no_user", username=username), hint=msg("hint.user_list"), field="as")
        return _snapshot(user)


def may_manage_post(user: AuthUser, created_by: str) -> bool:
    """Admins manage every post; editors only the posts they wrote."""
    if user.role == Role.admin:
        return True
    return user.role == Role.editor and created_by == user.username


def record_forbidden(engine: Engine, user: AuthUser | None, *, what: str, details: dict[str, object]) -> None:
    """A refused request is a security event (ASVS 16.3.2): who tried what, kept in the audit log."""
    actor = user.username if user else "anonymous"
    with session_scope(engine) as session:
        record(session, actor=actor, action="auth.forbidden", object=what, details=details)


def roles() -> Iterable[str]:
    return (r.value for r in Role)


# -- self-service and admin account changes ------------------------------------------------


def change_password(
    engine: Engine,
    info: SessionInfo,
    current: str,
    new: str,
    *,
    ip: str,
    now: datetime | None = None,
) -> tuple[str, SessionInfo]:
    """A signed-in user's own new password (same rules as `loa user password`).

    The current password is checked (wrong tries count towards the login throttle); on
    success every *other* session of the user ends and this one gets a new id and CSRF
    token. Returns the new cookie value and session.
    """
    assert info.user is not None
    now = now or utcnow()
    username = info.user.username
    new = nfc(new)
    check_password(new, username=username)
    if _reserve_try(engine, username=username, ip=ip, now=now, per_ip=False) is None:
        minutes = int(THROTTLE_WINDOW.total_seconds() // 60)
        raise InputError(msg("error.password_throttled", minutes=minutes), field="current_password")
    with session_scope(engine, read_only=True) as session:
        user = session.get(User, info.user.id)
        stored_hash = user.password_hash if user is not None else None
    try:
        verified = stored_hash is not None and _hasher.verify(stored_hash, nfc(current))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        verified = False
    if not verified:
        with session_scope(engine) as session:  # the reserved try stays as this failure
            record(session, actor=username, action="auth.password_change_failed", object=f"user:{username}")
        raise InputError(msg("error.current_password_wrong"), field="current_password")
    value = secrets.token_urlsafe(32)
    with session_scope(engine) as session:
        user = session.get(User, info.user.id)
        assert user is not None
        user.password_hash = _hasher.hash(new)
        session.add(user)
        old = session.get(UserSession, info.id_hash)
        expires_at = old.expires_at if old is not None else now + SESSION_ABSOLUTE
        ended = _end_sessions(session, user)
        session.exec(delete(LoginFailure).where(col(LoginFailure.username) == username, col(LoginFailure.ip) == ip))
        row = UserSession(
            id_hash=_sha256(value),
            user_id=user.id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
            expires_at=expires_at,
            ip=ip,
        )
        session.add(row)
        record(
            session,
            actor=username,
            action="auth.password_change",
            object=f"user:{username}",
            details={"other_sessions_ended": max(0, ended - 1), "ip": ip},
        )
    return value, SessionInfo(id_hash=row.id_hash, csrf_token=row.csrf_token, user=info.user)


def link_staff(engine: Engine, username: str, staff: str | None, *, actor: str) -> None:
    """Link an account to a staff member (id or email), or unlink it when ``staff`` is None."""
    with session_scope(engine) as session:
        user = _user(session, username)
        staff_id = _staff_id(session, staff) if staff is not None else None
        if staff_id == user.staff_id:
            return
        user.staff_id = staff_id
        session.add(user)
        if staff_id is None:
            record(session, actor=actor, action="user.staff_unlink", object=f"user:{user.username}")
        else:
            record(
                session,
                actor=actor,
                action="user.staff_link",
                object=f"user:{user.username}",
                details={"staff": staff_id},
            )
