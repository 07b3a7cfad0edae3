"""A self-service session whose applicant and kiosk both went away (a kiosk that died mid-way
never ends it) is ended by the server's sweep as ``abandoned``, once, with its chain intact;
one still within the limit is left alone."""

from __future__ import annotations

import asyncio

import pytest

from signaling.self_service.routes import SELF_SERVICE
from storage import self_service, store
from storage.audit import AuditLog
from tests.conftest import RunningServer
from tests.self_service.conftest import Kiosk, RunningDepartment, connectors

LIMIT_S = 1.0


@pytest.fixture
def server_extra(department: RunningDepartment) -> dict[str, object]:
    return {"department_connectors": connectors(department), "self_service_abandon_s": LIMIT_S}


async def test_a_session_left_open_is_ended_as_abandoned(
    server: RunningServer, kiosk: Kiosk
) -> None:
    left = await kiosk.open()
    assert await kiosk.identify(left) == 201
    # the kiosk dies here: nobody asks for the document or finishes the session
    for _ in range(200):
        if (await store.get_session(server.db, left)).state == "ended":
            break
        await asyncio.sleep(0.1)
    row = await store.get_session(server.db, left)
    assert (row.state, row.end_reason) == ("ended", "self_service_abandoned")
    events = await AuditLog(server.db).events(left)
    finished = [e for e in events if e.kind == "self_service.finished"]
    assert len(finished) == 1 and finished[0].actor == "server"
    assert finished[0].payload == {"reason": "abandoned", "after_s": LIMIT_S}
    assert (await AuditLog(server.db).verify(left)).ok
    # a second sweep (another process's) ends nothing more
    assert await server.app[SELF_SERVICE].sweep(LIMIT_S) == 0
    # a session just opened is not one left open for half an hour
    fresh = await kiosk.open()
    assert fresh not in await self_service.abandoned(server.db, 1800.0)
