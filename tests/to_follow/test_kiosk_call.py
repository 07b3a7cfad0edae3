"""In the call, the applicant's kiosk (Chromium) shows a material the clerk accepted "to
follow" with the date to bring it by."""

from __future__ import annotations

import aiohttp
from playwright.async_api import Page, expect

from tests.browser.conftest import browser, chromium_path, page  # noqa: F401
from tests.documents.test_kiosk_documents import Kiosk, into_call, kiosk  # noqa: F401
from tests.to_follow.conftest import FOLLOWS, MONDAY, set_clock


async def test_the_kiosk_shows_a_material_to_follow_in_the_call(
    kiosk: Kiosk,  # noqa: F811
    page: Page,  # noqa: F811
) -> None:
    set_clock(kiosk.server, MONDAY)
    await into_call(kiosk, page)
    session_id = kiosk.controller.client.session_id
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{kiosk.server.url}/api/sessions/{session_id}/to-follow",
            json={"material_id": FOLLOWS},
            headers={"Authorization": f"Bearer {kiosk.clerk_token}"},
        ) as response,
    ):
        assert response.status == 201, await response.text()
    row = page.locator(f"[data-testid=kiosk-doc-{FOLLOWS}]")
    await expect(row).to_have_attribute("data-status", "to_follow", timeout=15000)
    await expect(row).to_contain_text("容缺後補：請於 2026-12-14 前補交")
    assert kiosk.status(FOLLOWS) == "to_follow"
    assert not [e for e in page.errors if "Failed to load resource" not in e], page.errors  # type: ignore[attr-defined]
