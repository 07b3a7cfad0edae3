"""e-ID sign-in end to end in Chromium: the kiosk's screen in one browser context, the
applicant's phone (390×844) in another, the clerk's console in a third, the real OpenID
provider (npm ``oidc-provider``) on loopback.

The clerk moves the call to step 3; the kiosk offers "Sign in with 智方便"; the phone reads
the QR code off the kiosk's screen (decoded from a screenshot, as a phone camera would), and
the applicant first refuses consent at the provider (refused, said on the phone and the
kiosk), then signs in. The identity is in the clerk's panel as a card read plus face match
would be, and the application goes on to the end: form, signature, acceptance number,
receipt printed, the signed form naming the applicant as the e-ID did, the clerk's approval.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from signaling.keys import BLOBS
from storage.audit import AuditLog
from terminal_client.kiosk.eid_ui import spoken
from terminal_client.kiosk.messages import ChooseService, SetCareMode, SimpleCommand
from terminal_client.printer import FakeCupsPrinter
from tests.browser.conftest import attach_error_log
from tests.browser.test_call_in_chromium import sign_in
from tests.eid.conftest import PROVIDER_ID, Oidc
from tests.kiosk.conftest import (  # noqa: F401
    RunningKiosk,
    browser,
    open_kiosk,
    page,
    shot,
    speech_file,
    tap,
    wav_frames,
)
from tests.qr import qr_text
from tests.sign.conftest import SERVICE
from tests.sign.kiosk.conftest import kiosk_without_reader, printer  # noqa: F401
from tests.sign.kiosk.test_kiosk_signing import draw
from tests.sign.test_full_flow import pdf_text

PHONE = {"width": 390, "height": 844}


async def _context_page(chromium: Browser, **options: Any) -> Page:
    context = await chromium.new_context(**options)
    tab = await context.new_page()
    attach_error_log(tab)
    return tab


QR_DRAWN = """() => { const img = document.querySelector('[data-testid=eid-qr]');
  return Boolean(img) && !img.hidden && img.complete && img.naturalWidth > 0; }"""


async def read_qr(kiosk_page: Page, not_this: str | None = None) -> str:
    """The URL in the kiosk's QR code, read off a screenshot of it (``not_this``: the code of
    an earlier attempt, which the screen may show until the new image is drawn)."""
    read = ""
    for _ in range(40):
        # a new code's image decodes after its src is set: a screenshot before shows none
        await kiosk_page.wait_for_function(QR_DRAWN, timeout=15_000)
        read = qr_text(await kiosk_page.locator("[data-testid=eid-qr]").screenshot())
        if read and read != not_this:
            return read
        await asyncio.sleep(0.25)
    raise AssertionError(f"the QR code on the kiosk's screen could not be read (last: {read!r})")


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_an_application_with_e_id_sign_in_in_chromium(
    kiosk_without_reader: RunningKiosk,  # noqa: F811
    oidc: Oidc,
    browser: Browser,  # noqa: F811
    page: Any,  # noqa: F811
    printer: FakeCupsPrinter,  # noqa: F811
) -> None:
    kiosk, server = kiosk_without_reader, kiosk_without_reader.server
    printer.load_paper(10)
    await server.add_clerk("alice")
    console = await _context_page(
        browser, permissions=["camera", "microphone"], viewport={"width": 1280, "height": 900}
    )
    await sign_in(console, server, "alice")
    await console.click("[data-testid=availability-toggle]")
    await console.wait_for_function("() => window.vcounterConsole.state() === 'available'")

    # the applicant picks a service at the kiosk (no card reader here) and is put through
    await open_kiosk(page, kiosk)
    controller = kiosk.controller
    await controller.handle(SimpleCommand(type="start"))
    # care mode: every instruction is also spoken, the e-ID card's too
    await controller.handle(SetCareMode(type="set_care_mode", on=True))
    await controller.handle(ChooseService(type="choose_service", service_id=SERVICE))
    await controller.handle(SimpleCommand(type="call"))
    await console.locator("[data-testid=accept-call]").click()
    await kiosk.wait_view(lambda v: v.call is not None and v.call.connected, 30, "in call")
    session_id = controller.entered.session_id
    assert session_id is not None

    # step 3: the clerk moves the call on; the kiosk offers the e-ID
    await console.click("[data-testid=guide-step-3]")
    panel = page.locator("[data-testid=eid-panel]")
    await expect(panel).to_have_attribute("data-phase", "choose", timeout=15000)
    await expect(page.locator(f"[data-testid=eid-start-{PROVIDER_ID}]")).to_have_text(
        "用「智方便」登入"
    )
    await shot(page, "eid-choose")

    phone = await _context_page(browser, viewport=PHONE, is_mobile=True, has_touch=True)

    # first the applicant says no at the provider: refused on the phone and at the kiosk
    await tap(page, f"eid-start-{PROVIDER_ID}")
    await expect(panel).to_have_attribute("data-phase", "qr", timeout=15000)
    first_code = await read_qr(page)
    await phone.goto(first_code)
    await expect(panel).to_have_attribute("data-phase", "phone", timeout=15000)
    await phone.click("[data-testid=idp-deny]")
    await expect(phone.locator("[data-testid=eid-page]")).to_have_attribute(
        "data-outcome", "refused"
    )
    await expect(phone.locator("[data-testid=eid-message]")).to_have_text(
        "您沒有同意分享身份資料。如需使用，請在自助服務機重新開始。"
    )
    await expect(panel).to_have_attribute("data-phase", "refused", timeout=15000)
    await expect(page.locator("[data-testid=eid-error]")).to_have_text("您沒有同意分享身份資料。")

    # then signs in: the kiosk's QR code on the phone, the provider's page, back to us
    await tap(page, f"eid-start-{PROVIDER_ID}")
    await expect(panel).to_have_attribute("data-phase", "qr", timeout=15000)
    await shot(page, "eid-qr")
    card = controller.eid.view(session_id)
    assert card is not None
    said = spoken(card, "zh-Hant", controller.voice.translations)
    assert "掃描這個二維碼" in said
    view = await kiosk.wait_view(
        lambda v: (
            v.speech_url is not None
            and v.speech_url == controller.voice.cached_url(said, "zh-Hant")
        ),
        30,
        "the QR code's instruction spoken",
    )
    assert view.speech_url is not None and wav_frames(speech_file(kiosk, view.speech_url)) > 0
    await phone.goto(await read_qr(page, not_this=first_code))
    await phone.fill("[data-testid=idp-login]", "chan.taiman")
    await phone.fill("[data-testid=idp-password]", "pw-strong")
    await phone.click("[data-testid=idp-submit]")
    await expect(phone.locator("[data-testid=eid-page]")).to_have_attribute("data-outcome", "done")
    await expect(phone.locator("[data-testid=eid-message]")).to_have_text(
        "完成：身份已確認。請返回自助服務機繼續辦理。"
    )
    await phone.screenshot(
        path=str(Path(__file__).parents[2] / "test-artifacts" / "kiosk" / "eid-phone-done.png")
    )
    await expect(panel).to_have_attribute("data-phase", "done", timeout=15000)
    await expect(page.locator("[data-testid=eid-lead]")).to_have_text("謝謝。您的身份已確認。")

    # the clerk's identity panel: verified, with who the provider says signed in
    status = console.locator("[data-testid=identity-status]")
    await expect(status).to_have_attribute("data-status", "verified", timeout=15000)
    await expect(status).to_have_text("已核验:身份提供者以电子身份确认申请人")
    fields = console.locator("[data-testid=identity-fields]")
    await expect(fields).to_have_attribute("data-source", "eid")
    await expect(fields.locator("[data-field=name]")).to_have_text("陳大文")
    await expect(fields.locator("[data-field=number]")).to_have_text("A1234563")
    await expect(fields.locator("[data-field=how]")).to_contain_text("urn:vcounter:loa:high")
    await shot(console, "eid-console-identity")
    await tap(page, "eid-close")
    await expect(panel).to_be_hidden()

    # the rest of the application: the form, the signature, the number, the receipt
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
    await expect(page.locator("[data-testid=sign-number]")).to_contain_text("VC", timeout=30000)
    await kiosk.wait_view(
        lambda v: v.signing is not None and v.signing.printing == "printed", 30, "receipt printed"
    )
    assert "VC" in pdf_text(printer.printed[-1][1])
    # the signed application form names the applicant as the e-ID gave them
    stored = [e for e in await AuditLog(server.db).events(session_id) if e.kind == "form.generated"]
    form = pdf_text(await server.app[BLOBS].get(stored[-1].payload["sha256"]))
    assert "A1234563" in form and "陳大文" in form, form
    assert "申請人以電子身份「智方便」登入" in form, form

    await console.wait_for_function(
        "() => document.querySelector('[data-testid=paper-state]').dataset.state === 'submitted'"
    )
    await console.select_option("[data-testid=paper-outcome]", "approved")
    await console.fill("[data-testid=paper-reason]", "資料齊全,身份經電子身份核實")
    await console.click("[data-testid=paper-decide]")
    await console.wait_for_function(
        "() => document.querySelector('[data-testid=paper-state]').dataset.state === 'approved'",
        timeout=20000,
    )

    events = await AuditLog(server.db).events(session_id)
    kinds = [e.kind for e in events]
    assert kinds.count("eid.refused") == 1 and kinds.count("eid.finished") == 1
    for before, after in [
        ("eid.finished", "signature.captured"),
        ("signature.captured", "application.submitted"),
        ("application.submitted", "decision.recorded"),
    ]:
        assert kinds.index(before) < kinds.index(after), (before, after)
    refused = next(e for e in events if e.kind == "eid.refused")
    assert refused.payload["code"] == "eid_denied"
    assert (await AuditLog(server.db).verify(session_id)).ok
    for tab in (page, console, phone):
        assert not [e for e in tab.errors if "Failed to load resource" not in e], tab.errors  # type: ignore[attr-defined]
