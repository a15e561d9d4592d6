"""`loa alerts …`: a test message, the delivery log, and one delivery pass for cron."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from scheduler.app import Loa
from scheduler.cli.support import JsonOption, local_time, out, print_json, ready
from scheduler.i18n import N_, process_lang, process_text, render_stored

alerts_app = typer.Typer(
    help="Alerts by e-mail and webhook: a test, the delivery log, a delivery pass.", no_args_is_help=True
)


@alerts_app.command("test")
def alerts_test(
    ctx: typer.Context,
    to: Annotated[
        str | None, typer.Option(help="send to this address (else every admin with one, and the webhooks)")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Send a test alert now and say whether each message went out."""
    from scheduler.alerts.outbox import Deliverer
    from scheduler.alerts.trial import queue_test_messages

    loa = ready(ctx)
    ids = queue_test_messages(loa.settings, loa.engine, to=to)
    Deliverer(loa.settings, loa.engine).run_once()
    _show(loa, [row for row in _log(loa) if row["id"] in ids], as_json)
    if any(row["status"] != "sent" for row in _log(loa) if row["id"] in ids):
        raise typer.Exit(1)


@alerts_app.command("list")
def alerts_list(
    ctx: typer.Context,
    as_json: JsonOption = False,
    limit: Annotated[int, typer.Option(min=1, max=5000, help="how many of the newest messages")] = 200,
) -> None:
    """The delivery log: each message, its state, attempts and last error."""
    loa = ready(ctx)
    _show(loa, _log(loa, limit), as_json)


@alerts_app.command("deliver")
def alerts_deliver(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Send what the outbox holds now, once, then exit (cron-friendly; `loa run` does it on its own)."""
    from scheduler.alerts.outbox import Deliverer
    from scheduler.alerts.watch import raise_digest, raise_new_posts, raise_token_expiry

    loa = ready(ctx)
    # What the lease holder of `loa run` raises on its own, for an office that runs cron instead.
    raise_digest(loa.settings, loa.engine)
    raise_token_expiry(loa.settings, loa.engine, loa.vault)
    raise_new_posts(loa.settings, loa.engine)
    summary = Deliverer(loa.settings, loa.engine).run_once()
    if as_json:
        print_json({"counts": summary.counts(), "sent": summary.sent, "retrying": summary.retrying})
        return
    out.print(process_text("cli.alerts_delivered", **{k: str(v) for k, v in summary.counts().items()}))


def _log(loa: Loa, limit: int = 200) -> list[dict[str, object]]:
    from scheduler.alerts.outbox import delivery_log

    return delivery_log(loa.engine, limit=limit)


def _show(loa: Loa, rows: list[dict[str, object]], as_json: bool) -> None:
    lang = process_lang()
    if as_json:
        print_json({"deliveries": rows})
        return
    if not rows:
        out.print(process_text("cli.alerts_none"))
        return
    heads = (
        N_("cli.col.id"),
        N_("cli.col.kind"),
        N_("cli.col.to"),
        N_("cli.col.event"),
        N_("cli.col.status"),
        N_("cli.col.attempts"),
        N_("cli.col.when"),
        N_("cli.col.error"),
    )
    table = Table(*(process_text(h) for h in heads))
    settings = loa.settings
    for row in rows:
        when = row["sent_at"] or row["next_attempt_at"] or row["created_at"]
        table.add_row(
            str(row["id"]),
            str(row["kind"]),
            str(row["to"]),
            str(row["event"] or row["subject"] or ""),
            process_text(f"delivery_status.{row['status']}"),
            str(row["attempts"]),
            local_time(str(when), settings),
            render_stored(lang, row["last_error"] if isinstance(row["last_error"], str) else None) or "",
        )
    out.print(table)
