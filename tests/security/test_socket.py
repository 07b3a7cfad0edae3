"""Hole 8 (socket.io's HTTP side): the Origin check is on, and big frames are refused."""

from __future__ import annotations

import aiohttp
import pytest

from tests.conftest import RunningServer
from tests.security.conftest import assert_responsive

WS = "/socket.io/?EIO=4&transport=websocket"


async def test_a_page_of_another_origin_cannot_open_a_socket(server: RunningServer) -> None:
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(f"{server.url}{WS}", origin="http://evil.example")
        assert refused.value.status == 400
        # the console's own origin (and a client that sends none) still connect
        for origin in (server.url, None):
            async with http.ws_connect(f"{server.url}{WS}", origin=origin) as ws:
                opened = await ws.receive_str(timeout=5)
                assert opened.startswith("0{")
    await assert_responsive(server)


async def test_a_frame_over_64_kib_closes_that_socket_only(server: RunningServer) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{server.url}{WS}") as ws:
        assert (await ws.receive_str(timeout=5)).startswith("0{")
        await ws.send_str('42/terminal,["request_service",{"pad":"' + "x" * 70_000 + '"}]')
        closing = await ws.receive(timeout=5)
        assert closing.type in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSED,
            aiohttp.WSMsgType.CLOSING,
        )
    await assert_responsive(server)
