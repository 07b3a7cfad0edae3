"""The clerk's console in Chromium: an essential material offers no "to follow", one that may
follow is marked so, with 10 working days chosen, and both screens show its due date; once signed, the application says
what it waits for and an approval in the console is refused with the server's sentence."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from media.sources import create_local_tracks
from storage import store
from terminal_client.client import TerminalClient, TerminalState
from terminal_client.documents import KioskDocuments
from tests.browser.conftest import browser, chromium_path, page  # noqa: F401
from tests.browser.test_call_in_chromium import sign_in
from tests.conftest import CLERK_PASSWORD, RunningServer
from tests.documents.conftest import until
from tests.peers import login
from tests.sign.conftest import Counter, append_stand_in_identity, sign
from tests.to_follow.conftest import ESSENTIAL, FOLLOWS, MONDAY, append_scan, set_clock


@pytest.mark.timeout(180)
async def test_clerk_marks_a_material_to_follow_in_chromium(
    server: RunningServer,
    page: Any,  # noqa: F811
) -> None:
    set_clock(server, MONDAY)
    await server.add_clerk("alice")
    token = await server.add_terminal("kiosk-docs")
    await sign_in(page, server, "alice")
    await page.click("[data-testid=availability-toggle]")
    await page.wait_for_function("() => window.vcounterConsole.state() === 'available'")
    terminal = TerminalClient(
        server.url, token, lambda: create_local_tracks(True, "", "", label="kiosk"),
        name="kiosk", recording=None,
    )  # fmt: skip
    desk = KioskDocuments(terminal)
    try:
        await terminal.connect()
        session_id = await terminal.request_service("tax-registration", "zh-Hant")
        await page.click("[data-testid=accept-call]")
        await terminal.wait_for(TerminalState.IN_CALL, timeout=20)
        await desk.refresh()
        await page.wait_for_selector(f"[data-testid=doc-item-{FOLLOWS}][data-status=missing]")
        # essential: nothing to press; may follow: the button, then both screens agree
        await expect(page.locator(f"[data-testid=doc-follow-{ESSENTIAL}]")).to_have_count(0)
        await page.select_option(f"[data-testid=doc-follow-days-{FOLLOWS}]", "10")
        await page.click(f"[data-testid=doc-follow-{FOLLOWS}]")
        await page.wait_for_selector(f"[data-testid=doc-item-{FOLLOWS}][data-status=to_follow]")
        await expect(page.locator(f"[data-testid=doc-status-{FOLLOWS}]")).to_have_text(
            "容缺后补 · 期限 2026-12-21"
        )
        await expect(page.locator(f"[data-testid=doc-follow-{FOLLOWS}]")).to_have_count(0)

        def kiosk_item() -> tuple[str, str | None]:
            assert desk.checklist is not None
            item = next(i for i in desk.checklist.items if i.material_id == FOLLOWS)
            return item.status, item.due_on.isoformat() if item.due_on else None

        await until(lambda: kiosk_item() == ("to_follow", "2026-12-21"))

        # signed (the identity and the essential materials as their steps record them)
        await append_stand_in_identity(server, session_id)
        for material in ("business-licence", "legal-representative-id"):
            await append_scan(server, session_id, material)
        row = await store.find_terminal_by_token(server.db, token)
        assert row is not None
        clerk_token = await login(server.url, "alice", CLERK_PASSWORD)
        await sign(Counter(server, session_id, token, clerk_token, row.id))
        line = page.locator(f"[data-testid=paper-follow-{FOLLOWS}]")
        await expect(line).to_have_attribute("data-state", "outstanding", timeout=20000)
        await expect(line).to_contain_text("待补交,期限 2026-12-21")
        await expect(page.locator("[data-testid=paper-follow-note]")).to_have_text(
            "补交前不能批准;可退回或不予许可。"
        )
        # the list of applications waiting for a decision says the same
        waiting = page.locator(
            f"[data-testid=pending-{session_id}] [data-testid=pending-follow-{FOLLOWS}]"
        )
        await expect(waiting).to_have_attribute("data-state", "outstanding", timeout=20000)
        await page.select_option("[data-testid=paper-outcome]", "approved")
        await page.fill("[data-testid=paper-reason]", "all in order")
        await page.click("[data-testid=paper-decide]")
        await expect(page.locator("[data-testid=paper-message]")).to_contain_text(
            "这份申请还在等待容缺后补的材料,补交前不能批准", timeout=20000
        )
    finally:
        await desk.close()
        await terminal.close()
    assert not [e for e in page.errors if "Failed to load resource" not in e], page.errors
