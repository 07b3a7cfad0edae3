"""The console's clock about the applicant (agent_console/static/zones.js) in Chromium: the
applicant's kiosk time, with the clerk's own in brackets only when their clocks read
differently at that instant (summer time included), in the console's language."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest
from playwright.async_api import Browser

from tests.conftest import RunningServer
from tests.teardown import bounded

Clock = Callable[[str, str | None], Coroutine[Any, Any, str]]
SUMMER = "2026-07-01T02:05:00Z"
WINTER = "2026-01-15T02:05:00Z"


@pytest.fixture
async def clock_in(
    server: RunningServer, browser: Browser
) -> AsyncIterator[Callable[[str, str], Coroutine[Any, Any, Clock]]]:
    """A console page whose browser is in a given zone and language; applicantClock there."""
    contexts = []

    async def open_in(zone: str, language: str) -> Clock:
        context = await browser.new_context(timezone_id=zone)
        contexts.append(context)
        page = await context.new_page()
        await page.add_init_script(
            f"localStorage.setItem('vcounter.console.language', '{language}')"
        )
        await page.goto(server.url + "/")
        await page.wait_for_function("() => window.vcounterConsole !== undefined")

        async def clock(at: str, applicant_zone: str | None) -> str:
            text: str = await page.evaluate(
                """async ([at, zone]) => (await import('/static/zones.js'))
                       .applicantClock(Date.parse(at), zone)""",
                [at, applicant_zone],
            )
            return text

        return clock

    try:
        yield open_in
    finally:
        for context in contexts:
            await bounded(context.close(), "browser context")


async def test_the_clerks_time_is_added_only_where_the_clocks_differ(
    clock_in: Callable[[str, str], Coroutine[Any, Any, Clock]],
) -> None:
    new_york = await clock_in("America/New_York", "en")
    # Shenzhen is UTC+8 all year; New York is UTC-4 in July and UTC-5 in January
    assert await new_york(SUMMER, "Asia/Shanghai") == "10:05 (your time 22:05)"
    assert await new_york(WINTER, "Asia/Shanghai") == "10:05 (your time 21:05)"
    # a kiosk at no place, or a zone this browser does not know: the clerk's clock alone
    assert await new_york(SUMMER, None) == "22:05"
    assert await new_york(SUMMER, "Mars/Olympus_Mons") == "22:05"

    hong_kong = await clock_in("Asia/Hong_Kong", "zh-Hant")
    # Hong Kong, Macau and the mainland read the same clock: nothing to add
    assert await hong_kong(SUMMER, "Asia/Shanghai") == "10:05"
    assert await hong_kong(WINTER, "Asia/Macau") == "10:05"
    london = await clock_in("Europe/London", "zh-Hant")
    assert await london(SUMMER, "Asia/Hong_Kong") == "10:05(您的時間 03:05)"
