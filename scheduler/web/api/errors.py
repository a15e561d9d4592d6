"""Every refusal of the API, and the one function that words it for the client.

A handler raises :class:`ApiError` (an HTTP status and the :class:`LoaError` that says why);
FastAPI's own refusals (no such route, a query parameter of the wrong type) are turned into
the same thing. :func:`error_body` is the only place a ``LoaError`` becomes the JSON the
client reads, in the caller's language (:func:`request_lang`: ``?lang=``, then the console's
``loa_lang`` cookie, then Accept-Language, else Vietnamese).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError, ResponseValidationError
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from scheduler.errors import Busy, InputError, LoaError, NotFound, StoreError, Text, render_error
from scheduler.i18n import DEFAULT_LANG, N_, known, msg, normalize_lang, translate
from scheduler.i18n.validation import validation_problem
from scheduler.web.outage import outage_error, retry_headers

log = logging.getLogger(__name__)

# What each input must be, for the 400 that names it: "{name} must be {rule}".
MUST_BE: dict[str, str] = {
    "template": N_("api.must_be.template"),
    "channels": N_("api.must_be.channels"),
    "channel": N_("api.must_be.channel"),
    "variables": N_("api.must_be.variables"),
    "var": N_("api.must_be.var"),
    "at": N_("api.must_be.at"),
    "now": N_("api.must_be.boolean"),
    "draft": N_("api.must_be.boolean"),
    "cover": N_("api.must_be.cover"),
    "campaign": N_("api.must_be.campaign"),
    "link": N_("api.must_be.link"),
    "status": N_("api.must_be.status"),
    "limit": N_("api.must_be.limit"),
    "from": N_("api.must_be.day"),
    "to": N_("api.must_be.day"),
    "by": N_("api.must_be.by"),
    "post_id": N_("api.must_be.post_id"),
}
# Shown with "… is required".
REQUIRED_HINT: dict[str, str] = {
    "template": N_("api.must_be.template"),
    "from": N_("hint.api_period"),
    "to": N_("hint.api_period"),
}


class ApiError(Exception):
    """An answer other than success: its HTTP status and the error that says why."""

    def __init__(self, status: int, error: LoaError) -> None:
        super().__init__(error.message)
        self.status = status
        self.error = error


def refuse(status: int, message: Text, *, hint: Text | None = None, field: str | None = None) -> ApiError:
    return ApiError(status, InputError(message, hint=hint, field=field))


def request_lang(request: Request) -> str:
    """The caller's language: ``?lang=``, the console's cookie, Accept-Language, else Vietnamese."""
    chosen = normalize_lang(request.query_params.get("lang")) or normalize_lang(request.cookies.get("loa_lang"))
    if chosen:
        return chosen
    for part in request.headers.get("accept-language", "").split(","):
        spoken = normalize_lang(part.split(";")[0])
        if spoken:
            return spoken
    return DEFAULT_LANG


def error_body(error: LoaError, lang: str) -> dict[str, Any]:
    """The JSON of every refusal (the ``Error`` schema): what went wrong, the fix, the field, the id."""
    hint = translate(lang, error.hint_id, **error.hint_params) if error.hint_id else None
    return {
        "error": {
            "message": render_error(error, lang, hint=False),
            "hint": hint,
            "field": getattr(error, "field", None),
            "id": error.msgid if known(error.msgid) else None,
        }
    }


def error_response(exc: ApiError, lang: str) -> Response:
    headers = {"WWW-Authenticate": 'Bearer realm="loa"'} if exc.status == 401 else None
    if isinstance(exc.error, Busy):
        headers = {"Retry-After": str(exc.error.retry_after)}
    elif exc.status == 503:
        headers = retry_headers()
    return JSONResponse(error_body(exc.error, lang), status_code=exc.status, headers=headers)


def status_of(error: LoaError) -> int:
    """The status of a Loa error no handler classified: missing things 404, bad input 400."""
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, Busy):
        return 503
    return 400 if isinstance(error, InputError) else 500


def invalid_input(errors: Sequence[Mapping[str, Any]], *, known: Sequence[str] = ()) -> ApiError:
    """A 400 for what pydantic refused, naming the first field at fault, as the CLI words it.

    ``known`` are the fields a body may have, listed when it has others.
    """
    unknown = [str(e["loc"][-1]) for e in errors if e["type"] == "extra_forbidden"]
    if unknown:
        return refuse(
            400,
            msg("error.api_unknown_fields", fields=", ".join(unknown)),
            hint=msg("hint.api_known_fields", known=", ".join(sorted(known))) if known else None,
            field=unknown[0],
        )
    first = errors[0]
    # FastAPI puts where a parameter came from first ("query", "path", "body").
    loc = [part for part in first["loc"] if part not in {"query", "path", "body"}]
    name = str(loc[0]) if loc else "body"
    value = first.get("input")
    if first["type"] == "missing" or (value is None and name in REQUIRED_HINT):
        required_hint = REQUIRED_HINT.get(name)
        return refuse(
            400, msg("error.api_required", name=name), hint=msg(required_hint) if required_hint else None, field=name
        )
    if name == "variables" and len(loc) > 1:
        return refuse(400, msg("error.api_variable_text", variable=str(loc[1])), field=str(loc[1]))
    expected = (first.get("ctx") or {}).get("expected")
    hint = msg("hint.one_of", choices=expected) if expected else None
    shown = isinstance(value, str | int | float) and not isinstance(value, bool)
    if name in MUST_BE:
        rule = msg(MUST_BE[name])
        if shown:
            return refuse(
                400, msg("error.api_value_must_be", name=name, value=repr(value), rule=rule), hint=hint, field=name
            )
        return refuse(400, msg("error.api_must_be", name=name, rule=rule), hint=hint, field=name)
    problem = validation_problem(first)
    if shown:
        return refuse(
            400, msg("error.api_value_problem", name=name, value=repr(value), problem=problem), hint=hint, field=name
        )
    return refuse(400, msg("error.api_problem", name=name, problem=problem), hint=hint, field=name)


def install_handlers(api: FastAPI) -> None:
    """Every way a call can fail ends in :func:`error_response`."""

    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return error_response(exc, request_lang(request))

    async def on_loa_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoaError)
        outage = outage_error(exc) if isinstance(exc, StoreError) else None
        if outage is not None:
            return error_response(ApiError(503, outage), request_lang(request))
        return error_response(ApiError(status_of(exc), exc), request_lang(request))

    async def on_database(request: Request, exc: Exception) -> Response:
        # A driver error that no session turned into a StoreError (a connection that fails).
        outage = outage_error(exc)
        if outage is None:
            raise exc
        return error_response(ApiError(503, outage), request_lang(request))

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        route = f"{request.method} {request.url.path}"
        if exc.status_code == 404:
            refusal = refuse(404, msg("error.api_no_route", route=route), hint=msg("hint.see_openapi"))
        elif exc.status_code == 405:
            refusal = refuse(405, msg("error.api_method_not_allowed", route=route), hint=msg("hint.see_openapi"))
        else:
            # Starlette's own refusals (rare: the routes above cover the usual ones) keep its words.
            refusal = refuse(exc.status_code, str(exc.detail))
        response = error_response(refusal, request_lang(request))
        response.headers.update(exc.headers or {})
        return response

    async def on_bad_parameter(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return error_response(invalid_input(exc.errors()), request_lang(request))

    async def on_bad_response(request: Request, exc: Exception) -> Response:
        # A response that does not match its model is a bug here, never the client's fault.
        assert isinstance(exc, ResponseValidationError)
        log.error("%s %s: the response does not match its schema: %s", request.method, request.url.path, exc.errors())
        return error_response(ApiError(500, LoaError(msg("error.api_bad_response"))), request_lang(request))

    api.add_exception_handler(ApiError, on_api_error)
    api.add_exception_handler(LoaError, on_loa_error)
    api.add_exception_handler(OperationalError, on_database)
    api.add_exception_handler(HTTPException, on_http)
    api.add_exception_handler(RequestValidationError, on_bad_parameter)
    api.add_exception_handler(ResponseValidationError, on_bad_response)
