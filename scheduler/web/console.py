"""The staff console: login, dashboard, queue, calendar, post detail and the decisions on a post.

Pages are server-rendered from ``web/templates/console``; what a person may see and do is
checked here on the server (``scheduler.auth``), whatever the page showed them. Compose
lives in :mod:`scheduler.web.compose`, channels/users/audit/staff/reports in
:mod:`scheduler.web.admin`, the JSON API in :mod:`scheduler.web.api`.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func
from sqlmodel import col, select
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from scheduler.auth import LoginRefused, end_session, login, may_manage_post, record_forbidden
from scheduler.bounds import clamp_day
from scheduler.channels.health import warnings as token_warnings
from scheduler.channels.service import channel_rows
from scheduler.errors import InputError
from scheduler.i18n import N_, msg, translate
from scheduler.models import PublicationStatus, PublishAttempt, Share, ShareLink, utcnow
from scheduler.posts.requests import parse_when
from scheduler.publishing.outcomes import Event, sources
from scheduler.store import session_scope
from scheduler.web.pages import STATIC, Console, Ctx, client_ip, safe_next, security_headers
from scheduler.web.proxy import STATE_KEY

if TYPE_CHECKING:
    from scheduler.app import Loa

ATTENTION = ("failed", "blocked", "unknown", "missed")
# Which buttons a publication shows: the statuses the state machine lets each decision apply to.
CANCELLABLE = {s.value for s in sources(Event.cancelled)}
EDITABLE = {s.value for s in sources(Event.edited)}
MOVABLE = {s.value for s in sources(Event.rescheduled)}
RETRYABLE = {s.value for s in sources(Event.retried)}
STATIC_TYPES = {
    "console.css": "text/css; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}


def console_routes(loa: Loa) -> list[BaseRoute]:
    """Every console route, built for one Loa (the compose/admin rooms add theirs)."""
    from scheduler.web import admin, compose

    console = Console(loa)
    return [
        Route("/login", console.page(None, login=False, csrf="page")(login_page), methods=["GET", "POST"]),
        Route("/logout", console.page(None)(logout), methods=["POST"]),
        Route("/", console.page("dashboard.view")(dashboard)),
        Route("/queue", console.page("posts.view")(queue)),
        Route("/calendar", console.page("posts.view")(calendar)),
        Route("/posts/{post_id:int}", console.page("posts.view")(post_detail)),
        Route("/posts/{post_id:int}/{action}", console.page("posts.view")(post_action), methods=["POST"]),
        Route(
            "/publications/{publication_id:int}/{action}",
            console.page("posts.view")(publication_action),
            methods=["POST"],
        ),
        Route("/static/{name}", static_file),
        *compose.routes(console),
        *admin.routes(console),
    ]


async def static_file(request: Any) -> Response:
    name = request.path_params["name"]
    if name not in STATIC_TYPES:
        return PlainTextResponse(translate("vi", "error.file_not_found"), status_code=404)
    response = FileResponse(STATIC / name, media_type=STATIC_TYPES[name], headers={"Cache-Control": "no-cache"})
    return security_headers(response, https=False, cache=True)


# -- login --------------------------------------------------------------------------------


def login_page(ctx: Ctx) -> Response:
    next_url = safe_next(ctx.form.get("next") or ctx.query.get("next"))
    if ctx.request.method == "GET":
        if ctx.signed_in:
            return ctx.redirect(next_url)
        return ctx.render(
            "console/login.html", username="", next=next_url, error=None, expired=ctx.query.get("expired") == "1"
        )
    username = ctx.form.get("username", "")
    if not ctx.csrf_valid:
        # A login form left open past its session: show it again, with a fresh token.
        return ctx.render(
            "console/login.html",
            status=400,
            username=username,
            next=next_url,
            error=ctx.t("login.stale"),
            expired=False,
        )
    try:
        result = login(
            ctx.loa.engine,
            username,
            ctx.form.get("password", ""),
            ip=client_ip(ctx.request, ctx.loa.settings),
            previous=ctx.session,
        )
    except LoginRefused as exc:
        message = ctx.t("login.throttled", minutes=exc.retry_minutes) if exc.throttled else ctx.t("login.wrong")
        return ctx.render(
            "console/login.html",
            status=429 if exc.throttled else 400,
            username=username,
            next=next_url,
            error=message,
            expired=False,
        )
    response = ctx.redirect(next_url)
    ctx.console.set_session_cookie(response, result.cookie_value)
    return response


def logout(ctx: Ctx) -> Response:
    assert ctx.session is not None
    end_session(ctx.loa.engine, ctx.session)
    response = ctx.redirect("/login", done="logged_out")
    response.delete_cookie(
        ctx.console.session_cookie, path="/", secure=ctx.console.https, httponly=True, samesite="lax"
    )
    return response


# -- time helpers ----------------------------------------------------------------------------


def local_today(ctx: Ctx) -> date:
    return utcnow().astimezone(ctx.loa.settings.tz).date()


def local_midnight(ctx: Ctx, day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ctx.loa.settings.tz)


def parse_day(value: str | None, default: date) -> date:
    """The day asked for, kept inside the days Loa speaks of (a calendar never pages past them)."""
    try:
        return clamp_day(date.fromisoformat(value)) if value else default
    except ValueError:
        return default


# -- dashboard ---------------------------------------------------------------------------


def _latest_audience(ctx: Ctx) -> dict[str, dict[str, Any]]:
    """Each channel's newest audience reading: channel → {day, followers, views, reach}."""
    from scheduler.models import AudienceSnapshot

    found: dict[str, dict[str, Any]] = {}
    with session_scope(ctx.loa.engine, read_only=True) as session:
        rows = session.exec(
            select(AudienceSnapshot)
            .order_by(col(AudienceSnapshot.day).desc(), col(AudienceSnapshot.at).desc())
            .limit(200)
        )
        for row in rows:
            if row.channel_id not in found:
                found[row.channel_id] = {
                    "day": row.day.strftime("%d/%m/%Y"),
                    "followers": row.followers,
                    "views": row.views,
                    "reach": row.reach,
                }
    return found


def dashboard(ctx: Ctx) -> Response:
    if ctx.user.role.value == "staff":
        from scheduler.web.admin import my_figures

        return my_figures(ctx)
    posts = ctx.loa.posts
    today = local_today(ctx)
    start = local_midnight(ctx, today)
    attention: list[dict[str, Any]] = []
    seen: set[int] = set()
    for status in ATTENTION:
        for post in posts.list(within=ctx.scope, lang=ctx.lang, status=status, limit=100):
            for publication in post["publications"]:
                if publication["status"] == status and publication["id"] not in seen:
                    seen.add(publication["id"])
                    attention.append({"post": post, "publication": publication})
    attention.sort(key=lambda item: item["post"]["scheduled_at"], reverse=True)
    waiting = posts.list(within=ctx.scope, lang=ctx.lang, status="pending_approval", limit=50, ascending=True)
    days = [
        (
            today,
            posts.list(
                within=ctx.scope, lang=ctx.lang, since=start, until=start + timedelta(days=1), ascending=True, limit=200
            ),
        ),
        (
            today + timedelta(days=1),
            posts.list(
                within=ctx.scope,
                lang=ctx.lang,
                since=start + timedelta(days=1),
                until=start + timedelta(days=2),
                ascending=True,
                limit=200,
            ),
        ),
    ]
    month_start = local_midnight(ctx, today.replace(day=1))
    shares = None
    if ctx.console.has_sharing():
        with session_scope(ctx.loa.engine, read_only=True) as session:
            shares = int(session.exec(select(func.count()).select_from(Share).where(Share.at >= month_start)).one())
    audience = _latest_audience(ctx)
    return ctx.render(
        "console/dashboard.html",
        audience=audience,
        attention=attention,
        waiting=waiting,
        days=days,
        today=today,
        # A unit's account: its units' channels and their tokens; the province and admins: all.
        channels=[r for r in channel_rows(ctx.loa, lang=ctx.lang) if ctx.scope is None or r["id"] in ctx.scope],
        token_warnings=[w for w in token_warnings(ctx.loa) if ctx.scope is None or w["id"] in ctx.scope]
        if ctx.user.can("channels.view")
        else [],
        month_shares=shares,
        month_label=today.strftime("%m/%Y"),
        may_manage=lambda post: may_manage_post(ctx.user, post["created_by"]),
        # Only admins can fix it (web.trusted_proxies), so only they are told.
        forwarding=getattr(ctx.request.state, STATE_KEY, None) if ctx.user.can("users.manage") else None,
    )


# -- queue and calendar ----------------------------------------------------------------------


def _filters(ctx: Ctx) -> dict[str, str]:
    """The filters a person picked, limited to values that exist (anything else is ignored)."""
    settings = ctx.loa.settings
    chosen: dict[str, str] = {}
    channel = ctx.query.get("channel", "")
    if channel in {c.id for c in settings.channels}:
        chosen["channel"] = channel
    campaign = ctx.query.get("campaign", "")
    if campaign in {c.slug for c in settings.campaigns}:
        chosen["campaign"] = campaign
    status = ctx.query.get("status", "")
    if status in PublicationStatus.__members__:
        chosen["status"] = status
    return chosen


def _filter_options(ctx: Ctx) -> dict[str, Any]:
    settings = ctx.loa.settings
    return {
        "channels": [(c.id, c.name) for c in settings.channels],
        "campaigns": [(c.slug, c.name) for c in settings.campaigns],
        "statuses": list(PublicationStatus.__members__),
    }


def queue(ctx: Ctx) -> Response:
    filters = _filters(ctx)
    when = ctx.query.get("when", "upcoming")
    if when not in {"upcoming", "past", "all"}:
        when = "upcoming"
    now = utcnow()
    start_of_today = local_midnight(ctx, local_today(ctx))
    kwargs: dict[str, Any] = dict(filters)
    if when == "upcoming":
        # Today's posts stay in view all day, published or not: the office reads its day here.
        kwargs.update(since=start_of_today, ascending=True)
    elif when == "past":
        kwargs.update(until=now)
    posts = ctx.loa.posts.list(within=ctx.scope, lang=ctx.lang, limit=300, **kwargs)
    groups: dict[date, list[dict[str, Any]]] = {}
    tz = ctx.loa.settings.tz
    for post in posts:
        day = datetime.fromisoformat(post["scheduled_at"]).astimezone(tz).date()
        groups.setdefault(day, []).append(post)
    return ctx.render(
        "console/queue.html",
        groups=list(groups.items()),
        filters=filters,
        options=_filter_options(ctx),
        when=when,
        total=len(posts),
        today=local_today(ctx),
        may_manage=lambda post: may_manage_post(ctx.user, post["created_by"]),
        cancellable=CANCELLABLE,
        retryable=RETRYABLE,
    )


def calendar(ctx: Ctx) -> Response:
    filters = _filters(ctx)
    view = "month" if ctx.query.get("view") == "month" else "week"
    today = local_today(ctx)
    anchor = parse_day(ctx.query.get("date"), today)
    if view == "week":
        first = anchor - timedelta(days=anchor.weekday())
        last = first + timedelta(days=7)
        previous, following = first - timedelta(days=7), first + timedelta(days=7)
    else:
        month_first = anchor.replace(day=1)
        first = month_first - timedelta(days=month_first.weekday())
        next_month = (month_first + timedelta(days=32)).replace(day=1)
        last = next_month + timedelta(days=(7 - next_month.weekday()) % 7)
        previous = (month_first - timedelta(days=1)).replace(day=1)
        following = next_month
    posts = ctx.loa.posts.list(
        within=ctx.scope,
        lang=ctx.lang,
        since=local_midnight(ctx, first),
        until=local_midnight(ctx, last),
        ascending=True,
        limit=1000,
        **filters,
    )
    by_day: dict[date, list[dict[str, Any]]] = {}
    tz = ctx.loa.settings.tz
    for post in posts:
        by_day.setdefault(datetime.fromisoformat(post["scheduled_at"]).astimezone(tz).date(), []).append(post)
    days = [first + timedelta(days=n) for n in range((last - first).days)]
    weeks = [days[i : i + 7] for i in range(0, len(days), 7)]
    return ctx.render(
        "console/calendar.html",
        view=view,
        weeks=weeks,
        by_day=by_day,
        anchor=anchor,
        today=today,
        previous=previous,
        following=following,
        filters=filters,
        options=_filter_options(ctx),
        month=anchor.month,
    )


# -- one post ----------------------------------------------------------------------------


def _attempts(ctx: Ctx, publication_ids: list[int]) -> dict[int, list[PublishAttempt]]:
    with session_scope(ctx.loa.engine, read_only=True) as session:
        rows = session.exec(
            select(PublishAttempt)
            .where(col(PublishAttempt.publication_id).in_(publication_ids))
            .order_by(col(PublishAttempt.started_at))
        )
        found: dict[int, list[PublishAttempt]] = {}
        for row in rows:
            found.setdefault(row.publication_id, []).append(row)
        return found


def _share_counts(ctx: Ctx, publication_ids: list[int]) -> Counter[int]:
    with session_scope(ctx.loa.engine, read_only=True) as session:
        rows = session.exec(
            select(ShareLink.publication_id, func.count())
            .join(Share, col(Share.share_link_id) == col(ShareLink.id))
            .where(col(ShareLink.publication_id).in_(publication_ids))
            .group_by(col(ShareLink.publication_id))
        ).all()
    return Counter({int(publication_id): int(count) for publication_id, count in rows})


def render_post(
    ctx: Ctx,
    post_id: int,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    post = ctx.loa.posts.show(post_id, lang=ctx.lang)
    ctx.require_post(post)
    ids = [p["id"] for p in post["publications"]]
    statuses = {p["status"] for p in post["publications"]}
    user = ctx.user
    manage = user.can("posts.manage") and may_manage_post(user, post["created_by"])
    channel_names = {c.id: c.name for c in ctx.loa.settings.channels}
    tz = ctx.loa.settings.tz
    scheduled_local = datetime.fromisoformat(post["scheduled_at"]).astimezone(tz)
    return ctx.render(
        "console/post.html",
        status=status,
        post=post,
        channel_names=channel_names,
        attempts=_attempts(ctx, ids),
        shares=_share_counts(ctx, ids),
        errors=errors or {},
        values={
            "date": scheduled_local.strftime("%d/%m/%Y"),
            "time": scheduled_local.strftime("%H:%M"),
            **(values or {}),
        },
        can_approve=user.can("posts.approve") and "pending_approval" in statuses,
        own_post=post["created_by"] == user.username,
        can_manage=manage,
        can_submit=manage and "draft" in statuses,
        # Until a publication is claimed (or while its outcome is unknown) the post can change.
        can_edit=manage and bool(statuses & EDITABLE) and not statuses & {"publishing", "unknown"},
        can_duplicate=user.can("posts.compose"),
        can_cancel=manage and bool(statuses & CANCELLABLE),
        can_reschedule=manage and bool(statuses & MOVABLE),
        retryable=RETRYABLE,
        has_sharing=ctx.console.has_sharing(),
    )


def post_detail(ctx: Ctx) -> Response:
    return render_post(ctx, ctx.path_int("post_id"))


def post_action(ctx: Ctx) -> Response:
    post_id = ctx.path_int("post_id")
    action = ctx.request.path_params["action"]
    post = ctx.loa.posts.show(post_id, lang=ctx.lang)
    ctx.require_post(post)
    user = ctx.user
    service = ctx.loa.posts
    # An approver of a unit approves its own channels' publications; the rest wait for others.
    mine = None if ctx.scope is None else [p["channel"] for p in post["publications"] if p["channel"] in ctx.scope]
    try:
        if action in {"approve", "send-back"}:
            ctx.require(
                user.can("posts.approve"), f"post:{post_id}", N_("audit_reason.role_may_not"), role=user.role.value
            )
            if post["created_by"] == user.username:
                # Separation of duties: the service refuses too; this is also a security event.
                record_forbidden(
                    ctx.loa.engine, user, what=f"post:{post_id}", details={"reason": N_("audit_reason.own_post")}
                )
            if action == "approve":
                service.approve(post_id, actor=user.username, channels=mine)
                done = "approved"
            else:
                service.send_back(post_id, actor=user.username, reason=ctx.form.get("reason", ""))
                done = "sent_back"
        elif action == "duplicate":
            ctx.require(
                user.can("posts.compose"), f"post:{post_id}", N_("audit_reason.role_may_not"), role=user.role.value
            )
            copy = service.duplicate(post_id, actor=user.username)
            return ctx.redirect(f"/compose?post={copy}")
        elif action in {"cancel", "reschedule", "submit"}:
            ctx.require(
                user.can("posts.manage") and may_manage_post(user, post["created_by"]),
                f"post:{post_id}",
                N_("audit_reason.not_author"),
                author=post["created_by"],
            )
            if action == "cancel":
                service.cancel(post_id, actor=user.username)
                done = "cancelled"
            elif action == "submit":
                service.submit(post_id, actor=user.username)
                done = "submitted"
            else:
                when = f"{ctx.form.get('date', '').strip()} {ctx.form.get('time', '').strip()}".strip()
                if not when:
                    raise InputError(msg("error.when_missing"), hint=msg("hint.date_time_format"), field="at")
                service.reschedule(post_id, parse_when(when, ctx.loa.settings), actor=user.username)
                done = "rescheduled"
        else:
            return render_post(ctx, post_id, status=404)
    except InputError as exc:
        return render_post(ctx, post_id, errors={action: ctx.error_text(exc)}, values=dict(ctx.form), status=400)
    return ctx.redirect(f"/posts/{post_id}", done=done)


def publication_action(ctx: Ctx) -> Response:
    publication_id = ctx.path_int("publication_id")
    action = ctx.request.path_params["action"]
    post = _post_of_publication(ctx, publication_id)
    user = ctx.user
    ctx.require(
        user.can("posts.manage") and may_manage_post(user, post["created_by"]),
        f"publication:{publication_id}",
        N_("audit_reason.not_author"),
        author=post["created_by"],
    )
    service = ctx.loa.posts
    try:
        if action == "retry":
            service.retry(publication_id, actor=user.username)
            done = "retried"
        elif action == "confirm":
            published = ctx.form.get("outcome") == "published"
            permalink = ctx.form.get("permalink", "").strip() or None
            service.confirm(publication_id, actor=user.username, published=published, permalink=permalink)
            done = "confirmed"
        else:
            return render_post(ctx, post["id"], status=404)
    except InputError as exc:
        return render_post(
            ctx,
            post["id"],
            errors={f"{action}-{publication_id}": ctx.error_text(exc)},
            values=dict(ctx.form),
            status=400,
        )
    back = ctx.form.get("back", "")
    return ctx.redirect(safe_next(back, f"/posts/{post['id']}"), done=done)


def _post_of_publication(ctx: Ctx, publication_id: int) -> dict[str, Any]:
    from scheduler.errors import NotFound
    from scheduler.models import Publication

    with session_scope(ctx.loa.engine, read_only=True) as session:
        row = session.get(Publication, publication_id)
        if row is None:
            raise NotFound(msg("error.no_publication", publication=publication_id))
        post_id, channel_id = row.post_id, row.channel_id
    ctx.require_channels([channel_id], f"publication:{publication_id}")
    return ctx.loa.posts.show(post_id, lang=ctx.lang)
