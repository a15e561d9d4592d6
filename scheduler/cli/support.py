"""What every `loa` command module shares: consoles, common options, the app, formatting."""

from __future__ import annotations

import getpass
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from scheduler.app import Loa
from scheduler.config import Settings, load_settings
from scheduler.errors import InputError
from scheduler.i18n import msg
from scheduler.render.messages import nfc

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="config.toml to use (else $LOA_CONFIG, else ./config.toml)")
]
JsonOption = Annotated[bool, typer.Option("--json", help="print one JSON document on stdout")]
VarOption = Annotated[list[str] | None, typer.Option("--var", help="template variable K=V (repeatable)")]


def actor() -> str:
    """Who a command-line change is attributed to in the audit log."""
    return f"cli:{getpass.getuser()}"


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
    sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
