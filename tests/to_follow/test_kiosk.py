"""The whole walk with a real kiosk: an application accepted at the counter with a material
to follow; at ANOTHER kiosk (Chromium, its ID reader and blinking face camera, its scanner)
the wrong card is refused, the right one lists the material, it is scanned and finished;
then the department approves and that kiosk prints the result."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from media.face_camera import ReplayTrack, blinking
from media.face_samples import Photo
from media.faces import FaceEngine
from media.liveness import Action
from media.sources import LocalMedia, SyntheticAudioTrack
from storage import store
from storage.audit import AuditLog
from terminal_client.id_reader import SimulatedCardReader
from terminal_client.kiosk.documents_ui import DocumentDevices
from terminal_client.kiosk.identity_step import KioskIdentity
from terminal_client.kiosk.screens import KioskSettings
from terminal_client.printer import FakeCupsPrinter
from terminal_client.scanner import SimulatedScanner
from tests.conftest import RunningServer
from tests.identity.conftest import engine, photos  # noqa: F401
from tests.kiosk.conftest import (  # noqa: F401
    RunningKiosk,
    browser,
    layout_problems,
    open_kiosk,
    page,
    serving_kiosk,
    shot,
    tap,
)
from tests.sign.conftest import (
    CARD_NUMBER,
    append_stand_in_identity,
    id_card,
    insert_card,
    open_counter,
    sign,
)
from tests.to_follow.conftest import FOLLOWS, MONDAY, append_scan, set_clock


@pytest.fixture
def printer() -> FakeCupsPrinter:
    return FakeCupsPrinter(paper=10)


@pytest.fixture
async def other_kiosk(
    server: RunningServer,
    tmp_path: Path,
    printer: FakeCupsPrinter,
    engine: FaceEngine,  # noqa: F811
    photos: list[Photo],  # noqa: F811
) -> AsyncIterator[RunningKiosk]:
    """A second kiosk with an ID reader (``tmp_path/slot``), a camera showing Obama
    blinking, a scanner and a printer."""
    slot = tmp_path / "slot"
    slot.mkdir()
    frames = blinking(engine, next(p.image for p in photos if p.name == "obama.jpg"))
    token = await server.add_terminal("kiosk-2")
    identity = KioskIdentity(
        lambda _engine, _worker: SimulatedCardReader(slot, poll_s=0.02), server.url, token,
        challenge=[Action.BLINK], document_timeout_s=30,
    )  # fmt: skip
    camera = lambda: LocalMedia(ReplayTrack(frames, loop=True), SyntheticAudioTrack())  # noqa: E731
    scanner = SimulatedScanner(dpi=100, seconds_per_scan=0.05)
    async with serving_kiosk(
        server, tmp_path, token,
        KioskSettings(idle_timeout_s=600, idle_warning_s=10, thanks_s=1.5), name="kiosk-2",
        media=camera, identity=identity, documents=DocumentDevices(scanner=scanner, phone=False),
        printer=printer, print_dir=tmp_path / "print",
    ) as running:  # fmt: skip
        yield running  # closing the controller closes the scanner too


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_material_to_follow_brought_at_another_kiosk_then_decided(
    other_kiosk: RunningKiosk,
    page: Page,  # noqa: F811
    printer: FakeCupsPrinter,
    engine: FaceEngine,  # noqa: F811
    photos: list[Photo],  # noqa: F811
    tmp_path: Path,
) -> None:
    server = other_kiosk.server
    set_clock(server, MONDAY)
    # at the counter (kiosk-1): identity and the essential materials in, the premises proof
    # to follow, signed
    desk = await open_counter(server)
    await append_stand_in_identity(server, desk.session_id, CARD_NUMBER)
    for material in ("business-licence", "legal-representative-id"):
        await append_scan(server, desk.session_id, material)
    status, _ = await desk.as_clerk(
        "POST", f"/api/sessions/{desk.session_id}/to-follow", {"material_id": FOLLOWS}
    )
    assert status == 201
    number = (await sign(desk))["acceptance_number"]
    decision = f"/api/sessions/{desk.session_id}/decision"
    approve = {"outcome": "approved", "reason": "complete"}
    status, refused = await desk.as_clerk("POST", decision, approve)
    assert status == 409 and refused["code"] == "material_outstanding"

    # at another kiosk: the number, then a card that is not the applicant's
    images = {p.name: p.image for p in photos}
    cards = tmp_path / "cards"
    slot = tmp_path / "slot"
    await open_kiosk(page, other_kiosk)
    await tap(page, "open-follow")
    await page.wait_for_selector("[data-testid=screen-follow]:not([hidden])")
    await page.fill("[data-testid=follow-number]", number)
    insert_card(slot, id_card(cards / "other", engine, images["obama3.jpg"], number="Z9999999"))
    await tap(page, "follow-submit")
    error = page.locator("[data-testid=follow-error]")
    await expect(error).to_have_attribute(
        "data-key", "reprint.error.identity_mismatch", timeout=30000
    )
    await expect(error).to_have_text(
        "這張證件不是申請時使用的證件。請插入申請時使用的證件，再試一次。"
    )

    # the right card: the material is listed with its due date, scanned and finished
    insert_card(slot, id_card(cards / "mine", engine, images["obama3.jpg"]))
    await tap(page, "follow-retry")
    item = page.locator(f"[data-testid=follow-list] li[data-material={FOLLOWS}]")
    await expect(item).to_be_visible(timeout=30000)
    await expect(item.locator(".follow-due")).to_have_text("補交期限：2026-12-14")
    await expect(page.locator(f"[data-testid=follow-finish-{FOLLOWS}]")).to_be_disabled()
    await shot(page, "follow-list")
    assert await layout_problems(page, "follow list") == []
    await tap(page, f"follow-scan-{FOLLOWS}")
    await expect(page.locator(f"[data-testid=follow-pages-{FOLLOWS}]")).to_have_text(
        "已掃描 1 頁", timeout=20000
    )
    await tap(page, f"follow-finish-{FOLLOWS}")
    status_line = page.locator("[data-testid=follow-status]")
    await expect(status_line).to_have_attribute("data-state", "done", timeout=20000)
    await expect(item).to_have_attribute("data-done", "true")
    await shot(page, "follow-done")
    assert await layout_problems(page, "follow done") == []

    # the department decides now; the result prints at this kiosk by number
    status, decided = await desk.as_clerk("POST", decision, approve)
    assert status == 200 and decided["state"] == "approved", decided
    await tap(page, "follow-home")
    await tap(page, "open-result")
    await page.fill("[data-testid=result-number]", number)
    await tap(page, "result-submit")
    await page.wait_for_selector(
        "[data-testid=result-status][data-printing=printed]", timeout=30000
    )
    assert len(printer.printed) == 2  # the receipt and the approval

    events = await AuditLog(server.db).events(desk.session_id)
    kinds = [e.kind for e in events]
    terminal = await store.find_terminal_by_token(server.db, other_kiosk.controller.client.token)
    assert terminal is not None
    lookups = [e.payload for e in events if e.kind == "material.lookup"]
    assert [x["result"] for x in lookups] == ["identity_mismatch", "ok"]
    assert lookups[1]["recheck"]["face"]["matched"]
    scans = [
        e for e in events if e.kind == "document.added" and e.payload["material_id"] == FOLLOWS
    ]
    assert len(scans) == 1 and scans[0].actor == f"terminal:{terminal.id}"
    assert kinds.index("material.supplied") < kinds.index("decision.recorded")
    errors = [e for e in page.errors if "Failed to load resource" not in e]  # type: ignore[attr-defined]
    assert not errors, errors
