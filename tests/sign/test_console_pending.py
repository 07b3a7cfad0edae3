"""A second approver of the department decides in the console, after the call has ended."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.test_call_in_chromium import sign_in
from tests.conftest import RunningServer
from tests.sign.conftest import append_stand_in_identity, open_counter, sign


@pytest.mark.timeout(300)
async def test_second_approver_sees_and_decides_pending(server: RunningServer, page: Any) -> None:
    first = await open_counter(server, "carol", "kiosk-3", service="pension-claim")
    await append_stand_in_identity(server, first.session_id)
    await sign(first)
    path = f"/api/sessions/{first.session_id}/decision"
    _, view = await first.as_clerk("POST", path, {"outcome": "approved", "reason": "fine"})
    assert view["state"] == "awaiting_second_approval"
    await server.add_clerk("dave", ["human-resources-social-security"])
    await sign_in(page, server, "dave")
    item = page.locator(f"[data-testid=pending-{first.session_id}]")
    await item.wait_for(state="visible")
    assert view["acceptance_number"] in await item.inner_text()
    await item.locator("[data-testid=pending-outcome]").select_option("returned")
    await item.locator("[data-testid=pending-reason]").fill("缺少银行卡复印件")
    await item.locator("[data-testid=pending-decide]").click()
    await item.wait_for(state="detached")
    _, after = await first.as_clerk("GET", f"/api/sessions/{first.session_id}/application")
    assert after["state"] == "returned"
    assert [(d["stage"], d["outcome"]) for d in after["decisions"]] == [
        ("first", "awaiting_second_approval"),
        ("second", "returned"),
    ]
    assert not [e for e in page.errors if "Failed to load resource" not in e], page.errors
