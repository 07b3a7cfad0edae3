"""End to end in Chromium: the kiosk captures, the page appears in the clerk's console, the
clerk rejects it, the kiosk scans again, the clerk accepts; both screens agree throughout."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page

from media.document_camera import SyntheticDocumentCamera
from media.sources import create_local_tracks
from storage.audit import AuditLog
from terminal_client.client import TerminalClient, TerminalState
from terminal_client.documents import KioskDocuments
from terminal_client.scanner import SimulatedScanner
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_call_in_chromium import sign_in
from tests.conftest import RunningServer
from tests.documents.conftest import until

CONSOLE_CHECKLIST = """
() => Object.fromEntries([...document.querySelectorAll('#doc-checklist li')].map(
  (li) => [li.dataset.testid.replace('doc-item-', ''), li.dataset.status]))
"""


def kiosk_statuses(desk: KioskDocuments) -> dict[str, str]:
    assert desk.checklist is not None
    return {i.material_id: i.status for i in desk.checklist.items}


async def shown_sha(page: Page) -> str | None:
    return await page.get_attribute("[data-testid=doc-image]", "data-sha256")


async def both_agree(page: Page, desk: KioskDocuments, material: str, status: str) -> None:
    await until(lambda: desk.checklist is not None and kiosk_statuses(desk)[material] == status)
    await page.wait_for_selector(f"[data-testid=doc-item-{material}][data-status={status}]")
    assert await page.evaluate(CONSOLE_CHECKLIST) == kiosk_statuses(desk)


async def test_capture_review_rescan_accept_in_chromium(server: RunningServer, page: Any) -> None:
    await server.add_clerk("alice")
    token = await server.add_terminal("kiosk-docs")
    await sign_in(page, server, "alice")
    await page.click("[data-testid=availability-toggle]")
    await page.wait_for_function("() => window.vcounterConsole.state() === 'available'")

    camera = SyntheticDocumentCamera()
    scanner = SimulatedScanner(dpi=150, seconds_per_scan=0.05)
    terminal = TerminalClient(
        server.url, token, lambda: create_local_tracks(True, "", "", label="kiosk"),
        name="kiosk", recording=None, document_track=camera.track,
    )  # fmt: skip
    desk = KioskDocuments(terminal, camera=camera, scanner=scanner)
    try:
        await terminal.connect()
        session_id = await terminal.request_service("tax-registration", "en")
        await page.click("[data-testid=accept-call]")
        await terminal.wait_for(TerminalState.IN_CALL, timeout=20)
        await desk.refresh()
        await page.wait_for_selector("[data-testid=documents-panel]:not([hidden])")
        await both_agree(page, desk, "business-licence", "missing")

        # the clerk switches to English mid-call: the panels' own texts follow at once
        status = page.locator("[data-testid=doc-status-business-licence]")
        assert await status.inner_text() == "未提交"
        await page.wait_for_function(
            "() => document.querySelector('[data-testid=paper-state]').textContent.length > 0"
        )
        await page.click("[data-testid=lang-en]")
        await page.wait_for_function(
            "() => document.querySelector('[data-testid=doc-status-business-licence]')"
            ".textContent === 'missing'"
        )
        paper_state = await page.locator("[data-testid=paper-state]").text_content()
        assert paper_state and not any("\u4e00" <= ch <= "\u9fff" for ch in paper_state)
        await page.click("[data-testid=lang-zh-Hans]")
        await page.wait_for_function(
            "() => document.querySelector('[data-testid=doc-status-business-licence]')"
            ".textContent === '未提交'"
        )

        # the document camera plays beside the applicant's face
        await page.wait_for_function(
            "() => document.querySelector('[data-testid=document-video]').videoWidth === 640",
            timeout=20000,
        )

        # the clerk asks for a capture; the kiosk takes it and the page appears
        await page.select_option("[data-testid=doc-material]", "business-licence")
        await page.click("[data-testid=doc-capture-camera]")
        await until(lambda: len(desk.captures) == 1, timeout=20)
        first = desk.captures[0].status.document
        assert first is not None
        await page.wait_for_function(
            f"() => document.querySelector('[data-testid=doc-image]').dataset.sha256 === '{first.sha256}'"
            " && document.querySelector('[data-testid=doc-image]').naturalWidth > 1000"
        )
        # its first paint is noted (bench.documents times to it)
        await page.wait_for_function(
            f"() => window.vcounterConsole.documentShownAt('{first.sha256}') !== null"
        )
        await both_agree(page, desk, "business-licence", "received")

        # rejecting needs a reason; the applicant sees it
        await page.click("[data-testid=doc-rejected-business-licence]")
        assert "原因" in await page.inner_text(
            "[data-testid=doc-message]"
        )  # the console is in 简体中文
        await page.fill("[data-testid=doc-reason]", "the page is cut off at the bottom")
        await page.click("[data-testid=doc-rejected-business-licence]")
        await both_agree(page, desk, "business-licence", "rejected")
        assert desk.checklist is not None
        item = next(i for i in desk.checklist.items if i.material_id == "business-licence")
        assert item.reason == "the page is cut off at the bottom" and item.documents == []

        # the applicant scans it again (the kiosk's own command this time)
        again = await desk.capture("business-licence", "scanner")
        assert again.status.document is not None
        await page.wait_for_function(
            f"() => document.querySelector('[data-testid=doc-image]').dataset.sha256 === '{again.status.document.sha256}'"
        )
        await both_agree(page, desk, "business-licence", "received")
        # the strip keeps both pages, the rejected one marked
        assert await page.locator("[data-testid=doc-thumbs] button").count() == 2
        assert await page.locator(".doc-thumb-superseded").count() == 1

        # the viewer pages, zooms and rotates
        await page.click("[data-testid=doc-prev]")
        assert await shown_sha(page) == first.sha256
        assert "1" in await page.inner_text("[data-testid=doc-page]")
        await page.click("[data-testid=doc-next]")
        assert await shown_sha(page) == again.status.document.sha256
        await page.click("[data-testid=doc-rotate]")
        await page.click("[data-testid=doc-zoom-in]")
        assert await page.get_attribute("[data-testid=doc-image]", "data-rotation") == "90"
        assert await page.get_attribute("[data-testid=doc-image]", "data-zoom") == "1.5"
        transform = await page.evaluate(
            "() => document.querySelector('[data-testid=doc-image]').style.transform"
        )
        assert "rotate(90deg)" in transform

        await page.click("[data-testid=doc-accepted-business-licence]")
        await both_agree(page, desk, "business-licence", "accepted")

        # a re-scan request on another material
        await desk.capture("legal-representative-id", "camera")
        await both_agree(page, desk, "legal-representative-id", "received")
        await page.fill("[data-testid=doc-reason]", "too dark, please scan again")
        await page.click("[data-testid=doc-rescan-legal-representative-id]")
        await both_agree(page, desk, "legal-representative-id", "rescan")
        assert "legal-representative-id" in desk.missing()
        assert "business-licence" not in desk.missing()
        assert page.errors == []  # type: ignore[attr-defined]
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "documents-console-in-call.png"), full_page=True)
    finally:
        await desk.close()
        scanner.close()
        await terminal.close()

    events = await AuditLog(server.db).events(session_id)
    kinds = [e.kind for e in events]
    assert kinds.count("document.added") == 3 and kinds.count("material.reviewed") == 3
    accepted = next(
        e for e in events if e.kind == "material.reviewed" and e.payload["decision"] == "accepted"
    )
    assert len(accepted.payload["pdf_sha256"]) == 64  # the accepted material as one PDF
    assert (await AuditLog(server.db).verify(session_id)).ok
