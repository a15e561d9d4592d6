"""The `loa` command: thin; it parses, calls the services and prints."""

from __future__ import annotations

import getpass
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.table import Table

from scheduler.cli_support import (
    ConfigOption,
    JsonOption,
    VarOption,
    err,
    loa_app,
    local_time,
    out,
    parse_variables,
    print_json,
    ready,
)
from scheduler.errors import InputError, LoaError
from scheduler.i18n import dispatch_summary, process_lang, process_text

if TYPE_CHECKING:
    from scheduler.render.covers import CoverRenderer

app = typer.Typer(
    name="loa",
    help="Loa — lên lịch, đăng và đo lường tin bài trên Fanpage Facebook và Zalo OA.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
post_app = typer.Typer(help="Queue and inspect posts.", no_args_is_help=True)
render_app = typer.Typer(help="Render a message (or a cover) without queueing.", no_args_is_help=True)
channels_app = typer.Typer(help="Channels: status, reconnect, pause, resume.")
app.add_typer(channels_app, name="channels")
app.add_typer(post_app, name="post")
app.add_typer(render_app, name="render")
from scheduler.cli_users import user_app  # noqa: E402  (registered next to its siblings)

app.add_typer(user_app, name="user")
from scheduler.cli_reports import metrics_app, report_app  # noqa: E402  (registered next to its siblings)

app.add_typer(metrics_app, name="metrics")
app.add_typer(report_app, name="report")
from scheduler.cli_sharing import share_app, staff_app  # noqa: E402  (registered next to its siblings)

app.add_typer(staff_app, name="staff")
app.add_typer(share_app, name="share")


@app.callback()
def _root(ctx: typer.Context, config: ConfigOption = None) -> None:
    ctx.obj = {"config": config}


# -- set-up and running ------------------------------------------------------------------


@app.command()
def init(
    ctx: typer.Context,
    demo: Annotated[bool, typer.Option(help="queue a welcome post on every channel if none exists")] = False,
) -> None:
    """Create or upgrade the database (idempotent)."""
    loa = ready(ctx)
    out.print(f"Cơ sở dữ liệu sẵn sàng: {loa.engine.url.render_as_string(hide_password=True)}")
    if demo:
        from scheduler.demo import queue_demo_post

        post_id = queue_demo_post(loa)
        if post_id is not None:
            out.print(f"Đã xếp lịch bài đăng mẫu #{post_id} lên mọi kênh.")


@app.command()
def run(ctx: typer.Context) -> None:
    """Scheduler + web (+ sandbox when enabled), in the foreground; Ctrl-C stops cleanly."""
    from scheduler.runner import run_foreground

    loa = ready(ctx)
    _configure_logging()
    run_foreground(loa, out)


@app.command()
def worker(ctx: typer.Context) -> None:
    """Publish on schedule without the web server: run any number, on any host sharing the database."""
    from scheduler.runner import run_worker

    loa = ready(ctx)
    _configure_logging()
    run_worker(loa, out)


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
    out.print(f"Sandbox Facebook + Zalo đang chạy tại {server.url} (Ctrl-C để dừng)")
    server.serve_forever()


# -- channels and templates --------------------------------------------------------------


@channels_app.callback(invoke_without_command=True)
def channels(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Configured channels with their status (and: reconnect, pause, resume)."""
    from scheduler.channels import channel_rows

    if ctx.invoked_subcommand is not None:
        return
    loa = ready(ctx)
    rows = channel_rows(loa)
    if as_json:
        print_json({"channels": rows})
        return
    table = Table("id", "nền tảng", "tên", "mã trang/OA", "chế độ", "trạng thái", "tạm dừng đến", "lỗi gần nhất")
    for row in rows:
        table.add_row(
            row["id"],
            row["platform"],
            row["name"],
            row["external_id"],
            row["mode"],
            row["status"],
            local_time(row["paused_until"], loa.settings),
            row["last_error"] or "",
        )
    out.print(table)


@app.command()
def templates(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Message templates and cover layouts found."""
    loa = loa_app(ctx)
    renderer = loa.renderer
    messages: list[dict[str, Any]] = [{"name": n, "variables": renderer.variables(n)} for n in renderer.names()]
    cover_renderer = _cover_renderer(ctx)
    covers: list[dict[str, Any]] = []
    for name in cover_renderer.names():
        try:
            covers.append(cover_renderer.describe(name))
        except InputError as exc:  # one broken layout must not hide the others
            covers.append({"name": name, "error": str(exc)})
    if as_json:
        print_json({"messages": messages, "covers": covers})
        return
    table = Table("mẫu tin", "biến")
    for item in messages:
        table.add_row(item["name"], ", ".join(item["variables"]))
    out.print(table)
    if not covers:
        out.print("Mẫu ảnh bìa: (chưa có)")
        return
    cover_table = Table("mẫu ảnh bìa", "tên", "biến", "khổ ảnh")
    for cover in covers:
        if "error" in cover:
            cover_table.add_row(cover["name"], f"[red]lỗi:[/red] {_escape(cover['error'])}", "", "")
            continue
        sizes = ", ".join(f"{t} {w}×{h}" for t, (w, h) in cover["targets"].items())
        cover_table.add_row(cover["name"], _escape(cover["title"]), ", ".join(cover["variables"]), sizes)
    out.print(cover_table)


@render_app.command("message")
def render_message(
    ctx: typer.Context,
    template: Annotated[str, typer.Option(help="template name (templates/messages/NAME.j2)")],
    var: VarOption = None,
    platform: Annotated[str, typer.Option(help="facebook or zalo")] = "facebook",
    campaign: Annotated[str | None, typer.Option(help="campaign slug")] = None,
    as_json: JsonOption = False,
) -> None:
    """Print the rendered text (and Zalo's title and description)."""
    from scheduler.platforms import registry
    from scheduler.posts import platform_limits

    loa = loa_app(ctx)
    if platform not in registry():
        raise InputError(
            f"unknown platform {platform!r}", hint=f"use one of: {', '.join(registry())}", field="platform"
        )
    campaign_vars: dict[str, str] = {}
    if campaign:
        loa.init()
        row = loa.posts._campaign(campaign)
        assert row is not None
        campaign_vars = {"slug": row.slug, "name": row.name, "theme": row.theme}
    message = loa.renderer.render(
        template, parse_variables(var), platform=platform, limits=platform_limits(platform), campaign=campaign_vars
    )
    if as_json:
        print_json(
            {"platform": platform, "text": message.text, "title": message.title, "description": message.description}
        )
        return
    if message.title:
        out.print(f"[bold]Tiêu đề:[/bold] {message.title}", markup=True)
        out.print(f"[bold]Mô tả:[/bold] {message.description}\n", markup=True)
    sys.stdout.write(message.text + "\n")


CoverTargetOption = Annotated[
    str, typer.Option("--platform", help="canvas: facebook (1200×630), square (1080×1080) or zalo (1280×720)")
]
LayoutOption = Annotated[str, typer.Option("--layout", help="cover layout (templates/covers/NAME.toml)")]
CampaignOption = Annotated[str | None, typer.Option("--campaign", help="campaign slug from config.toml")]


def _cover_renderer(ctx: typer.Context) -> CoverRenderer:
    from scheduler.render.covers import CoverRenderer

    settings = loa_app(ctx).settings
    return CoverRenderer(settings.templates_path, settings.assets_path)


def _campaignparse_variables(ctx: typer.Context, slug: str | None) -> dict[str, str]:
    """A campaign's fields for cover texts, from config.toml: no database needed to draw."""
    if slug is None:
        return {}
    settings = loa_app(ctx).settings
    for campaign in settings.campaigns:
        if campaign.slug == slug:
            return {"slug": campaign.slug, "name": campaign.name, "theme": campaign.theme}
    known = ", ".join(c.slug for c in settings.campaigns) or "none configured"
    raise InputError(f"unknown campaign {slug!r}", hint=f"known campaigns: {known}", field="campaign")


def _check_target(renderer: CoverRenderer, layout: str, platform: str) -> None:
    targets = renderer.targets(layout)
    if platform not in targets:
        raise InputError(
            f"cover layout {layout!r} has no {platform!r} canvas",
            hint=f"use --platform {' or '.join(targets)}",
            field="platform",
        )


@render_app.command("cover")
def render_cover(
    ctx: typer.Context,
    output: Annotated[Path, typer.Option("--output", "-o", help="file to write: .jpg or .png")],
    layout: LayoutOption = "default",
    var: VarOption = None,
    platform: CoverTargetOption = "facebook",
    campaign: CampaignOption = None,
) -> None:
    """Write one cover image (the default layout takes title and subtitle)."""
    from scheduler.render.covers import max_bytes_for

    suffix = output.suffix.lower().lstrip(".")
    if suffix not in {"jpg", "jpeg", "png"}:
        raise InputError(f"cannot tell the image format from {output.name!r}", hint="name the file .jpg or .png")
    renderer = _cover_renderer(ctx)
    _check_target(renderer, layout, platform)
    data = renderer.render(
        layout,
        parse_variables(var),
        target=platform,
        campaign=_campaignparse_variables(ctx, campaign),
        fmt=suffix,
        max_bytes=max_bytes_for(platform, suffix),
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.partial")
    partial.write_bytes(data)
    partial.replace(output)
    width, height = renderer.describe(layout)["targets"][platform]
    out.print(f"Đã ghi ảnh bìa {output} ({width}×{height}, {len(data) / 1024:.0f} KB).")


@render_app.command("covers")
def render_covers(
    ctx: typer.Context,
    csv_file: Annotated[Path, typer.Option("--csv", help="CSV (UTF-8): one cover per row, columns = variables")],
    output: Annotated[Path, typer.Option("--output", "-o", help="folder for 0001.jpg, 0002.jpg, …")],
    layout: LayoutOption = "default",
    fmt: Annotated[str, typer.Option("--format", help="jpg or png")] = "jpg",
    platform: CoverTargetOption = "facebook",
    campaign: CampaignOption = None,
    jobs: Annotated[int | None, typer.Option("--jobs", min=1, help="worker processes (default: all cores)")] = None,
) -> None:
    """Write one cover per CSV row, on every core; all rows are checked before any is written."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from scheduler.render.batch import BatchJob, read_rows, render_batch
    from scheduler.render.images import normalise_format

    if fmt.lower() not in {"jpg", "jpeg", "png"}:
        raise InputError(f"unknown format {fmt!r}", hint="use --format jpg or --format png", field="format")
    settings = loa_app(ctx).settings
    renderer = _cover_renderer(ctx)
    _check_target(renderer, layout, platform)
    rows = read_rows(csv_file)
    job = BatchJob(
        templates_dir=settings.templates_path,
        assets_dir=settings.assets_path,
        layout=layout,
        target=platform,
        fmt=normalise_format(fmt),
        campaign=_campaignparse_variables(ctx, campaign),
    )
    labels = {"check": "Kiểm tra", "render": "Vẽ ảnh bìa"}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=not err.is_terminal,
        transient=True,
    ) as bar:
        tasks = {phase: bar.add_task(label, total=len(rows)) for phase, label in labels.items()}
        files = render_batch(
            job,
            rows,
            output,
            workers=jobs,
            progress=lambda phase, done, total: bar.update(tasks[phase], completed=done),
            source=csv_file.name,
        )
    out.print(f"Đã ghi {len(files)} ảnh bìa vào {output} ({files[0].name} … {files[-1].name}).")


# -- posts -------------------------------------------------------------------------------


@post_app.command("add")
def post_add(
    ctx: typer.Context,
    template: Annotated[str, typer.Option(help="template name")],
    channel: Annotated[list[str], typer.Option("--channel", help="channel id (repeatable)")],
    var: VarOption = None,
    at: Annotated[str | None, typer.Option(help="when: ISO 8601, or local time such as 2026-05-06T08:00")] = None,
    now: Annotated[bool, typer.Option("--now", help="publish as soon as possible")] = False,
    cover: Annotated[str | None, typer.Option(help="cover layout")] = None,
    campaign: Annotated[str | None, typer.Option(help="campaign slug")] = None,
    link: Annotated[str | None, typer.Option(help="link to attach")] = None,
    draft: Annotated[bool, typer.Option("--draft", help="save as a draft; `loa post submit` queues it")] = False,
    as_json: JsonOption = False,
) -> None:
    """Queue a post on one or more channels."""
    from scheduler.posts import PostRequest, parse_when

    loa = ready(ctx)
    if (at is None) == (not now):
        raise InputError("give exactly one of --at and --now", hint="--at 2026-05-06T08:00 or --now", field="at")
    request = PostRequest(
        template=template,
        channels=channel,
        variables=parse_variables(var),
        at=parse_when(at, loa.settings) if at else None,
        campaign=campaign,
        link=link,
        cover=cover,
        created_by=_actor(),
        draft=draft,
    )
    post_id = loa.posts.add(request)
    shown = loa.posts.show(post_id)
    if as_json:
        print_json(shown)
        return
    out.print(
        f"Đã xếp lịch bài #{post_id} lúc {local_time(shown['scheduled_at'], loa.settings)} "
        f"trên {', '.join(p['channel'] for p in shown['publications'])}."
    )


@post_app.command("import")
def post_import(
    ctx: typer.Context, file: Annotated[Path, typer.Argument(help="CSV or XLSX")], as_json: JsonOption = False
) -> None:
    """Queue many posts from a CSV/XLSX file: all rows, or none."""
    loa = ready(ctx)
    ids = loa.posts.import_file(file)
    if as_json:
        print_json({"posts": [loa.posts.show(i) for i in ids]})
        return
    out.print(f"Đã xếp lịch {len(ids)} bài từ {file.name}: #{', #'.join(map(str, ids))}")


@post_app.command("list")
def post_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="only posts with a publication in this status")] = None,
    campaign: Annotated[str | None, typer.Option(help="campaign slug")] = None,
    as_json: JsonOption = False,
) -> None:
    """Posts, newest first."""
    loa = ready(ctx)
    posts = loa.posts.list(status=status, campaign=campaign)
    if as_json:
        print_json({"posts": posts})
        return
    table = Table("#", "lúc", "trạng thái", "mẫu", "kênh", "nội dung")
    for post in posts:
        channels_cell = " ".join(f"{p['channel']}:{p['status']}" for p in post["publications"])
        first_line = post["text"].splitlines()[0] if post["text"] else ""
        table.add_row(
            str(post["id"]),
            local_time(post["scheduled_at"], loa.settings),
            post["status"],
            post["template"],
            channels_cell,
            first_line[:60],
        )
    out.print(table)


@post_app.command("show")
def post_show(
    ctx: typer.Context, post_id: Annotated[int, typer.Argument(metavar="ID")], as_json: JsonOption = False
) -> None:
    """One post with each publication's status, error, link and metrics."""
    loa = ready(ctx)
    post = loa.posts.show(post_id)
    if as_json:
        print_json(post)
        return
    out.print(
        f"[bold]Bài #{post['id']}[/bold] — {post['status']} — {local_time(post['scheduled_at'], loa.settings)}"
        + (f" — chiến dịch {post['campaign']}" if post["campaign"] else ""),
        markup=True,
    )
    sys.stdout.write(post["text"] + "\n\n")
    table = Table("kênh", "trạng thái", "lần thử", "đăng lúc", "liên kết", "lượt xem", "tiếp cận", "chia sẻ", "lỗi")
    for p in post["publications"]:
        m = p["metrics"]
        table.add_row(
            p["channel"],
            p["status"],
            str(p["attempts"]),
            local_time(p["published_at"], loa.settings),
            p["permalink"] or "",
            str(m["views"]),
            str(m["reach"]),
            str(m["shares"]),
            p["error"] or "",
        )
    out.print(table)


@post_app.command("cancel")
def post_cancel(ctx: typer.Context, post_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Cancel what has not been published yet."""
    loa = ready(ctx)
    post = loa.posts.cancel(post_id)
    out.print(f"Đã huỷ bài #{post_id}: " + ", ".join(f"{p['channel']} {p['status']}" for p in post["publications"]))


@channels_app.command("reconnect")
def channels_reconnect(
    ctx: typer.Context,
    channel_id: Annotated[str, typer.Argument(metavar="ID")],
    token_env: Annotated[
        str | None, typer.Option(help="read the new Page token / Zalo refresh token from this variable")
    ] = None,
) -> None:
    """Store a new token (read from stdin, or --token-env) and release the channel's held posts."""
    from scheduler.channels import reconnect

    loa = ready(ctx)
    if token_env:
        secret = os.environ.get(token_env, "")
        if not secret:
            raise InputError(f"the variable {token_env} is empty or unset", hint=f"export {token_env}=… first")
    else:
        if sys.stdin.isatty():
            err.print("Dán mã truy cập (token) rồi nhấn Enter:")
        secret = sys.stdin.readline()
    released = reconnect(loa, channel_id, secret, actor=_actor())
    out.print(f"Đã kết nối lại kênh {channel_id}; {released} bài bị giữ sẽ được đăng ngay.")


@channels_app.command("pause")
def channels_pause(
    ctx: typer.Context,
    channel_id: Annotated[str, typer.Argument(metavar="ID")],
    until: Annotated[str | None, typer.Option(help="resume by itself at this time")] = None,
) -> None:
    """Hold a channel's publications."""
    from scheduler.channels import pause
    from scheduler.posts import parse_when

    loa = ready(ctx)
    pause(loa, channel_id, actor=_actor(), until=parse_when(until, loa.settings) if until else None)
    out.print(f"Đã tạm dừng kênh {channel_id}.")


@channels_app.command("resume")
def channels_resume(ctx: typer.Context, channel_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Let a paused channel publish again."""
    from scheduler.channels import resume

    resume(ready(ctx), channel_id, actor=_actor())
    out.print(f"Kênh {channel_id} đã hoạt động lại.")


def _actor() -> str:
    """Who a command-line change is attributed to in the audit log."""
    return f"cli:{getpass.getuser()}"


PostId = Annotated[int, typer.Argument(metavar="ID", help="post id")]
PublicationId = Annotated[int, typer.Argument(metavar="PUBLICATION", help="publication id (see `loa post show`)")]


def _print_post(post: dict[str, Any], as_json: bool, message: str) -> None:
    if as_json:
        print_json(post)
    else:
        out.print(message + " " + ", ".join(f"{p['channel']}: {p['status']}" for p in post["publications"]))


@post_app.command("submit")
def post_submit(ctx: typer.Context, post_id: PostId, as_json: JsonOption = False) -> None:
    """Queue a draft (channels that need approval wait for it)."""
    _print_post(ready(ctx).posts.submit(post_id, actor=_actor()), as_json, f"Bài #{post_id}:")


@post_app.command("approve")
def post_approve(
    ctx: typer.Context,
    post_id: PostId,
    channel: Annotated[list[str] | None, typer.Option("--channel", help="only these channels")] = None,
    by: Annotated[str | None, typer.Option("--by", help="the approver's name, for the audit log")] = None,
    as_json: JsonOption = False,
) -> None:
    """Approve a post waiting for approval (not by its author)."""
    post = ready(ctx).posts.approve(post_id, actor=f"cli:{by}" if by else _actor(), channels=channel)
    _print_post(post, as_json, f"Đã duyệt bài #{post_id}:")


@post_app.command("send-back")
def post_send_back(
    ctx: typer.Context,
    post_id: PostId,
    reason: Annotated[str, typer.Option(help="why, for the author")],
    as_json: JsonOption = False,
) -> None:
    """Return a post waiting for approval to its author as a draft."""
    _print_post(
        ready(ctx).posts.send_back(post_id, actor=_actor(), reason=reason), as_json, f"Đã trả lại bài #{post_id}:"
    )


@post_app.command("reschedule")
def post_reschedule(
    ctx: typer.Context,
    post_id: PostId,
    at: Annotated[str, typer.Option(help="new time: ISO 8601, or local time")],
    as_json: JsonOption = False,
) -> None:
    """Move what has not gone out yet to a new time."""
    from scheduler.posts import parse_when

    loa = ready(ctx)
    post = loa.posts.reschedule(post_id, parse_when(at, loa.settings), actor=_actor())
    _print_post(post, as_json, f"Bài #{post_id} dời sang {local_time(post['scheduled_at'], loa.settings)}:")


@post_app.command("retry")
def post_retry(ctx: typer.Context, publication_id: PublicationId, as_json: JsonOption = False) -> None:
    """Queue a failed, missed or blocked publication again, now."""
    _print_post(ready(ctx).posts.retry(publication_id, actor=_actor()), as_json, "Đã xếp lịch lại:")


@post_app.command("confirm")
def post_confirm(
    ctx: typer.Context,
    publication_id: PublicationId,
    published: Annotated[bool, typer.Option("--published/--absent", help="is the post on the page?")],
    permalink: Annotated[str | None, typer.Option(help="its address on the platform")] = None,
    as_json: JsonOption = False,
) -> None:
    """Settle an unknown outcome after checking the page: --published, or --absent to publish again."""
    post = ready(ctx).posts.confirm(publication_id, actor=_actor(), published=published, permalink=permalink)
    _print_post(post, as_json, "Đã xác nhận:")


@app.command()
def backup(ctx: typer.Context, file: Annotated[Path, typer.Argument(help="where to write the copy")]) -> None:
    """Consistent online backup of the database (SQLite), safe while Loa runs."""
    from scheduler.backup import backup_database

    size = backup_database(ready(ctx).engine, file)
    out.print(f"Đã sao lưu cơ sở dữ liệu vào {file} ({size:,} bytes).".replace(",", "."))


@app.command("publish-due")
def publish_due(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Publish what is due now, once, then exit (cron-friendly)."""
    from scheduler.publishing import Dispatcher

    loa = ready(ctx)
    _configure_logging(quiet=as_json)
    summary = Dispatcher(loa.settings, loa.engine, loa.vault, one_shot=True).run_once()
    if as_json:
        print_json(summary.as_json())
        return
    counts = {k: v for k, v in summary.counts().items() if v}
    out.print(dispatch_summary(process_lang(), counts))


# -- entry point -------------------------------------------------------------------------


def _configure_logging(*, quiet: bool = False) -> None:
    from scheduler.logs import configure

    configure(level=logging.WARNING if quiet else logging.INFO)


def _fail(code: int, message: str) -> NoReturn:
    err.print("[bold red]" + process_text("cli.error") + f"[/bold red] {message}", markup=True, highlight=False)
    raise SystemExit(code)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: exit 0 ok, 2 bad input, 1 anything else — never a traceback."""
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    command = typer.main.get_command(app)
    try:
        # Standalone mode: the command-line parser reports its own usage errors (exit 2).
        command.main(args=argv, prog_name="loa", standalone_mode=True)
    except InputError as exc:
        _fail(2, _escape(str(exc)))
    except LoaError as exc:
        _fail(1, _escape(str(exc)))
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except Exception as exc:  # the last line of defence: a message, not a traceback
        if os.environ.get("LOA_DEBUG"):
            raise
        _fail(1, f"unexpected error: {type(exc).__name__}: {_escape(str(exc))} (run with LOA_DEBUG=1 for details)")


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
