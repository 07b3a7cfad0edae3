"""Issue 21 item 9, a slow kiosk: its device report arrives after the clerk opened the call.

A Hong Kong clerk (zh-Hant console, 1920 x 1080) answers a kiosk that says nothing about its
devices when the call opens (as a slow or older kiosk does), so the console offers every
capture and the identity panel waits. Then the kiosk's report arrives: no document camera,
no scanner, no ID card reader. Without a reload, the materials panel must say what the
kiosk lacks and stop offering captures, and the identity panel must say no check will come.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from playwright.async_api import Page

from media.sources import create_local_tracks
from signaling.messages import KioskDevices
from terminal_client.client import TerminalClient, TerminalState
from tests.conftest import CLERK_PASSWORD, RunningServer
from tests.ux.conftest import CLERK_SCREEN, new_page, raw_codes, real_errors, seen, shot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

NO_READER = "這台自助終端沒有身份證讀卡器,不會有自動核驗結果。請透過視像核對申請人的證件。"
LACKS_BOTH = "這台自助終端沒有文件攝像頭,也沒有掃描器;請讓申請人用 USB 手指或手機提交。"


async def _text_is(page: Page, testid: str, text: str) -> None:
    await page.wait_for_function(
        "([id, want]) => {"
        " const el = document.querySelector(`[data-testid=${id}]`);"
        " return !!el && !el.hidden && el.textContent.trim() === want; }",
        arg=[testid, text],
        timeout=15_000,
    )


async def test_a_late_device_report_is_read_without_a_reload(
    server: RunningServer, browser: Any
) -> None:
    await server.add_clerk("walker")
    token = await server.add_terminal("kiosk-slow")
    page = await new_page(browser, CLERK_SCREEN)
    await page.goto(server.url)
    await page.click("[data-testid=lang-zh-Hant]")
    await page.fill("[data-testid=login-username]", "walker")
    await page.fill("[data-testid=login-password]", CLERK_PASSWORD)
    await page.click("[data-testid=login-submit]")
    await page.wait_for_function("() => window.vcounterConsole.state() === 'away'")
    await page.click("[data-testid=availability-toggle]")
    await page.wait_for_function("() => window.vcounterConsole.state() === 'available'")

    kiosk = TerminalClient(
        server.url, token, lambda: create_local_tracks(True, "", "", label="kiosk"), name="slow"
    )
    try:
        await kiosk.connect()
        session_id = await kiosk.request_service("tax-registration", "zh-Hant")
        await page.locator("[data-testid=incoming-call]").wait_for(state="visible")
        await page.click("[data-testid=accept-call]")
        await kiosk.wait_for(TerminalState.IN_CALL, timeout=30)
        await server.stored()

        # nothing said yet: every capture is offered, the identity panel waits
        await page.click("[data-testid=nav-materials]")
        await seen(page, "doc-capture-camera")
        assert await page.locator("[data-testid=doc-capture-camera]").is_enabled()
        assert await page.locator("[data-testid=doc-devices]").is_hidden()
        await page.click("[data-testid=nav-identity]")
        await _text_is(page, "identity-status", "等待申請人在自助終端完成身份核驗…")
        loads = await page.evaluate("() => performance.getEntriesByType('navigation').length")

        # the kiosk's report comes now, with its device token, as the kiosk sends it
        report = KioskDevices(document_camera=False, scanner=False, id_reader=False)
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{server.url}/api/sessions/{session_id}/kiosk-devices",
                json=report.model_dump(),
                headers={"Authorization": f"Bearer {token}"},
            ) as response,
        ):
            assert response.status == 201, await response.text()

        await _text_is(page, "identity-status", NO_READER)
        await seen(page, "identity-status")
        await shot(page, "item9-late-report-identity")
        await page.click("[data-testid=nav-materials]")
        await _text_is(page, "doc-devices", LACKS_BOTH)
        await seen(page, "doc-devices")
        assert await page.locator("[data-testid=doc-capture-camera]").is_disabled()
        assert await page.locator("[data-testid=doc-capture-scanner]").is_disabled()
        text = await page.inner_text("main")
        assert not raw_codes(text), raw_codes(text)
        await shot(page, "item9-late-report-materials")
        # read from the push, not by reloading the console
        assert (
            await page.evaluate("() => performance.getEntriesByType('navigation').length") == loads
        )
        assert real_errors(page) == []
    finally:
        await kiosk.close()
