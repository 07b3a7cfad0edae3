"""The kiosk screen in Chromium: the form, signing with the finger, the receipt, and later
"print my result" by acceptance number with the ID re-check."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page

from storage.audit import AuditLog
from terminal_client.kiosk.messages import Screen
from terminal_client.printer import FakeCupsPrinter
from tests.conftest import CLERK_PASSWORD
from tests.kiosk.conftest import Clerk, RunningKiosk, open_kiosk, shot, tap
from tests.kiosk.test_call import call_clerk
from tests.peers import login
from tests.sign.conftest import (
    DOCUMENT_NUMBER,
    Counter,
    append_stand_in_identity,
    append_stand_in_material,
)


async def draw(page: Page, testid: str) -> None:
    """A signature drawn with the pointer, in three strokes."""
    box = await page.locator(f"[data-testid={testid}]").bounding_box()
    assert box is not None
    for stroke in range(3):
        x0, y = box["x"] + 30 + stroke * box["width"] / 3.5, box["y"] + box["height"] / 2
        await page.mouse.move(x0, y)
        await page.mouse.down()
        for i in range(1, 16):
            await page.mouse.move(x0 + i * 8, y + (18 if i % 2 else -18))
        await page.mouse.up()


async def notice_key(page: Page, key: str) -> None:
    await page.wait_for_selector(f"[data-testid=notice][data-key='{key}']:not([hidden])")


# generous: the flow seals five PDFs and the test machine is shared
@pytest.mark.timeout(300)
async def test_sign_on_the_kiosk_and_print_later_by_number(
    kiosk: RunningKiosk, clerk: Clerk, page: Any, printer: FakeCupsPrinter
) -> None:
    server = kiosk.server
    await open_kiosk(page, kiosk)
    await call_clerk(kiosk, clerk)
    session_id = kiosk.controller.entered.session_id
    assert session_id is not None
    await append_stand_in_identity(server, session_id)
    await append_stand_in_material(server, session_id, "business-licence", b"%PDF scan")
    token = await login(server.url, "alice", CLERK_PASSWORD)
    desk = Counter(server, session_id, "", token, 0)
    status, _ = await desk.as_clerk("POST", f"/api/sessions/{session_id}/form")
    assert status == 201

    # the form is shown before signing; an empty signature is refused with a sentence
    await page.wait_for_selector("[data-testid=sign-panel]:not([hidden])")
    await page.wait_for_function(
        "() => document.querySelector('[data-testid=sign-form]').naturalWidth > 0"
    )
    await tap(page, "sign-submit")
    await notice_key(page, "error.no_strokes")
    await draw(page, "sign-pad")
    await shot(page, "sign-form-signed")
    await tap(page, "sign-submit")
    number_text = page.locator("[data-testid=sign-number]")
    await number_text.wait_for(state="visible")
    await page.wait_for_function(
        "() => /VC\\d{14}[0-9X]/.test(document.querySelector('[data-testid=sign-number]').textContent)"
    )
    # out of paper: the kiosk says so and keeps the receipt; paper in, it prints
    await page.wait_for_function(
        "() => document.querySelector('[data-testid=sign-printing]').textContent.length > 0"
    )
    view = await kiosk.wait_view(
        lambda v: v.signing is not None and v.signing.printing == "retrying", what="retrying"
    )
    assert view.signing is not None and view.signing.print_error == "error.printer_out_of_paper"
    number = view.signing.acceptance_number
    assert number is not None
    printer.load_paper(10)
    await kiosk.wait_view(
        lambda v: v.signing is not None and v.signing.printing == "printed", 20, "printed"
    )
    assert len(printer.printed) == 1
    events = await AuditLog(server.db).events(session_id)
    ink = next(e for e in events if e.kind == "signature.captured").payload
    assert ink["strokes"] == 3 and ink["points"] >= 45

    await desk.as_clerk(
        "POST", f"/api/sessions/{session_id}/decision", {"outcome": "approved", "reason": "ok"}
    )
    await clerk.hangup()
    await kiosk.wait_screen(Screen.ENDED)
    await tap(page, "rating-skip")
    await kiosk.wait_screen(Screen.LANGUAGE)

    # later: print my result, with a mistyped number, another person's ID, then right
    await tap(page, "open-result")
    await kiosk.wait_screen(Screen.RESULT)
    made_up = number[:-1] + ("1" if number[-1] == "0" else "0")
    await page.fill("[data-testid=result-number]", made_up)
    await page.fill("[data-testid=result-document]", DOCUMENT_NUMBER)
    await tap(page, "result-submit")
    await notice_key(page, "error.bad_acceptance_number")
    await page.fill("[data-testid=result-number]", number)
    await page.fill("[data-testid=result-document]", "X0000000")
    await tap(page, "result-submit")
    await notice_key(page, "error.identity_mismatch")
    await page.fill("[data-testid=result-document]", DOCUMENT_NUMBER)
    await tap(page, "result-submit")
    await page.wait_for_selector(
        "[data-testid=result-status][data-printing=printed]", timeout=20000
    )
    await shot(page, "sign-result-printed")
    assert len(printer.printed) == 3  # the receipt again and the approval
    assert not [e for e in page.errors if "Failed to load resource" not in e], page.errors
