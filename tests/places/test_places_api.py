"""The public list of places (``GET /api/places``) and the supervisors' view: what a kiosk
reports becomes its status; nothing secret or internal is shown; the list is cached, answers
304 when unchanged, and is rate-limited per address."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from media.sources import create_local_tracks
from signaling.places import kiosk_status
from storage import places as stored
from storage import store
from terminal_client.client import TerminalClient, TerminalState
from tests.browser.test_transfer_in_chromium import until
from tests.conftest import CLERK_PASSWORD, RunningServer, make_settings, start_server
from tests.peers import login
from tests.places.conftest import Clerk, public_places, seed_with_kiosk
from tests.teardown import bounded

PUBLIC_FIELDS = {
    "id", "kind", "names", "addresses", "city", "latitude", "longitude", "hours", "directions",
    "services", "phone", "status", "printer",
}  # fmt: skip


async def _status(server: RunningServer, slug: str, wanted: str, field: str = "status") -> None:
    """Poll the public list until place ``slug`` shows ``wanted`` (a generous bound)."""
    await until(lambda: public_places(server), lambda places: places[slug][field] == wanted)


async def test_a_kiosk_is_online_in_a_call_or_offline_as_it_reports(
    server: RunningServer, clerk: Clerk
) -> None:
    token = await seed_with_kiosk(server, "hk-mong-kok", "mong-kok-1")
    places = await public_places(server)
    assert places["hk-mong-kok"]["status"] == "offline"
    # a staffed window has no live status: it is open or not by its hours
    assert places["gz-tianhe"]["status"] is None and places["gz-tianhe"]["printer"] is None

    kiosk = TerminalClient(server.url, token, lambda: create_local_tracks(True, "", "", label="k"))
    try:
        await kiosk.connect()
        await _status(server, "hk-mong-kok", "online")
        await kiosk.request_service("tax-filing", "en")
        # queued is not yet a call: the kiosk is online
        assert (await public_places(server))["hk-mong-kok"]["status"] == "online"
        await clerk.available()
        await kiosk.wait_for(TerminalState.IN_CALL, timeout=20)
        await _status(server, "hk-mong-kok", "in_call")
        await clerk.hangup()
        await kiosk.wait_for(TerminalState.ENDED)
        await _status(server, "hk-mong-kok", "online")
    finally:
        await kiosk.close()
    await _status(server, "hk-mong-kok", "offline")


def test_the_status_follows_the_facts() -> None:
    facts = stored.KioskFacts(1, "k", False, True, False, None, None, "", None)
    assert kiosk_status(facts) == ("online", None)
    assert kiosk_status(facts.__class__(**{**facts.__dict__, "in_call": True})) == ("in_call", None)
    revoked = facts.__class__(**{**facts.__dict__, "revoked": True})
    assert kiosk_status(revoked) == ("offline", None)
    paper = facts.__class__(
        **{**facts.__dict__, "printer_status": "retrying", "printer_error": "printer_out_of_paper"}
    )
    assert kiosk_status(paper) == ("online", "out_of_paper")
    fault = facts.__class__(
        **{**facts.__dict__, "printer_status": "failed", "printer_error": "printer_offline"}
    )
    assert kiosk_status(fault) == ("online", "fault")
    assert kiosk_status(None) == ("offline", None)


async def test_the_printer_report_shows_on_the_map(server: RunningServer) -> None:
    await seed_with_kiosk(server, "mo-taipa", "taipa-1")
    terminal = {t.name: t.id for t in await store.list_terminals(server.db)}["taipa-1"]
    await stored.note_printer(server.db, terminal, "retrying", "printer_out_of_paper")
    # the list's cache (FRESH_S) shows the store's new facts on its next read
    await _status(server, "mo-taipa", "out_of_paper", field="printer")
    await stored.note_printer(server.db, terminal, "printed", "")
    await _status(server, "mo-taipa", "ok", field="printer")


async def test_the_public_list_holds_no_secret_and_no_internal_id(server: RunningServer) -> None:
    token = await seed_with_kiosk(server, "hk-sheung-wan", "sheung-wan-secret-name")
    async with aiohttp.ClientSession() as http, http.get(server.url + "/api/places") as r:
        raw = await r.text()
        assert r.headers["Cache-Control"] == "no-cache" and r.headers["ETag"]
    assert token not in raw
    assert "sheung-wan-secret-name" not in raw and "terminal" not in raw
    body = json.loads(raw)
    assert set(body) == {"generated_at", "places"}
    for place in body["places"]:
        assert set(place) == PUBLIC_FIELDS
        assert isinstance(place["id"], str) and not place["id"].isdigit()


async def test_an_unchanged_list_is_a_304_and_the_page_is_public(server: RunningServer) -> None:
    await seed_with_kiosk(server, "hk-tsuen-wan", "tsuen-wan-1")
    async with aiohttp.ClientSession() as http:
        async with http.get(server.url + "/api/places") as r:
            etag = r.headers["ETag"]
        async with http.get(server.url + "/api/places", headers={"If-None-Match": etag}) as r:
            assert r.status == 304 and await r.read() == b""
        async with http.get(server.url + "/map") as r:
            assert r.status == 200 and "script-src 'self'" in r.headers["Content-Security-Policy"]
        async with http.get(server.url + "/api/map/cities") as r:
            cities = json.loads(await r.text())
            assert len(cities["features"]) == 11 and "Natural Earth" in cities["source"]
        async with http.get(server.url + "/map-static/../places.py") as r:
            assert r.status == 404


@pytest.fixture
async def strict_server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    settings = make_settings(tmp_path, places_per_minute=1, places_burst=3, refusal_delay_s=0)
    running, runner = await start_server(settings)
    try:
        yield running
    finally:
        await bounded(runner.cleanup(), "server")


async def test_the_public_list_is_rate_limited_per_address(strict_server: RunningServer) -> None:
    async with aiohttp.ClientSession() as http:
        statuses = []
        for _ in range(5):
            async with http.get(strict_server.url + "/api/places") as r:
                statuses.append(r.status)
                if r.status == 429:
                    assert int(r.headers["Retry-After"]) >= 1
                    assert "too many requests for the map" in (await r.json())["message"]
    assert statuses == [200, 200, 200, 429, 429]


async def test_the_staff_view_is_for_supervisors_and_admins(server: RunningServer) -> None:
    await seed_with_kiosk(server, "hk-mong-kok", "mong-kok-1")
    await server.add_clerk("carl")
    await store.create_clerk(server.db, "sue", CLERK_PASSWORD, "Sue", [], "supervisor")
    url = server.url + "/api/places/staff"
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as r:
            assert r.status == 401
        clerk = await login(server.url, "carl", CLERK_PASSWORD)
        async with http.get(url, headers={"Authorization": f"Bearer {clerk}"}) as r:
            assert r.status == 403 and "supervisor or admin" in (await r.json())["message"]
        sue = await login(server.url, "sue", CLERK_PASSWORD)
        async with http.get(url, headers={"Authorization": f"Bearer {sue}"}) as r:
            places = {p["id"]: p for p in await r.json()}
    assert places["hk-mong-kok"]["terminal"] == "mong-kok-1"
    assert places["hk-mong-kok"]["status"] == "offline"
