"""Redis restarts while two processes run: a call in progress carries on, a waiting applicant
still gets their call (clients re-sync what the bus dropped; python-socketio issues #1411,
#1581), and the store stays right. The test runs a Redis server of its own, on a free port,
so restarting it disturbs nobody else."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from media.sources import create_local_tracks
from signaling.catalogue import load_catalogue
from storage import routing
from storage.db import Database
from terminal_client.client import TerminalClient, TerminalState
from tests.peers import ClerkPeer, login
from tests.scale.cluster import Cluster
from tests.scale.conftest import require_cluster_services
from tests.scale.private_redis import PrivateRedis, require_redis_server

PASSWORD = "cluster-clerk-pass"
SERVICE = load_catalogue().services[0]


@pytest.fixture
async def cluster_with_own_redis(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Cluster, PrivateRedis]]:
    require_cluster_services()
    require_redis_server()
    redis = PrivateRedis(tmp_path)
    await redis.start()
    monkeypatch.setenv("VCOUNTER_TEST_REDIS", redis.url)
    try:
        async with Cluster(tmp_path / "cluster", processes=2, proxy=False) as cluster:
            yield cluster, redis
    finally:
        await redis.stop()


def kiosk(url: str, token: str, name: str) -> TerminalClient:
    client = TerminalClient(
        url, token, lambda: create_local_tracks(True, "", "", label=name), name=name
    )
    client.sync_every_s = 1.0
    return client


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_a_redis_restart_loses_no_call(
    cluster_with_own_redis: tuple[Cluster, PrivateRedis],
) -> None:
    cluster, redis = cluster_with_own_redis
    cluster.cli("clerk", "add", "ann", "--password", PASSWORD, "--department", SERVICE.department_id)  # fmt: skip
    tokens = [cluster.cli("terminal", "register", f"kiosk-{i}") for i in range(2)]
    a, b = cluster.servers[0].url, cluster.servers[1].url
    clerk = ClerkPeer(a, await login(a, "ann", PASSWORD))
    first, second = kiosk(b, tokens[0], "first"), kiosk(b, tokens[1], "second")
    try:
        await clerk.connect()
        await clerk.wait(lambda: clerk.status is not None)
        await clerk.emit("set_availability", {"available": True})
        await first.connect()
        in_call = await first.request_service(SERVICE.id, "en")
        await first.wait_for(TerminalState.IN_CALL, timeout=30)
        await second.connect()
        waiting = await second.request_service(SERVICE.id, "en")
        assert second.state == TerminalState.QUEUED

        await redis.stop()
        await asyncio.sleep(1.0)
        await redis.start()
        # python-socketio's Redis listener re-subscribes after a 1 s, then 2 s back-off; what
        # is published before that is lost (its issues #1411, #1581). Waiting kiosks and calls
        # in progress ride that out by re-syncing; a call being negotiated in that very window
        # would need its offer again, which is not built yet (issue 14). Give it that time.
        await asyncio.sleep(4.0)

        # the call in progress never needed the bus: its media goes on
        frames = clerk.video_in.count
        await clerk.video_in.wait_for(frames + 20, timeout=20)
        await first.hangup()
        await first.wait_for(TerminalState.ENDED, timeout=10)
        # the clerk's console re-syncs if the bus dropped the end of the call
        for _ in range(100):
            if clerk.status is not None and clerk.status.state in ("available", "ringing", "busy"):
                break
            await clerk.emit("sync", {})
            await asyncio.sleep(0.3)
        # the waiting applicant gets their call, whatever the bus dropped meanwhile
        await second.wait_for(TerminalState.IN_CALL, timeout=60)
        assert second.session_id == waiting
        await second.hangup()
        await second.wait_for(TerminalState.ENDED, timeout=10)
    finally:
        await first.close()
        await second.close()
        await clerk.close()
    async with Database(cluster.store_url) as db:
        for session_id in (in_call, waiting):
            row = await routing.get(db, session_id)
            assert row is not None and row.state == "ended", row
