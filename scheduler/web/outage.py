"""What the web answers while the database refuses service: a 503 that says why, never a bare 500.

Another program holding the SQLite write lock past the busy timeout, a full disk, a database
server that is down: the request was fine and may be repeated later, so the answer is
``503 Service Unavailable`` with ``Retry-After``, worded in the catalogue (the API's ``Error``
shape, the console's language). Each kind of outage is logged once per half minute with a
count, not once per request.
"""

from __future__ import annotations

import html
import logging

from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from scheduler.errors import StoreError, render_error
from scheduler.i18n import LANGS, N_, msg, process_lang, translate
from scheduler.logs import Throttle
from scheduler.models import utcnow
from scheduler.store import WriteTrouble, free_disk_bytes, outage_of, write_trouble
from scheduler.web.pages import LANG_COOKIE

log = logging.getLogger("loa.web")
_throttle = Throttle(log)

RETRY_AFTER_S = 10
# Below this the database's disk counts as full: the next insert may be the one that fails.
LOW_DISK_BYTES = 1_000_000
OUTAGE_WORDS = {
    "busy": (N_("error.web_database_busy"), N_("hint.web_database_busy")),
    "full": (N_("error.web_database_full"), N_("hint.web_database_full")),
    "read_only": (N_("error.web_database_read_only"), N_("hint.web_database_read_only")),
    "unavailable": (N_("error.web_database_unavailable"), N_("hint.web_database_unavailable")),
}


def outage_error(exc: BaseException) -> StoreError | None:
    """The person's version of a database outage behind ``exc``, or None when it is no outage."""
    kind = outage_of(exc)
    if kind is None:
        return None
    message, hint = OUTAGE_WORDS[kind]
    _throttle.log(logging.WARNING, kind, "the database refuses service (%s): %s", kind, _driver_words(exc))
    return StoreError(msg(message), hint=msg(hint))


def _driver_words(exc: BaseException) -> str:
    cause = exc.__cause__ or exc
    return str(getattr(cause, "orig", None) or cause).splitlines()[0]


def retry_headers() -> dict[str, str]:
    return {"Retry-After": str(RETRY_AFTER_S)}


def outage_page(request: Request, exc: Exception) -> Response:
    """The console's and public pages' answer to a database outage (an exception handler)."""
    error = outage_error(exc)
    lang = request.cookies.get(LANG_COOKIE)
    lang = lang if lang in LANGS else "vi"
    status, headers = 503, retry_headers()
    if error is None:
        # Not an outage (a channel missing from the database…): said as it is, and logged in full.
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        error = exc if isinstance(exc, StoreError) else StoreError(msg("error.web_database_unavailable"))
        status, headers = 500, {}
    if request.url.path.startswith("/api/"):
        body = {"error": {"message": render_error(error, lang, hint=False), "hint": _hint(error, lang), "field": None}}
        return JSONResponse(body, status_code=status, headers=headers)
    title = html.escape(translate(lang, "error.service_unavailable"))
    page = (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title></head>'
        f"<body><h1>{title}</h1><p>{html.escape(render_error(error, lang, hint=False))}</p>"
        f"<p>{html.escape(_hint(error, lang) or '')}</p></body></html>"
    )
    return HTMLResponse(page, status_code=status, headers=headers)


def _hint(error: StoreError, lang: str) -> str | None:
    return translate(lang, error.hint_id, **error.hint_params) if error.hint_id else None


def storage_health(engine: Engine) -> dict[str, object]:
    """The ``/healthz`` fields about storage: ``database`` is ``ok`` or ``error: <kind>``.

    Reads still work on a full disk, so the free space and the writes of this process tell:
    red from the first write refused until one succeeds again, or while the disk has no room.
    """
    fields: dict[str, object] = {"database": "ok"}
    free = free_disk_bytes(engine)
    if free is not None:
        fields["database_free_bytes"] = free
    trouble = write_trouble(engine)
    if trouble is None and free is not None and free < LOW_DISK_BYTES:
        trouble = WriteTrouble("full", utcnow())
    if trouble is not None:
        fields["database"] = f"error: {trouble.kind}"
        fields["database_error"] = translate(process_lang(), OUTAGE_WORDS[trouble.kind][0])
        fields["database_error_since"] = trouble.at.isoformat()
    return fields
