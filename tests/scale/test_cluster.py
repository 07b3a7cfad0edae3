"""The multi-process harness itself: two processes on PostgreSQL + Redis behind HAProxy."""

from __future__ import annotations

import aiohttp
import pytest

from signaling.catalogue import load_catalogue
from signaling.messages import NAMESPACE_CLERK, NAMESPACE_TERMINAL
from tests.operations.client import Client
from tests.peers import login
from tests.scale.cluster import Cluster

PASSWORD = "cluster-clerk-pass"


async def status_of(url: str) -> int:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status


# three process starts (CLI, two servers) and a restart: slow on a busy two-core machine
@pytest.mark.timeout(300)
async def test_cluster_serves_through_the_proxy_and_survives_a_kill(cluster: Cluster) -> None:
    assert len({s.port for s in cluster.servers}) == 2
    for server in cluster.servers:
        assert await status_of(f"{server.url}/readyz") == 200
    assert await status_of(f"{cluster.url}/readyz") == 200
    # metrics are for the operator's scraper, per process, not for the public entrance
    assert await status_of(f"{cluster.url}/metrics") == 403
    assert await status_of(f"{cluster.servers[1].url}/metrics") == 200

    service = load_catalogue().services[0]
    cluster.cli("clerk", "add", "ann", "--password", PASSWORD, "--department", service.department_id)  # fmt: skip
    token = cluster.cli("terminal", "register", "kiosk-1")
    kiosk, clerk = Client(NAMESPACE_TERMINAL), Client(NAMESPACE_CLERK)
    try:
        await kiosk.connect(cluster.url, token)
        await clerk.connect(cluster.url, await login(cluster.url, "ann", PASSWORD))
        status = await clerk.expect("clerk_status")
        assert status["state"] == "away"
        await kiosk.emit("request_service", {"service_id": service.id})
        opened = await kiosk.expect("session_opened")
        assert len(opened["session_id"]) == 32
    finally:
        await kiosk.sio.disconnect()
        await clerk.sio.disconnect()

    # kill -9 one process (one cluster start per test is slow: this test goes on with it)
    cluster.kill(0)
    assert not cluster.servers[0].alive
    # requests that HAProxy sends to the dead process are redispatched to the survivor
    for _ in range(6):
        assert await status_of(f"{cluster.url}/readyz") == 200
    await cluster.restart(0)
    assert await status_of(f"{cluster.servers[0].url}/readyz") == 200
