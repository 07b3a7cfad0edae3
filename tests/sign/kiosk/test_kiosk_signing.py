"""The kiosk screen in Chromium: the form, signing with the finger, the receipt, and later
"print my result" by acceptance number with the ID re-check: the card read by the kiosk's
reader, the face at its camera matched to the card's portrait, each failure with a retry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from media.face_samples import Photo
from media.faces import FaceEngine
from storage.audit import AuditLog
from terminal_client.kiosk.messages import Screen
from terminal_client.printer import FakeCupsPrinter
from tests.conftest import CLERK_PASSWORD
from tests.kiosk.conftest import Clerk, RunningKiosk, open_kiosk, shot, tap
from tests.kiosk.test_call import call_clerk
from tests.peers import login
from tests.sign.conftest import (
    CARD_NUMBER,
    Counter,
    append_stand_in_identity,
    append_stand_in_material,
    id_card,
    insert_card,
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
@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_sign_on_the_kiosk_and_print_later_by_number(
    kiosk: RunningKiosk,
    clerk: Clerk,
    page: Any,
    printer: FakeCupsPrinter,
    slot: Path,
    engine: FaceEngine,
    photos: list[Photo],
    tmp_path: Path,
) -> None:
    server = kiosk.server
    await open_kiosk(page, kiosk)
    await call_clerk(kiosk, clerk)
    session_id = kiosk.controller.entered.session_id
    assert session_id is not None
    # the identity step as it records a chip card (its own tests run it for real)
    await append_stand_in_identity(server, session_id, CARD_NUMBER)
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

    # later: print my result. The number is typed, the ID card is read by the reader and the
    # face at the camera (Obama, blinking) matched to the card's portrait
    images = {p.name: p.image for p in photos}
    cards = tmp_path / "cards"
    mine = id_card(cards / "mine", engine, images["obama3.jpg"])
    await tap(page, "open-result")
    await kiosk.wait_screen(Screen.RESULT)
    made_up = number[:-1] + ("1" if number[-1] == "0" else "0")
    await page.fill("[data-testid=result-number]", made_up)
    await tap(page, "result-submit")
    instruction = page.locator("[data-testid=result-instruction]")
    await expect(instruction).to_have_text("請把身份證插入讀卡器")
    await expect(page.locator("[data-testid=result-submit]")).to_be_disabled()
    insert_card(slot, mine)
    await expect(page.locator("[data-testid=result-action]")).to_have_text(
        "請眨一下眼", timeout=20000
    )
    await shot(page, "sign-result-recheck-blink")
    await notice_key(page, "error.bad_acceptance_number")  # read and matched; the number is not
    await expect(page.locator("[data-testid=result-check]")).to_be_hidden()

    # each failure says what went wrong, and the applicant tries again
    error = page.locator("[data-testid=result-error]")
    retry = page.locator("[data-testid=result-retry]")
    damaged = id_card(cards / "damaged", engine, images["obama3.jpg"])
    (damaged / "dg2.jpg").write_bytes((damaged / "dg2.jpg").read_bytes()[:-200])
    failures = [
        (damaged, "reprint.error.card_read_error"),  # the reader cannot read the card right
        (id_card(cards / "expired", engine, images["obama3.jpg"], expiry="200101"),
         "reprint.error.document_expired"),
        (id_card(cards / "other", engine, images["obama3.jpg"], number="Z9999999"),
         "reprint.error.identity_mismatch"),  # a valid card, but not the one applied with
        (id_card(cards / "biden", engine, images["biden.jpg"]), "reprint.error.face_mismatch"),
    ]  # fmt: skip
    await page.fill("[data-testid=result-number]", number)
    for index, (card, key) in enumerate(failures):
        insert_card(slot, card)
        await tap(page, "result-submit" if index == 0 else "result-retry")
        await page.wait_for_selector(
            f"[data-testid=result-error][data-key='{key}']:not([hidden])", timeout=30000
        )
        await expect(retry).to_be_visible()
    await expect(error).to_have_text("您的樣貌與證件相片不相符。請正面望向鏡頭，再試一次。")
    await expect(instruction).to_have_text("未能核對您的證件。")
    await shot(page, "sign-result-face-mismatch")

    insert_card(slot, mine)
    await tap(page, "result-retry")
    await page.wait_for_selector(
        "[data-testid=result-status][data-printing=printed]", timeout=30000
    )
    await shot(page, "sign-result-printed")
    assert len(printer.printed) == 3  # the receipt again and the approval
    events = await AuditLog(server.db).events(session_id)
    rechecks = [e.payload for e in events if e.kind == "reprint.requested"]
    # the damaged, expired and Biden cards never reached the server: only checked ones did
    assert [r["result"] for r in rechecks] == ["identity_mismatch", "ok"]
    mismatch, ok = (r["recheck"] for r in rechecks)
    assert (mismatch["document_matched"], ok["document_matched"]) == (False, True)
    assert ok["source"] == "chip" and ok["face"]["matched"]
    assert ok["face"]["score"] >= ok["face"]["threshold"]
    assert not [e for e in page.errors if "Failed to load resource" not in e], page.errors


async def test_a_kiosk_without_an_id_reader_prints_no_results(
    kiosk_without_reader: RunningKiosk, page: Any
) -> None:
    kiosk = kiosk_without_reader
    await open_kiosk(page, kiosk)
    await tap(page, "open-result")
    await kiosk.wait_screen(Screen.RESULT)
    status = page.locator("[data-testid=result-status]")
    await expect(status).to_have_text(
        "此自助機沒有身份證讀卡器，不能列印辦理結果。請使用另一部自助機，或向現場職員查詢。"
    )
    await expect(page.locator("[data-testid=result-submit]")).to_be_disabled()
    assert await page.locator("[data-testid=result-document]").count() == 0  # nothing to type
    # a look-up sent anyway is refused with the reason, never sent to the server
    await page.evaluate(
        "() => window.vcounterKiosk.send({type: 'look_up', acceptance_number: 'VC202612020000018'})"
    )
    await notice_key(page, "error.no_id_reader")
    view = kiosk.controller.view()
    assert view.lookup is not None and view.lookup.state == "unavailable"
