"""Who is calling a REST route: a kiosk by its device token, a clerk or supervisor by token.

Both send ``Authorization: Bearer TOKEN``. Routes call :func:`terminal_of` or
:func:`clerk_of` first; a refusal is an :class:`~aiohttp.web.HTTPUnauthorized` /
``HTTPForbidden`` with a JSON body (``code``, ``message``) that says what to do.
"""

from __future__ import annotations

import json
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from signaling.auth import ClerkClaims, authorize_clerk
from signaling.errors import AuthError
from signaling.keys import DATABASE, SETTINGS
from signaling.messages import ErrorEvent
from storage import store
from storage.models import Terminal

M = TypeVar("M", bound=BaseModel)


def http_error(kind: type[web.HTTPException], code: str, message: str) -> web.HTTPException:
    """An aiohttp error response whose body is a typed :class:`ErrorEvent`."""
    body = ErrorEvent(code=code, message=message).model_dump_json()
    return kind(text=body, content_type="application/json")


def bearer(request: web.Request) -> str:
    """The token after ``Bearer`` in the Authorization header, or ``""``."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


async def terminal_of(request: web.Request) -> Terminal:
    """The kiosk that sent ``request``; raises 401 for a missing or unknown device token."""
    token = bearer(request)
    if not token:
        raise http_error(
            web.HTTPUnauthorized,
            "unauthorized",
            "no device token; send 'Authorization: Bearer TOKEN' from `vcounter terminal register`",
        )
    terminal = await store.find_terminal_by_token(request.app[DATABASE], token)
    if terminal is None:
        raise http_error(
            web.HTTPUnauthorized,
            "unauthorized",
            "unknown or revoked device token; register the terminal again"
            " (or `vcounter terminal rotate NAME`)",
        )
    return terminal


async def clerk_of(request: web.Request, *roles: str) -> ClerkClaims:
    """The signed-in clerk (or supervisor) behind ``request``; 401 without a valid, unrevoked
    token, 403 when ``roles`` are given and theirs is not among them.

    The token comes only in the ``Authorization`` header: never in a URL, where it would end
    up in logs and history. Links a browser opens itself are signed instead
    (:mod:`signaling.media_links`).
    """
    try:
        claims = await authorize_clerk(
            request.app[DATABASE], request.app[SETTINGS].signing_key(), bearer(request)
        )
    except AuthError as exc:
        raise http_error(web.HTTPUnauthorized, exc.code, exc.message) from exc
    if roles and claims.role not in roles:
        raise http_error(
            web.HTTPForbidden,
            "forbidden",
            f"this needs the role {' or '.join(roles)}; you are signed in as {claims.role}",
        )
    return claims


def json_body(raw: bytes) -> object:
    """Parse a JSON request body; a 400 that says so when it is not JSON."""
    try:
        return json.loads(raw or b"null")
    except json.JSONDecodeError as exc:
        raise http_error(
            web.HTTPBadRequest, "invalid_json", f"the request body is not JSON: {exc.msg}"
        ) from exc
    except (UnicodeDecodeError, RecursionError) as exc:
        # bytes that are no text, or nesting deep enough to exhaust the parser
        raise http_error(
            web.HTTPBadRequest, "invalid_json", "the request body is not JSON text (UTF-8)"
        ) from exc


def body_as(model: type[M], raw: bytes) -> M:
    """A JSON request body as ``model``; a 400 naming the first field that is wrong."""
    try:
        return model.model_validate(json_body(raw))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise http_error(
            web.HTTPBadRequest, "invalid_message", f'field "{where}": {first["msg"]}'
        ) from exc
