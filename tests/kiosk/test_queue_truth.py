"""Issue 21, item 2 — the queue tells the truth, walked on the kiosk's page in Chromium: with
nobody on duty it says so; behind a call in progress it gives a real wait, not "shortly"; when
the only clerk signs out it says so again at once."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Page

from media.sources import create_local_tracks
from terminal_client.client import TerminalClient, TerminalState
from tests.conftest import RunningServer
from tests.kiosk.conftest import Clerk, RunningKiosk, open_kiosk, tap

ARTIFACTS = Path("test-artifacts")
ARTIFACTS.mkdir(exist_ok=True)
WAIT = "[data-testid=queue-wait]"


async def wait_text(page: Page, selector: str, text: str) -> None:
    await page.wait_for_function(
        "([sel, text]) => { const e = document.querySelector(sel);"
        " return e && !e.hidden && e.textContent.includes(text); }",
        arg=[selector, text],
        timeout=20_000,
    )


async def visible_and_on_top(page: Page, selector: str) -> bool:
    return bool(
        await page.evaluate(
            """(sel) => { const e = document.querySelector(sel); if (!e) return false;
               const r = e.getBoundingClientRect(); if (!r.width || !r.height) return false;
               const top = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
               return top === e || e.contains(top); }""",
            selector,
        )
    )


async def test_the_queue_says_who_is_on_duty_and_counts_the_call_in_progress(
    server: RunningServer, kiosk: RunningKiosk, clerk: Clerk, page: Page
) -> None:

    await open_kiosk(page, kiosk)
    await tap(page, "choose-en")
    await tap(page, "department-taxation")
    await tap(page, "service-tax-filing")
    await tap(page, "call-clerk")
    # the clerk is signed in but away: nobody is on duty
    await wait_text(page, WAIT, "No clerk is on duty right now")
    assert await visible_and_on_top(page, WAIT)
    await page.screenshot(path=str(ARTIFACTS / "item2-nobody-on-duty.png"))

    # the clerk comes on duty and takes another applicant's call first: this applicant is
    # first in line, behind a call in progress, which is not "shortly"
    other = TerminalClient(
        server.url,
        await server.add_terminal("kiosk-ahead"),
        lambda: create_local_tracks(True, "", "", label="ahead"),
        name="ahead",
    )
    try:
        await other.connect()
        # the other kiosk asked first (care mode goes first), so it gets the clerk
        await other.request_service("tax-filing", "en", care_mode=True)
        await clerk.available()
        await other.wait_for(TerminalState.CONNECTING, TerminalState.IN_CALL, timeout=20)
        await wait_text(page, "[data-testid=queue-position]", "number 1")
        await wait_text(page, WAIT, "minutes to wait")
        view = kiosk.controller.view()
        assert view.queue is not None and (view.queue.estimated_wait_s or 0) >= 60
        await page.screenshot(path=str(ARTIFACTS / "item2-behind-a-call.png"))

        # the only clerk signs out: the waiting applicant is told at once
        await clerk.peer.close()
        await wait_text(page, WAIT, "No clerk is on duty right now")
        await page.screenshot(path=str(ARTIFACTS / "item2-clerk-signed-out.png"))
    finally:
        await other.close()
