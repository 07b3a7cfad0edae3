"""A paid service end to end: the kiosk (aiortc, its screen in Chromium), the clerk's console
in Chromium, the payer's phone page in Chromium, all against the sandbox provider.

The clerk shows the form, the applicant signs on the kiosk's screen, the kiosk shows the
fee's QR code; the first code expires and "get a new code" gives a new order; the payer
presses "Pay" on the phone page, the kiosk shows paid, then the acceptance number, and the
receipt prints with what was paid. The clerk rejects the application: the fee is refunded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from signaling.paperwork.messages import ApplicationView
from storage import payments as payment_store
from storage.audit import AuditLog
from terminal_client.kiosk.messages import ChooseService, SimpleCommand
from terminal_client.printer import FakeCupsPrinter
from tests.browser.conftest import attach_error_log
from tests.browser.test_call_in_chromium import sign_in
from tests.kiosk.conftest import RunningKiosk, browser, open_kiosk, page, shot, tap  # noqa: F401
from tests.payments.conftest import FEE_SERVICE, RunningSandbox
from tests.sign.conftest import append_stand_in_identity
from tests.sign.kiosk.conftest import kiosk_without_reader, printer  # noqa: F401
from tests.sign.kiosk.test_kiosk_signing import draw
from tests.sign.test_full_flow import pdf_text

PHONE = {"width": 390, "height": 844}


async def _console(chromium: Browser) -> Page:
    context = await chromium.new_context(
        permissions=["camera", "microphone"], viewport={"width": 1280, "height": 900}
    )
    console = await context.new_page()
    attach_error_log(console)
    return console


async def _code_url(kiosk: RunningKiosk, session_id: str, attempt: int) -> str:
    payments = await payment_store.of_session(kiosk.server.db, session_id)
    url = payments[attempt - 1].code_url
    assert url is not None
    return url


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_fee_paid_on_the_phone_then_refunded_on_rejection(
    kiosk_without_reader: RunningKiosk,  # noqa: F811
    sandbox: RunningSandbox,
    browser: Browser,  # noqa: F811
    page: Any,  # noqa: F811
    printer: FakeCupsPrinter,  # noqa: F811
    tmp_path: Path,
) -> None:
    kiosk, server = kiosk_without_reader, kiosk_without_reader.server
    printer.load_paper(10)
    await server.add_clerk("alice", ["vehicle-administration"])
    console = await _console(browser)
    await sign_in(console, server, "alice")
    await console.click("[data-testid=availability-toggle]")
    await console.wait_for_function("() => window.vcounterConsole.state() === 'available'")

    # the applicant picks the paid service at the kiosk and is put through to the clerk
    await open_kiosk(page, kiosk)
    controller = kiosk.controller
    await controller.handle(SimpleCommand(type="start"))
    await controller.handle(ChooseService(type="choose_service", service_id=FEE_SERVICE))
    await controller.handle(SimpleCommand(type="call"))
    await console.locator("[data-testid=accept-call]").click()
    await kiosk.wait_view(lambda v: v.call is not None and v.call.connected, 30, "in call")
    session_id = controller.entered.session_id
    assert session_id is not None
    await append_stand_in_identity(server, session_id)

    # step 5: the clerk shows the form; the applicant signs on the kiosk's screen
    await console.click("[data-testid=paper-form]")
    if await console.evaluate(
        "() => !!document.querySelector('[data-key=\"paper.confirmMissing\"]')"
    ):
        await console.click("[data-testid=paper-form]")
    await page.wait_for_selector("[data-testid=sign-panel]:not([hidden])")
    await page.wait_for_function(
        "() => document.querySelector('[data-testid=sign-form]').naturalWidth > 0"
    )
    await draw(page, "sign-pad")
    await tap(page, "sign-submit")

    # the fee before the number: QR code, amount, countdown; the console sees the order
    panel = page.locator("[data-testid=pay-panel]")
    await expect(panel).to_have_attribute("data-state", "open", timeout=20000)
    await expect(page.locator("[data-testid=pay-amount]")).to_have_text("應繳費用：CNY 10.00")
    await expect(page.locator("[data-testid=pay-expiry]")).to_contain_text("此二維碼有效時間尚餘")
    assert (await page.get_attribute("[data-testid=pay-qr]", "src") or "").startswith(
        "data:image/svg+xml"
    )
    await expect(page.locator("[data-testid=sign-number]")).to_have_text("")
    payment = console.locator("[data-testid=paper-payment]")
    await expect(payment).to_have_attribute("data-state", "open", timeout=15000)
    await expect(payment).to_contain_text("CNY 10.00")
    await shot(page, "payment-qr")

    # the first code expires unpaid: the kiosk says so, and a new code is a new order
    sandbox.box.advance(61)
    await expect(panel).to_have_attribute("data-state", "expired", timeout=15000)
    await expect(page.locator("[data-testid=pay-help]")).to_contain_text("未有扣款")
    await expect(page.locator("[data-testid=pay-qr]")).to_be_hidden()
    await shot(page, "payment-expired")
    await tap(page, "pay-again")
    await expect(panel).to_have_attribute("data-state", "open", timeout=15000)

    # the payer's phone: the sandbox's page for the new code, "Pay"
    phone_context = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    phone = await phone_context.new_page()
    attach_error_log(phone)
    await phone.goto(await _code_url(kiosk, session_id, 2))
    await expect(phone.locator("[data-testid=payer-amount]")).to_have_text("CNY 10.00")
    await phone.click("[data-testid=payer-pay]")
    await expect(phone.locator("[data-testid=payer-state]")).to_have_attribute("data-state", "paid")

    # the kiosk shows the number (paid first), the receipt prints with what was paid
    number = page.locator("[data-testid=sign-number]")
    await expect(number).to_contain_text("VC", timeout=30000)
    await expect(panel).to_be_hidden()
    await shot(page, "payment-paid-number")
    await kiosk.wait_view(
        lambda v: v.signing is not None and v.signing.printing == "printed", 30, "receipt printed"
    )
    receipt = pdf_text(printer.printed[-1][1])
    paid = (await payment_store.of_session(server.db, session_id))[-1]
    assert "CNY10.00" in receipt and str(paid.provider_order_id) in receipt
    assert str(paid.transaction_id) in receipt

    # the clerk sees it paid and submitted, then rejects: the fee is refunded at once
    await expect(payment).to_have_attribute("data-state", "paid", timeout=15000)
    await console.wait_for_function(
        "() => document.querySelector('[data-testid=paper-state]').dataset.state === 'submitted'"
    )
    await console.select_option("[data-testid=paper-outcome]", "rejected")
    await console.fill("[data-testid=paper-reason]", "證件不符合換領條件")
    await console.click("[data-testid=paper-decide]")
    await expect(payment).to_have_attribute("data-state", "refunded", timeout=20000)
    await shot(console, "payment-console-refunded")
    order = sandbox.box.orders[paid.id].order
    assert order.state == "refunded"

    kinds = [e.kind for e in await AuditLog(server.db).events(session_id)]
    assert kinds.count("payment.order_created") == 2 and "payment.expired" in kinds
    assert kinds.count("payment.qr_shown") == 2
    for before, after in [
        ("signature.captured", "payment.order_created"),
        ("payment.paid", "application.submitted"),
        ("decision.recorded", "payment.refunded"),
    ]:
        assert kinds.index(before) < kinds.index(after), (before, after)
    assert (await AuditLog(server.db).verify(session_id)).ok
    # the kiosk heard of the refund too (its last application push)
    view: ApplicationView = controller.signing.paperwork.applications[-1]
    assert view.payments[-1].state == "refunded"
    for tab in (page, console, phone):
        assert not [e for e in tab.errors if "Failed to load resource" not in e], tab.errors  # type: ignore[attr-defined]
