"""The public service map in Chromium: the registry's places are dots at their projected
positions and items in the list; a kiosk that goes offline shows offline within 10 s;
filters by service and city; "nearest to me" from the browser's location; three languages."""

from __future__ import annotations

import asyncio
import math
import os
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from signaling.places import great_circle_km, load_cities, map_extent
from tests.browser.conftest import attach_error_log
from tests.conftest import RunningServer
from tests.places.conftest import seed_with_kiosk, seeded
from tests.teardown import bounded

# the bound for a kiosk going offline to show on the open page
OFFLINE_WITHIN_MS = 10_000
MONG_KOK = {"latitude": 22.3193, "longitude": 114.1694}


def projected(lon: float, lat: float) -> tuple[float, float]:
    """Where the page must draw a place: the cosine-scaled equirectangular projection of the
    map's extent at 100 SVG units per degree (the README's description of the map)."""
    west, south, _, north = map_extent()
    k = math.cos(math.radians((south + north) / 2))
    return (lon - west) * k * 100, (north - lat) * 100


@pytest.fixture
async def map_page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(
        geolocation=MONG_KOK, permissions=["geolocation"], viewport={"width": 390, "height": 844}
    )
    page = await context.new_page()
    attach_error_log(page)
    try:
        yield page
    finally:
        await bounded(context.close(), "browser context")


async def open_map(page: Page, server: RunningServer, language: str = "en") -> None:
    await page.add_init_script(f"localStorage.setItem('vcounter.map.lang', '{language}')")
    await page.goto(server.url + "/map")
    await expect(page.locator("body")).to_have_attribute("data-ready", "1")


@pytest.fixture
async def kiosk(server: RunningServer) -> AsyncIterator[asyncio.subprocess.Process]:
    """A real kiosk client (its own process) connected at place hk-mong-kok."""
    token = await seed_with_kiosk(server, "hk-mong-kok", "mong-kok-1")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.places.kiosk_process", server.url,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(token.encode() + b"\n")
    await proc.stdin.drain()
    try:
        async with asyncio.timeout(30):
            assert (await proc.stdout.readline()).strip() == b"connected"
        yield proc
    finally:
        if proc.returncode is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
        await bounded(proc.wait(), "kiosk process")


async def test_the_registrys_places_are_on_the_map_and_in_the_list(
    server: RunningServer, kiosk: Any, map_page: Page
) -> None:
    await open_map(map_page, server)
    places = seeded()
    await expect(map_page.locator("#places li")).to_have_count(len(places))
    await expect(map_page.locator("circle[data-testid=dot]")).to_have_count(len(places))
    # every city of the Bay Area is drawn from the shipped outlines
    await expect(map_page.locator("path[data-city]")).to_have_count(len(load_cities()))
    for place in places:
        dot = map_page.locator(f"circle[data-place='{place['slug']}']")
        x, y = projected(place["longitude"], place["latitude"])
        assert float(await dot.get_attribute("cx") or "nan") == pytest.approx(x, abs=0.01)
        assert float(await dot.get_attribute("cy") or "nan") == pytest.approx(y, abs=0.01)
        # and the dot falls inside its own city's outline
        inside = await map_page.evaluate(
            """([city, x, y]) => document.querySelector(`path[data-city="${city}"]`)
                   .isPointInFill(new DOMPoint(x, y))""",
            [place["city"], x, y],
        )
        assert inside, f"{place['slug']} is drawn outside {place['city']}"
    # the kiosk with a connected client is online; the others offline; windows are windows
    await expect(map_page.locator("circle[data-place='hk-mong-kok']")).to_have_attribute(
        "data-status", "online"
    )
    await expect(map_page.locator("circle[data-place='mo-taipa']")).to_have_attribute(
        "data-status", "offline"
    )
    await expect(map_page.locator("li[data-place='gz-tianhe']")).to_have_attribute(
        "data-status", "window"
    )
    # a click on a dot shows the place's details; the language switch re-words them
    await map_page.locator("circle[data-place='sz-civic-centre']").dispatch_event("click")
    details = map_page.locator("[data-testid=details]")
    await expect(details.locator("h2")).to_have_text(
        "Shenzhen Civic Centre, Hong Kong and Macao window"
    )
    await expect(details.locator("[data-field=address]")).to_contain_text("Fuzhong 3rd Road")
    await expect(details.locator("[data-field=hours]")).to_contain_text(
        "Mon–Fri 09:00-12:00, 13:30-17:30"
    )
    await expect(details.locator("[data-field=phone]")).to_have_text("+86 755 12345")
    await expect(details.locator("[data-field=directions]")).to_contain_text("Hong Kong residents")
    await map_page.click("[data-language=zh-Hant]")
    await expect(details.locator("h2")).to_have_text("深圳市民中心 港澳服務窗口")
    await expect(details.locator("[data-field=hours]")).to_contain_text("星期一–星期五")
    await map_page.click("[data-language=zh-Hans]")
    await expect(details.locator("[data-field=address]")).to_contain_text("深圳市福田区福中三路")
    # a click in the list does the same
    await map_page.locator("li[data-place='hk-mong-kok']").click()
    await expect(details.locator("h2")).to_have_text("旺角跨境服务自助机")
    await expect(details.locator("[data-field=status]")).to_have_text("在线")
    assert map_page.errors == []  # type: ignore[attr-defined]


async def test_a_killed_kiosk_shows_offline_within_10_s(
    server: RunningServer, kiosk: asyncio.subprocess.Process, map_page: Page
) -> None:
    await open_map(map_page, server)
    dot = map_page.locator("circle[data-place='hk-mong-kok']")
    await expect(dot).to_have_attribute("data-status", "online")
    kiosk.kill()  # SIGKILL: no goodbye from the client
    await expect(dot).to_have_attribute("data-status", "offline", timeout=OFFLINE_WITHIN_MS)
    await expect(map_page.locator("li[data-place='hk-mong-kok'] .meta")).to_contain_text("Offline")


async def test_a_kiosk_cut_off_the_network_shows_offline_within_10_s(
    server: RunningServer, kiosk: asyncio.subprocess.Process, map_page: Page
) -> None:
    await open_map(map_page, server)
    dot = map_page.locator("circle[data-place='hk-mong-kok']")
    await expect(dot).to_have_attribute("data-status", "online")
    # a stopped process keeps its connection open and answers nothing, as a cut cable does:
    # only its missing answers to the server's pings can tell
    os.kill(kiosk.pid, signal.SIGSTOP)
    await expect(dot).to_have_attribute("data-status", "offline", timeout=OFFLINE_WITHIN_MS)


async def test_filter_by_service_and_by_city(server: RunningServer, map_page: Page) -> None:
    await seed_with_kiosk(server, "mo-taipa", "taipa-1")
    await open_map(map_page, server)
    places = seeded()
    service = "northbound-vehicle-enquiry"
    await map_page.select_option("[data-testid=service-filter]", service)
    offering = {p["slug"] for p in places if service in p["services"]}
    assert 0 < len(offering) < len(places)
    await expect(map_page.locator("#places li")).to_have_count(len(offering))
    shown = await map_page.locator("circle[data-testid=dot]").evaluate_all(
        "dots => dots.map((d) => d.dataset.place)"
    )
    assert set(shown) == offering
    await map_page.select_option("[data-testid=city-filter]", "macau")
    both = {p["slug"] for p in places if service in p["services"] and p["city"] == "macau"}
    await expect(map_page.locator("#places li")).to_have_count(len(both))
    await map_page.select_option("[data-testid=service-filter]", "")
    macau = [p["slug"] for p in places if p["city"] == "macau"]
    await expect(map_page.locator("#places li")).to_have_count(len(macau))
    await expect(map_page.locator("[data-testid=count]")).to_have_text(f"{len(macau)} places")
    # a filter that leaves nothing says so
    await map_page.select_option("[data-testid=service-filter]", "enterprise-deregistration")
    await expect(map_page.locator("[data-testid=count]")).to_have_text(
        "No place matches these filters"
    )


async def test_nearest_to_me_sorts_by_great_circle_distance(
    server: RunningServer, map_page: Page
) -> None:
    await seed_with_kiosk(server, "hk-sheung-wan", "sheung-wan-1")
    await open_map(map_page, server)
    await map_page.click("[data-testid=nearest]")
    await expect(map_page.locator("[data-testid=notice]")).to_have_text(
        "Sorted by distance from you"
    )
    order = await map_page.locator("#places li").evaluate_all(
        "li => li.map((x) => x.dataset.place)"
    )
    here = (MONG_KOK["latitude"], MONG_KOK["longitude"])
    km = {p["slug"]: great_circle_km(*here, p["latitude"], p["longitude"]) for p in seeded()}
    assert order == sorted(km, key=km.__getitem__)
    assert order[0] == "hk-mong-kok"
    # the nearest is shown, with its distance
    await expect(map_page.locator("[data-testid=details] h2")).to_have_text(
        "Mong Kok cross-border kiosk"
    )
    first = map_page.locator("#places li [data-testid=distance]").first
    await expect(first).to_have_text("0 m")
    sheung_wan = map_page.locator("li[data-place='hk-sheung-wan'] [data-testid=distance]")
    await expect(sheung_wan).to_have_text(f"{km['hk-sheung-wan']:.1f} km")
    assert map_page.errors == []  # type: ignore[attr-defined]


async def test_nearest_without_the_location_says_what_to_do(
    server: RunningServer, browser: Browser
) -> None:
    await seed_with_kiosk(server, "mo-taipa", "taipa-1")
    context = await browser.new_context()  # no geolocation permission: the browser refuses
    try:
        page = await context.new_page()
        await open_map(page, server, language="zh-Hant")
        await page.click("[data-testid=nearest]")
        await expect(page.locator("[data-testid=notice]")).to_have_text(
            "未能取得您的位置，請允許瀏覽器使用定位，或按城市篩選。"
        )
        # the list keeps its order and shows no distances
        await expect(page.locator("[data-testid=distance]")).to_have_count(0)
    finally:
        await bounded(context.close(), "browser context")
