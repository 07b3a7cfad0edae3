"""The supervisors' REST API: who may use it, live overview, figures, search, replay, the staff log."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select, update

from media.sources import create_local_tracks
from signaling.keys import BLOBS, DATABASE
from storage import store
from storage.audit import AuditLog
from storage.models import CallSession, Terminal
from storage.staff_audit import StaffLog
from storage.verify import verify_session
from terminal_client.client import TerminalClient
from tests.conftest import CLERK_PASSWORD, RunningServer
from tests.peers import ClerkPeer, login

SERVICE = "tax-registration"


async def add_supervisor(server: RunningServer, username: str = "sue") -> str:
    await store.create_clerk(
        server.db, username, CLERK_PASSWORD, "Sue Supervisor", [], "supervisor"
    )
    return await login(server.url, username, CLERK_PASSWORD)


async def get(
    server: RunningServer, path: str, token: str | None, **headers: str
) -> tuple[int, Any, aiohttp.ClientResponse]:
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with aiohttp.ClientSession() as http, http.get(server.url + path, headers=headers) as r:
        body = await r.read()
        kind = r.headers.get("Content-Type", "")
        return r.status, (await r.json() if "json" in kind else body), r


async def test_only_supervisors_get_in(server: RunningServer) -> None:
    status, body, _ = await get(server, "/api/supervisor/overview", None)
    assert (status == 401 and "Bearer" in body["message"]) or "token" in body["message"]
    await server.add_clerk("carl")
    clerk_token = await login(server.url, "carl", CLERK_PASSWORD)
    status, body, _ = await get(server, "/api/supervisor/overview", clerk_token)
    assert status == 403
    assert body["message"] == "this needs the role supervisor; you are signed in as clerk"
    status, body, _ = await get(server, "/api/supervisor/sessions", clerk_token)
    assert status == 403
    token = await add_supervisor(server)
    status, body, _ = await get(server, "/api/supervisor/overview", token)
    assert status == 200 and body["queues"] == [] and body["sessions"] == []


async def test_login_tells_the_console_the_role(server: RunningServer) -> None:
    await store.create_clerk(server.db, "sue", CLERK_PASSWORD, "Sue", [], "supervisor")
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            server.url + "/api/login", json={"username": "sue", "password": CLERK_PASSWORD}
        ) as r,
    ):
        assert (await r.json())["role"] == "supervisor"


async def test_overview_shows_who_waits_and_what_clerks_do(server: RunningServer) -> None:
    token = await add_supervisor(server)
    await server.add_clerk("carl", ["taxation"])
    clerk = ClerkPeer(server.url, await login(server.url, "carl", CLERK_PASSWORD))
    await clerk.connect()
    await clerk.wait(lambda: clerk.status is not None)
    kiosk = TerminalClient(
        server.url,
        await server.add_terminal("kiosk-wait"),
        lambda: create_local_tracks(True, "", "", label="k"),
        name="kiosk",
    )
    try:
        await kiosk.connect()
        session_id = await kiosk.request_service(SERVICE, "en", care_mode=True)
        await asyncio.sleep(0.3)
        status, body, _ = await get(server, "/api/supervisor/overview", token)
        assert status == 200
        (queue,) = body["queues"]
        assert queue["service_id"] == SERVICE and queue["waiting"] == 1
        assert queue["care_mode_waiting"] == 1 and queue["longest_wait_s"] >= 0.2
        (carl,) = body["clerks"]
        assert carl["username"] == "carl" and carl["state"] == "away"
        (live,) = body["sessions"]
        assert live["id"] == session_id and live["state"] == "queued" and live["care_mode"]
        # the first view is on record, the polls after it are not
        await get(server, "/api/supervisor/overview", token)
        kinds = [e.kind for e in await StaffLog(server.db).events()]
        assert kinds.count("overview.opened") == 1
    finally:
        await kiosk.close()
        await clerk.close()


async def test_service_level_figures_over_a_period(server: RunningServer) -> None:
    token = await add_supervisor(server)
    await server.add_terminal("kiosk-fig")
    (terminal,) = [t for t in await _terminals(server) if t.name == "kiosk-fig"]
    base = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    waits = [10, 30, 90]  # answered after these many seconds
    for i, wait in enumerate(waits):
        row = await store.create_session(server.db, terminal.id, SERVICE, "en")
        await _requested_at(server, row.id, base + timedelta(minutes=i))
        await store.update_session(
            server.db, row.id, answered_at=base + timedelta(minutes=i, seconds=wait), state="ended"
        )
    gone = await store.create_session(server.db, terminal.id, "tax-filing", "en")
    await _requested_at(server, gone.id, base)
    await store.update_session(server.db, gone.id, state="cancelled")
    outside = await store.create_session(server.db, terminal.id, SERVICE, "en")
    await _requested_at(server, outside.id, base - timedelta(days=3))
    q = "since=2026-11-02&until=2026-11-03&target_s=60"
    status, body, _ = await get(server, f"/api/supervisor/figures?{q}", token)
    assert status == 200, body
    total = body["total"]
    assert (total["requests"], total["answered"], total["abandoned"]) == (4, 3, 1)
    assert total["asa_s"] == pytest.approx(sum(waits) / 3, abs=0.01)
    assert total["abandonment_rate"] == 0.25 and total["within_target_rate"] == 0.5
    by_service = {r["service_id"]: r for r in body["services"]}
    assert by_service[SERVICE]["within_target_rate"] == pytest.approx(2 / 3, abs=1e-3)
    assert by_service["tax-filing"]["abandoned"] == 1
    (viewed,) = [e for e in await StaffLog(server.db).events() if e.kind == "figures.viewed"]
    assert viewed.payload["target_s"] == 60 and viewed.actor == "supervisor:sue"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("since=yesterday", "since='yesterday' is not a date or time; use ISO 8601"),
        ("since=2026-11-03&until=2026-11-02", "before it starts"),
        ("target_s=soon", "target_s='soon': give the answer-time target in whole seconds"),
        ("target_s=0", "1 to 3600"),
    ],
)
async def test_bad_figure_queries_are_named(
    server: RunningServer, query: str, message: str
) -> None:
    token = await add_supervisor(server)
    status, body, _ = await get(server, f"/api/supervisor/figures?{query}", token)
    assert status == 400 and message in body["message"], body


async def test_search_replay_and_recordings_of_a_call(server: RunningServer, recorded: str) -> None:
    token = await add_supervisor(server)
    for query in ("clerk=rita", f"service_id={SERVICE}", "outcome=ended", f"date={_today()}"):
        status, body, _ = await get(server, f"/api/supervisor/sessions?{query}", token)
        assert status == 200 and [s["id"] for s in body["sessions"]] == [recorded], query
    for query in ("clerk=nobody", "outcome=cancelled", "date=2020-01-01", "document_number=X1"):
        status, body, _ = await get(server, f"/api/supervisor/sessions?{query}", token)
        assert status == 200 and body["sessions"] == [], query
    status, view, _ = await get(server, f"/api/supervisor/sessions/{recorded}", token)
    assert status == 200 and view["chain_ok"] and view["session"]["recorded"]
    assert {r["side"] for r in view["recordings"]} == {"applicant", "clerk"}
    kinds = [e["kind"] for e in view["events"]]
    assert kinds[0] == "session.created" and "recording.segment" in kinds
    connected = next(e for e in view["events"] if e["kind"] == "media.connected")
    assert 0 <= connected["t_s"] < 5, connected
    applicant = next(r for r in view["recordings"] if r["side"] == "applicant")
    status, data, response = await get(server, applicant["url"], token, Range="bytes=0-99")
    assert status == 206 and len(data) == 100 and data.startswith(b"\x1a\x45\xdf\xa3")
    assert response.headers["Content-Type"] == "video/webm"
    # watching is on record, and shows on the next replay
    status, again, _ = await get(server, f"/api/supervisor/sessions/{recorded}", token)
    assert again["watched_by"] and again["watched_by"][0].startswith("supervisor:sue ")
    staff = await StaffLog(server.db).events(recorded)
    assert [e.kind for e in staff].count("replay.opened") == 2
    assert (await StaffLog(server.app[DATABASE]).verify()).ok


async def test_only_files_the_session_names_are_served(
    server: RunningServer, recorded: str
) -> None:
    token = await add_supervisor(server)
    stranger = await server.app[BLOBS].put(b"other")
    status, body, _ = await get(
        server, f"/api/supervisor/sessions/{recorded}/files/{stranger}", token
    )
    assert status == 404 and "names no file" in body["message"]
    status, body, _ = await get(server, f"/api/supervisor/sessions/{recorded}/files/nothex", token)
    assert status == 404 and "not a SHA-256" in body["message"]
    status, body, _ = await get(server, f"/api/supervisor/sessions/{'f' * 32}", token)
    assert status == 404 and "no session" in body["message"]


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


async def _terminals(server: RunningServer) -> list[Terminal]:
    async with server.db.sessions() as s:
        return list(await s.scalars(select(Terminal)))


async def _requested_at(server: RunningServer, session_id: str, moment: datetime) -> None:
    # a request on another day: set up directly, the store has no API to rewrite it
    async with server.db.sessions() as s:
        await s.execute(
            update(CallSession).where(CallSession.id == session_id).values(created_at=moment)
        )
        await s.commit()


async def test_search_by_document_and_acceptance_number(server: RunningServer) -> None:
    """The numbers the identity and paperwork features write into the chain find the session."""
    token = await add_supervisor(server)
    await server.add_terminal("kiosk-num")
    (terminal,) = [t for t in await _terminals(server) if t.name == "kiosk-num"]
    row = await store.create_session(server.db, terminal.id, SERVICE, "en")
    # one active session per kiosk (the store's unique index): the first one is over
    await store.update_session(server.db, row.id, state="ended")
    other = await store.create_session(server.db, terminal.id, SERVICE, "en")
    audit = AuditLog(server.db)
    portrait = await server.app[BLOBS].put(b"\xff\xd8 a portrait")
    await audit.append(row.id, "identity.result", "terminal:1", {
        "outcome": "verified",
        "document": {"document_number": "K1234567", "surname": "CHAN", "given_names": "TAI MAN"},
        "evidence": [{"kind": "portrait", "sha256": portrait, "bytes": 12}],
    })  # fmt: skip
    # a refused upload names a hash that was never stored: not a missing file
    await audit.append(row.id, "document.refused", "terminal:1", {"sha256": "ab" * 32})
    await audit.append(row.id, "application.submitted", "terminal:1", {
        "acceptance_number": "VC202612020000017",
    })  # fmt: skip
    await audit.append(row.id, "decision.recorded", "clerk:rita", {"outcome": "approved"})
    for query in (
        "document_number=K1234567",
        "acceptance_number=VC202612020000017",
        "outcome=approved",
    ):
        status, body, _ = await get(server, f"/api/supervisor/sessions?{query}", token)
        assert status == 200 and [s["id"] for s in body["sessions"]] == [row.id], (query, body)
    (found,) = body["sessions"]
    assert found["acceptance_number"] == "VC202612020000017" and found["decision"] == "approved"
    status, body, _ = await get(server, "/api/supervisor/sessions?document_number=K7654321", token)
    assert body["sessions"] == [] and other.id
    status, view, _ = await get(server, f"/api/supervisor/sessions/{row.id}", token)
    identity = next(e for e in view["events"] if e["kind"] == "identity.result")
    assert identity["files"] == [portrait]
    refused = next(e for e in view["events"] if e["kind"] == "document.refused")
    assert refused["files"] == []
    status, data, _ = await get(
        server, f"/api/supervisor/sessions/{row.id}/files/{portrait}", token
    )
    assert status == 200 and data == b"\xff\xd8 a portrait"
    report = await verify_session(server.db, server.app[BLOBS], row.id)
    assert report.ok and report.blobs == 1, report
