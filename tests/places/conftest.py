"""The service map's fixtures: the demo's Bay Area places in a real server's store."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from signaling.keys import CATALOGUE
from signaling.places import SEED_FILE, seed_places
from storage import places as stored
from tests.browser.conftest import browser, chromium_path, page  # noqa: F401
from tests.conftest import RunningServer
from tests.kiosk.conftest import Clerk, clerk  # noqa: F401


def seeded() -> list[dict[str, Any]]:
    """The places of the seed file, as written there."""
    places: list[dict[str, Any]] = json.loads(SEED_FILE.read_text(encoding="utf-8"))["places"]
    return places


async def seed_with_kiosk(server: RunningServer, slug: str, terminal: str) -> str:
    """Seed the registry and register ``terminal`` at kiosk place ``slug``; its device token."""
    await seed_places(server.db, server.app[CATALOGUE], "test")
    token = await server.add_terminal(terminal)
    await stored.edit_place(server.db, slug, {}, terminal)
    return token


async def public_places(server: RunningServer) -> dict[str, dict[str, Any]]:
    """``GET /api/places`` as the public sees it, by place id."""
    async with aiohttp.ClientSession() as http, http.get(server.url + "/api/places") as r:
        assert r.status == 200, await r.text()
        body = await r.json()
    return {p["id"]: p for p in body["places"]}
