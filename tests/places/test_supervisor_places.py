"""The supervisor console's service-map tab: every place with its live status, a place's
details on a click, in the console's language."""

from __future__ import annotations

from typing import Any

from playwright.async_api import expect

from media.sources import create_local_tracks
from storage import store
from terminal_client.client import TerminalClient
from tests.conftest import CLERK_PASSWORD, RunningServer
from tests.places.conftest import seed_with_kiosk, seeded
from tests.supervision.test_supervisor_console import real_errors, sign_in


async def test_the_places_tab_shows_each_place_and_its_live_status(
    server: RunningServer, page: Any
) -> None:
    token = await seed_with_kiosk(server, "mo-san-ma-lo", "san-ma-lo-1")
    await store.create_clerk(server.db, "sue", CLERK_PASSWORD, "Sue", [], "supervisor")
    kiosk = TerminalClient(server.url, token, lambda: create_local_tracks(True, "", "", label="k"))
    await kiosk.connect()
    try:
        await sign_in(page, server, "sue")
        await page.click("[data-lang=en]")
        await page.click("[data-testid=tab-places]")
        rows = page.locator("[data-testid=places-table] tbody tr")
        await expect(rows).to_have_count(len(seeded()))
        row = page.locator("tr[data-place='mo-san-ma-lo']")
        await expect(row).to_have_attribute("data-status", "online")
        await expect(row).to_contain_text("san-ma-lo-1")
        await row.click()
        details = page.locator("[data-testid=place-details]")
        await expect(details).to_contain_text("61 Avenida de Almeida Ribeiro")
        await expect(details.locator("[data-field=status]")).to_have_text("Online")
        await expect(details.locator("[data-field=directions]")).to_have_text(
            "Macau residents, mainland matters"
        )
        await page.click("[data-lang=zh-Hant]")
        await expect(details.locator("[data-field=status]")).to_have_text("在線")
    finally:
        await kiosk.close()
    # the tab reads again every few seconds: the kiosk's going shows without a reload
    await expect(row).to_have_attribute("data-status", "offline", timeout=10_000)
    assert real_errors(page) == []
