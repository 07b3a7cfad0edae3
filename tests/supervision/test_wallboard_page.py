"""The wallboard in real Chromium: a supervisor signs it in, it fits a hall's screen (1920x1080
and 3840x2160) with nothing cut off or scrolled, and it follows the queue as it changes."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import expect

from signaling.keys import CATALOGUE
from storage import store
from tests.conftest import CLERK_PASSWORD, RunningServer
from tests.supervision.test_wallboard import open_session

# Every element whose text must be read whole: a value cut by its box fails the test.
OVERFLOW = """() => {
  const doc = document.documentElement;
  const cut = [];
  if (doc.scrollWidth > innerWidth || doc.scrollHeight > innerHeight) cut.push('page scrolls');
  for (const el of document.querySelectorAll('.wb-value, .wb-count, .wb-clerk, .wb-title, .wb-label')) {
    if (el.scrollWidth > el.clientWidth + 1) cut.push(`${el.className}: ${el.textContent}`);
  }
  const table = document.querySelector('[data-testid=wb-queues]').getBoundingClientRect();
  if (table.bottom > innerHeight || table.right > innerWidth) cut.push('queue table off screen');
  return cut;
}"""


async def sign_in(page: Any, server: RunningServer, query: str = "") -> None:
    await store.create_clerk(server.db, "sue", CLERK_PASSWORD, "Sue", [], "supervisor")
    await page.goto(f"{server.url}/wallboard{query}")
    await page.fill("[data-testid=wb-username]", "sue")
    await page.fill("[data-testid=wb-password]", CLERK_PASSWORD)
    await page.click("[data-testid=wb-login-submit]")
    await expect(page.locator("[data-testid=wb-link]")).to_have_attribute("data-state", "live")


@pytest.mark.parametrize("size", [(1920, 1080), (3840, 2160)], ids=["1080p", "4k"])
async def test_the_board_fits_the_screen_and_follows_the_queue(
    server: RunningServer, page: Any, size: tuple[int, int]
) -> None:
    width, height = size
    await page.set_viewport_size({"width": width, "height": height})
    await sign_in(page, server, "?lang=en")
    waiting = page.locator("[data-testid=wb-waiting]")
    await expect(waiting).to_have_text("0")
    await expect(page.locator("[data-testid=wb-empty]")).to_be_visible()
    await expect(page.locator("[data-testid=wb-level-sub]")).to_have_text("none yet today")
    assert await page.evaluate(OVERFLOW) == []

    # one applicant: pushed to the board, no reload
    await open_session(server, "kiosk-0", "tax-registration")
    await expect(waiting).to_have_text("1")
    first = page.locator("[data-testid=wb-row]").first
    await expect(first).to_contain_text("Tax registration")
    await expect(page.locator("[data-testid=wb-longest]")).to_have_text(re.compile(r"^0:\d\d$"))

    # a busy hall: more services waiting than lines fit; the rest summed up in one line
    # the services this server offers (a self-service one is offered only with its connector)
    services = [s.id for s in server.app[CATALOGUE].services if s.id != "tax-registration"]
    for i, service_id in enumerate(services, start=1):
        await open_session(server, f"kiosk-{i}", service_id)
    await expect(waiting).to_have_text(str(len(services) + 1))
    more = page.locator("[data-testid=wb-more]")
    await expect(more).to_contain_text("more services")
    shown = await page.locator("[data-testid=wb-row]").count()
    assert 3 <= shown < len(services) + 1
    assert await page.evaluate(OVERFLOW) == []

    # the same board in Chinese, switched on the spot
    await page.click("[data-testid=wb-lang-zh-Hans]")
    await expect(page.locator(".wb-label").first).to_have_text("等待人数")
    await expect(more).to_contain_text("项事项")
    assert await page.evaluate(OVERFLOW) == []
    assert page.errors == []


async def test_a_clerk_cannot_sign_the_board_in(server: RunningServer, page: Any) -> None:
    await server.add_clerk("carl", ["taxation"])
    await page.goto(f"{server.url}/wallboard?lang=en")
    await page.fill("[data-testid=wb-username]", "carl")
    await page.fill("[data-testid=wb-password]", CLERK_PASSWORD)
    await page.click("[data-testid=wb-login-submit]")
    await expect(page.locator("[data-testid=wb-error]")).to_contain_text("not a supervisor")
    await expect(page.locator("[data-testid=wb-board]")).to_be_hidden()
