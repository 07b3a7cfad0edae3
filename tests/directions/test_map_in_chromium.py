"""The public map's service filter in Chromium lists a place only for a service of a
direction it serves: Hong Kong's services at the mainland kiosks, not at the Hong Kong ones."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, expect

from storage import places as stored
from tests.browser.conftest import attach_error_log
from tests.conftest import RunningServer
from tests.directions.conftest import HK_PLACE, MAINLAND_PLACE, kiosk_at
from tests.teardown import bounded


@pytest.fixture
async def map_page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 390, "height": 844})
    page = await context.new_page()
    attach_error_log(page)
    await page.add_init_script("localStorage.setItem('vcounter.map.lang', 'en')")
    try:
        yield page
    finally:
        await bounded(context.close(), "browser context")


async def test_the_service_filter_shows_only_places_serving_its_direction(
    server: RunningServer, map_page: Page
) -> None:
    await kiosk_at(server, MAINLAND_PLACE, "futian-1")
    # the Hong Kong kiosk's stored list names a Hong Kong service it cannot offer
    place = await stored.get_place(server.db, HK_PLACE)
    await stored.edit_place(
        server.db, HK_PLACE, {"services": [*place.services, "hk-company-search"]}
    )
    await map_page.goto(server.url + "/map")
    await expect(map_page.locator("body")).to_have_attribute("data-ready", "1")

    await map_page.select_option("[data-testid=service-filter]", "hk-company-search")
    listed = map_page.locator("#places li")
    await expect(listed).to_have_count(2)
    assert {await li.get_attribute("data-place") for li in await listed.all()} == {
        MAINLAND_PLACE,
        "zh-gongbei-kiosk",
    }
    await map_page.locator(f"li[data-place='{MAINLAND_PLACE}']").click()
    details = map_page.locator("[data-testid=details]")
    await expect(details.locator("[data-field=directions]")).to_contain_text(
        "Mainland residents, Hong Kong matters"
    )
    await expect(details.locator("[data-field=services]")).to_contain_text("Company search")
    await expect(details.locator("[data-field=services]")).not_to_contain_text("Tax filing")

    # a mainland service: the Hong Kong kiosks, never the mainland kiosks
    await map_page.select_option("[data-testid=service-filter]", "tax-filing")
    await expect(listed.first).to_be_visible()
    places = {await li.get_attribute("data-place") for li in await listed.all()}
    assert HK_PLACE in places and MAINLAND_PLACE not in places
    assert map_page.errors == []  # type: ignore[attr-defined]
