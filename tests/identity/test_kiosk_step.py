"""The identity step on the kiosk screen (Chromium): the clerk moves the call to step 3, the
applicant is told what to do in their language, an expired card is refused with a retry, a
valid card and a blink on the camera pass, and the clerk's panel shows both attempts."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import aiohttp
import cv2
import pytest
from aiohttp import web
from cv2.typing import MatLike
from playwright.async_api import Page, expect

from media.face_camera import ReplayTrack, blinking
from media.face_samples import Photo
from media.faces import FaceEngine
from media.liveness import Action
from media.mrz import MrzFields, MrzFormat, compose_mrz
from media.sources import LocalMedia, SyntheticAudioTrack
from terminal_client.id_reader import CARD_FOLDER, SimulatedCardReader, write_card
from terminal_client.kiosk.identity_step import KioskIdentity
from terminal_client.kiosk.messages import SetLanguage as KioskSetLanguage
from terminal_client.kiosk.run import build_kiosk
from terminal_client.kiosk.screens import KioskSettings
from terminal_client.kiosk.server import launch_url, page_key
from tests.conftest import CLERK_PASSWORD, RunningServer
from tests.identity.documents import SAMPLE, passport_photo
from tests.kiosk.conftest import ARTIFACTS, Clerk, RunningKiosk, clerk  # noqa: F401
from tests.kiosk.test_call import call_clerk
from tests.peers import login

# a real call, two identity attempts and Chromium: more than the default per-test budget
pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]
TODAY = date(2026, 12, 1)


def _card(folder: Path, engine: FaceEngine, photo: MatLike, expiry: str) -> Path:
    face = engine.detect(photo, max_width=1280)[0]
    ok, jpeg = cv2.imencode(".jpg", passport_photo(photo, face.box))
    assert ok
    fields = MrzFields(**{**SAMPLE.__dict__, "document_type": "ID", "expiry_date": expiry})
    return write_card(folder, compose_mrz(MrzFormat.TD1, fields), jpeg.tobytes())


@pytest.fixture
async def identity_kiosk(
    server: RunningServer, tmp_path: Path, engine: FaceEngine, photos: list[Photo]
) -> AsyncIterator[tuple[RunningKiosk, Path]]:
    images = {p.name: p.image for p in photos}
    frames = blinking(engine, images["obama.jpg"])
    slot = tmp_path / "slot"
    slot.mkdir()
    token = await server.add_terminal("kiosk-identity")
    identity = KioskIdentity(
        lambda _engine, _worker: SimulatedCardReader(slot, today=lambda: TODAY, poll_s=0.02),
        server.url, token, today=lambda: TODAY, challenge=[Action.BLINK],
    )  # fmt: skip
    controller, app = build_kiosk(
        server.url, token,
        lambda: LocalMedia(ReplayTrack(frames, loop=True), SyntheticAudioTrack()),
        None, KioskSettings(idle_timeout_s=600, idle_warning_s=10), name="id-kiosk",
        identity=identity,
    )  # fmt: skip
    await controller.start()
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        kiosk = RunningKiosk(
            controller, url, server, tmp_path / "tts", page_key(app), launch_url(url, app)
        )
        yield kiosk, slot
    finally:
        await runner.cleanup()
        await controller.close()


async def test_identity_step_on_the_kiosk_screen(
    server: RunningServer,
    identity_kiosk: tuple[RunningKiosk, Path],
    clerk: Clerk,  # noqa: F811
    page: Page,
    engine: FaceEngine,
    photos: list[Photo],
    tmp_path: Path,
) -> None:
    kiosk, slot = identity_kiosk
    images = {p.name: p.image for p in photos}
    expired = _card(tmp_path / "expired", engine, images["obama3.jpg"], "200101")
    valid = _card(tmp_path / "valid", engine, images["obama3.jpg"], "341231")
    shutil.copytree(expired, slot / CARD_FOLDER)

    await page.goto(kiosk.launch)
    await kiosk.controller.handle(KioskSetLanguage(type="set_language", language="zh-Hant"))
    await call_clerk(kiosk, clerk)
    await page.wait_for_selector("[data-testid=screen-call]:not([hidden])", timeout=15000)
    step = page.locator("[data-testid=identity-step]")
    await expect(step).to_be_hidden()

    # the clerk moves to step 3: the kiosk reads the card in the reader, which has expired
    await clerk.step(3)
    error = page.locator("[data-testid=identity-error]")
    await expect(error).to_have_text("此證件已過期，請使用仍然有效的證件。", timeout=20000)
    await expect(page.locator("[data-testid=identity-instruction]")).to_have_text(
        "未能核實您的身份。"
    )
    retry = page.locator("[data-testid=identity-retry]")
    await expect(retry).to_be_visible()

    # a valid card, and the applicant blinks when asked
    shutil.rmtree(slot / CARD_FOLDER)
    shutil.copytree(valid, slot / CARD_FOLDER)
    await retry.click()
    await expect(page.locator("[data-testid=identity-action]")).to_have_text(
        "請眨一下眼", timeout=20000
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "identity-challenge.png"))
    await expect(page.locator("[data-testid=identity-instruction]")).to_have_text(
        "多謝，您的身份已核實。", timeout=30000
    )
    await expect(error).to_be_hidden()
    await page.screenshot(path=str(ARTIFACTS / "identity-done.png"))

    # the clerk's panel: two attempts, the last verified
    session_id = kiosk.controller.view().session_id
    token = await login(server.url, "alice", CLERK_PASSWORD)
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{server.url}/api/sessions/{session_id}/identity",
            headers={"Authorization": f"Bearer {token}"},
        ) as r,
    ):
        panel = await r.json()
    assert (panel["status"], panel["attempts"]) == ("verified", 2)
    assert page_errors(page) == []


def page_errors(page: Page) -> list[str]:
    return list(getattr(page, "errors", []))
