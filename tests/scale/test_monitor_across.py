"""A supervisor on one process monitors a call whose clerk is on the other: the tickets and
relays need no shared memory, the rooms reach each party through Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from signaling.messages import NAMESPACE_CLERK, NAMESPACE_SUPERVISOR, NAMESPACE_TERMINAL
from storage.audit import AuditLog
from storage.db import Database
from tests.peers import login
from tests.scale.cluster import Cluster
from tests.scale.conftest import require_cluster_services
from tests.scale.test_two_processes import PASSWORD, SERVICE
from tests.security.sockets import RawSocket
from tests.supervision.test_monitor_rules import SDP

T, C, S = NAMESPACE_TERMINAL, NAMESPACE_CLERK, NAMESPACE_SUPERVISOR


async def watched_call(
    cluster: Cluster, http: aiohttp.ClientSession, kiosk_on: str
) -> tuple[RawSocket, RawSocket, RawSocket, str]:
    """Clerk ann on the first process in a call with a kiosk on ``kiosk_on``, supervisor sue
    signed in on the second: the three sockets and the session id."""
    dept = SERVICE.department_id
    cluster.cli("clerk", "add", "ann", "--password", PASSWORD, "--department", dept)
    cluster.cli("clerk", "add", "sue", "--password", PASSWORD, "--department", dept, "--role", "supervisor")  # fmt: skip
    token = cluster.cli("terminal", "register", "kiosk-watched")
    a, b = cluster.servers[0].url, cluster.servers[1].url
    kiosk = await RawSocket.open(http, kiosk_on)
    await kiosk.sign_in(T, token)
    clerk = await RawSocket.open(http, a)
    await clerk.sign_in(C, await login(a, "ann", PASSWORD))
    await clerk.emit(C, "set_availability", {"available": True})
    await kiosk.emit(T, "request_service", {"service_id": SERVICE.id})
    session_id = (await kiosk.until(T, "session_opened"))["session_id"]
    await clerk.until(C, "call_offered", timeout=20)
    await clerk.emit(C, "accept", {"session_id": session_id})
    await kiosk.until(T, "call_accepted", timeout=20)
    sue = await RawSocket.open(http, b)
    await sue.sign_in(S, await login(b, "sue", PASSWORD))
    return kiosk, clerk, sue, session_id


@pytest.mark.timeout(300)
async def test_a_supervisor_on_one_process_monitors_a_clerk_on_the_other(
    cluster: Cluster,
) -> None:
    async with aiohttp.ClientSession() as http:
        kiosk, clerk, sue, session_id = await watched_call(
            cluster, http, kiosk_on=cluster.servers[1].url
        )
        await sue.emit(S, "monitor_start", {"session_id": session_id, "mode": "barge"})
        monitor_id = (await sue.until(S, "monitor_state", timeout=20))["monitor_id"]
        assert (await clerk.until(C, "supervision", timeout=20))["mode"] == "barge"
        assert (await kiosk.until(T, "supervision_notice", timeout=20))["state"] == "joined"
        await clerk.emit(C, "monitor_signal", {
            "monitor_id": monitor_id,
            "description": {"session_id": session_id, "type": "offer", "sdp": SDP},
            "tracks": [{"mid": "0", "role": "applicant"}],
        })  # fmt: skip
        assert (await sue.until(S, "monitor_signal", timeout=20))["description"]["type"] == "offer"
        await sue.emit(S, "monitor_signal", {
            "monitor_id": monitor_id,
            "description": {"session_id": session_id, "type": "answer", "sdp": SDP},
        })  # fmt: skip
        answer = await clerk.until(C, "monitor_signal", timeout=20)
        assert answer["description"]["type"] == "answer"
        await sue.emit(S, "monitor_change", {"monitor_id": monitor_id, "mode": None})
        assert (await clerk.until(C, "supervision", timeout=20))["mode"] is None


@pytest.fixture
async def short_lease_cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    require_cluster_services()
    settings = {"VCOUNTER_PROCESS_LEASE_S": "3"}
    async with Cluster(tmp_path / "cluster", processes=2, settings=settings) as running:
        yield running


@pytest.mark.timeout(300)
async def test_a_barge_ends_when_the_supervisors_process_is_killed(
    short_lease_cluster: Cluster,
) -> None:
    """Nobody records the supervisor leaving when their process dies: the process holding
    the clerk ends the monitor once the dead one's lease runs out, so the applicant is not
    left told that a supervisor is in the call."""
    cluster = short_lease_cluster
    async with aiohttp.ClientSession() as http:
        kiosk, clerk, sue, session_id = await watched_call(
            cluster, http, kiosk_on=cluster.servers[0].url
        )
        await sue.emit(S, "monitor_start", {"session_id": session_id, "mode": "barge"})
        await sue.until(S, "monitor_state", timeout=20)
        started = await clerk.until(C, "supervision", timeout=20)
        assert started["mode"] == "barge"
        assert (await kiosk.until(T, "supervision_notice", timeout=20))["state"] == "joined"

        cluster.kill(1)
        # (a socket's pings keep each read alive: the whole wait is bounded here)
        async with asyncio.timeout(30):
            ended = await clerk.until(C, "supervision")
            assert ended["monitor_id"] == started["monitor_id"] and ended["mode"] is None
            assert (await kiosk.until(T, "supervision_notice"))["state"] == "none"

    async with Database(cluster.store_url) as db:
        events = await AuditLog(db).events(session_id)
    kinds = [(e.kind, e.payload.get("reason")) for e in events if e.kind.startswith("supervision")]
    assert kinds == [("supervision.started", None), ("supervision.ended", "supervisor_gone")]
