"""Connecting an account, the same for every platform: start (the authorisation URL, a
``state`` kept as a digest, PKCE secrets sealed), the callback (``state`` checked once: a
wrong, expired or replayed one is refused and audited), then the channels added — at once for
a platform granting one account (a Zalo OA), after the person ticks them for one granting
several (Facebook Pages).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from scheduler.audit import record
from scheduler.channels.catalog import add_connected, unit_id_of
from scheduler.channels.connect import ConnectFlow, FoundAccount, app_credentials
from scheduler.channels.registry import publisher_class, registry
from scheduler.errors import InputError, LoaError, NotFound, stored_error
from scheduler.i18n import Message, msg, stored
from scheduler.models import ConnectAttempt, utcnow
from scheduler.store import session_scope

if TYPE_CHECKING:
    from scheduler.app import Loa

ATTEMPT_LIFE = timedelta(minutes=10)  # Zalo's codes live 10 minutes (E2); a flow no longer
CALLBACK_PATH = "/channels/connect/callback"


def callback_url(loa: Loa) -> str:
    return loa.settings.public_url + CALLBACK_PATH


def state_digest(state: str) -> str:
    return hashlib.sha256(state.encode("utf-8", "surrogatepass")).hexdigest()


def flow_class(platform: str) -> type[ConnectFlow]:
    if platform not in registry():
        raise NotFound(
            msg("error.connect_unknown_platform", platform=platform),
            hint=msg("hint.connect_platforms", platforms=", ".join(connectable())),
            field="platform",
        )
    flow = publisher_class(platform).connect_flow()
    if flow is None:
        raise InputError(
            msg("error.connect_unknown_platform", platform=platform),
            hint=msg("hint.connect_platforms", platforms=", ".join(connectable())),
            field="platform",
        )
    return flow


def connectable() -> list[str]:
    return [name for name, cls in registry().items() if cls.connect_flow() is not None]


def build_flow(loa: Loa, platform: str) -> ConnectFlow:
    cls = flow_class(platform)
    return cls(app_credentials(loa.settings, cls), timeout=loa.settings.publishing.request_timeout_seconds)


@dataclass
class Started:
    platform: str
    state: str
    url: str


@dataclass
class Granted:
    """What a callback found: the accounts (each addable or with its problem) and the channels added."""

    state_hash: str
    platform: str
    accounts: list[dict[str, Any]] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    pick: bool = False


def start(
    loa: Loa,
    platform: str,
    *,
    actor: str,
    unit: str | None = None,
    channel_id: str | None = None,
) -> Started:
    flow = build_flow(loa, platform)
    if channel_id is not None:
        channel = loa.settings.channel(channel_id)
        if channel.platform != platform:
            raise InputError(msg("error.connect_wrong_platform", channel=channel_id, platform=channel.platform))
    state = secrets.token_urlsafe(32)
    redirect_uri = callback_url(loa)
    auth = flow.authorization(state, redirect_uri)
    now = utcnow()
    with session_scope(loa.engine) as session:
        unit_id = unit_id_of(session, unit)
        session.add(
            ConnectAttempt(
                state_hash=state_digest(state),
                platform=platform,
                actor=actor,
                unit_id=unit_id,
                channel_id=channel_id,
                redirect_uri=redirect_uri,
                created_at=now,
                expires_at=now + ATTEMPT_LIFE,
                secrets_encrypted=loa.vault.seal({"flow": auth.secrets}),
            )
        )
        record(session, actor=actor, action="channel.connect_start", object=f"platform:{platform}",
               details={"unit": unit, "channel": channel_id})  # fmt: skip
    return Started(platform, state, auth.url)


def _refuse(loa: Loa, actor: str, reason: Message, *, attempt: str | None = None) -> InputError:
    with session_scope(loa.engine) as session:
        record(session, actor=actor, action="channel.connect_refused", object=attempt,
               details={"reason": stored(reason)})  # fmt: skip
    return InputError(reason, hint=msg("hint.connect_again"), field="state")


def callback(loa: Loa, params: Mapping[str, str], *, actor: str) -> Granted:
    """The browser came back (or its URL was pasted): check ``state``, then ask the platform."""
    state = params.get("state", "")
    digest = state_digest(state) if state else ""
    now = utcnow()
    with session_scope(loa.engine) as session:
        row = session.get(ConnectAttempt, digest) if digest else None
        problem: Message | None = None
        if row is None:
            problem = msg("error.connect_bad_state")
        elif row.used_at is not None:
            problem = msg("error.connect_state_replayed")
        elif row.expires_at <= now:
            problem = msg("error.connect_state_expired")
        if row is not None and problem is None:
            # Spent before the platform is asked: a second arrival is a replay, whatever happens next.
            row.used_at = now
            session.add(row)
            platform, sealed = row.platform, row.secrets_encrypted
            redirect_uri, unit_id, channel_id, starter = row.redirect_uri, row.unit_id, row.channel_id, row.actor
    if problem is not None or row is None:
        raise _refuse(loa, actor, problem or msg("error.connect_bad_state"), attempt=digest[:12] or None)
    flow = build_flow(loa, platform)
    kept = loa.vault.unseal(sealed) if sealed else {}
    flow_secrets = kept.get("flow")
    given = {str(k): str(v) for k, v in flow_secrets.items()} if isinstance(flow_secrets, dict) else {}
    try:
        found = flow.complete(params, given, redirect_uri)
    except LoaError as exc:
        with session_scope(loa.engine) as session:
            record(session, actor=actor, action="channel.connect_failed", object=f"platform:{platform}",
                   details={"reason": stored_error(exc)})  # fmt: skip
        raise
    granted = Granted(digest, platform, accounts=[_public(a) for a in found], pick=flow.pick_accounts)
    with session_scope(loa.engine) as session:
        row = session.get(ConnectAttempt, digest)
        assert row is not None
        row.found_json = json.dumps(granted.accounts, ensure_ascii=False)
        row.secrets_encrypted = loa.vault.seal(
            {"accounts": {a.external_id: a.credentials for a in found if not a.problem}}
        )
        session.add(row)
    if not flow.pick_accounts:
        granted.added = finish(
            loa,
            digest,
            [a.external_id for a in found if not a.problem],
            actor=starter,
            found=found,
            unit_id=unit_id,
            channel_id=channel_id,
        )
    return granted


def _public(account: FoundAccount) -> dict[str, Any]:
    return {
        "external_id": account.external_id,
        "name": account.name,
        "picture": account.picture,
        "problem": stored(account.problem) if account.problem else None,
        "scopes": list(account.scopes),
        "expires_at": account.expires_at.isoformat() if account.expires_at else None,
    }


def pending(loa: Loa, state_hash: str, *, actor: str) -> Granted:
    """A callback's accounts, for the page where the person ticks them."""
    with session_scope(loa.engine, read_only=True) as session:
        row = session.get(ConnectAttempt, state_hash)
        if row is None or row.found_json is None or row.finished_at is not None:
            raise InputError(msg("error.connect_no_attempt"), hint=msg("hint.connect_again"))
        return Granted(state_hash, row.platform, accounts=json.loads(row.found_json), pick=True)


def finish(
    loa: Loa,
    state_hash: str,
    picks: Sequence[str],
    *,
    actor: str,
    found: list[FoundAccount] | None = None,
    unit_id: int | None = None,
    channel_id: str | None = None,
) -> list[str]:
    """Add the ticked accounts as channels (each one's credentials stored encrypted)."""
    from datetime import datetime

    with session_scope(loa.engine) as session:
        row = session.get(ConnectAttempt, state_hash)
        if row is None or row.found_json is None or row.finished_at is not None:
            raise InputError(msg("error.connect_no_attempt"), hint=msg("hint.connect_again"))
        if found is None:
            unit_id, channel_id = row.unit_id, row.channel_id
        accounts = {a["external_id"]: a for a in json.loads(row.found_json)}
        kept = loa.vault.unseal(row.secrets_encrypted) if row.secrets_encrypted else {}
        platform = row.platform
    credentials = kept.get("accounts") if isinstance(kept.get("accounts"), dict) else {}
    assert isinstance(credentials, dict)
    picked = list(dict.fromkeys(p.strip() for p in picks if p.strip()))
    if not picked:
        raise InputError(msg("error.connect_nothing_picked"), hint=msg("hint.connect_pick"), field="page")
    for external_id in picked:
        account = accounts.get(external_id)
        if account is None:
            raise InputError(
                msg("error.connect_not_granted", account=external_id),
                hint=msg(
                    "hint.connect_granted",
                    known=", ".join(f"{a['external_id']} ({a['name']})" for a in accounts.values()),
                ),
                field="page",
            )
        if account["problem"] or external_id not in credentials:
            raise InputError(
                msg("error.connect_cannot_add", account=account["name"]),
                hint=msg("hint.connect_fix_on_platform"),
                field="page",
            )
    mode = "sandbox" if build_flow(loa, platform).app.sandbox else "live"
    added: list[str] = []
    for external_id in picked:
        account = accounts[external_id]
        expires = datetime.fromisoformat(account["expires_at"]) if account.get("expires_at") else None
        new = FoundAccount(
            external_id=external_id,
            name=account["name"],
            picture=account.get("picture"),
            credentials={str(k): str(v) for k, v in credentials[external_id].items()},
            scopes=tuple(account.get("scopes") or ()),
            expires_at=expires,
        )
        target = channel_id if len(picked) == 1 else None
        channel, _ = add_connected(
            loa, new, platform=platform, actor=actor, unit_id=unit_id, channel_id=target, mode=mode
        )
        added.append(channel)
    from scheduler.channels.health import check_channel

    for channel in added:
        # The token's own limits, read at once: the channels page shows when it runs out.
        check_channel(loa.settings, loa.engine, loa.vault, loa.settings.channel(channel))
    with session_scope(loa.engine) as session:
        row = session.get(ConnectAttempt, state_hash)
        if row is not None:
            row.finished_at = utcnow()
            row.secrets_encrypted = None  # the Page tokens are in the channels' vault entries now
            session.add(row)
    return added


def attempt_state(loa: Loa, state: str) -> tuple[bool, bool]:
    """(the callback arrived, the channels were added) for a flow this process started."""
    with session_scope(loa.engine, read_only=True) as session:
        row = session.get(ConnectAttempt, state_digest(state))
        if row is None:
            return False, False
        return row.found_json is not None, row.finished_at is not None


def started_by(loa: Loa, state: str) -> str | None:
    """Who started the flow ``state`` belongs to (None: no such flow)."""
    if not state:
        return None
    with session_scope(loa.engine, read_only=True) as session:
        row = session.get(ConnectAttempt, state_digest(state))
        return row.actor if row else None


def from_terminal(actor: str) -> bool:
    """A flow started by `loa channels connect` (its callback needs no console login)."""
    return actor.startswith("cli:")
