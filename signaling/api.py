"""REST routes: clerk login, health, the service catalogue."""

from __future__ import annotations

import json
import logging

from aiohttp import web
from pydantic import ValidationError

from signaling.auth import issue_token
from signaling.keys import CATALOGUE, DATABASE, SETTINGS
from signaling.logs import context_log
from signaling.messages import ErrorEvent, HealthResponse, LoginRequest, LoginResponse, Message
from storage import store

log = logging.getLogger(__name__)


def _json(message: Message, status: int = 200) -> web.Response:
    return web.json_response(message.model_dump(mode="json", by_alias=True), status=status)


def _problem(status: int, code: str, message: str, field: str | None = None) -> web.Response:
    return _json(ErrorEvent(code=code, message=message, field=field), status=status)


async def login(request: web.Request) -> web.Response:
    """Exchange a clerk's username and password for a signed, expiring token."""
    try:
        body = LoginRequest.model_validate(json.loads(await request.read() or b"null"))
    except json.JSONDecodeError:
        return _problem(
            400, "invalid_json", "The request body is not JSON; send {username, password}"
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        return _problem(400, "invalid_message", f'Field "{where}": {first["msg"]}', where)
    clerk = await store.authenticate_clerk(request.app[DATABASE], body.username, body.password)
    if clerk is None:
        context_log(log, None, f"clerk:{body.username}").info("login refused")
        return _problem(401, "bad_credentials", "Wrong username or password.")
    settings = request.app[SETTINGS]
    token = issue_token(
        settings.signing_key(),
        clerk.id,
        clerk.username,
        clerk.role,
        settings.token_ttl_s,
        clerk.token_version,
    )
    context_log(log, None, f"clerk:{clerk.username}").info("logged in")
    return _json(
        LoginResponse(
            token=token,
            expires_in_s=settings.token_ttl_s,
            display_name=clerk.display_name,
            departments=list(clerk.departments),
            role=clerk.role,
        )
    )


async def health(request: web.Request) -> web.Response:
    """Liveness for load balancers and the README's first check."""
    return _json(HealthResponse(status="ok", version="0.1.0"))


async def catalogue(request: web.Request) -> web.Response:
    """The service catalogue (departments, services, required materials) as shipped."""
    return web.json_response(request.app[CATALOGUE].model_dump(mode="json", by_alias=True))


def setup_api(app: web.Application) -> None:
    """Mount the REST routes under ``/api``."""
    app.router.add_post("/api/login", login)
    app.router.add_get("/api/health", health)
    app.router.add_get("/api/catalogue", catalogue)
