"""A kiosk for the walks: the real kiosk process (controller and page server) with synthetic
document devices and a CUPS-like printer, against the real server, and a Python clerk."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from playwright.async_api import Browser, Page

from media.document_camera import SyntheticDocumentCamera
from media.sources import LocalMedia, create_local_tracks
from signaling.messages import Language
from terminal_client.kiosk.controller import KioskController
from terminal_client.kiosk.documents_ui import DocumentDevices
from terminal_client.kiosk.identity_step import KioskIdentity
from terminal_client.kiosk.messages import (
    ChooseService,
    KioskView,
    SetCareMode,
    SetLanguage,
    SimpleCommand,
    ViewMessage,
)
from terminal_client.kiosk.run import build_kiosk
from terminal_client.kiosk.screens import KioskSettings
from terminal_client.kiosk.server import launch_url
from terminal_client.printer import FakeCupsPrinter
from terminal_client.scanner import SimulatedScanner
from tests.browser.conftest import without_call_media
from tests.conftest import CLERK_PASSWORD, RunningServer
from tests.peers import ClerkPeer, login
from tests.ux.conftest import new_page

SERVICE = "tax-registration"


@dataclass
class UxKiosk:
    """The kiosk's controller and page URL, its server, and clerk ``alice`` (auto-answer)."""

    controller: KioskController
    url: str
    server: RunningServer
    clerk: ClerkPeer
    clerk_token: str
    token: str
    pages: list[Page] = field(default_factory=list)

    async def open(self, browser: Browser, viewport: dict[str, int]) -> Page:
        """The kiosk's screen in a new tab; closed before the kiosk stops (its page server
        waits for the tab's websockets otherwise)."""
        page = await new_page(browser, viewport)
        self.pages.append(page)
        await without_call_media(page)
        await page.goto(self.url)
        return page

    async def wait_view(
        self, predicate: Callable[[KioskView], bool], timeout: float = 20.0
    ) -> KioskView:
        """Wait until the kiosk's view satisfies ``predicate``."""
        view = self.controller.view()
        async with asyncio.timeout(timeout), self.controller.subscribe() as feed:
            while not predicate(view):
                message = await feed.get()
                if isinstance(message, ViewMessage):
                    view = message.view
        return view

    async def into_call(
        self, language: Language = "zh-Hant", care: bool = False, service: str = SERVICE
    ) -> str:
        """From the start screen into a connected call; returns the session id."""
        controller = self.controller
        await self.wait_view(lambda v: v.screen == "language")
        await controller.handle(SetLanguage(type="set_language", language=language))
        if care:
            await controller.handle(SetCareMode(type="set_care_mode", on=True))
        await controller.handle(SimpleCommand(type="start"))
        await controller.handle(ChooseService(type="choose_service", service_id=service))
        await controller.handle(SimpleCommand(type="call"))
        view = await self.wait_view(lambda v: v.call is not None and v.call.connected, 30)
        assert view.session_id is not None
        await self.server.stored()  # the clerk's REST calls read the session row
        return view.session_id

    async def as_clerk(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """A REST call of the console with alice's token."""
        headers = {"Authorization": f"Bearer {self.clerk_token}"}
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, f"{self.server.url}{path}", json=body, headers=headers) as r,
        ):
            data = await r.json() if r.content_type == "application/json" else await r.read()
            return r.status, data


async def clerk_available(server: RunningServer, username: str) -> tuple[ClerkPeer, str]:
    """A clerk of every department, signed in and waiting for calls (answers at once)."""
    await server.add_clerk(username)
    token = await login(server.url, username, CLERK_PASSWORD)
    peer = ClerkPeer(server.url, token)
    await peer.connect()
    await peer.wait(lambda: peer.status is not None and peer.status.state == "away")
    await peer.emit("set_availability", {"available": True})
    return peer, token


@contextlib.asynccontextmanager
async def ux_kiosk(
    server: RunningServer,
    tmp_path: Path,
    *,
    identity: Callable[[str], KioskIdentity] | None = None,
    camera: Callable[[], LocalMedia] | None = None,
    documents: bool = True,
    python_clerk: bool = True,
) -> AsyncIterator[UxKiosk]:
    """A started kiosk with its page on loopback and clerk alice waiting for its calls
    (without ``python_clerk``, alice is not there: a clerk in Chromium takes the calls)."""
    # a kiosk name as staff give them (the walks look for snake_case codes on the pages)
    token = await server.add_terminal(f"kiosk-{re.sub(r'[^a-z0-9]', '', tmp_path.name)[-8:]}")
    devices = (
        DocumentDevices(
            camera=SyntheticDocumentCamera(),
            scanner=SimulatedScanner(dpi=150, seconds_per_scan=0.05),
        )
        if documents
        else None
    )
    controller, app = build_kiosk(
        server.url, token,
        camera or (lambda: create_local_tracks(True, "", "", label="kiosk")), None,
        KioskSettings(idle_timeout_s=600, idle_warning_s=10, reconnect_max_s=1),
        name="ux-kiosk", documents=devices, printer=FakeCupsPrinter(),
        print_dir=tmp_path / "print", identity=identity(token) if identity else None,
        recording_dir=tmp_path / "recordings",
    )  # fmt: skip
    await controller.start()
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    clerk, clerk_token = (
        await clerk_available(server, "alice") if python_clerk else (ClerkPeer(server.url, ""), "")
    )
    # the kiosk browser opens the page with this launch's secret (terminal_client/kiosk/server.py)
    page_url = launch_url(f"http://127.0.0.1:{runner.addresses[0][1]}", app)
    kiosk = UxKiosk(controller, page_url, server, clerk, clerk_token, token)
    try:
        yield kiosk
    finally:
        for page in kiosk.pages:
            await page.context.close()
        await runner.cleanup()
        await controller.close()
        await clerk.close()
