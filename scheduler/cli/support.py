"""What every `loa` command module shares: consoles, common options, the app, formatting."""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from scheduler.app import Loa
from scheduler.config import Settings, load_settings
from scheduler.errors import InputError
from scheduler.i18n import msg
from scheduler.render.messages import nfc
from scheduler.terminal import SafeConsole, printable, printable_json

if TYPE_CHECKING:
    from scheduler.auth import AuthUser

out = SafeConsole(highlight=False, soft_wrap=True)
err = SafeConsole(stderr=True, highlight=False, soft_wrap=True)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="config.toml to use (else $LOA_CONFIG, else ./config.toml)")
]
JsonOption = Annotated[bool, typer.Option("--json", help="print one JSON document on stdout")]
AsOption = Annotated[
    str | None,
    typer.Option("--as", help="act as this console account: its unit's channels only (else $LOA_AS)"),
]
VarOption = Annotated[list[str] | None, typer.Option("--var", help="template variable K=V (repeatable)")]


def actor() -> str:
    """Who a command-line change is attributed to in the audit log."""
    return f"cli:{getpass.getuser()}"


def acting(ctx: typer.Context, loa: Loa) -> AuthUser | None:
    """The console account `loa --as NAME` (or $LOA_AS) acts as, None for the operator."""
    name = ctx.find_root().obj.get("as")
    if not name:
        return None
    from scheduler.auth import account

    return account(loa.engine, name)


def cli_scope(ctx: typer.Context, loa: Loa) -> frozenset[str] | None:
    """The channels the CLI may act for: all for the operator, the account's unit's with --as."""
    user = acting(ctx, loa)
    if user is None:
        return None
    from scheduler.auth import channel_scope

    return channel_scope(loa.engine, user)


def require_channels(ctx: typer.Context, loa: Loa, channels: Iterable[str], what: str) -> None:
    """Refuse (audited, exit 2) a channel outside the --as account's unit."""
    scope = cli_scope(ctx, loa)
    outside = sorted(set(channels) - scope) if scope is not None else []
    if outside:
        refuse_outside(ctx, loa, what, ", ".join(outside))


def refuse_outside(ctx: typer.Context, loa: Loa, what: str, outside: str) -> None:
    """The audited refusal every `--as` check ends in: it names the account's unit and the way out."""
    from scheduler.auth import record_forbidden, unit_scope

    user = acting(ctx, loa)
    assert user is not None
    _, unit = unit_scope(loa.engine, user)
    details: dict[str, object] = {"reason": "audit_reason.other_unit", "channels": outside, "via": "cli"}
    record_forbidden(loa.engine, user, what=what, details=details)
    raise InputError(
        msg("error.cli_other_unit", user=user.username, unit=unit or "—", outside=outside),
        hint=msg("hint.cli_other_unit", unit=unit or "—"),
        field="as",
    )


def require_post(ctx: typer.Context, loa: Loa, post_id: int, what: str) -> None:
    """Refuse (audited, exit 2) a post none of whose channels is the --as account's unit's."""
    scope = cli_scope(ctx, loa)
    if scope is None:
        return
    channels = {p["channel"] for p in loa.posts.show(post_id)["publications"]}
    if not channels & scope:
        refuse_outside(ctx, loa, what, ", ".join(sorted(channels)) or f"post:{post_id}")


def require_publication(ctx: typer.Context, loa: Loa, publication_id: int, what: str) -> None:
    """Refuse (audited, exit 2) a publication on a channel outside the --as account's unit."""
    if cli_scope(ctx, loa) is None:
        return
    from scheduler.models import Publication
    from scheduler.store import session_scope

    with session_scope(loa.engine, read_only=True) as session:
        row = session.get(Publication, publication_id)
        channel = row.channel_id if row is not None else None
    if channel is not None:  # an unknown id is for the command itself to explain
        require_channels(ctx, loa, [channel], what)


def unit_within(ctx: typer.Context, loa: Loa) -> frozenset[int] | None:
    """The units the --as account acts for (its own and those below); None: the whole office."""
    user = acting(ctx, loa)
    if user is None:
        return None
    from scheduler.auth import unit_scope

    return unit_scope(loa.engine, user)[0]


def require_unit(ctx: typer.Context, loa: Loa, code: str, what: str) -> None:
    """Refuse (audited, exit 2) a unit outside the --as account's own unit and those below it."""
    within = unit_within(ctx, loa)
    if within is None:
        return
    from sqlmodel import select

    from scheduler.models import Unit
    from scheduler.staff.units import current
    from scheduler.store import session_scope

    with session_scope(loa.engine, read_only=True) as session:
        unit = session.exec(select(Unit).where(Unit.code == code.strip())).first()
        unit_id = current(session, unit).id if unit is not None else None
    if unit_id is not None and unit_id not in within:  # an unknown code is the command's to explain
        refuse_outside(ctx, loa, what, code)


def acting_name(ctx: typer.Context, loa: Loa) -> str:
    """Who a change is attributed to: the --as account, else the operator (`cli:<user>`)."""
    user = acting(ctx, loa)
    return user.username if user is not None else actor()


def loa_app(ctx: typer.Context) -> Loa:
    root = ctx.find_root()
    if "loa" not in root.obj:
        root.obj["loa"] = Loa(load_settings(root.obj.get("config")))
        root.call_on_close(root.obj["loa"].close)
    loa: Loa = root.obj["loa"]
    return loa


def ready(ctx: typer.Context) -> Loa:
    """The app on a database whose schema matches this code (else: run `loa init`)."""
    loa = loa_app(ctx)
    loa.open()
    return loa


def parse_variables(pairs: list[str] | None) -> dict[str, str]:
    variables: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(msg("error.var_not_key_value", pair=pair), hint=msg("hint.var_form"))
        variables[nfc(key.strip())] = nfc(value)
    return variables


def local_time(value: str | datetime | None, settings: Settings) -> str:
    if value is None:
        return "—"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(settings.tz).strftime("%d/%m/%Y %H:%M")


def print_json(document: Any) -> None:
    sys.stdout.write(printable_json(json.dumps(document, ensure_ascii=False, indent=2)) + "\n")


def write_text(text: str) -> None:
    """Plain text on stdout (a rendered message, a token), its control characters made visible."""
    sys.stdout.write(printable(text))


def check_output(path: Path, *, folder: bool = False, make_parents: bool = False) -> Path:
    """Refuse early an ``-o`` that cannot be written (exit 2), before any work is done.

    ``folder``: the option names a folder to fill (made when missing) rather than a file;
    ``make_parents``: missing folders on the way are made (as `loa render cover` always did).
    """
    shown = str(path)
    if make_parents:
        try:
            (path if folder else path.parent).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(
                msg("error.output_write_failed", path=shown, reason=exc.strerror or str(exc)),
                hint=msg("hint.output_elsewhere"),
                field="output",
            ) from None
    if folder:
        # A folder made later, when there is something to write: what matters now is the
        # nearest folder that exists on the way, where it will be made.
        target = path.absolute()
        while not target.exists() and target != target.parent:
            target = target.parent
        if path.exists() and not path.is_dir():
            raise InputError(msg("error.output_not_folder", path=shown), hint=msg("hint.output_folder"), field="output")
    else:
        if path.is_dir():
            raise InputError(msg("error.output_is_folder", path=shown), hint=msg("hint.output_file"), field="output")
        target = path.parent if str(path.parent) else Path(".")
    if not target.is_dir():
        raise InputError(
            msg("error.output_no_folder", path=shown, folder=str(target)), hint=msg("hint.output_mkdir"), field="output"
        )
    writable = os.access(target, os.W_OK | os.X_OK) and (folder or not path.exists() or os.access(path, os.W_OK))
    if not writable:
        refused = msg("error.output_not_writable", path=shown)
        raise InputError(refused, hint=msg("hint.output_elsewhere"), field="output")
    return path


def write_output(path: Path, data: bytes | str) -> None:
    """Write whole or not at all: a half-written file must never be opened as the real one."""
    payload = data.encode("utf-8-sig" if path.suffix.lower() == ".csv" else "utf-8") if isinstance(data, str) else data
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_bytes(payload)
        partial.replace(path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise InputError(
            msg("error.output_write_failed", path=str(path), reason=exc.strerror or str(exc)),
            hint=msg("hint.output_elsewhere"),
            field="output",
        ) from None
