"""The `loa` command: thin; it parses, calls the services and prints."""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.table import Table

from scheduler.cli import kit as _kit  # noqa: F401  (adds `loa report kit`)
from scheduler.cli.alerts import alerts_app
from scheduler.cli.channels import channels_app
from scheduler.cli.media import media_app
from scheduler.cli.posts import post_app
from scheduler.cli.render import cover_renderer, render_app
from scheduler.cli.reports import metrics_app, report_app
from scheduler.cli.sharing import share_app, staff_app
from scheduler.cli.support import (
    AsOption,
    ConfigOption,
    JsonOption,
    actor,
    err,
    loa_app,
    out,
    print_json,
    ready,
)
from scheduler.cli.units import units_app
from scheduler.cli.users import user_app
from scheduler.errors import InputError, LoaError
from scheduler.i18n import N_, dispatch_summary, msg, process_lang, process_text
from scheduler.i18n.formats import format_int

app = typer.Typer(
    name="loa",
    help="Loa — lên lịch, đăng và đo lường tin bài trên Fanpage Facebook và Zalo OA.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# One module per command group; this order is the order `loa --help` lists them in.
app.add_typer(channels_app, name="channels")
app.add_typer(units_app, name="units")
app.add_typer(post_app, name="post")
app.add_typer(media_app, name="media")
app.add_typer(render_app, name="render")
app.add_typer(user_app, name="user")
app.add_typer(metrics_app, name="metrics")
app.add_typer(report_app, name="report")
app.add_typer(staff_app, name="staff")
app.add_typer(share_app, name="share")
app.add_typer(alerts_app, name="alerts")


@app.callback()
def _root(ctx: typer.Context, config: ConfigOption = None, acting: AsOption = None) -> None:
    ctx.obj = {"config": config, "as": acting or os.environ.get("LOA_AS") or None}


# -- set-up and running ------------------------------------------------------------------


@app.command()
def init(
    ctx: typer.Context,
    demo: Annotated[bool, typer.Option(help="queue a welcome post on every channel if none exists")] = False,
) -> None:
    """Create or upgrade the database (idempotent); a SQLite file is backed up before an upgrade."""
    loa = loa_app(ctx)
    result = loa.init()
    where = loa.engine.url.render_as_string(hide_password=True)
    if result.created:
        out.print(process_text("cli.db_created", schema=result.after, where=where))
    elif result.changed:
        out.print(process_text("cli.db_upgraded", before=result.before or "0.1", after=result.after, where=where))
        if result.backup is not None:
            out.print(process_text("cli.db_backup_before", backup=str(result.backup)))
    out.print(process_text("cli.db_ready", where=where))
    if demo:
        from scheduler.demo import queue_demo_post

        post_id = queue_demo_post(loa)
        if post_id is not None:
            out.print(process_text("cli.demo_queued", post=post_id))


@app.command()
def run(ctx: typer.Context) -> None:
    """Scheduler + web (+ sandbox when enabled), in the foreground; Ctrl-C stops cleanly."""
    from scheduler.dbfaults import require_writable
    from scheduler.instance import hold_database
    from scheduler.operations.startup import refuse_bad_settings, refuse_missing_secrets
    from scheduler.posts.service import check_default_covers
    from scheduler.presence import working
    from scheduler.runner import run_foreground

    _as_service()
    loa = loa_app(ctx)
    refuse_bad_settings(loa.settings)
    lock = hold_database(loa.engine)  # before anything else touches the file
    try:
        require_writable(loa.engine)  # after the schema check inside, which says `loa init` first
        loa = ready(ctx)
        refuse_missing_secrets(loa.settings, loa.engine)
        check_default_covers(loa.settings)  # a broken cover is a refusal now, not at publishing time
        _configure_logging(json_lines=loa.settings.web.json_logs)
        with working(loa.engine):  # `loa restore` refuses while this runs
            run_foreground(loa, out)
    finally:
        if lock is not None:
            lock.release()


@app.command()
def worker(ctx: typer.Context) -> None:
    """Publish on schedule without the web server: run any number, on any host sharing the database."""
    from scheduler.dbfaults import require_writable
    from scheduler.operations.startup import refuse_bad_settings, refuse_missing_secrets
    from scheduler.posts.service import check_default_covers
    from scheduler.presence import working
    from scheduler.runner import run_worker

    _as_service()
    refuse_bad_settings(loa_app(ctx).settings)
    require_writable(loa_app(ctx).engine)  # after the schema check inside, which says `loa init` first
    loa = ready(ctx)
    refuse_missing_secrets(loa.settings, loa.engine)
    check_default_covers(loa.settings)  # a broken cover is a refusal now, not at publishing time
    _configure_logging(json_lines=loa.settings.web.json_logs)
    with working(loa.engine):
        run_worker(loa, out)


@app.command()
def doctor(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Check the config, database, key, channels, public_url, HTTPS, mail, disk and backups; exit 1 on a problem."""
    from scheduler.operations.doctor import diagnose, worded

    lang = process_lang()
    report = diagnose(ctx.find_root().obj.get("config"), lang=lang)
    if as_json:
        print_json(report.as_json(lang))
    else:
        marks = {"ok": "[green]✓[/green]", "problem": "[bold red]✗[/bold red]", "skipped": "[dim]–[/dim]"}
        for finding in report.findings:
            line = f"{marks[finding.status]} {_escape(finding.check)}: {_escape(worded(lang, finding.message))}"
            out.print(line, markup=True)
            if finding.fix is not None:
                out.print("    → " + _escape(worded(lang, finding.fix)), markup=True)
        summary = N_("cli.doctor_all_well") if report.ok else N_("cli.doctor_problems")
        problems = sum(1 for f in report.findings if f.status == "problem")
        out.print(process_text(summary, n=problems))
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def sandbox(
    ctx: typer.Context,
    port: Annotated[int | None, typer.Option(help="port (default: [sandbox] port)")] = None,
    host: Annotated[str | None, typer.Option(help="address to listen on")] = None,
    state: Annotated[Path | None, typer.Option("--state", help="keep the sandbox's state in this JSON file")] = None,
) -> None:
    """The Facebook + Zalo emulator alone, in the foreground."""
    from scheduler.sandbox.server import SandboxServer

    settings = loa_app(ctx).settings
    _configure_logging()
    server = SandboxServer(
        host=host or settings.sandbox.host,
        port=port if port is not None else settings.sandbox.port,
        settings=settings.sandbox,
        state_file=state or (settings.path(settings.sandbox.state_file) if settings.sandbox.state_file else None),
    )
    def announce(ready: SandboxServer) -> None:  # once it listens: a busy port never says "running"
        out.print(process_text("cli.sandbox_running", url=ready.url))

    try:
        server.serve_forever(on_ready=announce)
    except OSError as exc:
        from scheduler.runner import port_refused

        raise port_refused(server, "--port" if port is not None else "sandbox.port", exc) from None


# -- channels and templates --------------------------------------------------------------


@app.command()
def templates(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Message templates and cover layouts found."""
    loa = loa_app(ctx)
    renderer = loa.renderer
    messages: list[dict[str, Any]] = [{"name": n, "variables": renderer.variables(n)} for n in renderer.names()]
    layouts = cover_renderer(ctx)
    covers: list[dict[str, Any]] = []
    for name in layouts.names():
        try:
            covers.append(layouts.describe(name))
        except InputError as exc:  # one broken layout must not hide the others
            covers.append({"name": name, "error": str(exc)})
    if as_json:
        print_json({"messages": messages, "covers": covers})
        return
    table = Table(process_text("cli.col.message_template"), process_text("cli.col.variables"))
    for item in messages:
        table.add_row(item["name"], ", ".join(item["variables"]))
    out.print(table)
    if not covers:
        out.print(process_text("cli.no_layouts"))
        return
    cover_table = Table(
        *(
            process_text(c)
            for c in (N_("cli.col.layout"), N_("cli.col.name"), N_("cli.col.variables"), N_("cli.col.sizes"))
        )
    )
    for cover in covers:
        if "error" in cover:
            cover_table.add_row(
                cover["name"],
                "[red]" + _escape(process_text("cli.col.error")) + ":[/red] " + _escape(cover["error"]),
                "",
                "",
            )
            continue
        sizes = ", ".join(f"{t} {w}×{h}" for t, (w, h) in cover["targets"].items())
        cover_table.add_row(cover["name"], _escape(cover["title"]), ", ".join(cover["variables"]), sizes)
    out.print(cover_table)


# -- posts -------------------------------------------------------------------------------


@app.command()
def backup(ctx: typer.Context, file: Annotated[Path, typer.Argument(help="where to write the copy")]) -> None:
    """Consistent online backup of the database (SQLite), safe while Loa runs."""
    from scheduler.backup import backup_database

    size = backup_database(ready(ctx).engine, file)
    out.print(process_text("cli.backed_up", file=str(file), size=format_int(size, process_lang())))


@app.command()
def restore(
    ctx: typer.Context, file: Annotated[Path, typer.Argument(help="the `loa backup` copy to put back")]
) -> None:
    """Restore a backup (refused while Loa runs); what may have gone out since is checked on the platform first."""
    from scheduler.restore import restore_database

    loa = loa_app(ctx)
    result = restore_database(loa.engine, file, actor=actor())
    if result.set_aside is not None:
        out.print(process_text("cli.restore_set_aside", file=str(result.set_aside)))
    out.print(process_text("cli.restore_done", file=str(result.source), database=str(result.database)))
    if result.upgraded:
        out.print(process_text("cli.restore_upgraded", before=result.schema_before or "0.1"))
    out.print(process_text("cli.restore_held", n=result.held))
    from scheduler.channels.registry import publisher_class

    # A refresh token used once and renewed since the copy was made is dead in the copy.
    single_use = [c.id for c in loa.settings.channels if publisher_class(c.platform).single_use_refresh_token]
    if single_use:
        out.print(process_text("cli.restore_single_use_tokens", channels=", ".join(single_use)))


@app.command("publish-due")
def publish_due(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Publish what is due now, once, then exit (cron-friendly)."""
    from scheduler.presence import working
    from scheduler.publishing.dispatcher import Dispatcher
    from scheduler.serving import signals_call

    loa = ready(ctx)
    _configure_logging(quiet=as_json)
    dispatcher = Dispatcher(loa.settings, loa.engine, loa.vault, one_shot=True)
    # Stopped by cron's time limit or a shutdown: claim nothing more, hand back what has not started.
    with working(loa.engine), signals_call(dispatcher.stop):
        summary = dispatcher.run_once()
    if as_json:
        print_json(summary.as_json())
        return
    counts = {k: v for k, v in summary.counts().items() if v}
    out.print(dispatch_summary(process_lang(), counts))


# -- entry point -------------------------------------------------------------------------


def _configure_logging(*, quiet: bool = False, json_lines: bool = False) -> None:
    from scheduler.logs import configure

    configure(level=logging.WARNING if quiet else logging.INFO, json_lines=json_lines)


def _fail(code: int, message: str) -> NoReturn:
    err.print("[bold red]" + process_text("cli.error") + f"[/bold red] {message}", markup=True, highlight=False)
    raise SystemExit(code)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: exit 0 ok, 2 bad input, 1 anything else — never a traceback."""
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    _ONE_LINE_ERRORS.clear()  # each invocation decides again (tests call main() many times)
    # The database, its WAL, rendered covers and exports hold people's names and the office's
    # posts: what this process creates is for its owner alone.
    os.umask(0o077)
    _require_utf8(sys.argv[1:] if argv is None else argv)
    command = typer.main.get_command(app)
    from scheduler.cli.help import translate_help

    translate_help(command, process_lang())
    try:
        # Standalone mode: the command-line parser reports its own usage errors (exit 2).
        command.main(args=argv, prog_name="loa", standalone_mode=True)
    except InputError as exc:
        _fail(2, _escape(_error_text(exc)))
    except LoaError as exc:
        _fail(1, _escape(_error_text(exc)))
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except Exception as exc:  # the last line of defence: a message, not a traceback
        if os.environ.get("LOA_DEBUG"):
            raise
        _fail(1, process_text("cli.unexpected_error", kind=type(exc).__name__, reason=_escape(str(exc))))


# Set by the commands a service manager runs (`loa run`, `loa worker`): their refusals go to a
# journal, where a second line would be a separate entry, read without the first.
_ONE_LINE_ERRORS: list[bool] = []


def _as_service() -> None:
    _ONE_LINE_ERRORS.append(True)


def _error_text(exc: LoaError) -> str:
    """The error and its fix: two lines on a terminal, one for a service's journal."""
    from scheduler.errors import render_error

    if not _ONE_LINE_ERRORS:
        return str(exc)
    _ONE_LINE_ERRORS.clear()
    return " ".join(render_error(exc, process_lang(), separator=" → ").split())


def _require_utf8(args: list[str]) -> None:
    """Refuse an argument that is not UTF-8 (Python keeps its bytes as lone surrogates) before any use."""
    for arg in args:
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            shown = arg.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            refused = InputError(msg("error.argument_not_utf8", argument=shown), hint=msg("hint.argument_utf8"))
            _fail(2, _escape(str(refused)))


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
