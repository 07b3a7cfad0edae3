"""Issue 21 item 7: a cut-off call offers "call again" at the front of the queue, not the rating.

The applicant (Traditional Chinese, landscape kiosk) is in a call when the clerk's console
drops. They see a clear screen in their language with a *Call again* button, no error over a
title and no stars; one touch asks for the same service again with ``recall_of`` naming the
lost call, and a clerk answers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningServer
from tests.ux.conftest import (
    CJK,
    KIOSK_LANDSCAPE,
    raw_codes,
    real_errors,
    seen,
    shot,
)
from tests.ux.kiosk import clerk_available, ux_kiosk

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


# the clerk's console is gone for good: a short grace period, then the call is lost
@pytest.mark.grace(1.0)
async def test_a_cut_off_call_is_offered_again_first(
    server: RunningServer, tmp_path: Path, browser: Any
) -> None:
    async with ux_kiosk(server, tmp_path, documents=False) as kiosk:
        lost = await kiosk.into_call("zh-Hant")
        sent: list[str | None] = []
        request = kiosk.controller.client.request_service

        async def request_service(*args: Any, **kwargs: Any) -> str:
            sent.append(kwargs.get("recall_of"))  # what goes to the real server
            return await request(*args, **kwargs)

        kiosk.controller.client.request_service = request_service  # type: ignore[method-assign]
        page = await kiosk.open(browser, KIOSK_LANDSCAPE)
        await seen(page, "screen-call")

        await kiosk.clerk.close()  # the clerk's console drops mid-call
        await page.wait_for_selector("[data-testid=screen-interrupted]:not([hidden])")
        title = await seen(page, "[data-testid=screen-interrupted] h1")
        assert title["text"] == "通話中斷了"
        assert "稅務登記" in (await seen(page, "interrupted-service"))["text"]
        again = await seen(page, "call-again")
        assert again["text"].strip() == "再次呼叫"
        await seen(page, "interrupted-finish")
        # not "how was our service?" with an error laid over it
        assert await page.locator("[data-testid=notice]").is_hidden()
        assert await page.locator("[data-testid=screen-ended]").is_hidden()
        text = await page.inner_text("main")
        assert CJK.search(text) and not raw_codes(text), raw_codes(text)
        await shot(page, "item7-interrupted-zh-Hant")

        other, _ = await clerk_available(server, "bella")  # a clerk to take the new call
        try:
            await page.click("[data-testid=call-again]")
            await page.wait_for_selector("[data-testid=screen-call]:not([hidden])", timeout=30_000)
            await seen(page, "clerk-video")
            await shot(page, "item7-called-again")
        finally:
            await other.close()
        assert sent == [lost]
        assert kiosk.controller.view().session_id not in (None, lost)
        assert real_errors(page) == []
