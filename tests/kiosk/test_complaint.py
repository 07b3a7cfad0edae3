"""A complaint from the kiosk to its answer: after a real call (aiortc clerk) rated 1 star, the
kiosk page in Chromium offers the complaint form; bad entries are refused in sentences and
nothing typed is lost; the ticket reaches the department's supervisor console live, is
assigned, answered and closed there; its status is looked up by number and access code at the
kiosk and on the public phone page (390x844). Real server, kiosk process, printer spool."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from storage import store
from storage.audit import AuditLog
from terminal_client.errors import CommandRefused
from terminal_client.kiosk.messages import (
    ComplaintCommand,
    Rate,
    Screen,
    SetCareMode,
    SetLanguage,
    SimpleCommand,
)
from tests.browser.conftest import attach_error_log
from tests.conftest import CLERK_PASSWORD, RunningServer
from tests.kiosk.conftest import (
    LANDSCAPE,
    PORTRAIT,
    Clerk,
    RunningKiosk,
    layout_problems,
    open_kiosk,
    resize,
    shot,
    shown,
    tap,
)
from tests.kiosk.test_call import call_clerk
from tests.supervision.test_supervisor_console import real_errors
from tests.ux.test_item3_form import pdf_text

ANSWER = "We are sorry. The clerk has been spoken to, and calls now start within 5 minutes."
PHONE = {"width": 390, "height": 844}


async def console(browser: Browser, server: RunningServer, username: str) -> Page:
    """The supervisor console, in English, signed in as ``username``."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    tab = await context.new_page()
    attach_error_log(tab)
    await tab.goto(server.url + "/supervisor")
    await tab.evaluate("localStorage.setItem('vcounter.console.language', 'en')")
    await tab.reload()
    await tab.fill("[data-testid=login-username]", username)
    await tab.fill("[data-testid=login-password]", CLERK_PASSWORD)
    await tab.click("[data-testid=login-submit]")
    await tab.click("[data-testid=tab-complaints]")
    return tab


@pytest.fixture
async def consoles(browser: Browser, server: RunningServer) -> AsyncIterator[tuple[Page, Page]]:
    """Sue supervises taxation, Hank housing; both have the Complaints tab open."""
    await store.create_clerk(server.db, "sue", CLERK_PASSWORD, "Sue", ["taxation"], "supervisor")
    await store.create_clerk(
        server.db, "hank", CLERK_PASSWORD, "Hank", ["housing-provident-fund"], "supervisor"
    )
    sue, hank = [await console(browser, server, name) for name in ("sue", "hank")]
    try:
        yield sue, hank
    finally:
        for tab in (sue, hank):
            await tab.context.close()


async def type_on_pad(page: Page, pad: str, digits: str) -> None:
    await tap(page, f"{pad}-clear")
    for digit in digits:
        await tap(page, f"{pad}-key-{digit}")


async def send(page: Page) -> None:
    """From the first part of the form: on to the phone number, and send."""
    await tap(page, "complaint-next")
    await tap(page, "complaint-send")


async def refused(page: Page, testid: str, sentence: str) -> None:
    error = page.locator(f"[data-testid={testid}]")
    await expect(error).to_be_visible()
    await expect(error).to_have_text(sentence)


async def test_a_low_rating_becomes_a_complaint_answered_by_its_supervisor_and_looked_up(
    kiosk: RunningKiosk,
    page: Page,
    clerk: Clerk,
    consoles: tuple[Page, Page],
    browser: Browser,
) -> None:
    server = kiosk.server
    sue, hank = consoles
    await expect(sue.locator("[data-testid=complaints-none]")).to_be_visible()

    # a real call, then the clerk hangs up: one star, and the form is offered at once
    await open_kiosk(page, kiosk)
    await kiosk.controller.handle(SetLanguage(type="set_language", language="en"))
    await call_clerk(kiosk, clerk)
    session_id = kiosk.controller.view().session_id
    assert session_id is not None
    await clerk.hangup()
    await shown(page, "ended")
    await expect(page.locator("[data-testid=rating-complain]")).to_be_visible()
    await tap(page, "rating-1")
    await tap(page, "rating-submit")
    await shown(page, "complaint")
    await expect(page.locator("[data-testid=complaint-lead]")).to_contain_text("We are sorry")
    assert await layout_problems(page, "the complaint form") == []

    # bad entries: a sentence each, the form turns to the part at fault, what was entered stays
    await send(page)
    await refused(page, "complaint-error", "Please choose what your complaint is about.")
    await expect(page.locator("[data-testid=complaint-step-words]")).to_be_visible()
    await tap(page, "complaint-category-staff")
    await page.fill("[data-testid=complaint-text]", "   ")
    await send(page)
    await refused(page, "complaint-error", "Please write what happened.")
    long_text = "The clerk was rude to me. " * 20  # 520 characters
    await page.fill("[data-testid=complaint-text]", long_text)
    await expect(page.locator("[data-testid=complaint-count]")).to_have_text("519 / 500 characters")
    await send(page)
    await refused(
        page, "complaint-error", "Your text is too long. Please shorten it to 500 characters."
    )
    await expect(page.locator("[data-testid=complaint-text]")).to_have_value(long_text)
    words = "The clerk was rude to me and did not explain what was missing."
    await page.fill("[data-testid=complaint-text]", words)
    await tap(page, "complaint-next")
    await tap(page, "complaint-region-MO")
    await type_on_pad(page, "complaint", "1234")
    await tap(page, "complaint-send")
    await refused(
        page, "complaint-error",
        "This number is too short for the area you chose. Check it, or choose another area.",
    )  # fmt: skip
    await expect(page.locator("[data-testid=complaint-step-phone]")).to_be_visible()
    await expect(page.locator("[data-testid=complaint-phone]")).to_have_text("1234")
    await tap(page, "complaint-back")
    await expect(page.locator("[data-testid=complaint-text]")).to_have_value(words)
    await expect(page.locator("[data-testid=complaint-category-staff]")).to_have_attribute(
        "aria-checked", "true"
    )
    assert await AuditLog(server.db).events(session_id) and not [
        e for e in await AuditLog(server.db).events(session_id) if e.kind == "complaint.filed"
    ]

    await tap(page, "complaint-next")
    await type_on_pad(page, "complaint", "66123456")
    await tap(page, "complaint-send")
    await expect(page.locator("[data-testid=complaint-done]")).to_be_visible()
    number = (await page.locator("[data-testid=complaint-number]").inner_text()).strip()
    code = (await page.locator("[data-testid=complaint-code]").inner_text()).strip()
    assert number.startswith("CP") and len(number) == 16 and code.isdigit() and len(code) == 6
    await expect(page.locator("[data-testid=complaint-due]")).to_contain_text("will answer by")
    await expect(page.locator("[data-testid=complaint-keep]")).to_contain_text(
        f"on your phone at {server.url}/complaint."
    )
    await expect(page.locator("[data-testid=complaint-printing]")).to_have_attribute(
        "data-printing", "printed"
    )
    await shot(page, "complaint-filed")
    # the slip: a real PDF in the kiosk's printer, in English, marked with the complaint
    spool = Path(kiosk.controller.signing.queue.device.folder)  # type: ignore[attr-defined]
    [slip] = await asyncio.to_thread(
        lambda: [p.read_bytes() for p in spool.glob("*.pdf") if number.encode() in p.read_bytes()]
    )
    words_on_slip = pdf_text(slip)
    for expected in (number, code, "Complaint slip", "Taxation", "Attitude of staff"):
        assert expected in words_on_slip, (expected, words_on_slip)
    events = await AuditLog(server.db).events(session_id)
    [filed] = [e for e in events if e.kind == "complaint.filed"]
    alice = await store.find_clerk(server.db, "alice")
    assert filed.payload["clerk_id"] == alice.id and filed.actor.startswith("terminal:")

    # the department's supervisor sees it come in, without reloading; the other does not
    row = sue.locator("[data-testid=complaint-row]")
    await expect(row).to_have_count(1, timeout=10_000)
    await expect(row.first).to_contain_text(number)
    await expect(row.first).to_contain_text("Attitude of staff")
    await hank.reload()
    await hank.click("[data-testid=tab-complaints]")
    await expect(hank.locator("[data-testid=complaints-none]")).to_be_visible()
    await expect(hank.locator("[data-testid=complaint-row]")).to_have_count(0)

    await row.first.click()
    await expect(sue.locator("[data-testid=complaint-detail-text]")).to_have_text(words)
    await expect(sue.locator("[data-testid=complaint-detail-phone]")).to_have_text("+85366123456")
    await expect(sue.locator("[data-testid=complaint-detail-served]")).to_have_text("Clerk alice")
    await shot(sue, "complaint-console")
    await sue.click("[data-testid=complaint-close]")
    await expect(sue.locator("[data-testid=complaints-status]")).to_contain_text(
        "an unanswered complaint cannot be closed"
    )
    await sue.select_option("[data-testid=complaint-assignee]", "alice")
    await sue.click("[data-testid=complaint-assign]")
    await expect(sue.locator("[data-testid=complaints-status]")).to_have_text("Assigned to alice.")
    await sue.fill("[data-testid=complaint-answer]", ANSWER)
    await sue.click("[data-testid=complaint-answer-send]")
    await expect(row.first.locator("[data-testid=complaint-state]")).to_have_text("Answered")
    await sue.click("[data-testid=complaint-close]")
    await expect(sue.locator("[data-testid=complaints-status]")).to_have_text(
        f"Complaint {number} is closed."
    )
    await expect(sue.locator("[data-testid=complaint-row]")).to_have_count(0)  # closed: not listed
    kinds = [(e.kind, e.actor) for e in await AuditLog(server.db).events(session_id)]
    assert [k for k in kinds if k[0].startswith("complaint.")] == [
        ("complaint.filed", filed.actor),
        ("complaint.assigned", "supervisor:sue"),
        ("complaint.answered", "supervisor:sue"),
        ("complaint.closed", "supervisor:sue"),
    ]

    # at the kiosk: back to the start, "Check a complaint", number and code on the pad
    await tap(page, "complaint-finish")
    await shown(page, "language")
    await tap(page, "open-complaint-status")
    await shown(page, "complaint_status")
    await type_on_pad(page, "lookup", number[2:])
    await tap(page, "complaint-status-code-field")
    await type_on_pad(page, "lookup", f"{int(code) ^ 1:06d}")
    await tap(page, "complaint-status-check")
    # the kiosk is back in its own language (繁體中文) for the next applicant
    await refused(
        page, "complaint-status-error", "找不到與此編號及查詢碼相符的投訴，請對照回條檢查兩者。"
    )
    await type_on_pad(page, "lookup", code)
    await tap(page, "complaint-status-check")
    await expect(page.locator("[data-testid=complaint-status-state]")).to_have_text(
        f"投訴 {number}：已完結"
    )
    await expect(page.locator("[data-testid=complaint-status-answer]")).to_have_text(ANSWER)
    await expect(page.locator("[data-testid=complaint-status-due]")).to_contain_text("答覆。")
    await shot(page, "complaint-status")
    assert await layout_problems(page, "the complaint status") == []
    assert [e for e in page.errors if "Failed to load resource" not in e] == []  # type: ignore[attr-defined]

    # on a phone, in Traditional Chinese: no sign-in, the same answer
    phone = await browser.new_context(viewport=PHONE, device_scale_factor=3, is_mobile=True)
    tab = await phone.new_page()
    errors = attach_error_log(tab)
    try:
        await tab.goto(server.url + "/complaint?lang=zh-Hant")
        await expect(tab.locator("[data-testid=title]")).to_have_text("投訴查詢")
        await tab.fill("[data-testid=number]", number.lower())
        await tab.fill("[data-testid=code]", "000000" if code != "000000" else "111111")
        await tab.click("[data-testid=check]")
        await expect(tab.locator("[data-testid=error]")).to_have_text(
            "找不到與此編號及查詢碼相符的投訴，請對照回條檢查兩者。"
        )
        await tab.fill("[data-testid=code]", code)
        await tab.click("[data-testid=check]")
        await expect(tab.locator("[data-testid=state]")).to_have_text(f"投訴 {number}：已完結")
        await expect(tab.locator("[data-testid=answer]")).to_have_text(ANSWER)
        await expect(tab.locator("[data-testid=due]")).to_contain_text("稅務局已於")
        await shot(tab, "complaint-phone")
        await tab.click("[data-testid=lang-en]")
        await expect(tab.locator("[data-testid=state]")).to_have_text(f"Complaint {number}: Closed")
        width = await tab.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"the page is {width} px wide on a 390 px phone"
        assert [e for e in errors if "Failed to load resource" not in e] == []
    finally:
        await phone.close()

    # not settled after all: the supervisor finds it among the closed ones and reopens it
    await sue.select_option("[data-testid=complaints-state]", "all")
    await expect(row).to_have_count(1)
    await row.first.click()
    await sue.click("[data-testid=complaint-reopen]")
    await expect(sue.locator("[data-testid=complaints-status]")).to_contain_text(
        f"Complaint {number} is open again, due by"
    )
    await expect(row.first.locator("[data-testid=complaint-state]")).to_have_text("Open")
    assert real_errors(sue) == []


async def test_a_complaint_is_offered_after_any_rating_and_only_about_this_visit(
    kiosk: RunningKiosk, clerk: Clerk
) -> None:
    await call_clerk(kiosk, clerk)
    await clerk.hangup()
    await kiosk.wait_screen(Screen.ENDED)
    await kiosk.controller.handle(Rate(type="rate", rating=4))
    assert kiosk.controller.view().screen == Screen.THANKS  # a good rating: thanks, as before
    await kiosk.controller.handle(ComplaintCommand(type="complain"))
    view = kiosk.controller.view()
    assert view.screen == Screen.COMPLAINT and view.complaint is not None
    assert view.complaint.after_low_rating is False
    await kiosk.controller.handle(SimpleCommand(type="home"))
    assert kiosk.controller.view().screen == Screen.LANGUAGE
    # from the start screen there is no visit to complain about, only complaints to look up
    with pytest.raises(CommandRefused, match='cannot make a complaint on the "language" screen'):
        await kiosk.controller.handle(ComplaintCommand(type="complain"))
    await kiosk.controller.handle(ComplaintCommand(type="complaint_status"))
    assert kiosk.controller.view().screen == Screen.COMPLAINT_STATUS


# nothing of the screen's content may run under its buttons (the layout check sees only
# boxes that clip or leave the screen)
UNDER_BUTTONS = """
(screen) => {
  const section = document.querySelector(`section[data-screen="${screen}"]`);
  const top = section.querySelector('.actions').getBoundingClientRect().top;
  return [...section.querySelectorAll('*')]
    .filter((el) => !el.closest('.actions, [hidden]') && el.getClientRects().length)
    .filter((el) => el.getBoundingClientRect().bottom > top + 1)
    .map((el) => el.dataset.testid || el.className || el.tagName);
}
"""


@pytest.mark.parametrize("size", [LANDSCAPE, PORTRAIT], ids=["landscape", "portrait"])
async def test_the_complaint_screens_fit_in_care_mode(
    kiosk: RunningKiosk, page: Page, clerk: Clerk, size: dict[str, int]
) -> None:
    await resize(page, size)
    await open_kiosk(page, kiosk)
    await call_clerk(kiosk, clerk)
    await clerk.hangup()
    await kiosk.wait_screen(Screen.ENDED)
    await kiosk.controller.handle(SetCareMode(type="set_care_mode", on=True))
    await kiosk.controller.handle(Rate(type="rate", rating=2))
    await shown(page, "complaint")
    for language in ("en", "zh-Hant"):
        await kiosk.controller.handle(SetLanguage(type="set_language", language=language))
        await send(page)  # no subject chosen: the sentence takes room of its own
        await expect(page.locator("[data-testid=complaint-error]")).to_be_visible()
        await page.fill("[data-testid=complaint-text]", "x")
        for step in ("complaint-next", "complaint-back"):
            assert await layout_problems(page, f"{language} complaint, care") == []
            assert await page.evaluate(UNDER_BUTTONS, "complaint") == []
            await tap(page, step)
    await kiosk.controller.handle(SimpleCommand(type="home"))
    await kiosk.controller.handle(ComplaintCommand(type="complaint_status"))
    await shown(page, "complaint_status")
    assert await layout_problems(page, "complaint status, care") == []
    assert await page.evaluate(UNDER_BUTTONS, "complaint_status") == []
