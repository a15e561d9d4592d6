"""Platform-neutral request and response values, and parameter coercion.

Real clients send parameters every way HTTP allows (query string, form, multipart, JSON;
lists comma-separated or JSON-encoded; booleans as true/false/1/0), so the platform modules
only ever read a merged, already-parsed :class:`ApiRequest`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request

VERSION_SEGMENT = re.compile(r"^v\d+(\.\d+)?$")
# Above the largest upload any emulated endpoint accepts (Facebook: 4 MB), with room to
# answer "too large" in the platform's own words instead of failing the parse.
MAX_BODY_BYTES = 32 * 1024 * 1024


class ParamError(ValueError):
    """A parameter is present but malformed; the platform module words the reply."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message


@dataclass(frozen=True)
class UploadedFile:
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class ApiRequest:
    """One parsed request to an emulated platform."""

    method: str
    path: str
    segments: tuple[str, ...]  # path segments, version included
    query: dict[str, str]
    params: dict[str, Any]  # query string overlaid by the body
    files: dict[str, UploadedFile]
    headers: Mapping[str, str]  # lower-case names
    base_url: str  # scheme://host:port, to build absolute URLs (paging, media)
    json_body: Any = None
    body_error: str | None = None  # the body could not be parsed
    raw_body: bytes = b""  # a body neither JSON nor a form (an upload of bare bytes)
    # Every value of a repeated query or form field (a consent form's ticked boxes).
    multi: dict[str, list[str]] = field(default_factory=dict)

    @property
    def version(self) -> str | None:
        if self.segments and VERSION_SEGMENT.match(self.segments[0]):
            return self.segments[0]
        return None

    @property
    def route_segments(self) -> tuple[str, ...]:
        """Path segments without the leading version."""
        return self.segments[1:] if self.version else self.segments


@dataclass
class ApiResponse:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    media_type: str = "application/json"


async def parse_request(request: Request) -> ApiRequest:
    """Read the whole request once; never raises for a bad body (``body_error`` says why)."""
    query = {key: value for key, value in request.query_params.multi_items()}
    params: dict[str, Any] = dict(query)
    multi: dict[str, list[str]] = {}
    for name, item in request.query_params.multi_items():
        multi.setdefault(name, []).append(item)
    files: dict[str, UploadedFile] = {}
    json_body: Any = None
    body_error: str | None = None
    raw_body = b""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if content_type == "application/json":
            raw = await request.body()
            if len(raw) > MAX_BODY_BYTES:
                body_error = "request body too large"
            elif raw.strip():
                json_body = json.loads(raw)
                if isinstance(json_body, dict):
                    params.update(json_body)
        elif content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
            form = await request.form(max_part_size=MAX_BODY_BYTES)
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    data = await value.read()
                    files[key] = UploadedFile(value.filename, value.content_type, data)
                else:
                    params[key] = value
                    multi.setdefault(key, []).append(value)
        else:
            raw = await request.body()
            raw_body = raw
            # Hand-written clients sometimes post JSON without saying so.
            if raw.strip().startswith(b"{"):
                try:
                    json_body = json.loads(raw)
                    params.update(json_body)
                except ValueError:
                    json_body = None
    except (ValueError, HTTPException) as exc:
        body_error = f"malformed request body: {exc}"
    segments = tuple(part for part in request.url.path.split("/") if part)
    base_url = f"{request.url.scheme}://{request.url.netloc}"
    return ApiRequest(
        method=request.method.upper(),
        path=request.url.path,
        segments=segments,
        query=query,
        params=params,
        files=files,
        headers={key.lower(): value for key, value in request.headers.items()},
        base_url=base_url,
        json_body=json_body,
        body_error=body_error,
        raw_body=raw_body,
        multi=multi,
    )


def as_str(value: Any) -> str | None:
    """A scalar parameter as text; JSON values are re-encoded the way SDKs would send them."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value)


def as_bool(name: str, value: Any, default: bool | None = None) -> bool | None:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise ParamError(name, f"param {name} must be a boolean")


def as_list(name: str, value: Any) -> list[str]:
    """``a,b`` or ``["a","b"]`` or a JSON list → list of strings."""
    if value is None:
        return []
    if isinstance(value, list):
        return [str(item) for item in value]
    text = str(value).strip()
    if text.startswith("["):
        try:
            decoded = json.loads(text)
        except ValueError:
            raise ParamError(name, f"param {name} must be an array") from None
        if not isinstance(decoded, list):
            raise ParamError(name, f"param {name} must be an array")
        return [str(item) for item in decoded]
    return [part.strip() for part in text.split(",") if part.strip()]


def as_object_list(name: str, params: Mapping[str, Any]) -> list[Any]:
    """A list of objects sent as ``name=[{…}]`` (JSON) or ``name[0]={…}``, ``name[1]=…``."""
    items: list[tuple[int, Any]] = []
    value = params.get(name)
    if value is not None:
        decoded = value
        if isinstance(value, str):
            try:
                decoded = json.loads(value)
            except ValueError:
                raise ParamError(name, f"param {name} must be an array of objects") from None
        if not isinstance(decoded, list):
            raise ParamError(name, f"param {name} must be an array of objects")
        items.extend(enumerate(decoded))
    indexed = re.compile(rf"^{re.escape(name)}\[(\d+)\]$")
    for key, raw in params.items():
        match = indexed.match(key)
        if not match:
            continue
        item = raw
        if isinstance(raw, str):
            try:
                item = json.loads(raw)
            except ValueError:
                raise ParamError(key, f"param {key} must be a JSON object") from None
        items.append((int(match.group(1)), item))
    return [item for _, item in sorted(items, key=lambda pair: pair[0])]


def as_int(name: str, value: Any, default: int) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise ParamError(name, f"param {name} must be an integer")
    try:
        return int(str(value).strip())
    except ValueError:
        raise ParamError(name, f"param {name} must be an integer") from None
