"""What the session's kiosk has: a document camera, a scanner, an ID card reader.

``POST /api/sessions/{id}/kiosk-devices`` (the session's own kiosk, at the start of the call)
records a :class:`~signaling.messages.KioskDevices` as a ``kiosk.devices`` event in the
session's chain; ``GET`` (the session's clerk) gives the newest, or 204 (no content) when the
kiosk said nothing (an older kiosk, or not yet): not an error, the console just cannot tell. The console uses it to say "this kiosk has no scanner" instead of
sending a capture request nobody answers, and to say why no identity check is coming.
"""

from __future__ import annotations

import logging

from aiohttp import web
from pydantic import ValidationError

from signaling.http_auth import clerk_of, http_error, json_body, terminal_of
from signaling.keys import DATABASE
from signaling.logs import context_log
from signaling.messages import KioskDevices
from storage import store
from storage.audit import AuditLog
from storage.errors import NotFound
from storage.models import CallSession

log = logging.getLogger(__name__)

DEVICES_EVENT = "kiosk.devices"
_SESSION = r"{session_id:[0-9a-f]{32}}"


async def _session(request: web.Request) -> CallSession:
    try:
        return await store.get_session(request.app[DATABASE], request.match_info["session_id"])
    except NotFound as exc:
        raise http_error(web.HTTPNotFound, "not_found", exc.message) from exc


async def post_devices(request: web.Request) -> web.Response:
    """The kiosk says what it has, for its own session."""
    terminal = await terminal_of(request)
    row = await _session(request)
    if row.terminal_id != terminal.id:
        raise http_error(
            web.HTTPForbidden,
            "not_your_session",
            f"session {row.id} is not this kiosk's; describe only your own devices",
        )
    try:
        devices = KioskDevices.model_validate(json_body(await request.read()))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise http_error(
            web.HTTPBadRequest, "invalid_message", f'field "{where}": {first["msg"]}'
        ) from exc
    actor = f"terminal:{terminal.id}"
    await AuditLog(request.app[DATABASE]).append(row.id, DEVICES_EVENT, actor, devices.model_dump())
    context_log(log, row.id, actor).info("kiosk devices: %s", devices.model_dump())
    return web.json_response(devices.model_dump(), status=201)


async def get_devices(request: web.Request) -> web.Response:
    """The session's kiosk devices, for the clerk who has the call."""
    claims = await clerk_of(request)
    row = await _session(request)
    # the stored row is the state of record, whichever process holds the call's sockets
    if row.clerk_id != claims.clerk_id:
        raise http_error(
            web.HTTPForbidden,
            "not_your_session",
            "a kiosk's devices are shown only to the clerk who took its call",
        )
    events = await AuditLog(request.app[DATABASE]).events(row.id)
    said = [e for e in events if e.kind == DEVICES_EVENT]
    if not said:
        return web.Response(status=204, headers={"Cache-Control": "no-store"})
    devices = KioskDevices.model_validate(said[-1].payload)
    return web.json_response(devices.model_dump(), headers={"Cache-Control": "no-store"})


def setup_kiosk_devices(app: web.Application) -> None:
    """Mount the kiosk-devices routes."""
    app.router.add_post(f"/api/sessions/{_SESSION}/kiosk-devices", post_devices)
    app.router.add_get(f"/api/sessions/{_SESSION}/kiosk-devices", get_devices)
