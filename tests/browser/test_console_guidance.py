"""The clerk guides the applicant from the console in Chromium: the care-mode flag, the step
the kiosk shows, and prompts (text, a document to place, the materials checklist) that reach
the aiortc kiosk."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from playwright.async_api import expect

from signaling.keys import CATALOGUE
from terminal_client.client import TerminalClient, TerminalState
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_console_ui import go_available, kiosk, sign_in, wait_state
from tests.conftest import RunningServer


async def test_clerk_guides_a_care_mode_applicant(server: RunningServer, page: Any) -> None:
    await server.add_clerk("alice")
    await sign_in(page, server, "alice")
    await go_available(page)
    terminal = kiosk(server, await server.add_terminal())
    try:
        await terminal.connect()
        await terminal.request_service("tax-registration", "zh-Hant", care_mode=True)
        incoming = page.locator("[data-testid=incoming-call]")
        await expect(incoming).to_be_visible()
        await expect(page.locator("[data-testid=incoming-care]")).to_contain_text("关爱模式")
        await expect(page.locator("[data-testid=incoming-language]")).to_have_text("繁体中文")
        await page.click("[data-testid=accept-call]")
        await wait_state(page, "busy")
        await expect(page.locator("[data-testid=call-care]")).to_be_visible()
        await terminal.wait_for(TerminalState.IN_CALL, timeout=20)

        # the step the clerk picks is the one the kiosk's indicator shows
        await expect(page.locator("[data-testid=guide-step-2]")).to_have_attribute(
            "aria-current", "step"
        )
        await page.click("[data-testid=guide-step-3]")
        await expect(page.locator("[data-testid=guide-step-3]")).to_have_attribute(
            "aria-current", "step"
        )
        await wait_for(terminal, lambda: terminal.step == 3)

        # an empty text is not sent; the clerk is told why
        await page.click("[data-testid=prompt-send-text]")
        await expect(page.locator("[data-testid=prompt-sent]")).to_have_text(
            "请先输入要发送的文字。"
        )
        await page.fill("[data-testid=prompt-text]", "請稍候，我正在核對資料")
        await page.click("[data-testid=prompt-send-text]")
        await page.fill("[data-testid=prompt-text]", "港澳居民來往內地通行證")
        await page.click("[data-testid=prompt-send-place]")
        await page.click("[data-testid=prompt-send-checklist]")
        await wait_for(terminal, lambda: len(terminal.prompts) == 3)
        text, place, checklist = terminal.prompts
        assert (text.kind, text.text) == ("text", "請稍候，我正在核對資料")
        assert (place.kind, place.text) == ("place_document", "港澳居民來往內地通行證")
        # the service's materials, in the applicant's language (zh-Hant), not the console's
        assert checklist.kind == "checklist" and checklist.items
        service = server.app[CATALOGUE].service("tax-registration")
        assert checklist.items == [m.names.get("zh-Hant") for m in service.materials]
        await expect(page.locator("[data-testid=prompt-sent]")).to_have_text(
            "材料清单已发送到申请人屏幕。"
        )
        await page.screenshot(path=str(ARTIFACTS / "console-guidance.png"), full_page=True)
        assert page.errors == []
    finally:
        await terminal.close()


async def wait_for(
    terminal: TerminalClient, predicate: Callable[[], bool], timeout: float = 10
) -> None:
    """Wait until ``predicate`` holds for what the kiosk received."""
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the kiosk did not get it within {timeout:g} s: {terminal.prompts}")
