"""The administrator's REST routes: accounts and kiosks (the ``/admin`` page's API).

Only an ``admin`` account reaches them. They do what ``vcounter clerk ...`` and
``vcounter terminal ...`` do — disable, enable or reset a clerk's password (revoking its
tokens), revoke or rotate a kiosk's token — and each action is an event in the staff log.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import Field, ValidationError

from signaling.auth import ClerkClaims
from signaling.http_auth import clerk_of, http_error, json_body
from signaling.keys import DATABASE
from signaling.messages import Message
from storage import store
from storage.errors import InvalidValue, NotFound
from storage.models import Clerk, Terminal
from storage.staff_audit import StaffLog

ADMIN = "admin"
_NAME = r"{name:[A-Za-z0-9._ -]{1,128}}"


class AccountRow(Message):
    username: str
    display_name: str
    role: str
    departments: list[str]
    disabled: bool


class KioskRow(Message):
    name: str
    location: str
    last_seen_at: str | None
    revoked: bool


class NewPassword(Message):
    password: str = Field(min_length=8, max_length=256)


def _account(c: Clerk) -> dict[str, Any]:
    row = AccountRow(
        username=c.username, display_name=c.display_name, role=c.role,
        departments=list(c.departments), disabled=c.disabled,
    )  # fmt: skip
    return row.model_dump(mode="json")


def _kiosk(t: Terminal) -> dict[str, Any]:
    seen = t.last_seen_at.isoformat(timespec="seconds") if t.last_seen_at else None
    row = KioskRow(name=t.name, location=t.location, last_seen_at=seen, revoked=bool(t.revoked_at))
    return row.model_dump(mode="json")


async def _admin(request: web.Request) -> ClerkClaims:
    return await clerk_of(request, ADMIN)


async def _log(request: web.Request, who: ClerkClaims, kind: str, target: str) -> None:
    await StaffLog(request.app[DATABASE]).append(f"admin:{who.username}", kind, {"target": target})


def _not_found(exc: NotFound) -> web.HTTPException:
    return http_error(web.HTTPNotFound, "not_found", exc.message)


async def accounts(request: web.Request) -> web.Response:
    """Every account."""
    await _admin(request)
    return web.json_response([_account(c) for c in await store.list_clerks(request.app[DATABASE])])


async def account_action(request: web.Request) -> web.Response:
    """Disable, enable or reset the password of one account."""
    who = await _admin(request)
    name, action = request.match_info["name"], request.match_info["action"]
    db = request.app[DATABASE]
    try:
        if action == "reset-password":
            try:
                body = NewPassword.model_validate(json_body(await request.read()))
            except ValidationError as exc:
                raise http_error(
                    web.HTTPBadRequest, "invalid_message", "send {password} of 8 to 256 characters"
                ) from exc
            clerk = await store.reset_password(db, name, body.password)
        else:
            if name == who.username and action == "disable":
                raise http_error(
                    web.HTTPConflict, "conflict", "you cannot disable your own account"
                )
            clerk = await store.set_clerk_disabled(db, name, action == "disable")
    except NotFound as exc:
        raise _not_found(exc) from exc
    except InvalidValue as exc:
        raise http_error(web.HTTPBadRequest, exc.code, exc.message) from exc
    await _log(request, who, f"admin.clerk.{action}", name)
    return web.json_response(_account(clerk))


async def kiosks(request: web.Request) -> web.Response:
    """Every registered kiosk."""
    await _admin(request)
    rows = await store.list_terminals(request.app[DATABASE])
    return web.json_response([_kiosk(t) for t in rows])


async def kiosk_action(request: web.Request) -> web.Response:
    """Revoke a kiosk's token, or rotate it (the new token is in this answer only)."""
    who = await _admin(request)
    name, action = request.match_info["name"], request.match_info["action"]
    db = request.app[DATABASE]
    try:
        if action == "rotate":
            terminal, token = await store.rotate_terminal(db, name)
            answer = {**_kiosk(terminal), "token": token}
        else:
            answer = _kiosk(await store.revoke_terminal(db, name))
    except NotFound as exc:
        raise _not_found(exc) from exc
    await _log(request, who, f"admin.terminal.{action}", name)
    return web.json_response(answer, headers={"Cache-Control": "no-store"})


def setup_admin(app: web.Application) -> None:
    """Mount ``/api/admin/*``."""
    app.router.add_get("/api/admin/clerks", accounts)
    app.router.add_post(
        f"/api/admin/clerks/{_NAME}/{{action:disable|enable|reset-password}}", account_action
    )
    app.router.add_get("/api/admin/terminals", kiosks)
    app.router.add_post(f"/api/admin/terminals/{_NAME}/{{action:revoke|rotate}}", kiosk_action)
