"""Making the form right after a call opened: a checklist not yet loaded accepts nothing."""

from __future__ import annotations

import asyncio
from typing import Any

from playwright.async_api import Route

from media.sources import create_local_tracks
from terminal_client.client import TerminalClient, TerminalState
from tests.browser.test_call_in_chromium import sign_in
from tests.conftest import RunningServer


async def test_a_form_asked_for_before_the_checklist_arrives_names_the_materials(
    server: RunningServer, page: Any
) -> None:
    await server.add_clerk("alice")
    token = await server.add_terminal("kiosk-early-form")
    await sign_in(page, server, "alice")
    await page.click("[data-testid=lang-en]")
    await page.click("[data-testid=availability-toggle]")
    await page.wait_for_function("() => window.vcounterConsole.state() === 'available'")
    # the session's documents and checklist are held back until the form has been asked for,
    # as on a slow link right after the call opened
    asked, released = asyncio.Event(), asyncio.Event()

    async def hold(route: Route) -> None:
        asked.set()
        await released.wait()
        await route.continue_()

    await page.route("**/api/sessions/*/documents", hold)
    terminal = TerminalClient(
        server.url, token, lambda: create_local_tracks(True, "", "", label="kiosk"), name="kiosk"
    )
    try:
        await terminal.connect()
        await terminal.request_service("tax-registration", "en")
        await page.locator("[data-testid=incoming-call]").wait_for(state="visible")
        await page.click("[data-testid=accept-call]")
        await terminal.wait_for(TerminalState.IN_CALL, timeout=20)
        # the console asked for the checklist: it is on its way, not here
        await asyncio.wait_for(asked.wait(), 20)
        await page.click("[data-testid=nav-paperwork]")
        await page.click("[data-testid=paper-form]")
        message = page.locator("[data-testid=paper-message]")
        await page.wait_for_function(
            "() => document.querySelector('[data-testid=paper-message]').dataset.key"
            " === 'paper.confirmMissing'"
        )
        text = await message.inner_text()
        assert "the identity check" in text and "required materials" in text, text
        released.set()
        await terminal.hangup()
        await terminal.wait_for(TerminalState.ENDED)
    finally:
        released.set()
        await terminal.close()
