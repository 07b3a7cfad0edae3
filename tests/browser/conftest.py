"""Chromium fixtures for the console tests: Debian's chromium driven by Playwright.

No browser is downloaded: the tests use ``/usr/bin/chromium`` with a fake camera and
microphone. Every fixture is function-scoped, so each test gets a fresh browser on its own
event loop (pytest-asyncio's default), and a screenshot of the page is kept in
``test-artifacts/`` to look at after a failure.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, ConsoleMessage, Error, Page, async_playwright

from media.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.teardown import bounded

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def chromium_path() -> Path:
    """Debian's chromium; skips the test without it (fails under CI=true, where it must exist)."""
    if not CHROMIUM.is_file():
        reason = f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason=reason)
    return CHROMIUM


@pytest.fixture
async def browser(chromium_path: Path) -> AsyncIterator[Browser]:
    """A headless Chromium with a fake camera and microphone, closed after the test."""
    async with async_playwright() as pw:
        instance = await pw.chromium.launch(
            executable_path=str(chromium_path), headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            yield instance
        finally:
            await bounded(instance.close(), "Chromium")


def attach_error_log(page: Page) -> list[str]:
    """Collect the page's console errors and uncaught exceptions in ``page.errors``."""
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    def on_page_error(error: Error) -> None:
        errors.append(f"uncaught: {error}")

    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    page.errors = errors  # type: ignore[attr-defined]
    return errors


# The kiosk page's websockets that stream the call's video and sound.
CALL_MEDIA_SOCKETS = re.compile(r"/media/(video|self|audio)$")


async def without_call_media(page: Page, node: pytest.Item | None = None) -> None:
    """Keep the call's video and sound off a kiosk page that is there for its screens,
    unless ``node`` (the test) is marked ``call_media``.

    Chromium 156 hangs the renderer of a kiosk page that is resized or captured while the
    call's media streams into it over its websockets (no frame, no script, no close() for
    minutes; neither decoding nor drawing the frames is needed, the stream alone does it).
    These sockets are answered by nobody here, as if the picture had not arrived yet; the
    media path itself is walked with ``@pytest.mark.call_media`` (tests/kiosk/test_display.py).
    """
    if node is not None and node.get_closest_marker("call_media") is not None:
        return
    await page.route_web_socket(CALL_MEDIA_SOCKETS, lambda _socket: None)


@pytest.fixture
async def page(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    """A fresh context and page with camera and microphone allowed; errors in ``page.errors``."""
    context = await browser.new_context(
        permissions=["camera", "microphone"], viewport={"width": 1280, "height": 900}
    )
    new_page = await context.new_page()
    attach_error_log(new_page)
    await without_call_media(new_page, request.node)
    try:
        yield new_page
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.name)
        # The page may already be gone after a crash; the test's own error says why.
        with contextlib.suppress(Error):
            await bounded(
                new_page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True),
                "screenshot",
            )
        await bounded(context.close(), "browser context")
