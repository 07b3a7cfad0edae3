"""Issue 21 item 9: the clerk is told what a kiosk lacks and what a form would miss.

A clerk (English console, 1920 x 1080) answers a kiosk that has no document camera, no
scanner and no ID card reader. The identity panel says no check will come (instead of
waiting forever), the materials panel says the kiosk cannot capture or scan (and does not
ask it to), and *Make the form* first says what is missing, making it only when pressed
again. (The sign-in error and the empty decision list are walked in
``test_console_languages.py`` in all three languages.)
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CLERK_PASSWORD, RunningServer
from tests.ux.conftest import CLERK_SCREEN, new_page, raw_codes, real_errors, seen, shot
from tests.ux.kiosk import ux_kiosk

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


async def test_the_clerk_hears_what_the_kiosk_lacks(
    server: RunningServer, tmp_path: Path, browser: Any
) -> None:
    await server.add_clerk("walker")
    page = await new_page(browser, CLERK_SCREEN)
    await page.goto(server.url)
    await page.click("[data-testid=lang-en]")
    await page.fill("[data-testid=login-username]", "walker")
    await page.fill("[data-testid=login-password]", CLERK_PASSWORD)
    await page.click("[data-testid=login-submit]")
    await page.wait_for_function("() => window.vcounterConsole.state() === 'away'")
    await page.click("[data-testid=availability-toggle]")
    await page.wait_for_function("() => window.vcounterConsole.state() === 'available'")
    async with ux_kiosk(server, tmp_path, documents=False, python_clerk=False) as kiosk:
        calling = asyncio.create_task(kiosk.into_call("en"))
        await page.locator("[data-testid=incoming-call]").wait_for(state="visible", timeout=30_000)
        await page.click("[data-testid=accept-call]")
        await calling

        await page.click("[data-testid=nav-identity]")
        status = await seen(page, "identity-status", timeout=30_000)
        await page.wait_for_function(
            "() => document.querySelector('[data-testid=identity-status]').textContent"
            ".includes('no ID card reader')",
            timeout=30_000,
        )
        await page.click("[data-testid=nav-materials]")
        lacks = await seen(page, "doc-devices", timeout=30_000)
        assert lacks["text"] == (
            "This kiosk has neither a document camera nor a scanner; ask the applicant to use"
            " a USB stick or their phone."
        ), lacks
        assert await page.locator("[data-testid=doc-capture-camera]").is_disabled()
        assert await page.locator("[data-testid=doc-capture-scanner]").is_disabled()
        await shot(page, "item9-kiosk-lacks")

        await page.click("[data-testid=nav-paperwork]")
        await page.click("[data-testid=paper-form]")
        asked = await seen(page, "paper-message")
        assert asked["text"].startswith(
            "Not done yet: the identity check, accepting the required materials."
        ), asked["text"]
        again = await seen(page, "paper-form")
        assert again["text"].strip() == "Make the form anyway"
        await shot(page, "item9-form-asks-first")
        await page.click("[data-testid=paper-form]")
        await page.wait_for_function(
            "() => document.querySelector('[data-testid=paper-message]').dataset.key"
            " === 'paper.formSent'",
            timeout=60_000,
        )
        status = await seen(page, "identity-status")
        assert status["text"], status
        text = await page.inner_text("main")
        assert not raw_codes(text), raw_codes(text)
        await shot(page, "item9-form-made")
    assert real_errors(page) == []
