"""`loa user …`: web console accounts and API tokens."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer
from rich.table import Table

from scheduler.cli.support import JsonOption, actor, err, local_time, out, print_json, ready
from scheduler.errors import InputError
from scheduler.i18n import N_, msg, process_text

user_app = typer.Typer(help="Web console accounts: add, list, API tokens, disable.", no_args_is_help=True)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        # One line: scripts pipe it in (`printf '%s\n' "$PW" | loa user add … --password-stdin`).
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise InputError(msg("error.no_password_given"), hint=msg("hint.password_stdin"))
    first = getpass.getpass("Mật khẩu (ít nhất 10 ký tự): ")
    second = getpass.getpass("Nhập lại mật khẩu: ")
    if first != second:
        raise InputError(msg("error.passwords_differ"), hint=msg("hint.same_password_twice"), field="password")
    return first


@user_app.command("add")
def user_add(
    ctx: typer.Context,
    username: Annotated[str, typer.Option(help="login name: lower-case letters, digits, . _ -")],
    role: Annotated[str, typer.Option(help="admin, editor, approver or staff")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="read the password from stdin")] = False,
    no_password: Annotated[
        bool, typer.Option("--no-password", help="an account for API tokens only; it cannot log in")
    ] = False,
    staff: Annotated[str | None, typer.Option(help="staff member (id or email) a staff account belongs to")] = None,
    unit: Annotated[
        str | None, typer.Option(help="the unit (code) the account acts for, and the units below it")
    ] = None,
    email: Annotated[str | None, typer.Option(help="where this account's alerts go")] = None,
) -> None:
    """Create a console account (the first one: --role admin)."""
    from scheduler.auth import add_user, parse_role

    loa = ready(ctx)
    parsed_role = parse_role(role)
    password = None if no_password else _read_password(password_stdin)
    user = add_user(
        loa.engine, username=username, role=parsed_role, password=password, actor=actor(), staff=staff, unit=unit,
        email=email,
    )
    out.print(
        process_text(
            "cli.user_created", username=user.username, role=user.role.value, url=f"{loa.settings.public_url}/login"
        )
    )


@user_app.command("token")
def user_token(ctx: typer.Context, username: Annotated[str, typer.Argument(metavar="USERNAME")]) -> None:
    """Print a new API token for that user (shown once, stored hashed)."""
    from scheduler.auth import new_api_token

    token = new_api_token(ready(ctx).engine, username, actor=actor())
    err.print(process_text("cli.new_token"))
    sys.stdout.write(token + "\n")


@user_app.command("disable")
def user_disable(ctx: typer.Context, username: Annotated[str, typer.Argument(metavar="USERNAME")]) -> None:
    """Disable an account: its sessions end at once and its API tokens stop working."""
    from scheduler.auth import disable_user

    ended = disable_user(ready(ctx).engine, username, actor=actor())
    out.print(process_text("cli.user_disabled", username=username, ended=ended))


@user_app.command("enable")
def user_enable(ctx: typer.Context, username: Annotated[str, typer.Argument(metavar="USERNAME")]) -> None:
    """Enable a disabled account again (its old API tokens stay revoked)."""
    from scheduler.auth import enable_user

    enable_user(ready(ctx).engine, username, actor=actor())
    out.print(process_text("cli.user_enabled", username=username))


@user_app.command("password")
def user_password(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(metavar="USERNAME")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="read the password from stdin")] = False,
) -> None:
    """Set a new password (the user's sessions end)."""
    from scheduler.auth import set_password

    set_password(ready(ctx).engine, username, _read_password(password_stdin), actor=actor())
    out.print(process_text("cli.password_set", username=username))


@user_app.command("list")
def user_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Console accounts with role, state, open sessions and API tokens."""
    from scheduler.auth import list_users

    loa = ready(ctx)
    users = list_users(loa.engine)
    if as_json:
        print_json({"users": users})
        return
    columns = (
        N_("cli.col.account"),
        N_("cli.col.role"),
        N_("cli.col.status"),
        N_("cli.col.sessions"),
        N_("cli.col.api_tokens"),
        N_("cli.col.created_at"),
    )
    table = Table(*(process_text(c) for c in columns))
    for user in users:
        table.add_row(
            str(user["username"]),
            str(user["role"]),
            process_text("cli.account_active") if user["active"] else process_text("cli.account_disabled"),
            str(user["sessions"]),
            str(user["tokens"]),
            local_time(str(user["created_at"]), loa.settings),
        )
    out.print(table)
