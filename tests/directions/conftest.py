"""Both directions' fixtures: the demo's map in a real server's store, kiosks registered at
its places, and the services that run each way."""

from __future__ import annotations

from typing import Any

import aiohttp

from signaling.catalogue import Catalogue
from signaling.keys import CATALOGUE
from signaling.places import seed_places
from storage import places as stored
from tests.browser.conftest import browser, chromium_path, page  # noqa: F401
from tests.conftest import RunningServer
from tests.kiosk.conftest import kiosk_settings  # noqa: F401

# the demo map's mainland kiosk (mainland-to-hk, mainland-to-mo) and a Hong Kong one
MAINLAND_PLACE = "sz-futian-kiosk"
HK_PLACE = "hk-mong-kok"


def two_way_ids(catalogue: Catalogue) -> set[str]:
    """The services of Hong Kong and Macau departments (those for mainland residents)."""
    return {s.id for s in catalogue.serving(("mainland-to-hk", "mainland-to-mo")).services}


def to_mainland_ids(catalogue: Catalogue) -> set[str]:
    """The services of mainland departments (those for Hong Kong and Macau residents)."""
    return {s.id for s in catalogue.serving(("hk-to-mainland", "mo-to-mainland")).services}


async def kiosk_at(server: RunningServer, slug: str | None, terminal: str) -> str:
    """Register ``terminal`` (at kiosk place ``slug``, seeding the map first; None: at no
    place); its device token."""
    if slug is not None:
        await seed_places(server.db, server.app[CATALOGUE], "test")
    token = await server.add_terminal(terminal)
    if slug is not None:
        await stored.edit_place(server.db, slug, {}, terminal)
    return token


async def kiosk_catalogue(server: RunningServer, token: str | None) -> tuple[int, Any]:
    """``GET /api/kiosk/catalogue`` with ``token`` (None: without one): status and body."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as http,
        http.get(server.url + "/api/kiosk/catalogue", headers=headers) as r,
    ):
        return r.status, await r.json()
