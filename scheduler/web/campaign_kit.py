"""The campaign kit on the share page: frame my avatar, my profile cover, "Tôi đã cập nhật".

The photo arrives in a form, is framed in memory within a heavy-work slot (so many staff
framing at once queue for the process's few slots while tracked links and the console go
on), and goes back as a download; nothing of it is stored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from scheduler.bounds import HeavyWork
from scheduler.campaign.kit import CampaignWords, frame_avatar, personal_cover
from scheduler.campaign.service import KINDS, current_campaign, kit_counts, record_update
from scheduler.errors import Busy, InputError, LoaError, render_error
from scheduler.i18n import DEFAULT_LANG, N_, translate
from scheduler.i18n.formats import format_int
from scheduler.models import Campaign, Staff, Unit
from scheduler.sharing.service import SharingService
from scheduler.sharing.visitors import form_token, form_token_ok
from scheduler.store import session_scope
from scheduler.web.i18n import Translator
from scheduler.web.sharing import BASE_CSP, LANG_COOKIE, PAGE_HEADERS, share_lang, templates_environment

if TYPE_CHECKING:
    from scheduler.app import Loa

FRAME_WAIT_SECONDS = 20.0
FRAME_QUEUE_PER_SLOT = 12
IMAGE_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def kit_routes(loa: Loa) -> list[BaseRoute]:
    settings = loa.settings
    service = SharingService(settings, loa.engine)
    env = templates_environment(settings.tz)
    policy = f"{BASE_CSP}; script-src 'self'; connect-src 'self'; form-action 'self'"
    # Framing has slots of its own, apart from the console's charts and reports: half the
    # heavy slots (one on a two-core machine, leaving a core to the event loop, tracked links
    # and the console), and a longer queue, since a phone can wait a few seconds in a rush.
    frames = HeavyWork(
        max(1, settings.limits.heavy_renders // 2), FRAME_WAIT_SECONDS, queue_per_slot=FRAME_QUEUE_PER_SLOT
    )

    def page(name: str, *, status: int = 200, lang: str = DEFAULT_LANG, **context: Any) -> HTMLResponse:
        body = env.get_template(name).render(
            _=Translator(lang), lang=lang, num=lambda n: format_int(n, lang), **context
        )
        return HTMLResponse(body, status_code=status, headers={**PAGE_HEADERS, "Content-Security-Policy": policy})

    def message(status: int, title: str, text: str, lang: str) -> HTMLResponse:
        return page("share_message.html", status=status, title=title, text=text, lang=lang)

    def lang_of(request: Request) -> str:
        return share_lang(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE))

    def who(request: Request) -> tuple[Staff, Campaign, str] | None:
        staff = service.staff_by_token(request.path_params["token"])
        campaign = current_campaign(settings, loa.engine)
        if staff is None or staff.id is None or campaign is None or campaign.id is None:
            return None
        with session_scope(loa.engine, read_only=True) as session:
            unit = session.get(Unit, staff.unit_id)
        return staff, campaign, unit.name if unit else ""

    def words(campaign: Campaign) -> CampaignWords:
        return CampaignWords(name=campaign.name, theme=campaign.theme or campaign.name)

    def kit_page(request: Request) -> Response:
        lang = lang_of(request)
        found = who(request)
        if found is None:
            return message(404, N_("share.not_found"), N_("kit.no_campaign"), lang)
        staff, campaign, unit = found
        assert staff.id is not None and campaign.id is not None
        counts = kit_counts(loa.engine, staff=staff, campaign_id=campaign.id)
        return page(
            "share_kit.html",
            lang=lang,
            token=request.path_params["token"],
            form_token=form_token(service.keys, staff.id),
            campaign=campaign,
            unit=unit,
            counts=counts,
            done=request.query_params.get("done") in KINDS,
        )

    async def avatar(request: Request) -> Response:
        lang = lang_of(request)
        found = await run_in_threadpool(who, request)
        if found is None:
            return message(404, N_("share.not_found"), N_("kit.no_campaign"), lang)
        staff, campaign, _unit = found
        assert staff.id is not None
        form = await request.form(max_files=1, max_fields=5)
        raw_token = form.get("t")
        if not isinstance(raw_token, str) or not form_token_ok(service.keys, staff.id, raw_token):
            return message(403, N_("share.stale"), N_("share.open_again"), lang)
        upload = form.get("photo")
        if not isinstance(upload, UploadFile):
            return message(400, N_("kit.photo_problem"), N_("kit.choose_photo"), lang)
        limit = settings.limits.photo_bytes  # BodyLimit bounds the request; this the file itself
        data = await upload.read(limit + 1)
        await form.close()  # the spooled copy of the photo goes now, not at the end of the request
        if len(data) > limit:
            return message(413, N_("kit.photo_problem"), N_("kit.photo_too_big"), lang)

        def work() -> bytes:
            with frames.slot():
                return frame_avatar(
                    data,
                    templates_dir=settings.templates_path,
                    assets_dir=settings.assets_path,
                    campaign=words(campaign),
                )

        try:
            framed = await run_in_threadpool(work)
        except Busy as exc:
            response = message(503, N_("kit.photo_problem"), N_("kit.busy"), lang)
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
        except InputError as exc:
            body = page(
                "share_kit_error.html",
                status=400,
                lang=lang,
                text=render_error(exc, lang),
                back=f"/s/{quote(request.path_params['token'])}/kit",
            )
            return body
        name = translate(lang, "kit.avatar_file")
        return Response(
            framed,
            media_type="image/jpeg",
            headers={**IMAGE_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'},
        )

    def cover(request: Request) -> Response:
        lang = lang_of(request)
        found = who(request)
        if found is None:
            return message(404, N_("share.not_found"), N_("kit.no_campaign"), lang)
        staff, campaign, unit = found
        try:
            with loa.heavy.slot():
                image = personal_cover(
                    templates_dir=settings.templates_path,
                    assets_dir=settings.assets_path,
                    campaign=words(campaign),
                    full_name=staff.full_name,
                    unit=unit,
                )
        except Busy:
            return message(503, N_("kit.photo_problem"), N_("kit.busy"), lang)
        name = translate(lang, "kit.cover_file")
        return Response(
            image,
            media_type="image/jpeg",
            headers={**IMAGE_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'},
        )

    async def done(request: Request) -> Response:
        lang = lang_of(request)
        found = await run_in_threadpool(who, request)
        if found is None:
            return message(404, N_("share.not_found"), N_("kit.no_campaign"), lang)
        staff, campaign, _unit = found
        assert staff.id is not None and campaign.id is not None
        form = await request.form(max_files=0, max_fields=5)
        raw_token = form.get("t")
        if not isinstance(raw_token, str) or not form_token_ok(service.keys, staff.id, raw_token):
            return message(403, N_("share.stale"), N_("share.open_again"), lang)
        kind = str(form.get("kind") or "")
        try:
            await run_in_threadpool(record_update, loa.engine, staff_id=staff.id, campaign_id=campaign.id, kind=kind)
        except LoaError:
            return message(400, N_("share.bad_request"), N_("share.open_again"), lang)
        token = quote(request.path_params["token"])
        return RedirectResponse(f"/s/{token}/kit?done={kind}", status_code=303, headers=PAGE_HEADERS)

    return [
        Route("/s/{token}/kit", kit_page, methods=["GET"]),
        Route("/s/{token}/kit/avatar", avatar, methods=["POST"]),
        Route("/s/{token}/kit/cover", cover, methods=["GET"]),
        Route("/s/{token}/kit/done", done, methods=["POST"]),
    ]
