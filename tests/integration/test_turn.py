"""TURN, really: calls that can only go through a real coturn, and credentials it refuses.

The server mints each session's (and each console's) TURN credentials in coturn's REST-secret
scheme; with ``ice_transport_policy = "relay"`` both ends gather relay candidates only, so
media flows through coturn or not at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aioice import stun, turn

from media.sources import create_local_tracks
from signaling.auth import turn_credentials
from signaling.errors import ConfigError
from signaling.settings import load_settings
from terminal_client.client import TerminalClient, TerminalState
from tests.conftest import CLERK_PASSWORD, bounded, make_settings, start_server
from tests.coturn import Coturn, require_coturn
from tests.peers import ClerkPeer, login

SECRET = "turn-test-secret-0123456789"
SERVICE = "tax-registration"


@pytest.fixture
async def coturn(tmp_path: Path) -> AsyncIterator[Coturn]:
    require_coturn()
    async with Coturn(tmp_path / "coturn", SECRET) as server:
        yield server


def local_candidate_types(pc: object) -> set[str]:
    """The kinds of candidate ``pc`` (aiortc) gathered on its ICE transports."""
    kinds = set()
    for transceiver in pc.getTransceivers():  # type: ignore[attr-defined]
        ice = transceiver.sender.transport.transport
        kinds |= {c.type for c in ice.iceGatherer.getLocalCandidates()}
    return kinds


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_a_relay_only_call_carries_media_through_coturn(
    tmp_path: Path, coturn: Coturn, transport: str
) -> None:
    settings = make_settings(
        tmp_path, turn_urls=[coturn.url(transport)], turn_secret=SECRET,
        ice_transport_policy="relay",
    )  # fmt: skip
    server, runner = await start_server(settings)
    terminal: TerminalClient | None = None
    clerk: ClerkPeer | None = None
    try:
        await server.add_clerk("alice")
        token = await server.add_terminal("kiosk-relay")
        clerk = ClerkPeer(server.url, await login(server.url, "alice", CLERK_PASSWORD))
        terminal = TerminalClient(
            server.url, token, lambda: create_local_tracks(True, "", "", label="kiosk"),
            name="kiosk",
        )  # fmt: skip
        await clerk.connect()
        await clerk.wait(lambda: clerk.status is not None and clerk.status.state == "away")
        assert clerk.status is not None and clerk.status.ice_transport_policy == "relay"
        await clerk.emit("set_availability", {"available": True})
        await clerk.wait(lambda: clerk.status is not None and clerk.status.state == "available")
        await terminal.connect()
        await terminal.request_service(SERVICE, "en")
        await terminal.wait_for(TerminalState.IN_CALL, timeout=20)
        await terminal.video_in.wait_for(20, timeout=20)
        await clerk.video_in.wait_for(20, timeout=20)
        await terminal.audio_in.wait_for(20, timeout=20)
        await clerk.audio_in.wait_for(20, timeout=20)
        # relay candidates only, on both ends: the media above went through coturn
        assert terminal.pc is not None and clerk.pc is not None
        assert local_candidate_types(terminal.pc) == {"relay"}
        assert local_candidate_types(clerk.pc) == {"relay"}
        assert coturn.allocations() >= 2, coturn.log.read_text()[-3000:]
        await terminal.hangup()
        await terminal.wait_for(TerminalState.ENDED)
        # no peer made ahead for the next call: it would hold this session's TURN allocation
        await asyncio.sleep(0.5)
        assert terminal._warm is None
    finally:
        if terminal is not None:
            await terminal.close()
        if clerk is not None:
            await clerk.close()
        await bounded(runner.cleanup(), "server")


class _Nothing(asyncio.DatagramProtocol):
    pass


async def allocate(coturn: Coturn, transport: str, username: str, password: str) -> None:
    """Ask coturn for a relay allocation; raises what coturn answered when it refuses."""
    relay, _ = await turn.create_turn_endpoint(
        _Nothing, server_addr=("127.0.0.1", coturn.port), username=username, password=password,
        transport=transport,
    )  # fmt: skip
    relay.close()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_coturn_refuses_a_forged_or_expired_credential(
    coturn: Coturn, transport: str
) -> None:
    url = [coturn.url(transport)]
    good = turn_credentials(url, SECRET, "session-a", 600)
    assert good.username and good.credential
    await allocate(coturn, transport, good.username, good.credential)  # the control

    forged = turn_credentials(url, "not-the-secret", "session-a", 600)
    expired = turn_credentials(url, SECRET, "session-a", -60)
    # the same expiry and user with another session's name swapped in: the HMAC no longer fits
    swapped = good.username.replace("session-a", "session-b")
    for username, password in [
        (forged.username, forged.credential),
        (expired.username, expired.credential),
        (swapped, good.credential),
    ]:
        assert username and password
        with pytest.raises(stun.TransactionFailed) as refused:
            await allocate(coturn, transport, username, password)
        assert refused.value.response.attributes["ERROR-CODE"][0] == 401


def test_relay_only_without_a_turn_server_is_refused_at_start() -> None:
    with pytest.raises(ConfigError, match="turn_urls and turn_secret"):
        load_settings(ice_transport_policy="relay")
    with pytest.raises(ConfigError, match="no TURN server"):
        load_settings(ice_transport_policy="relay", ice_servers=[{"urls": ["stun:127.0.0.1:3478"]}])
    configured = load_settings(
        ice_transport_policy="relay", ice_servers=[{"urls": ["turn:127.0.0.1:3478"]}]
    )
    assert configured.ice_transport_policy == "relay"
