"""A long wait: the applicant leaves a phone number at the kiosk and goes; a clerk in the
console calls back, gets no answer, tries again and closes the task. Real server, kiosk
process, kiosk page and clerk console in Chromium."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from signaling.keys import BLOBS
from storage import callbacks
from storage.audit import AuditLog
from storage.models import Clerk as ClerkAccount
from storage.verify import verify_session
from terminal_client.errors import CommandRefused
from terminal_client.kiosk.messages import ChooseService, LeaveNumber, Screen, SimpleCommand
from tests.browser.conftest import attach_error_log
from tests.browser.test_console_ui import sign_in
from tests.conftest import RunningServer
from tests.kiosk.conftest import (
    ARTIFACTS,
    Clerk,
    RunningKiosk,
    layout_problems,
    open_kiosk,
    shot,
    shown,
    tap,
)


@pytest.fixture
async def console(browser: Browser, server: RunningServer) -> AsyncIterator[Page]:
    """Clerk Alice (every department) signed in to the console, away: nobody is on duty."""
    await server.add_clerk("alice")
    context = await browser.new_context(
        permissions=["camera", "microphone"], viewport={"width": 1280, "height": 900}
    )
    page = await context.new_page()
    attach_error_log(page)
    try:
        await page.goto(server.url)
        await page.evaluate("localStorage.setItem('vcounter.console.language', 'en')")
        await sign_in(page, server, "alice")
        yield page
    finally:
        await context.close()


async def type_number(page: Page, digits: str) -> None:
    await tap(page, "callback-clear")
    for digit in digits:
        await tap(page, f"callback-key-{digit}")
    await expect(page.locator("[data-testid=callback-number]")).to_have_text(digits)


async def record(console: Page, outcome: str, note: str) -> None:
    await console.check(f"[data-testid=callback-outcome-{outcome}]")
    await console.fill("[data-testid=callback-note]", note)
    await console.click("[data-testid=callback-record]")


async def test_a_long_wait_becomes_a_callback_that_a_clerk_closes(
    kiosk: RunningKiosk, page: Page, console: Page
) -> None:
    server = kiosk.server
    await expect(console.locator("[data-testid=callbacks-empty]")).to_be_visible()

    # the kiosk: nobody on duty, so the wait is long and a callback is offered in large type
    await open_kiosk(page, kiosk)
    await tap(page, "choose-en")
    await tap(page, "department-taxation")
    await tap(page, "service-tax-filing")
    await tap(page, "call-clerk")
    offer = page.locator("[data-testid=callback-offer]")
    await expect(offer).to_be_visible()
    await expect(offer).to_have_text("Leave your phone number and we will call you back")
    session_id = kiosk.controller.view().session_id
    assert session_id is not None
    await tap(page, "callback-offer")
    await shown(page, "callback")

    # a number too short for Hong Kong: refused on the spot, saying what is wrong
    await type_number(page, "9123")
    await tap(page, "callback-confirm")
    error = page.locator("[data-testid=callback-error]")
    await expect(error).to_have_text(
        "This number is too short for the area you chose. Check it, or choose another area."
    )
    assert (await server.session(session_id)).state == "queued"
    assert await layout_problems(page, "callback pad") == []
    await shot(page, "callback-error")

    await type_number(page, "91234567")
    await tap(page, "callback-confirm")
    await expect(page.locator("[data-testid=callback-done]")).to_be_visible()
    reference_text = await page.locator("[data-testid=callback-reference]").inner_text()
    reference = reference_text.removeprefix("Your reference: ")
    assert reference.startswith("CB") and len(reference) == 8, reference_text
    await expect(page.locator("[data-testid=callback-expect]")).to_contain_text("4 hours")
    assert await layout_problems(page, "callback done") == []
    await shot(page, "callback-done")
    session = await server.session(session_id)
    assert (session.state, session.end_reason) == ("cancelled", "callback")

    # the console lists it without a reload; the number only once taken
    row = console.locator(f"[data-testid=callback-row][data-reference={reference}]")
    await expect(row).to_contain_text("Tax filing")
    await expect(row.locator("td").nth(3)).to_have_text("0")
    assert "9123" not in await console.locator("[data-testid=callbacks-panel]").inner_text()
    await row.locator("[data-testid=callback-take]").click()
    await expect(console.locator("[data-testid=callback-phone]")).to_have_text("+85291234567")
    await console.screenshot(path=str(ARTIFACTS / "callback-console.png"))
    await record(console, "no_answer", "rang 10 times")
    await expect(console.locator("[data-testid=notice-text]")).to_have_text(
        f"Callback {reference}: no answer; it is back in the list for another attempt."
    )
    await expect(row.locator("td").nth(3)).to_have_text("1")
    await expect(console.locator("[data-testid=callback-mine]")).to_be_hidden()

    await row.locator("[data-testid=callback-take]").click()
    await expect(console.locator("[data-testid=callback-attempts]")).to_have_text(
        "Attempts so far: 1 (at most 3)"
    )
    await record(console, "resolved", "explained the form")
    await expect(console.locator("[data-testid=notice-text]")).to_have_text(
        f"Callback {reference} is closed."
    )
    await expect(console.locator("[data-testid=callbacks-empty]")).to_be_visible()
    assert console.errors == []  # type: ignore[attr-defined]

    # the store: closed with the outcome and the clerk, every step in the session's chain
    task = await callbacks.get(server.db, reference)
    async with server.db.reads() as s:
        alice = await s.scalar(select(ClerkAccount.id).where(ClerkAccount.username == "alice"))
    assert task is not None
    assert (task.state, task.outcome, task.attempts, task.taken_by) == (
        "closed",
        "resolved",
        2,
        alice,
    )
    events = await AuditLog(server.db).events(session_id)
    kinds = [e.kind for e in events]
    assert kinds[-7:] == [
        "session.cancelled", "callback.requested", "callback.taken", "callback.attempted",
        "callback.taken", "callback.attempted", "callback.closed",
    ]  # fmt: skip
    assert events[-1].actor == f"clerk:{alice}" and events[-1].payload["outcome"] == "resolved"
    report = await verify_session(server.db, server.app[BLOBS], session_id)
    assert report.problems == []

    # the applicant has gone: the kiosk goes back to the start
    await tap(page, "callback-finish")
    await shown(page, "language")
    assert page.errors == []  # type: ignore[attr-defined]


async def test_a_clerk_answering_while_the_number_is_typed_takes_the_call(
    kiosk: RunningKiosk, clerk: Clerk
) -> None:
    controller = kiosk.controller
    await kiosk.wait_screen(Screen.LANGUAGE)
    await controller.handle(SimpleCommand(type="start"))
    await controller.handle(ChooseService(type="choose_service", service_id="tax-filing"))
    await controller.handle(SimpleCommand(type="call"))
    await kiosk.wait_view(lambda v: v.queue is not None and v.queue.callback_offered)
    await controller.handle(SimpleCommand(type="callback"))
    view = await kiosk.wait_screen(Screen.CALLBACK)
    assert view.callback is not None and view.callback.state == "enter"
    # a number the kiosk refuses at once, in the applicant's words (nothing sent)
    await controller.handle(LeaveNumber(type="leave_number", phone="", region="CN"))
    view = controller.view()
    assert view.callback is not None and view.callback.error_key == "callback.error.empty"
    assert view.callback.region == "CN"
    session_id = view.session_id
    assert session_id is not None

    await clerk.available()
    view = await kiosk.wait_screen(Screen.CALL, 20)
    assert view.callback is None and view.session_id == session_id
    assert await callbacks.listed(kiosk.server.db) == []
    with pytest.raises(CommandRefused, match="leave a phone number"):
        await controller.handle(LeaveNumber(type="leave_number", phone="91234567", region="HK"))
