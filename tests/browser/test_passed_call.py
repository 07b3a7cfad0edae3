"""Issue 21, item 1 — with one clerk on duty, a call that rang out comes back to them when
they are available again (nobody else can take it), walked in the clerk's console in Chromium."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from tests.browser.test_console_ui import go_available, kiosk, sign_in, wait_state
from tests.conftest import RunningServer, make_settings, start_server
from tests.teardown import bounded

ARTIFACTS = Path("test-artifacts")
ARTIFACTS.mkdir(exist_ok=True)


@pytest.fixture
async def quick_ring(tmp_path: Path) -> AsyncIterator[RunningServer]:
    """Offers ring for 2 s; a passed call may come back at once."""
    running, runner = await start_server(
        make_settings(tmp_path, offer_timeout_s=2.0, decline_pause_s=0.0)
    )
    try:
        yield running
    finally:
        await bounded(runner.cleanup(), "server")


async def test_a_call_that_rang_out_comes_back_to_the_only_clerk(
    quick_ring: RunningServer, page: Any
) -> None:
    server = quick_ring

    await server.add_clerk("alice")
    applicant = kiosk(server, await server.add_terminal("kiosk-one"))
    try:
        await sign_in(page, server, "alice")
        await go_available(page)
        await applicant.connect()
        session_id = await applicant.request_service("tax-registration", "en")
        incoming = page.locator("[data-testid=incoming-call]")
        await expect(incoming).to_be_visible(timeout=10_000)
        # nobody answers: the call rings out and the clerk is parked away
        await wait_state(page, "away", timeout=15_000)
        await expect(incoming).to_be_hidden()
        # the clerk is back: the call that waited for them rings again, at once — "available"
        # may last less than a frame (both messages can arrive together), so only the ring
        # that follows is waited for
        await page.click("[data-testid=availability-toggle]")
        await expect(incoming).to_be_visible(timeout=10_000)
        await page.screenshot(path=str(ARTIFACTS / "item1-call-comes-back.png"))
        row = await server.session(session_id)
        assert row.state == "offered" and row.clerk_id == 1
        box = await incoming.bounding_box()
        assert box is not None and box["width"] > 0 and box["height"] > 0
    finally:
        await bounded(applicant.close(), "kiosk")
