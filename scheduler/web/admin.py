"""Console pages around the posts: channels, users, the audit log, staff, reports, own figures."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from scheduler.audit import action_label, detail_label, detail_value
from scheduler.auth import (
    add_user,
    change_password,
    check_password,
    disable_user,
    enable_user,
    end_sessions,
    link_staff,
    list_users,
    new_api_token,
    parse_role,
    set_password,
)
from scheduler.bounds import parse_id
from scheduler.channels.service import channel_rows, pause, reconnect, resume
from scheduler.errors import InputError
from scheduler.i18n import msg
from scheduler.models import AuditEvent, Click, Role, Share, ShareLink, Staff, Unit, utcnow
from scheduler.posts.requests import parse_when
from scheduler.store import session_scope
from scheduler.web.pages import Console, Ctx, client_ip

AUDIT_PAGE = 100
MAX_AUDIT_PAGE = 10**9  # (page - 1) × AUDIT_PAGE must stay an offset every database takes


def routes(console: Console) -> list[BaseRoute]:
    from scheduler.web import alerts_pages, channel_pages, library_pages, reports_pages, staff_loop_pages, staff_pages

    return [
        *channel_pages.routes(console),
        Route("/channels", console.page("channels.view")(channels_page)),
        Route("/channels/{channel_id}/{action}", console.page("channels.manage")(channel_action), methods=["POST"]),
        Route("/users", console.page("users.manage")(users_page), methods=["GET", "POST"]),
        Route("/users/{username}/{action}", console.page("users.manage")(user_action), methods=["POST"]),
        Route("/audit", console.page("audit.view")(audit_page)),
        Route("/account/password", console.page("account.password")(password_page), methods=["GET", "POST"]),
        Route("/me", console.page("dashboard.view")(my_figures)),
        *staff_pages.routes(console),
        *library_pages.routes(console),
        *reports_pages.routes(console),
        *alerts_pages.routes(console),
        *staff_loop_pages.routes(console),
    ]


# -- channels ------------------------------------------------------------------------------


def channels_page(ctx: Ctx, *, errors: dict[str, str] | None = None, status: int = 200) -> Response:
    from scheduler.channels.catalog import refresh
    from scheduler.channels.health import connect_buttons
    from scheduler.web.channel_pages import unit_choices

    settings = ctx.loa.settings
    refresh(ctx.loa)  # a channel connected from the CLI shows at once
    scope = ctx.scope
    rows = [r for r in channel_rows(ctx.loa, lang=ctx.lang) if scope is None or r["id"] in scope]
    configured = {c.id: c for c in settings.channels}
    horizon = utcnow() + timedelta(days=settings.publishing.token_warn_days)
    for row in rows:
        row["approval"] = configured[row["id"]].approval
        row["paused_forever"] = bool(row["paused_until"] and row["paused_until"].startswith("9999"))
        expires = row.get("token_expires_at")
        row["expiring"] = bool(expires and datetime.fromisoformat(expires) <= horizon)
    can_manage = ctx.user.can("channels.manage")
    return ctx.render(
        "console/channels.html",
        status=status,
        channels=rows,
        errors=errors or {},
        can_manage=can_manage,
        connect=connect_buttons(ctx.loa) if can_manage else [],
        units=unit_choices(ctx),
    )


def channel_action(ctx: Ctx) -> Response:
    channel_id = ctx.request.path_params["channel_id"]
    action = ctx.request.path_params["action"]
    actor = ctx.user.username
    try:
        ctx.loa.settings.channel(channel_id)
        if action == "reconnect":
            released = reconnect(ctx.loa, channel_id, ctx.form.get("token", ""), actor=actor)
            return ctx.redirect("/channels", done="reconnected", n=str(released))
        if action == "pause":
            until_text = f"{ctx.form.get('date', '').strip()} {ctx.form.get('time', '').strip()}".strip()
            until = parse_when(until_text, ctx.loa.settings) if until_text else None
            pause(ctx.loa, channel_id, actor=actor, until=until)
            return ctx.redirect("/channels", done="paused")
        if action == "resume":
            resume(ctx.loa, channel_id, actor=actor)
            return ctx.redirect("/channels", done="resumed")
    except InputError as exc:
        return channels_page(ctx, errors={f"{action}-{channel_id}": ctx.error_text(exc)}, status=400)
    return channels_page(ctx, status=404)


# -- users ---------------------------------------------------------------------------------


def users_page(ctx: Ctx) -> Response:
    errors: dict[str, str] = {}
    values: dict[str, str] = {}
    if ctx.request.method == "POST":
        values = {k: v for k, v in ctx.form.items() if k in {"username", "role"}}
        try:
            password = ctx.form.get("password", "")
            if password != ctx.form.get("password2", ""):
                raise InputError(msg("error.passwords_differ"), field="password2")
            username = ctx.form.get("username", "").strip().lower()
            check_password(password, username=username)
            add_user(
                ctx.loa.engine,
                username=username,
                role=parse_role(ctx.form.get("role", "")),
                password=password,
                actor=ctx.user.username,
            )
            return ctx.redirect("/users", done="user_added")
        except InputError as exc:
            errors[exc.field or "form"] = ctx.error_text(exc)
    return _users_view(ctx, errors=errors, values=values, status=400 if errors else 200)


def _users_view(
    ctx: Ctx,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    token: tuple[str, str] | None = None,
    open_reset: str | None = None,
    status: int = 200,
) -> Response:
    return ctx.render(
        "console/users.html",
        status=status,
        users=list_users(ctx.loa.engine),
        errors=errors or {},
        values=values or {},
        roles=[r.value for r in Role],
        token=token,
        staff_options=_staff_options(ctx),
        open_reset=open_reset,
    )


def _staff_options(ctx: Ctx) -> list[tuple[int, str]]:
    """Staff members an account can be linked to (none when the sharing room is not in the tree)."""
    if not ctx.console.has_sharing():
        return []
    from scheduler.sharing.service import SharingService

    staff = SharingService(ctx.loa.settings, ctx.loa.engine).list_staff(include_inactive=True)
    return [(int(s["id"]), f"{s['full_name']} — {s['unit']}") for s in staff]


def user_action(ctx: Ctx) -> Response:
    username = ctx.request.path_params["username"]
    action = ctx.request.path_params["action"]
    engine = ctx.loa.engine
    actor = ctx.user.username
    try:
        if action == "disable":
            if username == actor:
                raise InputError(msg("error.disable_own_account"), hint=msg("hint.ask_another_admin"), field="form")
            disable_user(engine, username, actor=actor)
            return ctx.redirect("/users", done="user_disabled")
        if action == "enable":
            enable_user(engine, username, actor=actor)
            return ctx.redirect("/users", done="user_enabled")
        if action == "end-sessions":
            end_sessions(engine, username, actor=actor)
            return ctx.redirect("/users", done="sessions_ended")
        if action == "token":
            # Shown once, on this response only (no redirect: it must not land in a URL or history).
            return _users_view(ctx, token=(username, new_api_token(engine, username, actor=actor)))
        if action == "staff":
            staff = ctx.form.get("staff", "").strip()
            link_staff(engine, username, staff or None, actor=actor)
            return ctx.redirect("/users", done="staff_linked" if staff else "staff_unlinked")
    except InputError as exc:
        return _users_view(ctx, errors={"form": ctx.error_text(exc)}, status=400)
    if action == "password":
        return _reset_password(ctx, username)
    return _users_view(ctx, status=404)


def _reset_password(ctx: Ctx, username: str) -> Response:
    """An admin sets another user's password (typed by the admin, shown to nobody); their sessions end."""
    try:
        if username == ctx.user.username:
            raise InputError(msg("error.own_password_elsewhere"), field="password")
        password = ctx.form.get("password", "")
        if password != ctx.form.get("password2", ""):
            raise InputError(msg("error.passwords_differ"), field="password2")
        set_password(ctx.loa.engine, username, password, actor=ctx.user.username)
    except InputError as exc:
        field = "password2" if exc.field == "password2" else "password"
        return _users_view(
            ctx, errors={f"reset-{field}-{username}": ctx.error_text(exc)}, open_reset=username, status=400
        )
    return ctx.redirect("/users", done="password_reset")


# -- own password --------------------------------------------------------------------------


def password_page(ctx: Ctx) -> Response:
    """Every signed-in user changes their own password; their other sessions end."""
    errors: dict[str, str] = {}
    if ctx.request.method == "POST":
        assert ctx.session is not None
        try:
            new = ctx.form.get("new_password", "")
            if new != ctx.form.get("new_password2", ""):
                raise InputError(msg("error.passwords_differ"), field="new_password2")
            try:
                value, _ = change_password(
                    ctx.loa.engine,
                    ctx.session,
                    ctx.form.get("current_password", ""),
                    new,
                    ip=client_ip(ctx.request, ctx.loa.settings),
                )
            except InputError as exc:
                if exc.field == "password":  # the shared password rules name the field "password"
                    exc.field = "new_password"
                raise
        except InputError as exc:
            errors[exc.field or "form"] = ctx.error_text(exc)
            return ctx.render("console/password.html", status=400, errors=errors)
        response = ctx.redirect("/account/password", done="password_changed")
        ctx.console.set_session_cookie(response, value)
        return response
    return ctx.render("console/password.html", errors=errors)


# -- audit log -----------------------------------------------------------------------------


def audit_page(ctx: Ctx) -> Response:
    action = ctx.query.get("action", "").strip()[:64]
    actor = ctx.query.get("actor", "").strip()[:64]
    # A page past the last shows nothing; one past any offset the database takes is the first.
    page = parse_id(ctx.query.get("page", "1")) or 1
    page = page if page <= MAX_AUDIT_PAGE else 1
    with session_scope(ctx.loa.engine, read_only=True) as session:
        query = select(AuditEvent)
        if action:
            query = query.where(col(AuditEvent.action).startswith(action))
        if actor:
            query = query.where(AuditEvent.actor == actor)
        total = int(session.exec(select(func.count()).select_from(query.subquery())).one())
        rows = list(
            session.exec(
                query.order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
                .offset((page - 1) * AUDIT_PAGE)
                .limit(AUDIT_PAGE)
            )
        )
        actions = list(session.exec(select(AuditEvent.action).distinct().order_by(col(AuditEvent.action))))
    events = [
        {
            "at": r.at,
            "actor": r.actor,
            "action": r.action,
            "action_label": action_label(ctx.lang, r.action),
            "object": r.object,
            "details": [
                (detail_label(ctx.lang, k) if k else "", detail_value(ctx.lang, v)) for k, v in _details(r.details)
            ],
        }
        for r in rows
    ]
    return ctx.render(
        "console/audit.html",
        events=events,
        action=action,
        actor=actor,
        page=page,
        pages=max(1, -(-total // AUDIT_PAGE)),
        total=total,
        actions=[(a, action_label(ctx.lang, a)) for a in actions],
    )


def _details(raw: str | None) -> list[tuple[str, str]]:
    if not raw:
        return []
    try:
        parsed = json.loads(raw)
    except ValueError:
        return [("", raw)]
    if not isinstance(parsed, dict):
        return [("", str(parsed))]
    return [(str(k), v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)) for k, v in parsed.items()]


# -- a staff member's own page -------------------------------------------------------------


def my_figures(ctx: Ctx) -> Response:
    user = ctx.user
    settings = ctx.loa.settings
    today = utcnow().astimezone(settings.tz).date()
    month_start = datetime.combine(today.replace(day=1), time(0), tzinfo=settings.tz)
    figures: dict[str, Any] | None = None
    if user.staff_id is not None:
        with session_scope(ctx.loa.engine, read_only=True) as session:
            staff = session.get(Staff, user.staff_id)
            if staff is not None:
                unit = session.get(Unit, staff.unit_id)
                links = select(ShareLink.id).where(ShareLink.staff_id == staff.id)
                shares = session.exec(
                    select(func.count())
                    .select_from(Share)
                    .where(col(Share.share_link_id).in_(links), Share.at >= month_start)
                ).one()
                clicks = session.exec(
                    select(func.count())
                    .select_from(Click)
                    .where(col(Click.share_link_id).in_(links), col(Click.counted).is_(True), Click.at >= month_start)
                ).one()
                all_shares = session.exec(
                    select(func.count()).select_from(Share).where(col(Share.share_link_id).in_(links))
                ).one()
                figures = {
                    "name": staff.full_name,
                    "unit": unit.name if unit else "",
                    "share_url": f"{settings.public_url}/s/{staff.share_token}",
                    "shares": int(shares),
                    "clicks": int(clicks),
                    "all_shares": int(all_shares),
                }
    return ctx.render("console/me.html", figures=figures, month_label=today.strftime("%m/%Y"))


def month_bounds(day: date) -> tuple[date, date]:
    first = day.replace(day=1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return first, last
