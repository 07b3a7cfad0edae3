"""/livez and /readyz on a real server: database, Redis and draining decide readiness."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from signaling.draining import refuse_if_draining
from signaling.errors import ServerDraining
from signaling.keys import DRAINING
from signaling.operations import begin_drain
from tests import dbutil
from tests.conftest import RunningServer, make_settings, start_server


async def get(url: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.json()


async def test_livez_answers_while_the_loop_ticks(server: RunningServer) -> None:
    status, body = await get(f"{server.url}/livez")
    assert status == 200
    assert body["status"] == "ok"
    assert body["loop_lag_s"] >= 0


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_readyz_checks_the_database(server: RunningServer) -> None:
    status, body = await get(f"{server.url}/readyz")
    assert status == 200, body
    assert body == {"status": "ready", "checks": {"database": "ok"}}


async def test_readyz_fails_while_draining_and_new_sessions_are_refused(
    server: RunningServer,
) -> None:
    begin_drain(server.app, "test")
    status, body = await get(f"{server.url}/readyz")
    assert status == 503
    assert body["checks"]["database"] == "ok"
    assert body["reason"] == "this server is draining before it stops"
    # the hook the router calls before it opens a session
    with pytest.raises(ServerDraining, match="your kiosk will reconnect to another server"):
        refuse_if_draining(server.app[DRAINING])
    # still alive: a draining process is healthy, just not taking new work
    assert (await get(f"{server.url}/livez"))[0] == 200


async def test_shutdown_sets_the_drain_flag_before_sockets_close(tmp_path: Path) -> None:
    running, runner = await start_server(make_settings(tmp_path))
    refuse_if_draining(running.app[DRAINING])  # not draining while it runs
    await runner.cleanup()
    assert running.app[DRAINING].is_set()


async def test_readyz_names_an_unreachable_redis(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        url = f"redis://127.0.0.1:{probe.getsockname()[1]}/0"
    running, runner = await start_server(make_settings(tmp_path, redis_url=url))
    try:
        status, body = await get(f"{running.url}/readyz")
    finally:
        await runner.cleanup()
    assert status == 503
    assert body["checks"]["database"] == "ok"
    assert body["reason"].startswith("Redis is unreachable")


async def test_readyz_pings_redis(tmp_path: Path) -> None:
    dbutil.require_redis()
    settings = make_settings(tmp_path, redis_url=dbutil.redis_url())
    running, runner = await start_server(settings)
    try:
        status, body = await get(f"{running.url}/readyz")
    finally:
        await runner.cleanup()
    assert status == 200, body
    assert body["checks"] == {"database": "ok", "redis": "ok"}
