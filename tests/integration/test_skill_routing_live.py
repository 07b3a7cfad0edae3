"""Skills routing through the real server with a deployment's own catalogue: the expert is
rung first, and a call nobody free suits yet widens by itself as it waits (the server's sweep
runs the matcher again; nothing else happens in between)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from media.sources import create_local_tracks
from signaling.catalogue import load_catalogue
from storage import skills, store
from terminal_client.client import TerminalClient
from tests.conftest import CLERK_PASSWORD, RunningServer, bounded, make_settings, start_server
from tests.peers import ClerkPeer, login

SERVICE = "tax-registration"
WIDEN_AFTER_S = 1.0


@pytest.fixture
async def widening_server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    """The server with a catalogue whose tax registration wants level 5 at first and its
    floor after a second."""
    data = load_catalogue().model_dump(mode="json", by_alias=True)
    for service in data["services"]:
        if service["id"] == SERVICE:
            service["widening"] = [
                {"after_s": 0, "levels": {"service": 5}},
                {"after_s": WIDEN_AFTER_S, "levels": {}},
            ]
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    # offers ring a minute, not the tests' usual 5 s: the test reads "offered" after the
    # expert's offer arrives, and on a loaded machine 5 s could pass in between
    settings = make_settings(tmp_path, catalogue_file=path, offer_timeout_s=60.0)
    running, runner = await start_server(settings)
    try:
        yield running
    finally:
        await bounded(runner.cleanup(), "server")


async def available_clerk(server: RunningServer, username: str) -> ClerkPeer:
    clerk = ClerkPeer(server.url, await login(server.url, username, CLERK_PASSWORD), False)
    await clerk.connect()
    await clerk.wait(lambda: clerk.status is not None and clerk.status.state == "away")
    await clerk.emit("set_availability", {"available": True})
    await clerk.wait(lambda: clerk.status is not None and clerk.status.state == "available")
    return clerk


async def test_a_call_waits_for_the_expert_then_widens_by_itself(
    widening_server: RunningServer,
) -> None:
    server = widening_server
    await server.add_clerk("novice", ["taxation"])
    await server.add_clerk("expert", ["taxation"])
    taxation = load_catalogue()
    await skills.set_clerk_skills(
        server.db, "expert", {f"service:{SERVICE}": 5},
        services=[s.id for s in taxation.services],
        departments=[d.id for d in taxation.departments],
    )  # fmt: skip
    novice = await available_clerk(server, "novice")
    kiosks = [
        TerminalClient(
            server.url,
            await server.add_terminal(f"k{i}"),
            lambda: create_local_tracks(True, "", "", label="k"),
            name=f"k{i}",
        )
        for i in range(2)
    ]
    expert: ClerkPeer | None = None
    try:
        for kiosk in kiosks:
            await kiosk.connect()
        first = await kiosks[0].request_service(SERVICE, "en")
        # the novice, free all along, is rung only once the call has waited past the step
        await novice.wait(lambda: bool(novice.offers), timeout=15)
        assert novice.offers[0].session_id == first
        assert novice.offers[0].waited_s >= WIDEN_AFTER_S
        await novice.emit("decline", {"session_id": first})
        await novice.wait(lambda: bool(novice.withdrawn))
        # an expert coming on duty is rung at once for the next call, whatever it has waited
        expert = await available_clerk(server, "expert")
        second = await kiosks[1].request_service(SERVICE, "en")
        await expert.wait(lambda: any(o.session_id in (first, second) for o in expert.offers))
        assert expert.offers[0].session_id == first  # the first in line, passed on by the novice
        session = await store.get_session(server.db, first)
        assert session.state == "offered" and session.declined_by
    finally:
        for kiosk in kiosks:
            await kiosk.close()
        await novice.close()
        if expert is not None:
            await expert.close()
