"""SIGTERM on a real `vcounter serve`: readiness goes false while it still serves, then it exits."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import aiohttp
import pytest

from signaling.messages import NAMESPACE_TERMINAL
from tests.operations.client import Client
from tests.scale.cluster import Cluster

DRAIN_S = 8


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_sigterm_drains_before_the_sockets_close(tmp_path: Path) -> None:
    shape = Cluster(
        tmp_path / "one",
        processes=1,
        database="sqlite",
        redis=False,
        proxy=False,
        settings={"VCOUNTER_DRAIN_S": str(DRAIN_S)},
    )
    async with shape as cluster:
        server = cluster.servers[0]
        kiosk = Client(NAMESPACE_TERMINAL)
        await kiosk.connect(server.url, cluster.cli("terminal", "register", "kiosk-1"))
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        async with aiohttp.ClientSession() as http:
            async with asyncio.timeout(DRAIN_S):
                while True:
                    async with http.get(f"{server.url}/readyz") as response:
                        body = await response.json()
                        if response.status == 503:
                            break
                    await asyncio.sleep(0.05)
            assert body["reason"] == "this server is draining before it stops"
            # still serving while it drains: alive, and the kiosk's socket is still open
            async with http.get(f"{server.url}/livez") as response:
                assert response.status == 200
            assert kiosk.sio.connected
        # then it closes the sockets and exits cleanly
        await asyncio.wait_for(kiosk.gone.wait(), DRAIN_S + 30)
        assert await asyncio.to_thread(server.process.wait, 30) == 0
