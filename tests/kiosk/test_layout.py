"""Every screen fits at 1080x1920 portrait and 1920x1080 landscape: no text wider or taller
than its box, nothing off screen; in care mode also large touch targets and type. Care mode
is measured in all three languages, the normal mode in English (its longest text)."""

from __future__ import annotations

import pytest
from playwright.async_api import Page

from signaling.messages import LANGUAGES
from terminal_client.kiosk.screens import KioskSettings
from tests.kiosk.conftest import (
    LANDSCAPE,
    PORTRAIT,
    Clerk,
    RunningKiosk,
    layout_problems,
    open_kiosk,
    resize,
    set_language,
    shot,
    shown,
    tap,
)

# the longest names and the most materials in the shipped catalogue
LONG_DEPARTMENT = "exit-entry"
MANY_MATERIALS = "foreign-enterprise-establishment"


@pytest.fixture
def kiosk_settings() -> KioskSettings:
    # the thanks screen must stay long enough to be measured
    return KioskSettings(idle_timeout_s=600, idle_warning_s=10, thanks_s=60)


async def video_too_small(page: Page, where: str) -> list[str]:
    """On the call screen the clerk's video stays large, prompt or not."""
    video = await page.locator("[data-testid=clerk-video]").bounding_box()
    assert video is not None
    if video["width"] < 600 or video["height"] < 400:
        return [f"{where}: clerk video only {video['width']:.0f}x{video['height']:.0f} px"]
    return []


class Checker:
    """Measures each screen it is shown, in both orientations, and keeps screenshots."""

    def __init__(self, page: Page, care: bool) -> None:
        self.page = page
        self.care = care
        self.languages = LANGUAGES if care else ("en",)
        self.problems: list[str] = []

    async def __call__(self, name: str, pages_testid: str | None = None) -> None:
        self.problems += await check(self.page, name, self.languages, pages_testid)
        mode = "care" if self.care else "normal"
        for size in (PORTRAIT, LANDSCAPE):
            await resize(self.page, size)
            orientation = "portrait" if size is PORTRAIT else "landscape"
            await shot(self.page, f"{mode}-{name}-{orientation}")


async def check(
    page: Page, name: str, languages: tuple[str, ...], pages_testid: str | None = None
) -> list[str]:
    """Measure the current screen in both orientations and ``languages``."""
    problems: list[str] = []
    for size in (PORTRAIT, LANDSCAPE):
        await resize(page, size)
        for language in languages:
            await set_language(page, language)
            where = f"{name} {language} {size['width']}x{size['height']}"
            problems += await layout_problems(page, where)
            if name.startswith("call"):
                problems += await video_too_small(page, where)
            # later pages of a long list too
            turn = 1
            while pages_testid and await page.is_enabled(f"[data-testid={pages_testid}]"):
                if await page.is_hidden(f"[data-testid={pages_testid}]"):
                    break
                await tap(page, pages_testid)
                turn += 1
                problems += await layout_problems(page, f"{where} page {turn}")
    return problems


@pytest.mark.parametrize("care", [True, False], ids=["care", "normal"])
async def test_every_screen_fits(kiosk: RunningKiosk, clerk: Clerk, page: Page, care: bool) -> None:
    await open_kiosk(page, kiosk)
    if care:
        await tap(page, "care-toggle")
        await page.wait_for_selector("body.care")
    check = Checker(page, care)
    await check("language")

    await tap(page, "choose-en")
    await shown(page, "services")
    await check("departments", "page-next")
    while await page.is_enabled("[data-testid=page-prev]"):  # back to the first page
        await tap(page, "page-prev")
    await page.wait_for_selector(f"[data-testid=department-{LONG_DEPARTMENT}]")
    await tap(page, f"department-{LONG_DEPARTMENT}")
    await check("services", "page-next")
    await page.fill("[data-testid=search]", "registration")
    await page.wait_for_selector("[data-testid=search-clear]:not([hidden])")
    await check("search", "page-next")
    await tap(page, "search-clear")
    await tap(page, "back")
    await tap(page, "department-market-regulation")
    await tap(page, f"service-{MANY_MATERIALS}")
    await shown(page, "materials")
    await check("materials", "materials-next")

    await tap(page, "call-clerk")
    await kiosk.wait_view(lambda v: v.queue is not None)
    await check("queue")
    # nobody on duty: the callback is offered; its number pad, with an error showing
    await tap(page, "callback-offer")
    await shown(page, "callback")
    await tap(page, "callback-key-9")
    await tap(page, "callback-confirm")
    await page.wait_for_selector("[data-testid=callback-error]:not([hidden])")
    await check("leave-number")
    await tap(page, "callback-back")
    await shown(page, "queue")

    await clerk.available()
    await kiosk.wait_view(lambda v: v.call is not None and v.call.connected, 20)
    await clerk.step(4)
    await clerk.push(
        "checklist",
        "Please have these documents ready for the application",
        [
            "Exit-Entry Permit for Travelling to and from Hong Kong and Macao",
            "Notarised certificate of incorporation of the overseas investor",
            "Lease contract or property ownership certificate of the business premises",
            "Articles of association signed by all shareholders",
            "Letter of authorisation",
        ],
    )
    await page.wait_for_selector("[data-testid=prompt]")
    await check("call-checklist", "prompt-next")
    await clerk.push("place_document", "Mainland Travel Permit for Hong Kong and Macao Residents")
    await page.wait_for_selector("[data-testid=prompt][data-kind=place_document]")
    await check("call-scanner")

    await tap(page, "hangup")
    await shown(page, "ended")
    await tap(page, "rating-5")
    await page.fill("[data-testid=rating-comment]", "The clerk explained everything clearly.")
    await check("ended")
    await tap(page, "rating-submit")
    await shown(page, "thanks")
    await check("thanks")
    assert not check.problems, "\n".join(check.problems)
