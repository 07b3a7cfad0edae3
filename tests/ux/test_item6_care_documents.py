"""Issue 21 item 6: in care mode the materials box says what it is for.

An elderly applicant in care mode (Simplified Chinese, landscape and portrait kiosk) is in a
call that handles materials: the box's heading, how many are still needed and the material
being handed over are on screen and uncovered beside the buttons, and its text is large
(on a full-HD kiosk screen at least 0.75 of care mode's body text, not 24 px against 40 px),
and the whole screen fits (nothing off screen or clipped).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningServer
from tests.kiosk.conftest import layout_problems
from tests.ux.conftest import (
    KIOSK_LANDSCAPE,
    KIOSK_PORTRAIT,
    raw_codes,
    real_errors,
    seen,
    shot,
)
from tests.ux.kiosk import ux_kiosk

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


async def test_care_mode_shows_what_the_document_buttons_are_for(
    server: RunningServer, tmp_path: Path, browser: Any
) -> None:
    async with ux_kiosk(server, tmp_path) as kiosk:
        await kiosk.into_call("zh-Hans", care=True)
        await kiosk.wait_view(lambda v: v.documents is not None)
        page = await kiosk.open(browser, KIOSK_LANDSCAPE)
        await page.wait_for_selector("body.care [data-testid=kiosk-documents]:not([hidden])")
        body_px = await page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
        for size, name in ((KIOSK_LANDSCAPE, "landscape"), (KIOSK_PORTRAIT, "portrait")):
            await page.set_viewport_size(size)  # type: ignore[arg-type]
            heading = await seen(page, "[data-testid=kiosk-documents] h2")
            assert heading["text"] == "您的材料"
            missing = await seen(page, "documents-missing")
            assert missing["text"].startswith("尚需提交"), missing["text"]
            first = await seen(page, "[data-testid=documents-list] li")
            assert first["height"] >= 30 and first["text"].strip(), first
            lead = await seen(page, "[data-testid=documents-actions] .doc-lead")
            assert lead["text"].startswith("提交"), lead["text"]
            button = await seen(page, "[data-testid=documents-actions] button")
            for part in (missing, first, lead, button):
                assert part["fontSize"] >= 0.75 * body_px, (part["text"], part["fontSize"], body_px)
            await seen(page, "clerk-video")
            problems = await layout_problems(page, f"care documents {name}")
            assert not problems, "\n".join(problems)
            text = await page.inner_text("[data-testid=kiosk-documents]")
            assert not raw_codes(text), raw_codes(text)
            await shot(page, f"item6-care-documents-{name}")
        assert real_errors(page) == []
