"""The seven steps end to end: an aiortc kiosk, the clerk in Chromium, printing to a spool.

service -> call -> identity (the clerk moves the call to step 3; the kiosk's simulated chip
reader reads a card made from a face photo, its camera shows the same person blinking) ->
two materials captured with the synthetic document camera and accepted by the clerk in the
console -> form shown -> signature (the clerk sees the ink live) -> approve in the console ->
receipt printed at once, result pushed to the kiosk's printer -> later, at another kiosk,
reprint by acceptance number after that kiosk's reader reads the card again and its camera
matches the face; every printed PDF verifies (seal, store, chain).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pypdfium2
import pytest
from playwright.async_api import expect

from media.document_camera import SyntheticDocumentCamera
from media.face_camera import ReplayTrack, blinking
from media.face_samples import Photo
from media.faces import FaceEngine
from media.liveness import Action
from media.sources import LocalMedia, SyntheticAudioTrack
from signaling.keys import BLOBS
from signaling.paperwork.messages import SignatureSubmission, Stroke
from signaling.paperwork.routes import roots
from signaling.paperwork.verify import verify_pdf
from storage.audit import AuditLog
from terminal_client.client import TerminalClient, TerminalState
from terminal_client.documents import KioskDocuments
from terminal_client.errors import PaperworkRefused
from terminal_client.id_reader import SimulatedCardReader
from terminal_client.identity import Progress
from terminal_client.kiosk.identity_step import KioskIdentity
from terminal_client.paperwork import KioskPaperwork
from terminal_client.printer import PrintQueue, SpoolPrinter
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_call_in_chromium import sign_in
from tests.conftest import RunningServer
from tests.documents.conftest import until
from tests.identity.conftest import engine, photos  # noqa: F401
from tests.sign.conftest import CARD_NUMBER, id_card, insert_card, strokes

MATERIALS = ("business-licence", "legal-representative-id")


def pdf_text(pdf: bytes) -> str:
    """All text of ``pdf`` with the whitespace taken out (long hashes wrap across lines)."""
    document = pypdfium2.PdfDocument(pdf)
    try:
        return "".join("".join(page.get_textpage().get_text_range().split()) for page in document)
    finally:
        document.close()


def kiosk_identity(server: RunningServer, token: str, slot: Path) -> KioskIdentity:
    """A kiosk's identity step over a simulated chip reader at ``slot``, asking for a blink."""
    return KioskIdentity(
        lambda _engine, _worker: SimulatedCardReader(slot, poll_s=0.02), server.url, token,
        challenge=[Action.BLINK],
    )  # fmt: skip


# generous: a real identity check, five sealed PDFs, and the test machine is shared
@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_seven_steps_with_the_clerk_in_chromium(
    server: RunningServer,
    page: Any,
    tmp_path: Path,
    engine: FaceEngine,  # noqa: F811
    photos: list[Photo],  # noqa: F811
) -> None:
    images = {p.name: p.image for p in photos}
    await server.add_clerk("alice", ["taxation"])
    token = await server.add_terminal("kiosk-wanchai-1")
    await sign_in(page, server, "alice")
    await page.click("[data-testid=availability-toggle]")
    await page.wait_for_function("() => window.vcounterConsole.state() === 'available'")

    # the applicant's card (a chip card made from one photo) and camera (another photo)
    card = id_card(tmp_path / "card", engine, images["obama3.jpg"])
    frames = blinking(engine, images["obama.jpg"])

    def camera() -> LocalMedia:
        return LocalMedia(ReplayTrack(frames, loop=True), SyntheticAudioTrack())

    slot = tmp_path / "slot"
    slot.mkdir()
    identity = kiosk_identity(server, token, slot)
    paper = SyntheticDocumentCamera()
    follow: Callable[[int], None] = lambda step: identity.follow_step(terminal.session_id, step)  # noqa: E731
    terminal = TerminalClient(
        server.url, token, lambda: identity.tap(camera()), name="kiosk", recording=None,
        document_track=paper.track, on_step=follow,
    )  # fmt: skip
    desk = KioskDocuments(terminal, camera=paper)
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

        # step 3: the clerk moves the call to the identity step; the card is in the reader
        insert_card(slot, card)
        await page.click("[data-testid=guide-step-3]")
        await until(lambda: (v := identity.view(session_id)) is not None and v.phase in ("done", "failed"), 90)  # fmt: skip
        view = identity.view(session_id)
        assert view is not None and view.phase == "done", view
        status = page.locator("[data-testid=identity-status]")
        await expect(status).to_have_attribute("data-status", "verified", timeout=15000)

        # step 4: two materials through the document camera, each accepted by the clerk
        await desk.refresh()
        await page.wait_for_selector("[data-testid=documents-panel]:not([hidden])")
        scans: dict[str, str] = {}
        for material in MATERIALS:
            captured = await desk.capture(material, "camera")
            assert captured.status.document is not None
            scans[material] = captured.status.document.sha256
            item = f"[data-testid=doc-item-{material}]"
            await page.wait_for_selector(f"{item}[data-status=received]")
            await page.click(f"[data-testid=doc-accepted-{material}]")
            await page.wait_for_selector(f"{item}[data-status=accepted]")
        await until(lambda: not set(MATERIALS) & set(desk.missing()), 15)  # the kiosk agrees

        # step 5: the clerk shows the form; the kiosk gets it and the applicant signs
        await page.click("[data-testid=paper-form]")
        # a material the service lists is not in: the console asks once, a second press makes it
        if await page.evaluate(
            "() => !!document.querySelector('[data-key=\"paper.confirmMissing\"]')"
        ):
            await page.click("[data-testid=paper-form]")
        await kiosk.wait_for(lambda: bool(kiosk.sign_requests))
        request = kiosk.sign_requests[-1]
        form_text = pdf_text(await kiosk.fetch(request.form))
        # the applicant as the chip read them, the identity result, the real scans' hashes
        assert CARD_NUMBER in form_text and "CHAN" in form_text
        # the identity check as a sentence in the applicant's language, no event names
        assert "現場人臉與證件相片相符" in form_text and "identity.result" not in form_text
        assert all(sha in form_text for sha in scans.values()), scans
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
        # the sealed application ends with the certificate of completion: same facts
        application = next(d for d in documents if d.kind == "application")
        certificate = pdf_text(await kiosk.fetch(application))
        assert CARD_NUMBER in certificate and "identity.result" not in certificate
        assert all(sha in certificate for sha in scans.values())

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
        await desk.close()
        await identity.close()
        await terminal.close()
        await queue.close()

    # later, at another kiosk: by number, after its reader and camera re-check the applicant
    other_token = await server.add_terminal("kiosk-hall-2")
    other_slot = tmp_path / "slot-2"
    other_slot.mkdir()
    other_identity = kiosk_identity(server, other_token, other_slot)
    other_spool = tmp_path / "spool-2"
    other_queue = PrintQueue(SpoolPrinter(other_spool), tmp_path / "queue-2")
    other = KioskPaperwork(server.url, other_token, other_queue)
    await other_queue.start()
    seen: list[Progress] = []
    try:
        # someone else's (valid) card: read and matched to the face, refused by the server
        insert_card(
            other_slot, id_card(tmp_path / "other", engine, images["obama3.jpg"], "Z9999999")
        )
        wrong = await other_identity.recheck(camera, seen.append)
        with pytest.raises(PaperworkRefused) as refused:
            await other.reprint(wrong.request(number))
        assert refused.value.code == "identity_mismatch"
        insert_card(other_slot, card)
        checked = await other_identity.recheck(camera, seen.append)
        assert checked.read.document.document_number == CARD_NUMBER  # read, not typed
        assert checked.face is not None and checked.face.matched
        view_after = await other.reprint(checked.request(number))
        await other_queue.wait_idle(15)
    finally:
        await other_identity.close()
        await other_queue.close()
    assert {p.phase for p in seen} >= {"document", "reading", "face", "challenge"}
    assert view_after.state == "approved"
    printed = sorted(other_spool.glob("*.pdf"))
    assert len(printed) == 2
    for pdf in [*printed, *spool.glob("*.pdf")]:
        report = await verify_pdf(pdf.read_bytes(), server.db, server.app[BLOBS], roots(server.app))
        assert report.ok, report.checks
        assert report.acceptance_number == number
    assert (await AuditLog(server.db).verify(session_id)).ok
    events = await AuditLog(server.db).events(session_id)
    kinds = [e.kind for e in events]
    for kind in ("identity.result", "document.added", "material.reviewed", "form.generated",
                 "signature.captured", "application.submitted", "decision.recorded",
                 "print.pushed", "print.reported", "reprint.requested"):  # fmt: skip
        assert kind in kinds, kind
    reprints = [e.payload for e in events if e.kind == "reprint.requested"]
    assert [r["result"] for r in reprints] == ["identity_mismatch", "ok"]
    assert reprints[-1]["recheck"]["face"]["score"] == checked.face.score
    assert not [e for e in page.errors if "Failed to load resource" not in e], page.errors
