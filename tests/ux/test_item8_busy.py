"""Issue 21 item 8: a console action that takes a while shows progress and is sent once.

A second approver (English console, 1920 x 1080) decides an application waiting for them.
Without a reason they are asked for one; the request goes as soon as one is written (the
stale "please write a reason" is gone). The decision seals a result and takes seconds (here
held 1.5 s on its way, as a busy server would): meanwhile the button is disabled, says what
is happening, is on screen and uncovered, and a second press sends nothing.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from playwright.async_api import Route

from tests.conftest import CLERK_PASSWORD, RunningServer
from tests.sign.conftest import append_stand_in_identity, open_counter, sign
from tests.ux.conftest import CLERK_SCREEN, new_page, raw_codes, real_errors, seen, shot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


async def test_a_decision_shows_progress_and_is_sent_once(
    server: RunningServer, browser: Any
) -> None:
    first = await open_counter(server, "carol", "kiosk-3", service="pension-claim")
    await append_stand_in_identity(server, first.session_id)
    await sign(first)
    path = f"/api/sessions/{first.session_id}/decision"
    _, view = await first.as_clerk("POST", path, {"outcome": "approved", "reason": "fine"})
    assert view["state"] == "awaiting_second_approval"
    await server.add_clerk("dave", ["human-resources-social-security"])

    page = await new_page(browser, CLERK_SCREEN)
    await page.goto(server.url)
    await page.click("[data-testid=lang-en]")
    await page.fill("[data-testid=login-username]", "dave")
    await page.fill("[data-testid=login-password]", CLERK_PASSWORD)
    await page.click("[data-testid=login-submit]")
    item = page.locator(f"[data-testid=pending-{first.session_id}]")
    await item.wait_for(state="visible")
    decide = item.locator("[data-testid=pending-decide]")

    await decide.click()  # no reason yet
    asked = await seen(page, "pending-message")
    assert asked["text"] == "Give a reason for the decision."
    await item.locator("[data-testid=pending-reason]").fill("Bank card copy missing")
    assert (await page.inner_text("[data-testid=pending-message]")).strip() == ""

    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.method) if r.url.endswith(path) else None)

    async def slow(route: Route) -> None:
        await asyncio.sleep(1.5)  # the sealing of a result on a busy server
        await route.continue_()

    await page.route(f"**{path}", slow)
    await item.locator("[data-testid=pending-outcome]").select_option("returned")
    await decide.click()
    await page.wait_for_selector("[data-testid=pending-decide][aria-busy=true]")
    busy = await seen(page, "[data-testid=pending-decide][aria-busy=true]")
    assert busy["text"].strip() == "Submitting the decision and sealing the result…"
    assert await decide.is_disabled()
    await decide.dispatch_event("click")  # a second press while it works
    await decide.click(force=True)
    await shot(page, "item8-deciding")
    await item.wait_for(state="detached", timeout=30_000)
    done = await seen(page, "pending-message")
    assert done["text"] == "Returned; the notice is made.", done
    assert sent == ["POST"], sent
    _, after = await first.as_clerk("GET", f"/api/sessions/{first.session_id}/application")
    assert [d["stage"] for d in after["decisions"]] == ["first", "second"]
    assert not raw_codes(await page.inner_text("body"))
    await shot(page, "item8-decided")
    assert real_errors(page) == []
