"""Hole 8 (socket.io events): reserved event names, coerced payloads and bad SDP, each sent
as the attack through a real server. Every refusal is an ``error`` event with a code and a
sentence; nothing reaches a handler, nothing stored changes, no traceback is logged."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import pytest

from signaling.messages import MAX_SDP, NAMESPACE_CLERK, NAMESPACE_TERMINAL
from tests.conftest import CLERK_PASSWORD, RunningServer
from tests.peers import login
from tests.security.conftest import assert_responsive, stored_state
from tests.security.sockets import RawSocket
from tests.security.test_messages import GOOD_SDP
from tests.sign.conftest import SERVICE

T, C = NAMESPACE_TERMINAL, NAMESPACE_CLERK
SID = "0123456789abcdef0123456789abcdef"


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


async def refused(sock: RawSocket, namespace: str) -> dict[str, Any]:
    """The next ``error`` event, checked for its shape: a code and a sentence."""
    error: dict[str, Any] = await sock.until(namespace, "error")
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and " " in error["message"]
    return error


async def queued_kiosk(server: RunningServer, http: aiohttp.ClientSession) -> tuple[RawSocket, str]:
    """A kiosk waiting for a clerk; its socket and session id."""
    sock = await RawSocket.open(http, server.url)
    await sock.sign_in(T, await server.add_terminal())
    await sock.emit(T, "request_service", {"service_id": SERVICE})
    return sock, (await sock.until(T, "session_opened"))["session_id"]


async def test_reserved_event_names_never_reach_the_handlers(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await server.add_clerk("alice")
    async with aiohttp.ClientSession() as http:
        kiosk, session_id = await queued_kiosk(server, http)
        clerk = await RawSocket.open(http, server.url)
        await clerk.sign_in(C, await login(server.url, "alice", CLERK_PASSWORD))
        await server.stored()
        before = await stored_state(server)
        clerk_before = await server.clerk(1)
        for sock, namespace in ((kiosk, T), (clerk, C)):
            for args in ([], [{}], [{"token": "x"}], ["client namespace disconnect"]):
                for name in ("connect", "disconnect"):
                    await sock.emit(namespace, name, *args)
                    error = await refused(sock, namespace)
                    assert error["code"] == "invalid_message"
                    assert f'Unknown event "{name}"' in error["message"]
        await server.stored()
        # the kiosk's call is still queued, the clerk still signed in as before
        assert (await server.session(session_id)).state == "queued"
        assert await server.clerk(1) == clerk_before
        assert await stored_state(server) == before
        await kiosk.emit(T, "sync", {})
        assert (await kiosk.until(T, "snapshot"))["session_id"] == session_id
    no_tracebacks(caplog)
    await assert_responsive(server)


TERMINAL_COERCIONS: list[tuple[str, Any]] = [
    ("request_service", {"service_id": SERVICE, "care_mode": "yes"}),
    ("request_service", {"service_id": SERVICE, "care_mode": 1}),
    ("request_service", {"service_id": 7}),
    ("request_service", {"service_id": SERVICE, "language": ["zh-Hant"]}),
    ("request_service", {"service_id": SERVICE, "priority": 1}),
    ("cancel", {"session_id": 12345}),
    ("cancel", {"session_id": SID, "force": True}),
    ("rate", {"session_id": SID, "rating": "5"}),
    ("rate", {"session_id": SID, "rating": 4.0}),
    ("rate", {"session_id": SID, "rating": True}),
    ("hangup", {"session_id": SID, "reason": 5}),
    ("media_status", {"session_id": SID, "state": 1}),
    ("ice_candidate", {"session_id": SID, "candidate": "x", "sdp_mline_index": "0"}),
    ("description", {"session_id": SID, "type": "offer", "sdp": GOOD_SDP, "extra": 1}),
    ("sync", {"full": True}),
    ("request_service", [SERVICE]),
    ("request_service", None),
]

CLERK_COERCIONS: list[tuple[str, Any]] = [
    ("set_availability", {"available": "true"}),
    ("set_availability", {"available": 1}),
    ("set_availability", {"available": True, "departments": ["x"]}),
    ("accept", {"session_id": 1}),
    ("decline", {"session_id": SID, "reason": "busy"}),
    ("push_prompt", {"session_id": SID, "kind": "text", "text": 5}),
    ("push_prompt", {"session_id": SID, "kind": "script"}),
    ("set_step", {"session_id": SID, "step": "2"}),
    ("set_step", {"session_id": SID, "step": 2.0}),
    ("hangup", {"session_id": [SID]}),
    ("sync", {"x": None}),
]


async def test_payloads_of_the_wrong_type_are_refused_for_every_client_event(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await server.add_clerk("alice")
    async with aiohttp.ClientSession() as http:
        kiosk = await RawSocket.open(http, server.url)
        await kiosk.sign_in(T, await server.add_terminal())
        clerk = await RawSocket.open(http, server.url)
        await clerk.sign_in(C, await login(server.url, "alice", CLERK_PASSWORD))
        await server.stored()
        before = await stored_state(server)
        clerk_before = await server.clerk(1)
        for sock, namespace, cases in ((kiosk, T, TERMINAL_COERCIONS), (clerk, C, CLERK_COERCIONS)):
            for event, payload in cases:
                await sock.emit(namespace, event, payload)
                error = await refused(sock, namespace)
                assert error["code"] == "invalid_message", (event, payload, error)
                assert error["event"] == event
        await server.stored()
        # "care_mode": "yes" queued nothing; the clerk did not become available
        assert await stored_state(server) == before
        assert await server.clerk(1) == clerk_before
    no_tracebacks(caplog)
    await assert_responsive(server)


BAD_SDP = [
    "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n",  # no media section
    GOOD_SDP.replace("s=-", "s=\x00evil"),  # a control character
    GOOD_SDP + "a=x\x1b[31m\r\n",  # an escape sequence for the other side's terminal
    GOOD_SDP + "a=" + "x" * MAX_SDP + "\r\n",  # oversize (still within one frame)
]


async def test_sdp_that_is_not_one_is_refused_before_it_is_relayed(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await server.add_clerk("alice")
    async with aiohttp.ClientSession() as http:
        clerk = await RawSocket.open(http, server.url)
        await clerk.sign_in(C, await login(server.url, "alice", CLERK_PASSWORD))
        await clerk.emit(C, "set_availability", {"available": True})
        kiosk, session_id = await queued_kiosk(server, http)
        offered = await clerk.until(C, "call_offered")
        assert offered["session_id"] == session_id
        for sdp in BAD_SDP:
            await kiosk.emit(
                T, "description", {"session_id": session_id, "type": "offer", "sdp": sdp}
            )
            error = await refused(kiosk, T)
            assert error["code"] == "invalid_message" and error["field"] == "sdp"
        # the clerk answers with the same junk: refused too
        for sdp in BAD_SDP:
            await clerk.emit(
                C, "description", {"session_id": session_id, "type": "answer", "sdp": sdp}
            )
            assert (await refused(clerk, C))["field"] == "sdp"
        # a real offer goes through, and it is the first description the clerk ever sees
        await kiosk.emit(
            T, "description", {"session_id": session_id, "type": "offer", "sdp": GOOD_SDP}
        )
        while True:
            name, payload = await clerk.event(C)
            if name == "description":
                assert payload["sdp"] == GOOD_SDP
                break
            assert name != "error", payload
        assert (await server.session(session_id)).state == "offered"  # still ringing
    no_tracebacks(caplog)
    await assert_responsive(server)


async def test_a_long_unknown_event_name_is_not_echoed_back(server: RunningServer) -> None:
    async with aiohttp.ClientSession() as http:
        kiosk = await RawSocket.open(http, server.url)
        await kiosk.sign_in(T, await server.add_terminal())
        await kiosk.emit(T, "x" * 60_000, {})
        error = await refused(kiosk, T)
        assert error["code"] == "invalid_message"
        assert len(error["message"]) < 1000 and len(error["event"]) < 100
    await assert_responsive(server)
