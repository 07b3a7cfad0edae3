"""The identity panel in the clerk console (Chromium): the kiosk's result appears during the
call, with the document fields, the score, the liveness outcome and the evidence pictures; a
failed check is overridden only with a written reason, which lands in the chain."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
import cv2
import pytest
from playwright.async_api import expect

from media.face_samples import Photo
from signaling.identity import OVERRIDE_EVENT
from storage.audit import AuditLog
from terminal_client.client import TerminalState
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_console_ui import go_available, kiosk, sign_in, wait_state
from tests.conftest import RunningServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


def _jpeg(image: Any) -> str:
    ok, data = cv2.imencode(".jpg", cv2.resize(image, (240, 300)))
    assert ok
    return base64.b64encode(data.tobytes()).decode()


async def test_clerk_sees_the_result_and_overrides_with_a_reason(
    server: RunningServer, page: Any, photos: list[Photo]
) -> None:
    await server.add_clerk("alice")
    await sign_in(page, server, "alice")
    await go_available(page)
    token = await server.add_terminal()
    terminal = kiosk(server, token)
    try:
        await terminal.connect()
        session_id = await terminal.request_service("tax-registration", "en")
        await page.click("[data-testid=accept-call]")
        await wait_state(page, "busy")
        await terminal.wait_for(TerminalState.IN_CALL, timeout=20)
        panel = page.locator("[data-testid=identity-panel]")
        await expect(panel).to_be_visible()
        await expect(page.locator("[data-testid=identity-status]")).to_contain_text("等待申请人")

        images = {p.name: p.image for p in photos}
        report = {
            "outcome": "failed",
            "failure_code": "face_mismatch",
            "document": {
                "source": "chip", "format": "TD1", "document_type": "ID", "issuing_state": "HKG",
                "document_number": "K1234567", "surname": "CHAN", "given_names": "TAI MAN",
                "nationality": "CHN", "birth_date": "1990-01-01", "sex": "M",
                "expiry_date": "2034-12-31", "optional_data": "",
            },
            "match": {"score": 0.31, "threshold": 0.4, "matched": False},
            "liveness": {
                "passed": True, "challenge": ["blink", "turn_left"],
                "completed": ["blink", "turn_left"], "reason": None, "frames": 60,
                "matched_frames": 12, "min_score": 0.2, "max_score": 0.45,
            },
            "evidence": [
                {"kind": "portrait", "jpeg_base64": _jpeg(images["obama3.jpg"])},
                {"kind": "frame", "jpeg_base64": _jpeg(images["obama.jpg"])},
            ],
        }  # fmt: skip
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{server.url}/api/sessions/{session_id}/identity",
                json=report,
                headers={"Authorization": f"Bearer {token}"},
            ) as r,
        ):
            assert r.status == 201, await r.text()

        status = page.locator("[data-testid=identity-status]")
        await expect(status).to_have_attribute("data-status", "failed")
        await expect(status).to_have_text("未通过核验")
        fields = page.locator("[data-testid=identity-fields]")
        await expect(fields.locator("[data-field=name]")).to_have_text("CHAN, TAI MAN")
        await expect(fields.locator("[data-field=number]")).to_have_text("K1234567")
        await expect(fields.locator("[data-field=source]")).to_have_text("证件芯片")
        await expect(page.locator("[data-testid=identity-score]")).to_contain_text("0.31")
        await expect(page.locator("[data-testid=identity-score]")).to_contain_text("不相符")
        await expect(page.locator("[data-testid=identity-liveness]")).to_contain_text("眨眼")
        await expect(page.locator("[data-testid=identity-failure]")).to_contain_text(
            "人脸与证件照不符"
        )
        pictures = page.locator("[data-testid=identity-evidence] img")
        await expect(pictures).to_have_count(2)
        widths = await pictures.evaluate_all("(imgs) => imgs.map((i) => i.naturalWidth)")
        assert widths == [240, 240]

        # no reason, no override
        form = page.locator("[data-testid=identity-override]")
        await expect(form).to_be_visible()
        await page.click("[data-testid=identity-override-submit]")
        await expect(page.locator("[data-testid=identity-override-error]")).to_have_text(
            "请写明理由(至少 10 个字符)。"
        )
        reason = "已当面核对通行证原件,照片为十年前拍摄。"
        await page.fill("[data-testid=identity-reason]", reason)
        await page.click("[data-testid=identity-override-submit]")
        await expect(status).to_have_attribute("data-status", "overridden")
        await expect(page.locator("[data-testid=identity-overridden]")).to_contain_text(reason)
        await expect(form).to_be_hidden()
        events = await AuditLog(server.db).events(session_id)
        override = [e for e in events if e.kind == OVERRIDE_EVENT]
        assert len(override) == 1 and override[0].payload["reason"] == reason

        # the panel follows the console's language
        await page.click("[data-testid=lang-en]")
        await expect(status).to_have_text("Not verified; accepted by the clerk")
        await page.screenshot(path=str(ARTIFACTS / "console-identity.png"), full_page=True)
        assert page.errors == []

        # the call ends: the panel goes away with it
        await terminal.hangup()
        await expect(panel).to_be_hidden()
    finally:
        await terminal.close()
