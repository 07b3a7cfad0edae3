"""The kiosk's screen in Chromium (the kiosk tests' fixtures) with a printer of our own, an
ID card reader (a simulated chip reader's slot) and a camera that shows a blinking face."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp import web

from media.face_camera import ReplayTrack, blinking
from media.face_samples import Photo
from media.faces import FaceEngine
from media.liveness import Action
from media.sources import LocalMedia, SyntheticAudioTrack, create_local_tracks
from terminal_client.id_reader import SimulatedCardReader
from terminal_client.kiosk.identity_step import KioskIdentity
from terminal_client.kiosk.run import build_kiosk
from terminal_client.kiosk.screens import KioskSettings
from terminal_client.kiosk.server import launch_url, page_key
from terminal_client.kiosk.tts import Speech
from terminal_client.printer import FakeCupsPrinter
from tests.conftest import RunningServer
from tests.identity.conftest import engine, photos  # noqa: F401
from tests.kiosk.conftest import RunningKiosk, browser, clerk, page  # noqa: F401
from tests.teardown import bounded


@pytest.fixture
def printer() -> FakeCupsPrinter:
    """The kiosk's printer: a CUPS-like device that starts out of paper."""
    return FakeCupsPrinter(paper=0)


@pytest.fixture
def slot(tmp_path: Path) -> Path:
    """The kiosk's card reader slot (empty: no card inserted)."""
    folder = tmp_path / "slot"
    folder.mkdir()
    return folder


async def _kiosk(
    server: RunningServer,
    tmp_path: Path,
    printer: FakeCupsPrinter,
    camera: Callable[[], LocalMedia],
    identity: KioskIdentity | None,
) -> AsyncIterator[RunningKiosk]:
    token = identity.token if identity is not None else await server.add_terminal("kiosk-sign")
    settings = KioskSettings(idle_timeout_s=600, idle_warning_s=10, thanks_s=1.5)
    controller, app = build_kiosk(
        server.url, token, camera, Speech(tmp_path / "tts"), settings, name="sign-kiosk",
        identity=identity, printer=printer, print_dir=tmp_path / "print",
    )  # fmt: skip
    await controller.start()
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield RunningKiosk(
            controller, url, server, tmp_path / "tts", page_key(app), launch_url(url, app)
        )
    finally:
        await bounded(runner.cleanup(), "kiosk page server")
        await bounded(controller.close(), "kiosk controller")


@pytest.fixture
async def kiosk(
    server: RunningServer,
    tmp_path: Path,
    printer: FakeCupsPrinter,
    slot: Path,
    engine: FaceEngine,  # noqa: F811
    photos: list[Photo],  # noqa: F811
) -> AsyncIterator[RunningKiosk]:
    """A kiosk whose receipts go to ``printer``, its reader reading ``slot``, its camera
    showing Barack Obama blinking now and then (``obama.jpg`` of the face set)."""
    frames = blinking(engine, next(p.image for p in photos if p.name == "obama.jpg"))
    token = await server.add_terminal("kiosk-sign")
    identity = KioskIdentity(
        lambda _engine, _worker: SimulatedCardReader(slot, poll_s=0.02), server.url, token,
        challenge=[Action.BLINK], document_timeout_s=30,
    )  # fmt: skip
    camera = lambda: LocalMedia(ReplayTrack(frames, loop=True), SyntheticAudioTrack())  # noqa: E731
    async for running in _kiosk(server, tmp_path, printer, camera, identity):
        yield running


@pytest.fixture
async def kiosk_without_reader(
    server: RunningServer, tmp_path: Path, printer: FakeCupsPrinter
) -> AsyncIterator[RunningKiosk]:
    """A kiosk with a printer but no ID reader (``vcounter terminal`` without --id-card-slot)."""
    camera = lambda: create_local_tracks(True, "", "", label="kiosk")  # noqa: E731
    async for running in _kiosk(server, tmp_path, printer, camera, None):
        yield running
