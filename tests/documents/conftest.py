"""A live call for the document tests: real server, aiortc kiosk, aiortc clerk."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from media.sources import create_local_tracks
from signaling.messages import NAMESPACE_CLERK, DocumentMeta
from storage import store
from terminal_client.client import TerminalClient, TerminalState
from terminal_client.uploads import DocumentUploader
from tests.conftest import CLERK_PASSWORD, RunningServer
from tests.peers import ClerkPeer, login
from tests.teardown import bounded

SERVICE = "tax-registration"  # materials: business-licence, legal-representative-id, ...


@dataclass
class LiveCall:
    server: RunningServer
    session_id: str
    terminal: TerminalClient
    terminal_token: str
    clerk: ClerkPeer
    clerk_token: str
    uploader: DocumentUploader
    pushed: dict[str, list[Any]]  # what the clerk's socket received, by event

    def url(self, path: str) -> str:
        return f"{self.server.url}/api/sessions/{self.session_id}{path}"

    async def as_clerk(
        self, method: str, path: str, token: str | None = None, **kw: Any
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token or self.clerk_token}"}
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, self.url(path), headers=headers, **kw) as r,
        ):
            body = await r.read()
            if r.content_type == "application/json":
                import json

                return r.status, json.loads(body)
            return r.status, body


def meta(material: str = "business-licence", source: str = "scanner") -> DocumentMeta:
    return DocumentMeta.model_validate(
        {"material_id": material, "source": source, "filename": "page.jpg"}
    )


async def open_call(
    server: RunningServer, language: str = "en", document_track: Any = None
) -> LiveCall:
    await server.add_clerk("alice")
    clerk_token = await login(server.url, "alice", CLERK_PASSWORD)
    token = await server.add_terminal("kiosk-docs")
    clerk = ClerkPeer(server.url, clerk_token)
    pushed: dict[str, list[Any]] = {"document_added": [], "checklist": []}
    for event, seen in pushed.items():
        clerk.sio.on(event, clerk._notify(seen.append), namespace=NAMESPACE_CLERK)
    terminal = TerminalClient(
        server.url, token, lambda: create_local_tracks(True, "", "", label="kiosk"), name="kiosk",
        recording=None, document_track=document_track,
    )  # fmt: skip
    await clerk.connect()
    await clerk.wait(lambda: clerk.status is not None and clerk.status.state == "away")
    await clerk.emit("set_availability", {"available": True})
    await clerk.wait(lambda: clerk.status is not None and clerk.status.state == "available")
    await terminal.connect()
    session_id = await terminal.request_service(SERVICE, language)  # type: ignore[arg-type]
    await terminal.wait_for(TerminalState.CONNECTING, TerminalState.IN_CALL, timeout=20)
    uploader = DocumentUploader(server.url, token, chunk_size=64 * 1024)
    return LiveCall(server, session_id, terminal, token, clerk, clerk_token, uploader, pushed)


async def close_call(call: LiveCall) -> None:
    await bounded(call.uploader.close(), "document uploader")
    await bounded(call.terminal.close(), "terminal")
    await bounded(call.clerk.close(), "clerk peer")


@pytest.fixture
async def call(server: RunningServer) -> AsyncIterator[LiveCall]:
    """A call in progress for tax registration, applicant's language English."""
    live = await open_call(server, "en")
    try:
        yield live
    finally:
        await close_call(live)


@pytest.fixture
async def call_zh(server: RunningServer) -> AsyncIterator[LiveCall]:
    """The same, with an applicant who reads traditional Chinese."""
    live = await open_call(server, "zh-Hant")
    try:
        yield live
    finally:
        await close_call(live)


async def add_supervisor(server: RunningServer, name: str = "sam") -> str:
    await store.create_clerk(
        server.db, name, CLERK_PASSWORD, "Supervisor", ["taxation"], role="supervisor"
    )
    return await login(server.url, name, CLERK_PASSWORD)


async def until(predicate: Any, timeout: float = 10.0) -> None:
    """Poll ``predicate()`` until it holds (state that two sockets update)."""
    import asyncio

    async def loop() -> None:
        while not predicate():  # noqa: ASYNC110 - the state changes on two sockets, no one event
            await asyncio.sleep(0.02)

    await asyncio.wait_for(loop(), timeout)


# Chromium for the console tests: the same fixtures as tests/browser (Debian's chromium).
from tests.browser.conftest import browser, chromium_path, page  # noqa: E402, F401
