"""What the session's kiosk has: a document camera, a scanner, an ID card reader.

``POST /api/sessions/{id}/kiosk-devices`` (the session's own kiosk, at the start of the call)
records a :class:`~signaling.messages.KioskDevices` as a ``kiosk.devices`` event in the
session's chain and pushes it to the clerk in the call (``kiosk_devices`` event): a kiosk may
say it after the console opened the call. ``GET`` (the session's clerk) gives the newest, or
204 (no content) when the kiosk said nothing (an older kiosk, or not yet): not an error, the
console just cannot tell yet. The console uses it to say "this kiosk has no scanner" instead
of sending a capture request nobody answers, and to say why no identity check is coming.
"""

from __future__ import annotations

import logging

from aiohttp import web

from signaling.http_auth import body_as
from signaling.keys import DATABASE, ROUTER
from signaling.logs import context_log
from signaling.messages import Event, KioskDevices, KioskDevicesReported, Role
from signaling.own_session import clerk_session, kiosk_session
from signaling.rooms import clerk_room
from storage import routing
from storage.audit import AuditLog

log = logging.getLogger(__name__)

DEVICES_EVENT = "kiosk.devices"
_SESSION = r"{session_id:[0-9a-f]{32}}"


async def post_devices(request: web.Request) -> web.Response:
    """The kiosk says what it has, for its own session; the clerk in the call is told."""
    row, terminal = await kiosk_session(request, "describe only your own devices")
    devices = body_as(KioskDevices, await request.read())
    actor = f"terminal:{terminal.id}"
    await AuditLog(request.app[DATABASE]).append(row.id, DEVICES_EVENT, actor, devices.model_dump())
    context_log(log, row.id, actor).info("kiosk devices: %s", devices.model_dump())
    await _tell_clerk(request.app, row.id, devices)
    return web.json_response(devices.model_dump(), status=201)


async def _tell_clerk(app: web.Application, session_id: str, devices: KioskDevices) -> None:
    """Push the report to the clerk who has the call (the state of record says who), so a
    report that comes after the console looked is not missed."""
    session = await routing.get(app[DATABASE], session_id)
    if session is None or not session.in_call or session.clerk_id is None:
        return
    report = KioskDevicesReported(session_id=session_id, **devices.model_dump())
    await app[ROUTER].emitter.to_room(
        Role.CLERK, clerk_room(session.clerk_id), Event.KIOSK_DEVICES, report
    )


async def get_devices(request: web.Request) -> web.Response:
    """The session's kiosk devices, for the clerk who has the call."""
    row, _ = await clerk_session(request, "a kiosk's devices", consulted=True)
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
