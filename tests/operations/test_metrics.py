"""/metrics on a real server: queue figures from the store, counters, loop lag, database time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from signaling.keys import CATALOGUE, METRICS
from signaling.messages import NAMESPACE_CLERK, NAMESPACE_TERMINAL
from tests.conftest import CLERK_PASSWORD, RunningServer, make_settings, start_server
from tests.operations.client import Client
from tests.peers import login

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(url: str) -> Samples:
    """Every sample of ``/metrics`` by (name, sorted labels)."""
    async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = await response.text()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


@pytest.fixture
async def clients() -> AsyncIterator[list[Client]]:
    made: list[Client] = []
    yield made
    for client in made:
        await client.sio.disconnect()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_waiting_calls_and_clerks_come_from_the_store(
    server: RunningServer, clients: list[Client]
) -> None:
    catalogue = server.app[CATALOGUE]
    service = catalogue.services[0]
    dept = service.department_id
    others = [d.id for d in catalogue.departments if d.id != dept]
    kiosk = Client(NAMESPACE_TERMINAL)
    clients.append(kiosk)
    await kiosk.connect(server.url, await server.add_terminal())
    await kiosk.emit("request_service", {"service_id": service.id})
    await kiosk.expect("session_opened")
    await server.stored()

    samples = await scrape(server.url)
    assert value(samples, "vcounter_waiting", department=dept) == 1
    assert value(samples, "vcounter_oldest_wait_seconds", department=dept) >= 0
    for other in others:
        assert value(samples, "vcounter_waiting", department=other) == 0
        assert value(samples, "vcounter_oldest_wait_seconds", department=other) == 0
    assert value(samples, "vcounter_calls_in_progress") == 0

    # a clerk signs in, makes themself available and takes the call
    await server.add_clerk("ann", [dept])
    clerk = Client(NAMESPACE_CLERK)
    clients.append(clerk)
    await clerk.connect(server.url, await login(server.url, "ann", CLERK_PASSWORD))
    await clerk.expect("clerk_status")
    assert value(await scrape(server.url), "vcounter_clerks", state="away") == 1
    await clerk.emit("set_availability", {"available": True})
    offered = await clerk.expect("call_offered")
    await clerk.emit("accept", {"session_id": offered["session_id"]})
    await kiosk.expect("call_accepted")
    await server.stored()

    samples = await scrape(server.url)
    assert value(samples, "vcounter_waiting", department=dept) == 0
    assert value(samples, "vcounter_calls_in_progress") == 1
    assert value(samples, "vcounter_clerks", state="busy") == 1
    assert value(samples, "vcounter_clerks", state="available") == 0


async def test_each_app_counts_on_its_own_registry(server: RunningServer, tmp_path: Path) -> None:
    other, runner = await start_server(make_settings(tmp_path / "other"))
    try:
        server.app[METRICS].offers.inc()
        server.app[METRICS].offers.inc()
        server.app[METRICS].offer_timeouts.inc()
        mine, theirs = await scrape(server.url), await scrape(other.url)
    finally:
        await runner.cleanup()
    assert value(mine, "vcounter_offers_total") == 2
    assert value(mine, "vcounter_offer_timeouts_total") == 1
    assert value(theirs, "vcounter_offers_total") == 0
    assert value(theirs, "vcounter_draining") == 0


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_loop_lag_and_database_time_are_measured(server: RunningServer) -> None:
    # the lag monitor ticks every 0.25 s: wait (bounded) for its first observations
    async with asyncio.timeout(10):
        while True:
            samples = await scrape(server.url)
            if value(samples, "vcounter_event_loop_lag_seconds_count") >= 2:
                break
            await asyncio.sleep(0.1)
    assert value(samples, "vcounter_event_loop_lag_last_seconds") >= 0
    # the statements behind each scrape were timed
    assert value(samples, "vcounter_db_latency_seconds_count") > 0
    assert value(samples, "vcounter_db_ping_seconds") > 0
