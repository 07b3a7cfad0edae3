"""REST routes: clerk login, health, the service catalogue."""

from __future__ import annotations

import json
import logging
import math

from aiohttp import web
from pydantic import ValidationError

from signaling.auth import issue_token
from signaling.client_address import client_address
from signaling.guard import TARPIT
from signaling.http_auth import clerk_of
from signaling.keys import CATALOGUE, DATABASE, SETTINGS
from signaling.logs import context_log
from signaling.messages import ErrorEvent, HealthResponse, LoginRequest, LoginResponse, Message
from signaling.throttle import LoginGuard
from signaling.workers import WORKERS
from storage import store
from storage.staff_audit import StaffLog

log = logging.getLogger(__name__)

LOGIN_GUARD = web.AppKey("login_guard", LoginGuard)


def _json(message: Message, status: int = 200) -> web.Response:
    return web.json_response(message.model_dump(mode="json", by_alias=True), status=status)


def _problem(status: int, code: str, message: str, field: str | None = None) -> web.Response:
    return _json(ErrorEvent(code=code, message=message, field=field), status=status)


async def _refused(request: web.Request, code: str, message: str, wait_s: float) -> web.Response:
    # held back a while (a script retrying at once asks a few times a minute), then 429 and
    # close: a caller that is told to wait keeps no connection
    await request.app[TARPIT].hold(wait_s)
    response = _problem(429, code, message)
    response.headers["Retry-After"] = str(max(1, math.ceil(wait_s)))
    response.force_close()
    return response


async def _locked_out(request: web.Request, wait_s: float) -> web.Response:
    return await _refused(
        request,
        "too_many_attempts",
        f"Too many failed sign-ins; try again in {math.ceil(wait_s / 60)} minutes or ask an"
        " administrator to reset the password.",
        wait_s,
    )


async def login(request: web.Request) -> web.Response:
    """Exchange a clerk's username and password for a signed, expiring token."""
    guard = request.app[LOGIN_GUARD]
    address = client_address(request, request.app[SETTINGS])
    # an address that is locked out is refused before its body is read or parsed
    wait = guard.addresses.retry_after(address)
    if wait > 0:
        return await _locked_out(request, wait)
    try:
        body = LoginRequest.model_validate(json.loads(await request.read() or b"null"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return _problem(
            400, "invalid_json", "The request body is not JSON; send {username, password}"
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        return _problem(400, "invalid_message", f'Field "{where}": {first["msg"]}', where)
    wait = guard.retry_after(body.username, address)
    if wait > 0:
        # refused before any password check: a throttled attempt costs no CPU
        return await _locked_out(request, wait)
    lane = guard.lane(address)  # chosen before this attempt is counted
    if lane is None:
        return await _refused(
            request, "busy", "Many sign-ins are being tried right now; try again in a moment.", 1
        )
    blocked = guard.attempt(body.username, address)
    workers = request.app[WORKERS]
    async with lane.slots:
        clerk = await store.authenticate_clerk(
            request.app[DATABASE],
            body.username,
            body.password,
            workers.public if lane.public else workers.staff,
        )
    if clerk is None:
        context_log(log, None, f"clerk:{body.username}").info("login refused from %s", address)
        staff = StaffLog(request.app[DATABASE])
        payload = {"username": body.username, "address": address}
        await staff.append(f"anonymous:{address}", "login.failed", payload)
        if blocked:
            await staff.append(f"anonymous:{address}", "login.throttled", payload)
        return _problem(401, "bad_credentials", "Wrong username or password.")
    guard.succeeded(body.username, address)
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


async def refresh(request: web.Request) -> web.Response:
    """A fresh short-lived token for a signed-in clerk whose token is still valid (and not
    revoked): the consoles call it before their token runs out."""
    who = await clerk_of(request)
    clerk = await store.get_clerk(request.app[DATABASE], who.clerk_id)
    settings = request.app[SETTINGS]
    token = issue_token(
        settings.signing_key(),
        clerk.id,
        clerk.username,
        clerk.role,
        settings.token_ttl_s,
        clerk.token_version,
    )
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
    settings = app[SETTINGS]
    app[LOGIN_GUARD] = LoginGuard(
        settings.login_failures_per_account,
        settings.login_failures_per_address,
        settings.login_window_s,
        settings.login_checks_per_minute,
        settings.login_checks_burst,
    )
    app.router.add_post("/api/login", login)
    app.router.add_post("/api/token/refresh", refresh)
    app.router.add_get("/api/health", health)
    app.router.add_get("/api/catalogue", catalogue)
