"""`loa post …`: queue, import, list, show, and the decisions on a post."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from scheduler.cli.support import (
    JsonOption,
    VarOption,
    actor,
    local_time,
    out,
    parse_variables,
    print_json,
    ready,
    write_text,
)
from scheduler.errors import InputError

if TYPE_CHECKING:
    pass


post_app = typer.Typer(help="Queue and inspect posts.", no_args_is_help=True)


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
    from scheduler.posts.requests import PostRequest, parse_when

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
        created_by=actor(),
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
    write_text(post["text"] + "\n\n")
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
    _print_post(ready(ctx).posts.submit(post_id, actor=actor()), as_json, f"Bài #{post_id}:")


@post_app.command("approve")
def post_approve(
    ctx: typer.Context,
    post_id: PostId,
    channel: Annotated[list[str] | None, typer.Option("--channel", help="only these channels")] = None,
    by: Annotated[str | None, typer.Option("--by", help="the approver's name, for the audit log")] = None,
    as_json: JsonOption = False,
) -> None:
    """Approve a post waiting for approval (not by its author)."""
    post = ready(ctx).posts.approve(post_id, actor=f"cli:{by}" if by else actor(), channels=channel)
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
        ready(ctx).posts.send_back(post_id, actor=actor(), reason=reason), as_json, f"Đã trả lại bài #{post_id}:"
    )


@post_app.command("reschedule")
def post_reschedule(
    ctx: typer.Context,
    post_id: PostId,
    at: Annotated[str, typer.Option(help="new time: ISO 8601, or local time")],
    as_json: JsonOption = False,
) -> None:
    """Move what has not gone out yet to a new time."""
    from scheduler.posts.requests import parse_when

    loa = ready(ctx)
    post = loa.posts.reschedule(post_id, parse_when(at, loa.settings), actor=actor())
    _print_post(post, as_json, f"Bài #{post_id} dời sang {local_time(post['scheduled_at'], loa.settings)}:")


@post_app.command("retry")
def post_retry(ctx: typer.Context, publication_id: PublicationId, as_json: JsonOption = False) -> None:
    """Queue a failed, missed or blocked publication again, now."""
    _print_post(ready(ctx).posts.retry(publication_id, actor=actor()), as_json, "Đã xếp lịch lại:")


@post_app.command("confirm")
def post_confirm(
    ctx: typer.Context,
    publication_id: PublicationId,
    published: Annotated[bool, typer.Option("--published/--absent", help="is the post on the page?")],
    permalink: Annotated[str | None, typer.Option(help="its address on the platform")] = None,
    as_json: JsonOption = False,
) -> None:
    """Settle an unknown outcome after checking the page: --published, or --absent to publish again."""
    post = ready(ctx).posts.confirm(publication_id, actor=actor(), published=published, permalink=permalink)
    _print_post(post, as_json, "Đã xác nhận:")

