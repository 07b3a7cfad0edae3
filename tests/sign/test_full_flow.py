"""The seven steps end to end: an aiortc kiosk, the clerk in Chromium, printing to a spool.

service -> call -> (stand-in identity and two materials) -> form shown -> signature (the
clerk sees the ink live) -> approve in the console -> receipt printed at once, result pushed
to the kiosk's printer -> later, at another kiosk, reprint by acceptance number with the ID
re-check; every printed PDF verifies (seal, store, chain).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from media.sources import create_local_tracks
from signaling.keys import BLOBS
from signaling.paperwork.messages import SignatureSubmission, Stroke
from signaling.paperwork.routes import roots
from signaling.paperwork.verify import verify_pdf
from storage.audit import AuditLog
from terminal_client.client import TerminalClient, TerminalState
from terminal_client.errors import PaperworkRefused
from terminal_client.paperwork import KioskPaperwork
from terminal_client.printer import PrintQueue, SpoolPrinter
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_call_in_chromium import sign_in
from tests.conftest import RunningServer
from tests.sign.conftest import (
    DOCUMENT_NUMBER,
    append_stand_in_identity,
    append_stand_in_material,
    strokes,
)


# generous: the flow seals five PDFs and the test machine is shared
@pytest.mark.timeout(300)
async def test_seven_steps_with_the_clerk_in_chromium(
    server: RunningServer, page: Any, tmp_path: Path
) -> None:
    await server.add_clerk("alice", ["taxation"])
    token = await server.add_terminal("kiosk-wanchai-1")
    await sign_in(page, server, "alice")
    await page.click("[data-testid=availability-toggle]")
    await page.wait_for_function("() => window.vcounterConsole.state() === 'available'")

    terminal = TerminalClient(
        server.url, token, lambda: create_local_tracks(True, "", "", label="kiosk"),
        name="kiosk", recording=None,
    )  # fmt: skip
    spool = tmp_path / "spool"
    queue = PrintQueue(SpoolPrinter(spool), tmp_path / "queue")
    kiosk = KioskPaperwork(server.url, token, queue)
    kiosk.attach(terminal)
    await queue.start()
    try:
        # steps 1-2: the service and the call
        await terminal.connect()
        session_id = await terminal.request_service("tax-registration", "zh-Hant")
        await page.locator("[data-testid=accept-call]").click()
        await terminal.wait_for(TerminalState.IN_CALL, timeout=20)
        # steps 3-4: stand-ins for the identity and documents features
        await append_stand_in_identity(server, session_id)
        await append_stand_in_material(server, session_id, "business-licence", b"%PDF scan 1")
        await append_stand_in_material(server, session_id, "legal-representative-id", b"%PDF 2")
        # step 5: the clerk shows the form; the kiosk gets it and the applicant signs
        await page.click("[data-testid=paper-form]")
        await kiosk.wait_for(lambda: bool(kiosk.sign_requests))
        request = kiosk.sign_requests[-1]
        form_pdf = await kiosk.fetch(request.form)
        assert form_pdf.startswith(b"%PDF")
        await page.locator("[data-testid=paper-preview]").wait_for(state="visible")
        drawn = [Stroke.model_validate(s) for s in strokes()]
        await kiosk.send_ink(session_id, 600, 200, drawn[:1])
        await page.wait_for_function(
            "() => Number(document.querySelector('[data-testid=paper-ink]').dataset.points) > 0"
        )
        submission = SignatureSubmission(
            form_sha256=request.form.sha256, width=600, height=200, strokes=drawn
        )
        number, documents = await kiosk.sign(session_id, submission)
        receipt = next(d for d in documents if d.kind == "receipt")
        await kiosk.print_document(session_id, receipt)  # the receipt prints at once
        await queue.wait_idle(15)
        assert len(list(spool.glob("*.pdf"))) == 1
        # step 6: the clerk decides in the console, with a reason
        state = page.locator("[data-testid=paper-state]")
        await page.wait_for_function(
            "() => document.querySelector('[data-testid=paper-state]').dataset.state === 'submitted'"
        )
        assert number in await state.inner_text()
        await page.select_option("[data-testid=paper-outcome]", "approved")
        await page.fill("[data-testid=paper-reason]", "材料齊全")
        await page.click("[data-testid=paper-decide]")
        await page.wait_for_function(
            "() => document.querySelector('[data-testid=paper-state]').dataset.state === 'approved'"
        )
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "sign-console-decided.png"), full_page=True)
        # step 7: the clerk sends the result to the kiosk's printer
        await page.click("[data-testid=paper-print-result]")
        await kiosk.wait_for(lambda: len(kiosk.jobs) == 2)
        await queue.wait_idle(15)
        await page.click("[data-testid=hangup]")
        await terminal.wait_for(TerminalState.ENDED, timeout=10)
    finally:
        await terminal.close()
        await queue.close()

    # later, at another kiosk: by number, with the ID re-checked
    other_token = await server.add_terminal("kiosk-hall-2")
    other_spool = tmp_path / "spool-2"
    other_queue = PrintQueue(SpoolPrinter(other_spool), tmp_path / "queue-2")
    other = KioskPaperwork(server.url, other_token, other_queue)
    await other_queue.start()
    try:
        try:
            await other.reprint(number, "Z0000000")
            raise AssertionError("a reprint with another ID document was allowed")
        except PaperworkRefused as exc:
            assert exc.code == "identity_mismatch"
        view = await other.reprint(number, DOCUMENT_NUMBER)
        await other_queue.wait_idle(15)
    finally:
        await other_queue.close()
    assert view.state == "approved"
    printed = sorted(other_spool.glob("*.pdf"))
    assert len(printed) == 2
    for pdf in [*printed, *spool.glob("*.pdf")]:
        report = await verify_pdf(pdf.read_bytes(), server.db, server.app[BLOBS], roots(server.app))
        assert report.ok, report.checks
        assert report.acceptance_number == number
    assert (await AuditLog(server.db).verify(session_id)).ok
    kinds = [e.kind for e in await AuditLog(server.db).events(session_id)]
    for kind in ("form.generated", "signature.captured", "application.submitted",
                 "decision.recorded", "print.pushed", "print.reported", "reprint.requested"):  # fmt: skip
        assert kind in kinds, kind
    assert not [e for e in page.errors if "Failed to load resource" not in e], page.errors
