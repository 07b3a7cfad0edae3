"""Socket handshakes take turns at the database (signaling/admission.py)."""

from __future__ import annotations

import asyncio

import pytest
import socketio

from signaling.admission import Admission
from signaling.errors import ServerBusy
from signaling.messages import NAMESPACE_TERMINAL
from signaling.socket_server import SOCKET_SERVER
from tests.conftest import RunningServer
from tests.signaling.test_bad_input import Socket


async def test_a_handshake_without_a_turn_is_refused_as_busy_and_nothing_is_held() -> None:
    admission = Admission(at_once=1, wait_s=0.05)
    async with admission.turn():
        with pytest.raises(ServerBusy, match="reconnects by itself"):
            async with admission.turn():
                pytest.fail("a second handshake ran beside the first")
    assert admission.refused == 1
    # the refused one left no turn taken: the next handshake gets one at once
    async with asyncio.timeout(1):
        async with admission.turn():
            pass


async def test_turns_are_handed_on_in_order_and_bounded() -> None:
    admission = Admission(at_once=2, wait_s=5.0)
    inside = 0
    most = 0
    order: list[int] = []

    async def handshake(i: int) -> None:
        nonlocal inside, most
        async with admission.turn():
            inside += 1
            most = max(most, inside)
            order.append(i)
            await asyncio.sleep(0.01)
            inside -= 1

    await asyncio.gather(*(handshake(i) for i in range(10)))
    assert most == 2
    assert order == list(range(10))
    assert admission.refused == 0


async def test_a_failing_handshake_gives_its_turn_back() -> None:
    admission = Admission(at_once=1, wait_s=0.05)
    with pytest.raises(RuntimeError):
        async with admission.turn():
            raise RuntimeError("unknown device token")
    async with admission.turn():
        pass
    assert admission.refused == 0


async def test_a_busy_server_refuses_a_kiosk_socket_with_the_busy_code_and_then_takes_it(
    server: RunningServer,
) -> None:
    token = await server.add_terminal()
    namespace = server.app[SOCKET_SERVER].namespace_handlers[NAMESPACE_TERMINAL]
    namespace.ctx.admission.wait_s = 0.2
    held = namespace.ctx.admission.turn()
    turns = [held]
    for _ in range(server.settings.handshakes_at_once - 1):
        turns.append(namespace.ctx.admission.turn())
    for turn in turns:
        await turn.__aenter__()
    sock = Socket(NAMESPACE_TERMINAL)
    try:
        with pytest.raises(socketio.exceptions.ConnectionError, match="busy"):
            await sock.connect(server.url, token)
        assert namespace.ctx.admission.refused == 1
    finally:
        for turn in turns:
            await turn.__aexit__(None, None, None)
    # the turns are free again: the same kiosk comes in
    await sock.connect(server.url, token)
    assert sock.sio.connected
    await sock.sio.disconnect()


async def test_a_sign_in_waiting_for_its_turn_is_not_cut_by_the_sign_in_deadline(
    server: RunningServer,
) -> None:
    """Under a burst of reconnects a kiosk may wait for its turn longer than the deadline
    for signing in; it was closed without a word ("Unexpected connection error")."""
    token = await server.add_terminal()
    sio_server = server.app[SOCKET_SERVER]
    sio_server.auth_timeout_s = 0.2
    namespace = sio_server.namespace_handlers[NAMESPACE_TERMINAL]
    namespace.ctx.admission.wait_s = 10.0
    turns = [namespace.ctx.admission.turn() for _ in range(server.settings.handshakes_at_once)]
    for turn in turns:
        await turn.__aenter__()
    sock = Socket(NAMESPACE_TERMINAL)
    connecting = asyncio.create_task(sock.connect(server.url, token))
    try:
        # several deadline periods pass while the sign-in waits
        await asyncio.sleep(1.0)
        assert not connecting.done()
    finally:
        for turn in turns:
            await turn.__aexit__(None, None, None)
    await connecting
    assert sock.sio.connected
    await sock.sio.disconnect()
