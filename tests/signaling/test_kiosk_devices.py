"""What a session's kiosk has: said by the kiosk, read by the session's clerk, in the chain."""

from __future__ import annotations

from typing import Any

from signaling.messages import NAMESPACE_CLERK, Event, KioskDevicesReported
from storage.audit import AuditLog
from tests.conftest import RunningServer
from tests.peers import ClerkPeer
from tests.sign.conftest import open_counter

DEVICES = {"document_camera": True, "scanner": False, "id_reader": False}


async def test_the_kiosk_says_its_devices_and_the_clerk_reads_them(
    server: RunningServer,
) -> None:
    counter = await open_counter(server)
    path = f"/api/sessions/{counter.session_id}/kiosk-devices"
    status, body = await counter.as_clerk("GET", path)
    assert (status, body) == (204, b"")  # an older kiosk says nothing: not an error
    status, body = await counter.as_kiosk("POST", path, DEVICES)
    assert (status, body) == (201, DEVICES)
    assert await counter.as_clerk("GET", path) == (200, DEVICES)
    kinds = [e.kind for e in await AuditLog(server.db).events(counter.session_id)]
    assert kinds[-1] == "kiosk.devices"
    assert (await AuditLog(server.db).verify(counter.session_id)).ok


async def test_only_the_sessions_kiosk_and_clerk(server: RunningServer) -> None:
    counter = await open_counter(server)
    other = await open_counter(server, "bella", "kiosk-2")
    path = f"/api/sessions/{counter.session_id}/kiosk-devices"
    status, body = await other.as_kiosk("POST", path, DEVICES)
    assert status == 403 and "not this kiosk's" in body["message"]
    await counter.as_kiosk("POST", path, DEVICES)
    status, body = await other.as_clerk("GET", path)
    assert status == 403 and body["code"] == "not_your_session"
    status, body = await counter.as_kiosk("POST", path, {"scanner": "maybe"})
    assert status == 400 and "scanner" in body["message"]


async def test_a_report_after_the_call_opened_is_pushed_to_its_clerk(
    server: RunningServer,
) -> None:
    counter = await open_counter(server)
    clerk = ClerkPeer(server.url, counter.clerk_token)
    heard: list[KioskDevicesReported] = []

    def on_devices(data: Any) -> None:
        heard.append(KioskDevicesReported.model_validate(data))

    clerk.sio.on(Event.KIOSK_DEVICES.value, clerk._notify(on_devices), namespace=NAMESPACE_CLERK)
    await clerk.connect()
    try:
        path = f"/api/sessions/{counter.session_id}/kiosk-devices"
        assert (await counter.as_kiosk("POST", path, DEVICES))[0] == 201
        await clerk.wait(lambda: bool(heard))
        assert heard == [KioskDevicesReported(session_id=counter.session_id, **DEVICES)]
    finally:
        await clerk.close()
