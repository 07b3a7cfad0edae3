"""Issue 21 item 4: the clerk stays in sight through signing, and the decision reaches the kiosk.

An applicant at a landscape kiosk signs the form the clerk sent: the clerk's video is on
screen and uncovered while the form is up, after signing, and when the department's
decision arrives, which the kiosk shows in the applicant's language. The portrait kiosk
keeps both in sight too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningServer
from tests.ux.conftest import (
    KIOSK_LANDSCAPE,
    KIOSK_PORTRAIT,
    raw_codes,
    real_errors,
    seen,
    shot,
)
from tests.ux.kiosk import ux_kiosk
from tests.ux.paper import draw, identity_result, ok

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


async def test_the_clerk_stays_visible_and_the_decision_is_shown(
    server: RunningServer, tmp_path: Path, browser: Any
) -> None:
    async with ux_kiosk(server, tmp_path, documents=False) as kiosk:
        session_id = await kiosk.into_call("zh-Hant")
        await identity_result(server, session_id, verified=True)
        ok(await kiosk.as_clerk("POST", f"/api/sessions/{session_id}/form"))
        page = await kiosk.open(browser, KIOSK_LANDSCAPE)
        await seen(page, "sign-pad")
        await seen(page, "clerk-video")
        await shot(page, "item4-signing")

        await draw(page, "sign-pad")
        await page.click("[data-testid=sign-submit]")
        number = await seen(page, "sign-number", timeout=60_000)
        assert number["text"].startswith("受理號：VC"), number["text"]
        await seen(page, "clerk-video")  # after signing: not covered for the rest of the call
        await shot(page, "item4-signed")

        decision = {"outcome": "returned", "reason": "請補交銀行開戶證明"}
        ok(await kiosk.as_clerk("POST", f"/api/sessions/{session_id}/decision", decision), 200)
        said = await seen(page, "sign-decision-text", timeout=60_000)
        assert said["text"] == "部門需要您補交材料。"
        assert (await seen(page, "sign-decision-reason"))["text"] == "理由：請補交銀行開戶證明"
        await seen(page, "clerk-video")
        text = await page.inner_text("[data-testid=screen-call]")
        assert not raw_codes(text), raw_codes(text)
        await shot(page, "item4-decision-landscape")

        await page.set_viewport_size(KIOSK_PORTRAIT)  # type: ignore[arg-type]
        await seen(page, "clerk-video")
        await seen(page, "sign-decision-text")
        await shot(page, "item4-decision-portrait")
        assert real_errors(page) == []
