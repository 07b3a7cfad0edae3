"""The wallboard's stream: who may open it, what it says, and that it is pushed on a change."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from signaling.catalogue import load_catalogue
from storage import routing, store
from storage.staff_audit import StaffLog
from tests.conftest import CLERK_PASSWORD, RunningServer
from tests.peers import login

SERVICE = "tax-registration"


async def open_session(server: RunningServer, terminal_name: str, service_id: str) -> str:
    """A kiosk's request, straight into the store (as any process's router would write it)."""
    token = await server.add_terminal(terminal_name)
    terminal = await store.find_terminal_by_token(server.db, token)
    assert terminal is not None
    service = load_catalogue().service(service_id)
    session = await routing.open_session(
        server.db,
        session_id=uuid.uuid4().hex,
        terminal_id=terminal.id,
        service_id=service_id,
        department_id=service.department_id,
        language="en",
        care_mode=False,
        priority=0,
        recall_of=None,
        ice_servers=[],
        early_offer=None,
        actor=f"terminal:{terminal_name}",
    )
    return session.id


async def supervisor_token(server: RunningServer) -> str:
    await store.create_clerk(server.db, "sue", CLERK_PASSWORD, "Sue", [], "supervisor")
    return await login(server.url, "sue", CLERK_PASSWORD)


@asynccontextmanager
async def stream(
    server: RunningServer, token: str | None, query: str = ""
) -> AsyncIterator[aiohttp.ClientResponse]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    timeout = aiohttp.ClientTimeout(total=None, sock_read=20)
    async with (
        aiohttp.ClientSession(timeout=timeout) as http,
        http.get(f"{server.url}/api/wallboard/stream{query}", headers=headers) as response,
    ):
        yield response


async def next_view(response: aiohttp.ClientResponse) -> dict[str, Any]:
    """The next ``view`` event of the stream (keep-alive comments skipped)."""
    data: list[str] = []
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("data: "):
            data.append(line[6:])
        elif line == "" and data:
            return dict(json.loads("\n".join(data)))
    raise AssertionError("the stream ended without a view")


async def test_only_a_signed_in_supervisor_opens_the_board(server: RunningServer) -> None:
    async with stream(server, None) as response:
        assert response.status == 401
    await server.add_clerk("carl", ["taxation"])
    clerk = await login(server.url, "carl", CLERK_PASSWORD)
    async with stream(server, clerk) as response:
        assert response.status == 403
        assert "supervisor" in (await response.json())["message"]
    token = await supervisor_token(server)
    async with stream(server, token, "?department=nowhere") as response:
        assert response.status == 400
        message = (await response.json())["message"]
        assert "nowhere" in message and "taxation" in message


async def test_the_board_is_pushed_when_someone_starts_waiting(server: RunningServer) -> None:
    token = await supervisor_token(server)
    async with stream(server, token) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        first = await next_view(response)
        assert first["waiting"] == 0 and first["queues"] == []
        assert first["department_id"] is None and first["oldest_enqueued_at"] is None
        session_id = await open_session(server, "kiosk-hall", SERVICE)
        after = await next_view(response)
        assert after["waiting"] == 1
        [line] = after["queues"]
        assert line["service_id"] == SERVICE and line["waiting"] == 1
        assert line["service_name"]["zh-Hans"] == "税务登记"
        assert after["oldest_enqueued_at"] == line["oldest_enqueued_at"]
        stored = await server.session(session_id)
        assert stored.enqueued_at is not None
    kinds = [e.kind for e in await StaffLog(server.db).events()]
    assert "wallboard.opened" in kinds


async def test_a_department_board_shows_only_its_department(server: RunningServer) -> None:
    token = await supervisor_token(server)
    catalogue = load_catalogue()
    other = next(s for s in catalogue.services if s.department_id != "taxation")
    await open_session(server, "kiosk-a", SERVICE)
    await open_session(server, "kiosk-b", other.id)
    async with stream(server, token, "?department=taxation") as response:
        view = await next_view(response)
    assert view["department_id"] == "taxation"
    assert view["department_name"]["en"]
    assert [q["service_id"] for q in view["queues"]] == [SERVICE]
    assert view["waiting"] == 1
    async with stream(server, token) as response:
        everything = await next_view(response)
    assert everything["waiting"] == 2


async def test_the_board_counts_today_s_abandoned(server: RunningServer) -> None:
    token = await supervisor_token(server)
    session_id = await open_session(server, "kiosk-c", SERVICE)
    await routing.finish(server.db, session_id, state="cancelled", reason="cancelled", actor="t")
    async with stream(server, token) as response:
        view = await next_view(response)
    assert view["waiting"] == 0
    assert view["abandoned_today"] == 1 and view["answered_today"] == 0
    assert view["within_target_rate"] == 0.0
