"""What first-time users see (issue 21): walks through real Chromium, as the user would.

Each walk looks at the screen as a person does: the text in their language, the element on
screen and not covered by another (its bounding box inside the viewport, and
``document.elementFromPoint`` at its centre landing on it), and keeps a screenshot in
``test-artifacts/ux/``. :func:`raw_codes` finds internals that must never reach a page:
event names, snake_case codes, ``key=value`` payload fields and ``role:name`` actors.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright
from playwright.async_api import Error as PlaywrightError

from media.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.browser.conftest import attach_error_log

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ux"
CLERK_SCREEN = {"width": 1920, "height": 1080}
KIOSK_LANDSCAPE = {"width": 1920, "height": 1080}
KIOSK_PORTRAIT = {"width": 1080, "height": 1920}

pytestmark = pytest.mark.browser

# every event kind the server writes, and the shapes of codes and payload fields
EVENT_KINDS = [
    "session.created",
    "call.offered",
    "call.accepted",
    "media.connected",
    "step.changed",
    "prompt.pushed",
    "identity.result",
    "identity.override",
    "document.added",
    "document.refused",
    "material.reviewed",
    "form.generated",
    "signature.captured",
    "application.submitted",
    "document.stored",
    "decision.recorded",
    "print.pushed",
    "print.reported",
    "reprint.requested",
    "session.closed",
    "session.cancelled",
    "session.rated",
    "recording.segment",
]
RAW = re.compile(
    r"|".join(
        [
            *(re.escape(kind) for kind in EVENT_KINDS),
            r"\b[a-z]+(?:_[a-z0-9]+)+\b",  # in_call, bad_credentials, clerk_id
            r"\b[a-z_]+=",  # from=2, clerk_id=3
            r"\b(?:clerk|terminal|server|supervisor):\w",  # clerk:walker
        ]
    )
)
CJK = re.compile(r"[\u3400-\u9fff]")


def raw_codes(text: str) -> list[str]:
    """The internals found in a page's text (empty when it reads as words)."""
    return sorted({m.group(0) for m in RAW.finditer(text)})


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless, fake camera and microphone, autoplay allowed."""
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            yield chromium
        finally:
            await chromium.close()


async def new_page(browser: Browser, viewport: dict[str, int]) -> Page:
    """A fresh tab of ``viewport`` with camera and microphone allowed; errors collected."""
    context = await browser.new_context(
        viewport=viewport,  # type: ignore[arg-type]
        device_scale_factor=1,
        permissions=["camera", "microphone"],
    )
    page = await context.new_page()
    attach_error_log(page)
    return page


SEEN = """(el) => {
  // the middle of the view: a sticky header at the top edge would cover it, as for the user
  el.scrollIntoView({block: 'center', inline: 'nearest'});
  const r = el.getBoundingClientRect();
  const x = r.left + r.width / 2, y = r.top + r.height / 2;
  const hit = document.elementFromPoint(x, y);
  const style = getComputedStyle(el);
  return {
    width: r.width, height: r.height, left: r.left, top: r.top, right: r.right, bottom: r.bottom,
    vw: document.documentElement.clientWidth, vh: document.documentElement.clientHeight,
    inside: Boolean(hit) && (hit === el || el.contains(hit)),
    hit: hit ? (hit.dataset.testid || hit.id || hit.className || hit.tagName) : null,
    visible: style.visibility !== 'hidden' && style.display !== 'none' && Number(style.opacity) > 0,
    fontSize: parseFloat(style.fontSize),
    text: el.innerText,
  };
}"""


async def seen(page: Page, selector: str, timeout: float = 15_000) -> dict[str, Any]:
    """Assert ``selector``'s first match comes on screen, uncovered, within ``timeout`` ms;
    returns its box and text.

    ``selector`` is a CSS selector, or a bare test id. The element is measured until it is
    shown: a list the page redraws (a push from the server) may be between two renders at
    the first look, as it is for a blink of the user's eye.
    """
    css = selector if any(c in selector for c in "[.#: ") else f"[data-testid={selector}]"
    element = page.locator(css).first
    await element.wait_for(state="visible", timeout=timeout)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout / 1000
    while True:
        left_ms = max(1.0, (deadline - loop.time()) * 1000)
        try:
            box: dict[str, Any] = await element.evaluate(SEEN, timeout=left_ms)
        except PlaywrightError as exc:  # replaced by the next render while measured
            problem: str | None = f"{selector} could not be measured: {exc.message}"
        else:
            problem = _unseen(selector, box)
        if problem is None:
            return box
        if loop.time() > deadline:
            raise AssertionError(problem)
        await asyncio.sleep(0.1)


def _unseen(selector: str, box: dict[str, Any]) -> str | None:
    """Why the measured ``box`` is not seen by the user, or None when it is."""
    where = (
        f"{selector} at {box['left']:.0f},{box['top']:.0f} {box['width']:.0f}x{box['height']:.0f}"
    )
    if not (box["visible"] and box["width"] > 0 and box["height"] > 0):
        return f"{where} is not shown"
    inside = (
        box["left"] >= -1
        and box["top"] >= -1
        and box["right"] <= box["vw"] + 1
        and box["bottom"] <= box["vh"] + 1
    )
    if not inside:
        return f"{where} is outside the {box['vw']}x{box['vh']} screen"
    if not box["inside"]:
        return f"{where} is covered by {box['hit']!r}"
    return None


async def shot(page: Page, name: str) -> None:
    """Keep a screenshot in test-artifacts/ux/<name>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def real_errors(page: Page) -> list[str]:
    """The page's console errors, less refused requests the walk provoked on purpose."""
    errors: list[str] = page.errors  # type: ignore[attr-defined]
    return [e for e in errors if "Failed to load resource" not in e]
