"""Console pages that add and steer channels: "Kết nối Fanpage" / "Kết nối Zalo OA" (the
platform's own login), the callback, ticking the Pages to add, and rename, assign to a unit,
disconnect, archive.

The connect button answers with a page holding the link to the platform's dialog rather than
a redirect: the console's ``form-action 'self'`` policy stops a form's redirect to another
origin, and a link the admin follows is what the policy allows.
"""

from __future__ import annotations

from sqlmodel import col, select
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from scheduler.channels import catalog, connecting
from scheduler.errors import InputError, LoaError
from scheduler.models import Unit
from scheduler.store import session_scope
from scheduler.web.pages import Console, Ctx


def routes(console: Console) -> list[BaseRoute]:
    manage = console.page("channels.manage")
    return [
        # No login needed for a flow started in a terminal: its state is the capability.
        Route("/channels/connect/callback", console.page(None, login=False)(connect_callback)),
        Route("/channels/connect/finish", manage(connect_finish), methods=["POST"]),
        Route("/channels/connect/{platform}", manage(connect_start), methods=["POST"]),
        Route("/channels/{channel_id}/settings/{action}", manage(channel_change), methods=["POST"]),
    ]


def unit_choices(ctx: Ctx) -> list[tuple[str, str]]:
    with session_scope(ctx.loa.engine, read_only=True) as session:
        units = session.exec(select(Unit).where(col(Unit.merged_into_id).is_(None)).order_by(col(Unit.code)))
        return [(u.code, u.name) for u in units]


def _channels_page(ctx: Ctx, errors: dict[str, str], status: int = 400) -> Response:
    from scheduler.web.admin import channels_page

    return channels_page(ctx, errors=errors, status=status)


def connect_start(ctx: Ctx) -> Response:
    platform = ctx.request.path_params["platform"]
    channel_id = ctx.form.get("channel") or None
    try:
        started = connecting.start(
            ctx.loa, platform, actor=ctx.user.username, unit=ctx.form.get("unit") or None, channel_id=channel_id
        )
    except LoaError as exc:
        return _channels_page(ctx, {f"connect-{channel_id or platform}": ctx.error_text(exc)})
    return ctx.render("console/connect_go.html", platform=platform, url=started.url, channel=channel_id)


def connect_callback(ctx: Ctx) -> Response:
    params = {k: v for k, v in ctx.query.items()}
    starter = connecting.started_by(ctx.loa, params.get("state", ""))
    terminal = starter is not None and connecting.from_terminal(starter)
    if not terminal:
        if not ctx.signed_in:
            return ctx.redirect("/login", next=ctx.request.url.path + "?" + ctx.request.url.query)
        ctx.require(ctx.user.can("channels.manage"), "GET /channels/connect/callback", "audit_reason.role_may_not")
    actor = starter if terminal and starter else ctx.user.username
    try:
        granted = connecting.callback(ctx.loa, params, actor=actor)
    except LoaError as exc:
        return ctx.render("console/connect_pick.html", status=400, error=ctx.error_text(exc), granted=None, errors={})
    if terminal:
        return ctx.render("console/connect_pick.html", granted=None, error=None, errors={}, terminal=True)
    if not granted.pick:
        return ctx.redirect("/channels", done="connected", n=str(len(granted.added)))
    return ctx.render("console/connect_pick.html", granted=granted, error=None, errors={})


def connect_finish(ctx: Ctx) -> Response:
    state_hash = ctx.form.get("attempt", "")
    try:
        added = connecting.finish(ctx.loa, state_hash, ctx.form_lists.get("page", []), actor=ctx.user.username)
    except InputError as exc:
        try:
            granted = connecting.pending(ctx.loa, state_hash, actor=ctx.user.username)
        except InputError:
            granted = None
        errors = {exc.field or "page": ctx.error_text(exc)}
        return ctx.render("console/connect_pick.html", status=400, granted=granted, error=None, errors=errors)
    return ctx.redirect("/channels", done="connected", n=str(len(added)))


def channel_change(ctx: Ctx) -> Response:
    channel_id = ctx.request.path_params["channel_id"]
    action = ctx.request.path_params["action"]
    actor = ctx.user.username
    try:
        ctx.loa.settings.channel(channel_id)
        if action == "rename":
            catalog.rename(ctx.loa, channel_id, ctx.form.get("name", ""), actor=actor)
        elif action == "assign":
            catalog.assign(ctx.loa, channel_id, ctx.form.get("unit") or None, actor=actor)
        elif action == "disconnect":
            catalog.disconnect(ctx.loa, channel_id, actor=actor)
        elif action == "archive":
            catalog.archive(ctx.loa, channel_id, actor=actor)
        else:
            return _channels_page(ctx, {}, status=404)
    except LoaError as exc:
        return _channels_page(ctx, {f"{action}-{channel_id}": ctx.error_text(exc)})
    return ctx.redirect("/channels", done=f"channel_{action}")
