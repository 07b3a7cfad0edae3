"""Kiosk fixtures: a real kiosk process (controller + page server) against the real server,
shown in Debian's Chromium through Playwright, and a Python clerk to take its calls."""

from __future__ import annotations

import asyncio
import contextlib
import re
import wave
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import Browser, Page, async_playwright

from media.chromium import CHROMIUM, CHROMIUM_ARGS
from media.sources import create_local_tracks
from signaling.messages import PushPrompt, SetAvailability
from storage.models import CallSession
from storage.store import get_session
from terminal_client.kiosk.controller import KioskController
from terminal_client.kiosk.documents_ui import DocumentDevices
from terminal_client.kiosk.messages import KioskView, Screen, ViewMessage
from terminal_client.kiosk.run import build_kiosk
from terminal_client.kiosk.screens import KioskSettings
from terminal_client.kiosk.server import launch_url, page_key
from terminal_client.kiosk.tts import Speech
from tests.browser.conftest import without_call_media
from tests.conftest import CLERK_PASSWORD, RunningServer
from tests.peers import ClerkPeer, login
from tests.teardown import bounded

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "kiosk"
LANDSCAPE = {"width": 1920, "height": 1080}
PORTRAIT = {"width": 1080, "height": 1920}


@dataclass
class RunningKiosk:
    """A kiosk process's parts, as ``vcounter terminal`` runs them."""

    controller: KioskController
    url: str
    server: RunningServer
    speech_dir: Path
    # this launch's page secret: as the header tools send, and the browser's launch URL
    key: dict[str, str] = field(default_factory=dict)
    launch: str = ""

    async def wait_screen(self, screen: Screen, timeout: float = 15.0) -> KioskView:
        """Wait until the controller shows ``screen``."""
        return await self.wait_view(lambda v: v.screen == screen, timeout, f"screen {screen}")

    async def wait_view(
        self, predicate: Callable[[KioskView], bool], timeout: float = 15.0, what: str = ""
    ) -> KioskView:
        """Wait until the controller's view satisfies ``predicate``."""
        view = self.controller.view()
        try:
            async with asyncio.timeout(timeout), self.controller.subscribe() as feed:
                while not predicate(view):
                    message = await feed.get()
                    if isinstance(message, ViewMessage):
                        view = message.view
        except TimeoutError:
            raise AssertionError(
                f"no {what or 'such view'} within {timeout:g} s; last: {view}"
            ) from None
        return view


async def stored_rating(server: RunningServer, session_id: str) -> CallSession:
    """The session row once its rating reached the store (the rate event is fire-and-forget)."""
    for _ in range(100):
        await server.stored()
        row = await get_session(server.db, session_id)
        if row.rating is not None:
            return row
        await asyncio.sleep(0.05)
    raise AssertionError(f"session {session_id} was not rated within 5 s")


def wav_frames(path: Path) -> int:
    """The number of audio frames in a WAV file (fails if it is not a valid WAV)."""
    with wave.open(str(path)) as audio:
        return audio.getnframes()


def speech_file(kiosk: RunningKiosk, url: str) -> Path:
    """The file behind a ``/tts/<name>.wav`` URL."""
    match = re.fullmatch(r"/tts/([0-9a-f]{64})\.wav", url)
    assert match, url
    return kiosk.speech_dir / f"{match.group(1)}.wav"


async def start_kiosk(
    server: RunningServer,
    tmp_path: Path,
    settings: KioskSettings,
    server_url: str | None = None,
    documents: DocumentDevices | None = None,
) -> tuple[RunningKiosk, web.AppRunner]:
    """A started kiosk controller and its page server on a free loopback port (with
    ``documents``: those devices)."""
    token = await server.add_terminal(f"kiosk-{tmp_path.name[-12:]}")
    speech_dir = tmp_path / "tts"
    controller, app = build_kiosk(
        server_url or server.url, token,
        lambda: create_local_tracks(True, "", "", label="kiosk"),
        Speech(speech_dir), settings, name="test-kiosk", documents=documents,
    )  # fmt: skip
    await controller.start()
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    url = f"http://127.0.0.1:{port}"
    return (
        RunningKiosk(controller, url, server, speech_dir, page_key(app), launch_url(url, app)),
        runner,
    )


@contextlib.asynccontextmanager
async def serving_kiosk(
    server: RunningServer,
    tmp_path: Path,
    token: str,
    settings: KioskSettings | None = None,
    *,
    before_start: Callable[[KioskController], None] | None = None,
    **build: Any,
) -> AsyncIterator[RunningKiosk]:
    """A kiosk process (controller and page server on a free loopback port) with the device
    ``token``; ``build`` goes to :func:`build_kiosk` (``media`` replaces the synthetic
    camera), ``before_start`` may swap a part before it starts. Stopped on the way out."""
    media = build.pop("media", lambda: create_local_tracks(True, "", "", label="kiosk"))
    controller, app = build_kiosk(
        server.url, token, media, Speech(tmp_path / "tts"),
        settings or KioskSettings(idle_timeout_s=600), **build,
    )  # fmt: skip
    if before_start is not None:
        before_start(controller)
    await controller.start()
    runner = web.AppRunner(app, access_log=None)
    try:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        yield RunningKiosk(
            controller, url, server, tmp_path / "tts", page_key(app), launch_url(url, app)
        )
    finally:
        await bounded(runner.cleanup(), "kiosk page server")
        await bounded(controller.close(), "kiosk controller")


@pytest.fixture
def kiosk_settings() -> KioskSettings:
    """Timings for tests: no idle reset unless a test asks for it, a short thanks screen."""
    return KioskSettings(idle_timeout_s=600, idle_warning_s=10, thanks_s=1.5, reconnect_max_s=1)


@pytest.fixture
async def kiosk(
    server: RunningServer, tmp_path: Path, kiosk_settings: KioskSettings
) -> AsyncIterator[RunningKiosk]:
    """A kiosk connected to the real server, its page served on loopback."""
    running, runner = await start_kiosk(server, tmp_path, kiosk_settings)
    try:
        yield running
    finally:
        await bounded(runner.cleanup(), "kiosk page server")
        await bounded(running.controller.close(), "kiosk controller")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless, with fake camera/microphone and autoplay allowed."""
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            yield chromium
        finally:
            await bounded(chromium.close(), "Chromium")


@pytest.fixture
async def page(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    """A landscape kiosk screen; console errors are collected in ``page.errors``. The call's
    video and sound reach it only in tests marked ``call_media`` (see without_call_media)."""
    context = await browser.new_context(viewport=LANDSCAPE, device_scale_factor=1)
    tab = await context.new_page()
    await without_call_media(tab, request.node)
    errors: list[str] = []
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.errors = errors  # type: ignore[attr-defined]
    try:
        yield tab
    finally:
        await bounded(context.close(), "browser context")


async def open_kiosk(page: Page, kiosk: RunningKiosk, screen: str = "language") -> None:
    """Load the kiosk page and wait until it shows ``screen``."""
    await page.goto(kiosk.launch)
    await page.wait_for_selector(f"[data-testid=screen-{screen}]:not([hidden])", timeout=15000)


async def shot(page: Page, name: str) -> None:
    """Save a screenshot to test-artifacts/kiosk/<name>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


async def set_language(page: Page, language: str) -> None:
    """Switch language as the top bar does (without the click's actionability checks)."""
    await page.evaluate(
        "(language) => window.vcounterKiosk.send({type: 'set_language', language})", language
    )
    await page.wait_for_function(f"() => document.documentElement.lang === '{language}'")


async def resize(page: Page, size: dict[str, int]) -> None:
    """Turn the screen; the page re-renders on the orientation change before the next frame."""
    await page.set_viewport_size(size)  # type: ignore[arg-type]
    await page.evaluate(NEXT_FRAME)


async def tap(page: Page, testid: str) -> None:
    """Touch the element with ``data-testid=testid``."""
    await page.click(f"[data-testid={testid}]")


async def shown(page: Page, screen: str, timeout: float = 15000) -> None:
    """Wait until the page shows ``screen``."""
    await page.wait_for_selector(f"[data-testid=screen-{screen}]:not([hidden])", timeout=timeout)


@dataclass
class Clerk:
    """A signed-in clerk (Python socket.io + aiortc), away until :meth:`available`."""

    peer: ClerkPeer

    async def available(self) -> None:
        await self.peer.emit("set_availability", SetAvailability(available=True).model_dump())

    async def push(self, kind: str, text: str = "", items: list[str] | None = None) -> None:
        """Put a prompt on the kiosk's screen, as the console's prompt buttons do."""
        assert self.peer.session_id is not None, "the clerk has no call"
        prompt = PushPrompt(
            session_id=self.peer.session_id, kind=kind, text=text, items=items or []
        )  # type: ignore[arg-type]
        await self.peer.emit("push_prompt", prompt.model_dump(mode="json"))

    async def step(self, step: int) -> None:
        assert self.peer.session_id is not None, "the clerk has no call"
        await self.peer.emit("set_step", {"session_id": self.peer.session_id, "step": step})

    async def hangup(self) -> None:
        assert self.peer.session_id is not None, "the clerk has no call"
        await self.peer.emit(
            "hangup", {"session_id": self.peer.session_id, "reason": "clerk_hangup"}
        )


@pytest.fixture
async def clerk(server: RunningServer) -> AsyncIterator[Clerk]:
    """Clerk Alice of every department, connected but away; she accepts every offer."""
    await server.add_clerk("alice")
    peer = ClerkPeer(server.url, await login(server.url, "alice", CLERK_PASSWORD))
    await peer.connect()
    await peer.wait(lambda: peer.status is not None)
    try:
        yield Clerk(peer)
    finally:
        await bounded(peer.close(), "clerk peer")


# Every visible element must fit its box and the screen, and every control has a test id; in
# care mode, every button must be a large touch target and the base type at least 40 px.
LAYOUT_PROBLEMS = """
() => {
  const vw = document.documentElement.clientWidth;
  const vh = document.documentElement.clientHeight;
  const care = document.body.classList.contains('care');
  const problems = [];
  const describe = (el) => el.dataset.testid
    || `${el.tagName.toLowerCase()}${typeof el.className === 'string' && el.className ? '.' + el.className.split(' ')[0] : ''}`;
  for (const el of [document.body, ...document.body.querySelectorAll('*')]) {
    if (el.closest('[hidden], template, svg, audio')) continue;
    const style = getComputedStyle(el);
    if (style.display === 'none' || style.visibility === 'hidden') continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    const what = describe(el);
    if (el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1) {
      problems.push(`${what}: content ${el.scrollWidth} px wide in a ${el.clientWidth} px box`);
    }
    // Vertically only boxes that clip: CJK glyphs are taller than a 1.3 line box by design,
    // which overflows by a few pixels without hiding anything.
    if (style.overflowY !== 'visible' && el.clientHeight > 0 && el.scrollHeight > el.clientHeight + 4) {
      problems.push(`${what}: content ${el.scrollHeight} px tall in a ${el.clientHeight} px box that clips`);
    }
    if (box.left < -1 || box.top < -1 || box.right > vw + 1 || box.bottom > vh + 1) {
      const at = [box.left, box.top, box.right, box.bottom].map(Math.round).join(',');
      problems.push(`${what}: outside the ${vw}x${vh} screen at ${at}`);
    }
    if (['BUTTON', 'INPUT', 'TEXTAREA', 'SELECT', 'A'].includes(el.tagName) && !el.dataset.testid) {
      problems.push(`${what}: an interactive element without a data-testid`);
    }
    if (care && el.tagName === 'BUTTON' && (box.width < 88 || box.height < 88)) {
      problems.push(`${what}: touch target ${Math.round(box.width)}x${Math.round(box.height)} < 88 px`);
    }
  }
  if (care && parseFloat(getComputedStyle(document.body).fontSize) < 40) {
    problems.push('care mode type is smaller than 40 px');
  }
  return problems;
}
"""

NEXT_FRAME = "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"


async def layout_problems(page: Page, where: str) -> list[str]:
    """What does not fit on the current screen, each line prefixed with ``where``.

    Measuring forces layout, so a render that already happened is measured as it will show.
    """
    problems: list[str] = await page.evaluate(LAYOUT_PROBLEMS)
    return [f"{where}: {p}" for p in problems]


# how many distinct colours a canvas shows in a 64-point grid: 1 means blank
_CANVAS_COLOURS = """
(selector) => {
  const canvas = document.querySelector(selector);
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  const seen = new Set();
  for (let y = 0; y < 8; y += 1) {
    for (let x = 0; x < 8; x += 1) {
      const px = Math.floor((y + 0.5) * canvas.height / 8) * canvas.width
        + Math.floor((x + 0.5) * canvas.width / 8);
      seen.add(data.slice(px * 4, px * 4 + 4).join(','));
    }
  }
  return seen.size;
}
"""


async def canvas_colours(page: Page, selector: str) -> int:
    """How many distinct colours the canvas at ``selector`` shows (1: blank)."""
    count: int = await page.evaluate(_CANVAS_COLOURS, selector)
    return count
