"""The kiosk's call screen with documents, in Chromium: the applicant sees what is missing,
hands pages over by scanner, camera, USB stick and phone, and sees the clerk's decisions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import Page

from media.document_camera import SyntheticDocumentCamera
from media.sources import create_local_tracks
from signaling.document_texts import refusal_text
from terminal_client.imports import UsbFolder
from terminal_client.kiosk.controller import KioskController
from terminal_client.kiosk.documents_ui import DocumentDevices
from terminal_client.kiosk.messages import (
    ChooseService,
    KioskView,
    SetCareMode,
    SetLanguage,
    SimpleCommand,
)
from terminal_client.kiosk.run import build_kiosk
from terminal_client.kiosk.screens import KioskSettings
from terminal_client.kiosk.server import launch_url
from terminal_client.scanner import SimulatedScanner
from tests.browser.conftest import ARTIFACTS
from tests.conftest import CLERK_PASSWORD, RunningServer
from tests.documents import samples
from tests.documents.conftest import until
from tests.kiosk.conftest import NEXT_FRAME, layout_problems
from tests.peers import ClerkPeer, login


@dataclass
class Kiosk:
    controller: KioskController
    url: str
    clerk: ClerkPeer
    clerk_token: str
    server: RunningServer

    def docs(self) -> Any:
        view: KioskView = self.controller.view()
        return view.documents

    def status(self, material: str) -> str:
        docs = self.docs()
        return (
            "" if docs is None else next(i.status for i in docs.items if i.material_id == material)
        )

    async def review(self, material: str, decision: str, reason: str = "") -> None:
        session_id = self.controller.client.session_id
        url = f"{self.server.url}/api/sessions/{session_id}/materials/{material}/review"
        headers = {"Authorization": f"Bearer {self.clerk_token}"}
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                url, json={"decision": decision, "reason": reason}, headers=headers
            ) as response,
        ):
            assert response.status == 200, await response.text()


@pytest.fixture
async def kiosk(server: RunningServer, tmp_path: Path) -> AsyncIterator[Kiosk]:
    stick = tmp_path / "usb"
    stick.mkdir()
    (stick / "licence.pdf").write_bytes(samples.good_pdf(1))
    (stick / "locked.pdf").write_bytes(samples.encrypted_pdf())
    devices = DocumentDevices(
        camera=SyntheticDocumentCamera(),
        scanner=SimulatedScanner(dpi=150, seconds_per_scan=0.05),
        usb=UsbFolder(stick),
    )
    await server.add_clerk("alice")
    clerk_token = await login(server.url, "alice", CLERK_PASSWORD)
    clerk = ClerkPeer(server.url, clerk_token)
    token = await server.add_terminal("kiosk-docs")
    settings = KioskSettings(idle_timeout_s=600, idle_warning_s=10, reconnect_max_s=1)
    controller, app = build_kiosk(
        server.url, token, lambda: create_local_tracks(True, "", "", label="kiosk"), None,
        settings, name="docs-kiosk", documents=devices,
    )  # fmt: skip
    await controller.start()
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        await clerk.connect()
        await clerk.wait(lambda: clerk.status is not None and clerk.status.state == "away")
        await clerk.emit("set_availability", {"available": True})
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        yield Kiosk(controller, launch_url(url, app), clerk, clerk_token, server)
    finally:
        await runner.cleanup()
        await controller.close()
        await clerk.close()


async def into_call(kiosk: Kiosk, page: Page) -> None:
    controller = kiosk.controller
    await until(lambda: controller.screen == "language", 15)
    await controller.handle(SetLanguage(type="set_language", language="zh-Hant"))
    await controller.handle(SimpleCommand(type="start"))
    await controller.handle(ChooseService(type="choose_service", service_id="tax-registration"))
    await controller.handle(SimpleCommand(type="call"))
    await until(lambda: kiosk.docs() is not None, 30)
    await page.goto(kiosk.url)
    await page.wait_for_selector("[data-testid=kiosk-documents]:not([hidden])")


async def test_applicant_sees_missing_items_and_hands_them_over(kiosk: Kiosk, page: Page) -> None:
    await into_call(kiosk, page)
    box = page.locator("[data-testid=kiosk-documents]")
    assert "尚需提交" in await box.inner_text()
    row = page.locator("[data-testid=kiosk-doc-business-licence]")
    assert await row.get_attribute("data-status") == "missing"
    assert "營業執照" in await row.inner_text()

    # scan: the first missing material is the one the buttons act on
    await page.click("[data-testid=doc-scanner]")
    await page.wait_for_selector("[data-testid=kiosk-doc-business-licence][data-status=received]")
    await kiosk.review("business-licence", "rejected", "請提供清晰的影印本")
    await page.wait_for_selector("[data-testid=kiosk-doc-business-licence][data-status=rejected]")
    assert "請提供清晰的影印本" in await row.inner_text()

    # again, by the document camera
    await page.click("[data-testid=kiosk-doc-pick-business-licence]")
    await page.click("[data-testid=doc-camera]")
    await page.wait_for_selector("[data-testid=kiosk-doc-business-licence][data-status=received]")
    await kiosk.review("business-licence", "accepted")
    await page.wait_for_selector("[data-testid=kiosk-doc-business-licence][data-status=accepted]")
    assert kiosk.status("business-licence") == "accepted"

    # a USB file that is refused: the server's sentence, in the applicant's language
    await page.click("[data-testid=doc-usb]")
    await page.click("[data-testid='usb-file-locked.pdf']")
    error = page.locator("[data-testid=documents-error]")
    await error.wait_for(state="visible")
    assert await error.inner_text() == refusal_text("encrypted_pdf", "zh-Hant")
    # and one that goes through
    await page.click("[data-testid=doc-usb]")
    await page.click("[data-testid='usb-file-licence.pdf']")
    await page.wait_for_selector(
        "[data-testid=kiosk-doc-legal-representative-id][data-status=received]"
    )

    # everything fits the screen, in ordinary and in care mode
    ARTIFACTS.mkdir(exist_ok=True)
    await page.evaluate(NEXT_FRAME)
    problems = await layout_problems(page, "documents")
    print("PROBLEMS", "\n".join(problems))
    assert problems == []
    await page.screenshot(path=str(ARTIFACTS / "kiosk-documents.png"))
    await kiosk.controller.handle(SetCareMode(type="set_care_mode", on=True))
    await page.wait_for_selector("body.care")
    await page.evaluate(NEXT_FRAME)
    await page.screenshot(path=str(ARTIFACTS / "kiosk-documents-care.png"))
    assert await layout_problems(page, "documents, care mode") == []
    await page.screenshot(path=str(ARTIFACTS / "kiosk-documents-care.png"))


async def test_phone_link_takes_one_file_then_is_spent(
    kiosk: Kiosk, page: Page, tmp_path: Path
) -> None:
    await into_call(kiosk, page)
    await page.click("[data-testid=doc-phone]")
    qr = page.locator("[data-testid=phone-qr]")
    await qr.wait_for(state="visible")
    assert (await qr.get_attribute("src") or "").startswith("data:image/svg+xml")
    link = kiosk.docs().phone_url
    assert link and "/phone/" in link

    phone = await page.context.new_page()
    await phone.goto(link)
    await phone.wait_for_selector("[data-testid=phone-send]")
    assert "上傳文件" in await phone.inner_text("h1")
    picture = tmp_path / "IMG_0001.jpg"
    picture.write_bytes(samples.page_jpeg(21))
    await phone.select_option("[data-testid=phone-material]", "premises-proof")
    await phone.set_input_files("[data-testid=phone-file]", str(picture))
    await phone.click("[data-testid=phone-send]")
    await phone.wait_for_function(
        "() => document.querySelector('[data-testid=phone-status]').textContent.includes('已收到')"
    )
    await page.wait_for_selector("[data-testid=kiosk-doc-premises-proof][data-status=received]")

    # the same link again: spent
    await phone.reload()
    await phone.wait_for_function(
        "() => document.querySelector('[data-testid=phone-status]').textContent.length > 0"
    )
    assert "already used" in await phone.inner_text("[data-testid=phone-status]")
    assert not await phone.is_visible("[data-testid=phone-send]"), "a spent link shows its form"
    await phone.close()
