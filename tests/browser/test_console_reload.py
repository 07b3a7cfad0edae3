"""A clerk who reloads the console during a call carries on with the same call: the page
comes back on it, the kiosk makes the next peer connection, and pictures flow both ways."""

from __future__ import annotations

from typing import Any

from media.sources import create_local_tracks
from storage import routing
from storage.audit import AuditLog
from terminal_client.client import TerminalClient, TerminalState
from tests.browser.polling import until_async
from tests.browser.test_call_in_chromium import FRAMES_DECODED, sign_in
from tests.conftest import RunningServer


async def available_clerk_and_kiosk(server: RunningServer, page: Any) -> TerminalClient:
    """Clerk alice signed in on ``page`` and available; a real kiosk, not yet connected."""
    await server.add_clerk("alice")
    token = await server.add_terminal("kiosk-reload")
    await sign_in(page, server, "alice")
    await page.click("[data-testid=availability-toggle]")
    await page.wait_for_function("() => window.vcounterConsole.state() === 'available'")
    return TerminalClient(
        server.url, token, lambda: create_local_tracks(True, "", "", label="kiosk"), name="kiosk"
    )


async def test_a_reload_mid_call_keeps_the_call(server: RunningServer, page: Any) -> None:
    terminal = await available_clerk_and_kiosk(server, page)
    try:
        await terminal.connect()
        session_id = await terminal.request_service("tax-registration", "en")
        await page.click("[data-testid=accept-call]")
        await terminal.wait_for(TerminalState.IN_CALL, timeout=20)
        await until_async(page, f"async () => (await ({FRAMES_DECODED})()).video >= 10", 20_000)
        await terminal.video_in.wait_for(10, timeout=20)

        await page.reload()
        # the same call on the new page, its pictures decoded there and the console's at the kiosk
        await until_async(page, f"async () => (await ({FRAMES_DECODED})()).video >= 30", 30_000)
        assert await page.evaluate("() => window.vcounterConsole.state()") == "busy"
        await page.get_by_test_id("hangup").wait_for(state="visible")
        seen = terminal.video_in.count
        await terminal.video_in.wait_for(seen + 30, timeout=20)
        assert terminal.state == TerminalState.IN_CALL and terminal.session_id == session_id

        session = await routing.get(server.db, session_id)
        assert session is not None and session.in_call
        kinds = [e.kind for e in await AuditLog(server.db).events(session_id)]
        assert "media.restarting" in kinds and "media.restored" in kinds, kinds

        await page.click("[data-testid=hangup]")
        await terminal.wait_for(TerminalState.ENDED, timeout=10)
        assert terminal.end_reason == "clerk_hangup"
        # the call the page came back to is over: a reload now is a console without a call
        await page.reload()
        await page.wait_for_function(
            "() => window.vcounterConsole && window.vcounterConsole.state() !== 'busy'"
        )
        assert not page.errors, page.errors
    finally:
        await terminal.close()


async def test_a_reload_while_a_call_rings_passes_it_on_at_once(
    server: RunningServer, page: Any
) -> None:
    """The new page cannot show the old one's ringing call: the old page's socket going
    passes it on at once (not left to ring out while the applicant waits), and the clerk,
    who did not answer, is away."""
    terminal = await available_clerk_and_kiosk(server, page)
    try:
        await terminal.connect()
        session_id = await terminal.request_service("tax-registration", "en")
        await page.locator("[data-testid=incoming-call]").wait_for(state="visible")
        await page.reload()
        await page.wait_for_function(
            "() => window.vcounterConsole && window.vcounterConsole.state() === 'away'"
        )
        await page.get_by_test_id("availability-toggle").wait_for(state="visible")
        kinds = [e.kind for e in await AuditLog(server.db).events(session_id)]
        assert "call.declined" in kinds and "call.timeout" not in kinds, kinds
        session = await routing.get(server.db, session_id)
        assert session is not None and session.state == "queued"
        assert not await page.locator("[data-testid=incoming-call]").is_visible()
        assert not page.errors, page.errors
    finally:
        await terminal.close()
