"""Every refusal of the API, and the one function that words it for the client.

A handler raises :class:`ApiError` (an HTTP status and the :class:`LoaError` that says why);
FastAPI's own refusals (no such route, a query parameter of the wrong type) are turned into
the same thing. :func:`error_body` is the only place a ``LoaError`` becomes the JSON the
client reads, so the wording of errors (and later their translation) changes in one place.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError, ResponseValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from scheduler.errors import Busy, InputError, LoaError, NotFound

log = logging.getLogger(__name__)

# What each input must be, for the 400 that names it: "{name} must be {rule}".
MUST_BE: dict[str, str] = {
    "template": "the name of a message template",
    "channels": "a list of channel ids",
    "channel": "a channel id or a list of channel ids",
    "variables": "an object of name → text",
    "var": "a list of 'K=V' strings, as --var takes",
    "at": "a time such as 2026-05-06T08:00",
    "now": "true or false",
    "draft": "true or false",
    "cover": "the name of a cover layout",
    "campaign": "a campaign slug",
    "link": "an http(s) URL",
    "status": "a publication status",
    "limit": "a whole number from 1 to 1000",
    "from": "a day, YYYY-MM-DD or dd/mm/yyyy",
    "to": "a day, YYYY-MM-DD or dd/mm/yyyy",
    "by": "a report dimension",
    "post_id": "a post id (a whole number from 1)",
}
# Shown with "… is required".
REQUIRED_HINT: dict[str, str] = {
    "template": "the name of a message template",
    "from": "from=2026-05-01&to=2026-05-31",
    "to": "from=2026-05-01&to=2026-05-31",
}


class ApiError(Exception):
    """An answer other than success: its HTTP status and the error that says why."""

    def __init__(self, status: int, error: LoaError) -> None:
        super().__init__(error.message)
        self.status = status
        self.error = error


def refuse(status: int, message: str, *, hint: str | None = None, field: str | None = None) -> ApiError:
    return ApiError(status, InputError(message, hint=hint, field=field))


def error_body(error: LoaError) -> dict[str, Any]:
    """The JSON of every refusal (the ``Error`` schema): what went wrong, the fix, the field."""
    return {"error": {"message": error.message, "hint": error.hint, "field": getattr(error, "field", None)}}


def error_response(exc: ApiError) -> Response:
    headers = {"WWW-Authenticate": 'Bearer realm="loa"'} if exc.status == 401 else None
    if isinstance(exc.error, Busy):
        headers = {"Retry-After": str(exc.error.retry_after)}
    return JSONResponse(error_body(exc.error), status_code=exc.status, headers=headers)


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
            f"unknown field(s): {', '.join(unknown)}",
            hint=f"known: {', '.join(sorted(known))}" if known else None,
            field=unknown[0],
        )
    first = errors[0]
    # FastAPI puts where a parameter came from first ("query", "path", "body").
    loc = [part for part in first["loc"] if part not in {"query", "path", "body"}]
    name = str(loc[0]) if loc else "body"
    value = first.get("input")
    if first["type"] == "missing" or (value is None and name in REQUIRED_HINT):
        return refuse(400, f"{name} is required", hint=REQUIRED_HINT.get(name), field=name)
    if name == "variables" and len(loc) > 1:
        return refuse(400, f"variable {loc[1]!r} must be text", field=str(loc[1]))
    expected = (first.get("ctx") or {}).get("expected")
    hint = f"use one of: {expected}" if expected else None
    rule = MUST_BE.get(name, first["msg"])
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return refuse(400, f"{name} {value!r} must be {rule}", hint=hint, field=name)
    return refuse(400, f"{name} must be {rule}", hint=hint, field=name)


def install_handlers(api: FastAPI) -> None:
    """Every way a call can fail ends in :func:`error_response`."""

    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return error_response(exc)

    async def on_loa_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoaError)
        return error_response(ApiError(status_of(exc), exc))

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        route = f"{request.method} {request.url.path}"
        if exc.status_code == 404:
            refusal = refuse(404, f"there is no API route {route}", hint="see /api/openapi.json")
        elif exc.status_code == 405:
            refusal = refuse(405, f"{route} is not allowed", hint="see /api/openapi.json")
        else:
            refusal = refuse(exc.status_code, str(exc.detail))
        response = error_response(refusal)
        response.headers.update(exc.headers or {})
        return response

    async def on_bad_parameter(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return error_response(invalid_input(exc.errors()))

    async def on_bad_response(request: Request, exc: Exception) -> Response:
        # A response that does not match its model is a bug here, never the client's fault.
        assert isinstance(exc, ResponseValidationError)
        log.error("%s %s: the response does not match its schema: %s", request.method, request.url.path, exc.errors())
        return error_response(ApiError(500, LoaError("the server's answer does not match its documented shape")))

    api.add_exception_handler(ApiError, on_api_error)
    api.add_exception_handler(LoaError, on_loa_error)
    api.add_exception_handler(HTTPException, on_http)
    api.add_exception_handler(RequestValidationError, on_bad_parameter)
    api.add_exception_handler(ResponseValidationError, on_bad_response)
