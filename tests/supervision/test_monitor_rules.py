"""Who may monitor a call, and the record of it: refusals say why and change nothing; each
start, change and leave is in the session's chain and the staff log; the applicant is told
of a barge always, and of monitoring where the department says so."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from signaling.messages import NAMESPACE_CLERK, NAMESPACE_SUPERVISOR, NAMESPACE_TERMINAL
from storage import store
from storage.audit import AuditLog
from storage.staff_audit import StaffLog
from tests.conftest import CLERK_PASSWORD, RunningServer
from tests.peers import login
from tests.security.sockets import RawSocket

T, C, S = NAMESPACE_TERMINAL, NAMESPACE_CLERK, NAMESPACE_SUPERVISOR
SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"


@dataclass
class Answered:
    kiosk: RawSocket
    clerk: RawSocket
    session_id: str
    kiosk_token: str
    resume: str


@asynccontextmanager
async def answered(
    server: RunningServer, http: aiohttp.ClientSession, service: str
) -> AsyncIterator[Answered]:
    """A kiosk's call of ``service`` taken by clerk ``alice`` (signalling only)."""
    await server.add_clerk("alice")
    kiosk_token = await server.add_terminal()
    kiosk = await RawSocket.open(http, server.url)
    await kiosk.sign_in(T, kiosk_token)
    resume = (await kiosk.until(T, "snapshot"))["resume_token"]
    clerk = await RawSocket.open(http, server.url)
    await clerk.sign_in(C, await login(server.url, "alice", CLERK_PASSWORD))
    await clerk.emit(C, "set_availability", {"available": True})
    await kiosk.emit(T, "request_service", {"service_id": service})
    session_id = (await kiosk.until(T, "session_opened"))["session_id"]
    await clerk.until(C, "call_offered")
    await clerk.emit(C, "accept", {"session_id": session_id})
    await kiosk.until(T, "call_accepted")
    yield Answered(kiosk, clerk, session_id, kiosk_token, resume)


async def supervisor(
    server: RunningServer, http: aiohttp.ClientSession, name: str, departments: list[str]
) -> RawSocket:
    await store.create_clerk(
        server.db, name, CLERK_PASSWORD, f"Supervisor {name}", departments, "supervisor"
    )
    sock = await RawSocket.open(http, server.url)
    await sock.sign_in(S, await login(server.url, name, CLERK_PASSWORD))
    return sock


async def refusal(sock: RawSocket) -> dict[str, Any]:
    error: dict[str, Any] = await sock.until(S, "error")
    assert isinstance(error["message"], str) and " " in error["message"]
    return error


async def test_only_a_supervisor_of_the_calls_department_may_monitor(server: RunningServer) -> None:
    async with aiohttp.ClientSession() as http, answered(server, http, "tax-registration") as call:
        # a clerk's token and a kiosk's token do not open the supervisors' namespace
        as_clerk = await RawSocket.open(http, server.url)
        with pytest.raises(AssertionError, match="Only supervisors may watch calls"):
            await as_clerk.sign_in(S, await login(server.url, "alice", CLERK_PASSWORD))
        as_kiosk = await RawSocket.open(http, server.url)
        with pytest.raises(AssertionError, match="refused"):
            await as_kiosk.sign_in(S, await server.add_terminal("kiosk-2"))
        # a supervisor of another department is refused with the reason
        other = await supervisor(server, http, "mark", ["market-regulation"])
        await other.emit(S, "monitor_start", {"session_id": call.session_id})
        error = await refusal(other)
        assert error["code"] == "unauthorized" and "taxation" in error["message"], error
        # and a made-up monitor opens nothing either way
        await other.emit(S, "monitor_signal", {"monitor_id": "x.y", "candidate": None})
        assert (await refusal(other))["code"] == "invalid_message"
        await call.clerk.emit(
            C, "monitor_signal", {"monitor_id": "1." + call.session_id + ".1.1.1.00"}
        )
        assert (await call.clerk.until(C, "error"))["code"] == "invalid_message"

        events = [e.kind for e in await AuditLog(server.db).events(call.session_id)]
        assert not [k for k in events if k.startswith("supervision.")], events
        staff = [e.kind for e in await StaffLog(server.db).events()]
        assert not [k for k in staff if k.startswith("supervision.")], staff


async def test_the_supervisor_hears_of_its_monitor_before_the_consoles_offer(
    server: RunningServer,
) -> None:
    """A page drops signals of a monitor it has not been told of: the state must come first
    however fast the console offers (a loaded CI machine's page once waited for an offer
    that had come before its state)."""
    async with aiohttp.ClientSession() as http, answered(server, http, "tax-registration") as call:
        sue = await supervisor(server, http, "sue", ["taxation"])
        await sue.emit(S, "monitor_start", {"session_id": call.session_id})
        told = await call.clerk.until(C, "supervision")
        await call.clerk.emit(C, "monitor_signal", {
            "monitor_id": told["monitor_id"],
            "description": {"session_id": call.session_id, "type": "offer", "sdp": SDP},
            "tracks": [{"mid": "0", "role": "applicant"}],
        })  # fmt: skip
        first, _ = await sue.event(S)
        second, offer = await sue.event(S)
        assert (first, second) == ("monitor_state", "monitor_signal")
        assert offer["description"]["type"] == "offer"


async def test_each_start_change_and_leave_is_in_both_logs_and_the_parties_are_told(
    server: RunningServer,
) -> None:
    async with aiohttp.ClientSession() as http, answered(server, http, "tax-registration") as call:
        sue = await supervisor(server, http, "sue", ["taxation"])
        await sue.emit(S, "monitor_start", {"session_id": call.session_id})
        state = await sue.until(S, "monitor_state")
        assert state["mode"] == "monitor" and state["session_id"] == call.session_id
        monitor_id = state["monitor_id"]
        told = await call.clerk.until(C, "supervision")
        assert told["mode"] == "monitor" and told["supervisor"]["name"] == "Supervisor sue"
        # taxation does not tell applicants of monitoring
        assert (await call.kiosk.until(T, "supervision_notice"))["state"] == "none"

        # the console's offer reaches the supervisor, the answer the console
        await call.clerk.emit(C, "monitor_signal", {
            "monitor_id": monitor_id,
            "description": {"session_id": call.session_id, "type": "offer", "sdp": SDP},
            "tracks": [{"mid": "0", "role": "applicant"}],
        })  # fmt: skip
        offer = await sue.until(S, "monitor_signal")
        assert offer["description"]["type"] == "offer" and offer["tracks"][0]["role"] == "applicant"
        await sue.emit(S, "monitor_signal", {
            "monitor_id": monitor_id,
            "description": {"session_id": call.session_id, "type": "answer", "sdp": SDP},
        })  # fmt: skip
        assert (await call.clerk.until(C, "monitor_signal"))["description"]["type"] == "answer"

        await sue.emit(S, "monitor_change", {"monitor_id": monitor_id, "mode": "barge"})
        assert (await sue.until(S, "monitor_state"))["mode"] == "barge"
        assert (await call.clerk.until(C, "supervision"))["mode"] == "barge"
        notice = await call.kiosk.until(T, "supervision_notice")
        assert notice["state"] == "joined" and notice["supervisor"]["name"] == "Supervisor sue"
        await sue.emit(S, "monitor_change", {"monitor_id": monitor_id, "mode": None})
        assert (await call.clerk.until(C, "supervision"))["mode"] is None
        assert (await call.kiosk.until(T, "supervision_notice"))["state"] == "none"
        ended = await sue.until(S, "monitor_state")
        assert ended["ended"] == "left"
        # a monitor left is gone: its ticket relays nothing more
        await sue.emit(S, "monitor_change", {"monitor_id": monitor_id, "mode": "whisper"})
        assert (await refusal(sue))["code"] == "invalid_message"

    chain = [
        (e.kind, e.actor, e.payload) for e in await AuditLog(server.db).events(call.session_id)
    ]
    mine = [c for c in chain if c[0].startswith("supervision.")]
    monitor = monitor_id.split(".", 1)[0]
    assert mine == [
        ("supervision.started", "supervisor:sue", {"mode": "monitor", "name": "Supervisor sue", "process": server.router.process_id, "monitor": monitor}),
        ("supervision.changed", "supervisor:sue", {"mode": "barge", "from": "monitor", "monitor": monitor}),
        ("supervision.ended", "supervisor:sue", {"reason": "left", "monitor": monitor}),
    ]  # fmt: skip
    staff = [(e.kind, e.session_id) for e in await StaffLog(server.db).events()]
    for kind, _, _ in mine:
        assert (kind, call.session_id) in staff


async def test_a_department_that_announces_monitoring_tells_the_applicant(
    server: RunningServer,
) -> None:
    async with (
        aiohttp.ClientSession() as http,
        answered(server, http, "business-licence-change") as call,
    ):
        sue = await supervisor(server, http, "sue", ["market-regulation"])
        await sue.emit(S, "monitor_start", {"session_id": call.session_id, "mode": "whisper"})
        await sue.until(S, "monitor_state")
        notice = await call.kiosk.until(T, "supervision_notice")
        assert notice["state"] == "monitored" and notice["supervisor"]["role"] == "supervisor"


async def test_a_supervisor_whose_socket_goes_leaves_the_call(server: RunningServer) -> None:
    async with aiohttp.ClientSession() as http, answered(server, http, "tax-registration") as call:
        sue = await supervisor(server, http, "sue", ["taxation"])
        await sue.emit(S, "monitor_start", {"session_id": call.session_id, "mode": "barge"})
        await sue.until(S, "monitor_state")
        assert (await call.clerk.until(C, "supervision"))["mode"] == "barge"
        assert (await call.kiosk.until(T, "supervision_notice"))["state"] == "joined"
        await sue.ws.close()
        assert (await call.clerk.until(C, "supervision"))["mode"] is None
        assert (await call.kiosk.until(T, "supervision_notice"))["state"] == "none"
    chain = [
        (e.kind, e.payload.get("reason")) for e in await AuditLog(server.db).events(call.session_id)
    ]
    assert ("supervision.ended", "supervisor_gone") in chain


async def test_a_call_that_ends_ends_its_monitor_though_the_page_says_nothing(
    server: RunningServer,
) -> None:
    async with aiohttp.ClientSession() as http, answered(server, http, "tax-registration") as call:
        sue = await supervisor(server, http, "sue", ["taxation"])
        await sue.emit(S, "monitor_start", {"session_id": call.session_id})
        await sue.until(S, "monitor_state")
        await call.kiosk.emit(T, "hangup", {"session_id": call.session_id, "reason": "done"})
        ended = await sue.until(S, "monitor_state")
        assert ended["ended"] == "call_ended" and ended["mode"] is None
    chain = [
        (e.kind, e.payload.get("reason")) for e in await AuditLog(server.db).events(call.session_id)
    ]
    assert ("supervision.ended", "call_ended") in chain


async def test_the_applicant_is_told_of_every_supervisor_present_and_again_after_a_reconnect(
    server: RunningServer,
) -> None:
    async with aiohttp.ClientSession() as http, answered(server, http, "tax-registration") as call:
        sue = await supervisor(server, http, "sue", ["taxation"])
        tom = await supervisor(server, http, "tom", ["taxation"])
        await sue.emit(S, "monitor_start", {"session_id": call.session_id, "mode": "barge"})
        await sue.until(S, "monitor_state")
        assert (await call.kiosk.until(T, "supervision_notice"))["state"] == "joined"
        await tom.emit(S, "monitor_start", {"session_id": call.session_id})
        tom_id = (await tom.until(S, "monitor_state"))["monitor_id"]
        # one listening supervisor leaving does not hide the one still in the call
        await tom.emit(S, "monitor_change", {"monitor_id": tom_id, "mode": None})
        await tom.until(S, "monitor_state")
        for _ in range(2):  # tom's start, then his leave
            notice = await call.kiosk.until(T, "supervision_notice")
            assert notice["state"] == "joined" and notice["supervisor"]["name"] == "Supervisor sue"
        # a kiosk that reconnects mid-barge is told in its snapshot
        await call.kiosk.ws.close()
        again = await RawSocket.open(http, server.url)
        await again.sign_in(T, call.kiosk_token, resume=call.resume)
        snapshot = await again.until(T, "snapshot")
        assert snapshot["supervision"] is not None, snapshot
        assert snapshot["supervision"]["state"] == "joined", snapshot
