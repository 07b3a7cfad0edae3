"""Issue 21 item 3: the form the applicant signs reads as sentences in their language, and it
is readable on the kiosk (a zoom control makes it the column's full width).

The applicant's automatic check failed and the clerk confirmed them in person: the form's
identity line says so in Traditional Chinese, with no event name, code or username; on the
1920 x 1080 kiosk the form opens beside the clerk's video and *放大表格* enlarges it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest

from tests.conftest import RunningServer
from tests.ux.conftest import KIOSK_LANDSCAPE, raw_codes, real_errors, seen, shot
from tests.ux.kiosk import ux_kiosk
from tests.ux.paper import identity_result, ok

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


def pdf_text(data: bytes) -> str:
    document = pdfium.PdfDocument(data)
    try:
        return "\n".join(page.get_textpage().get_text_range() for page in document)
    finally:
        document.close()


async def test_the_form_speaks_the_applicants_language_and_can_be_enlarged(
    server: RunningServer, tmp_path: Path, browser: Any
) -> None:
    async with ux_kiosk(server, tmp_path, documents=False) as kiosk:
        session_id = await kiosk.into_call("zh-Hant")
        await identity_result(server, session_id, verified=False)
        override = {"reason": "checked the card against the applicant in person"}
        ok(await kiosk.as_clerk("POST", f"/api/sessions/{session_id}/identity/override", override))
        sign = ok(await kiosk.as_clerk("POST", f"/api/sessions/{session_id}/form"))

        # the document itself: every line a sentence in zh-Hant
        path = "/" + sign["form"]["url"].split("/", 3)[3]  # the URL's path on this server
        status, pdf = await kiosk.as_clerk("GET", path)
        assert status == 200
        text = pdf_text(pdf)
        assert "經辦職員已當面核對證件並確認申請人身份" in text, text
        for internal in ("identity.", "outcome", "override", "alice", "failed", "verified"):
            assert internal not in text, (internal, text)
        assert not raw_codes(text), raw_codes(text)

        page = await kiosk.open(browser, KIOSK_LANDSCAPE)
        await seen(page, "sign-panel")
        before = await seen(page, "sign-form")
        zoom = await seen(page, "sign-zoom")
        assert zoom["text"].strip() == "放大表格"
        await seen(page, "clerk-video")  # the clerk is not hidden behind the form
        await shot(page, "item3-form-zh-Hant")
        await page.click("[data-testid=sign-zoom]")
        await page.wait_for_selector("[data-testid=sign-zoom][aria-pressed=true]")
        after = await page.locator("[data-testid=sign-form]").evaluate(
            "(el) => el.getBoundingClientRect().width"
        )
        # about 450 px wide before; readable without the browser's zoom after
        assert after >= 800 and after > before["width"] * 1.5, (before["width"], after)
        assert (await seen(page, "sign-zoom"))["text"].strip() == "縮小表格"
        await seen(page, "clerk-video")
        await shot(page, "item3-form-enlarged")
        assert real_errors(page) == []
