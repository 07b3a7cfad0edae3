"""Bad input through the real server: each gets a typed error or a refusal; the server stays up."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
import socketio

from signaling.messages import NAMESPACE_CLERK, NAMESPACE_TERMINAL
from tests.conftest import CLERK_PASSWORD, RunningServer
from tests.peers import ClerkPeer, login

SID = "0123456789abcdef0123456789abcdef"


class Socket:
    """A raw socket.io client that records every error event it gets."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.sio = socketio.AsyncClient(reconnection=False)
        self.errors: list[dict[str, Any]] = []
        self.events: list[tuple[str, Any]] = []
        self.got_error = asyncio.Event()
        self.refusal = ""
        self.sio.on("error", self._on_error, namespace=namespace)
        self.sio.on("connect_error", self._on_refused, namespace=namespace)
        self.sio.on("*", lambda e, d: self.events.append((e, d)), namespace=namespace)

    async def connect(self, url: str, token: str) -> None:
        """Connect; a refusal raises ConnectionError carrying the server's reason."""
        try:
            await self.sio.connect(
                url,
                namespaces=[self.namespace],
                auth={"token": token},
                transports=["websocket"],
                # the library waits 1 s for the sign-in by default: a loaded machine takes longer
                wait_timeout=10,
            )
        except socketio.exceptions.ConnectionError as exc:
            raise socketio.exceptions.ConnectionError(self.refusal or str(exc)) from exc

    def _on_refused(self, data: Any) -> None:
        self.refusal = data.get("message", "") if isinstance(data, dict) else str(data)

    def _on_error(self, data: dict[str, Any]) -> None:
        self.errors.append(data)
        self.got_error.set()

    async def emit(self, event: str, data: Any) -> None:
        await self.sio.emit(event, data, namespace=self.namespace)

    async def next_error(self, count: int = 1, timeout: float = 5) -> dict[str, Any]:
        async def wait() -> None:
            while len(self.errors) < count:
                self.got_error.clear()
                await self.got_error.wait()

        await asyncio.wait_for(wait(), timeout)
        return self.errors[count - 1]


@pytest.fixture
async def terminal_socket(server: RunningServer) -> Any:
    sock = Socket(NAMESPACE_TERMINAL)
    await sock.connect(server.url, await server.add_terminal())
    yield sock
    await sock.sio.disconnect()


async def test_wrong_terminal_token_is_refused_with_reason(server: RunningServer) -> None:
    sock = Socket(NAMESPACE_TERMINAL)
    with pytest.raises(socketio.exceptions.ConnectionError, match="unknown device token"):
        await sock.connect(server.url, "not-a-real-token")


async def test_clerk_without_or_with_forged_token_is_refused(server: RunningServer) -> None:
    sock = Socket(NAMESPACE_CLERK)
    with pytest.raises(socketio.exceptions.ConnectionError, match="no access token"):
        await sock.connect(server.url, "")
    sock = Socket(NAMESPACE_CLERK)
    with pytest.raises(socketio.exceptions.ConnectionError, match="not valid; sign in again"):
        await sock.connect(server.url, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.forged")


async def test_invalid_payload_names_the_field_and_connection_survives(
    terminal_socket: Socket,
) -> None:
    await terminal_socket.emit(
        "request_service", {"service_id": "tax-registration", "language": "fr"}
    )
    error = await terminal_socket.next_error()
    assert error["code"] == "invalid_message"
    assert error["field"] == "language"
    assert "language" in error["message"]
    await terminal_socket.emit("request_service", "just a string")
    error = await terminal_socket.next_error(2)
    assert "must be a JSON object" in error["message"]
    await terminal_socket.emit("no_such_event", {})
    error = await terminal_socket.next_error(3)
    assert 'Unknown event "no_such_event"' in error["message"]
    assert terminal_socket.sio.connected


async def test_unknown_service_is_a_typed_error(terminal_socket: Socket) -> None:
    await terminal_socket.emit("request_service", {"service_id": "no-such-service"})
    error = await terminal_socket.next_error()
    assert error["code"] == "unknown_service"
    assert "no-such-service" in error["message"]


async def test_malformed_offer_is_refused(terminal_socket: Socket) -> None:
    await terminal_socket.emit(
        "description", {"session_id": SID, "type": "offer", "sdp": "this is not SDP"}
    )
    error = await terminal_socket.next_error()
    assert error["code"] == "invalid_message" and error["field"] == "sdp"


async def test_event_for_someone_elses_session(
    server: RunningServer, terminal_socket: Socket
) -> None:
    # A real call between another kiosk and a clerk...
    await server.add_clerk("bob")
    clerk = ClerkPeer(server.url, await login(server.url, "bob", CLERK_PASSWORD), auto_accept=False)
    other = Socket(NAMESPACE_TERMINAL)
    try:
        await clerk.connect()
        await clerk.wait(lambda: clerk.status is not None)
        await clerk.emit("set_availability", {"available": True})
        await other.connect(server.url, await server.add_terminal("kiosk-2"))
        await other.emit("request_service", {"service_id": "tax-registration"})
        await clerk.wait(lambda: bool(clerk.offers))
        session_id = clerk.offers[0].session_id
        await clerk.emit("accept", {"session_id": session_id})
        await clerk.wait(lambda: clerk.session_id is not None)
        # ...and this kiosk tries to butt in.
        await terminal_socket.emit(
            "ice_candidate",
            {"session_id": session_id, "candidate": "candidate:1 1 udp 1 1.2.3.4 9 typ host"},
        )
        error = await terminal_socket.next_error()
        assert error["code"] == "not_your_session"
        await terminal_socket.emit("hangup", {"session_id": session_id})
        error = await terminal_socket.next_error(2)
        assert error["code"] == "not_your_session"
        await terminal_socket.emit("cancel", {"session_id": session_id})
        assert (await terminal_socket.next_error(3))["code"] == "not_your_session"
        offer = {
            "session_id": session_id,
            "type": "offer",
            "sdp": "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 96\r\n",
        }
        await terminal_socket.emit("description", offer)
        assert (await terminal_socket.next_error(4))["code"] == "not_your_session"
        # The call itself is untouched.
        assert (await server.session(session_id)).state == "connecting"
    finally:
        await other.sio.disconnect()
        await clerk.close()


async def test_flood_of_events_is_rate_limited_and_server_stays_up(
    server: RunningServer, terminal_socket: Socket
) -> None:
    for _ in range(1000):
        await terminal_socket.emit("cancel", {"session_id": SID})
    await terminal_socket.next_error(1000, timeout=30)
    codes = {e["code"] for e in terminal_socket.errors}
    assert codes == {"not_your_session", "rate_limited"}
    assert sum(e["code"] == "rate_limited" for e in terminal_socket.errors) > 500
    # Others are still served.
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/api/health") as r:
        assert r.status == 200
    fresh = Socket(NAMESPACE_TERMINAL)
    await fresh.connect(server.url, await server.add_terminal("kiosk-3"))
    await fresh.emit("request_service", {"service_id": "tax-registration"})
    await asyncio.sleep(0.2)
    assert not fresh.errors
    await fresh.sio.disconnect()


async def test_login_errors_name_the_problem(server: RunningServer) -> None:
    await server.add_clerk("carol")
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.url}/api/login", json={"username": "carol"}) as r:
            assert r.status == 400
            body = await r.json()
            assert body["field"] == "password"
        async with http.post(f"{server.url}/api/login", data=b"{not json") as r:
            assert r.status == 400 and "not JSON" in (await r.json())["message"]
        async with http.post(
            f"{server.url}/api/login", json={"username": "carol", "password": "wrong"}
        ) as r:
            assert r.status == 401
            assert (await r.json())["message"] == "Wrong username or password."


async def test_terminal_client_reports_the_servers_refusal_reason(server: RunningServer) -> None:
    from media.sources import create_local_tracks
    from terminal_client.client import TerminalClient
    from terminal_client.errors import TerminalError

    client = TerminalClient(server.url, "made-up-token", lambda: create_local_tracks(True, "", ""))
    with pytest.raises(TerminalError, match="unknown device token"):
        await client.connect()
    await client.close()


async def test_server_shutdown_disconnects_terminals(tmp_path: Any) -> None:
    from media.sources import create_local_tracks
    from terminal_client.client import TerminalClient, TerminalState
    from tests.conftest import make_settings, start_server

    running, runner = await start_server(make_settings(tmp_path))
    client = TerminalClient(
        running.url, await running.add_terminal(), lambda: create_local_tracks(True, "", "")
    )
    await client.connect()
    try:
        await asyncio.wait_for(runner.cleanup(), 15)
        await client.wait_for(TerminalState.DISCONNECTED, timeout=10)
    finally:
        await client.close()


async def test_a_waiting_terminal_may_only_offer_for_its_own_session(
    server: RunningServer, terminal_socket: Socket
) -> None:
    await terminal_socket.emit("request_service", {"service_id": "tax-registration"})
    for _ in range(100):
        if any(event == "session_opened" for event, _ in terminal_socket.events):
            break
        await asyncio.sleep(0.02)
    opened = next(data for event, data in terminal_socket.events if event == "session_opened")
    session_id = opened["session_id"]
    assert opened["ice_servers"] == []  # none configured: host candidates only
    answer = {
        "session_id": session_id,
        "type": "answer",
        "sdp": "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 96\r\n",
    }
    await terminal_socket.emit("description", answer)
    error = await terminal_socket.next_error()
    assert error["code"] == "invalid_message" and 'sends an SDP "offer"' in error["message"]
    offer = {**answer, "type": "offer"}
    await terminal_socket.emit("description", offer)
    async with asyncio.timeout(10):  # held once the server has handled it, however loaded
        while (await server.session(session_id)).early_offer is None:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    assert len(terminal_socket.errors) == 1
