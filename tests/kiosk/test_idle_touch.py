"""A touch during the inactivity warning keeps everything, in Chromium.

Its own kiosk settings: the other idle tests drive the controller with a 0.4 s timeout, but
here each tap goes through the browser, and on a loaded machine two taps came more than
0.4 s apart: the warning rose between them, took the second tap, and the kiosk started over
(a CI run). The timeout here is longer than any gap between two taps, still short to wait for.
"""

from __future__ import annotations

import pytest
from playwright.async_api import Page

from terminal_client.kiosk.messages import Screen
from terminal_client.kiosk.screens import KioskSettings
from tests.kiosk.conftest import RunningKiosk, open_kiosk, shot, tap

IDLE_S = 4.0
WARNING_S = 4.0


@pytest.fixture
def kiosk_settings() -> KioskSettings:
    return KioskSettings(idle_timeout_s=IDLE_S, idle_warning_s=WARNING_S, thanks_s=1)


async def test_a_touch_during_the_warning_keeps_everything(kiosk: RunningKiosk, page: Page) -> None:
    await open_kiosk(page, kiosk)
    await tap(page, "choose-en")
    await tap(page, "department-taxation")
    overlay = page.locator("[data-testid=idle-warning]")
    await overlay.wait_for(state="visible", timeout=(IDLE_S + 5) * 1000)
    assert "Back to the start in" in await overlay.inner_text()
    await shot(page, "09-idle-warning")
    await tap(page, "idle-continue")
    await overlay.wait_for(state="hidden", timeout=2000)
    view = kiosk.controller.view()
    assert (view.screen, view.language, view.department_id) == (Screen.SERVICES, "en", "taxation")
    # left alone again, it does start over
    await kiosk.wait_screen(Screen.LANGUAGE, timeout=IDLE_S + WARNING_S + 5)
    await page.wait_for_selector("[data-testid=screen-language]:not([hidden])")
