"""Runs a kiosk with its screen: the controller, the page server, and Chromium in kiosk mode.

``vcounter terminal`` (without ``--headless``) calls :func:`run_kiosk`. The page is served on
loopback; with a display and ``--open-browser``, Chromium shows it full-screen.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from media.faces import FaceEngine
from media.sources import LocalMedia, create_local_tracks
from signaling.logs import context_log
from signaling.messages import Language
from terminal_client.errors import SpeechUnavailable, TerminalError
from terminal_client.id_reader import IdReader, MrzImageReader, ScanFolder, SimulatedCardReader
from terminal_client.id_recheck import Recheck
from terminal_client.identity import Progress
from terminal_client.kiosk.controller import KioskController
from terminal_client.kiosk.display import MediaBridge
from terminal_client.kiosk.documents_ui import DocumentDevices
from terminal_client.kiosk.identity_step import KioskIdentity
from terminal_client.kiosk.screens import KioskSettings
from terminal_client.kiosk.self_service_ui import IdentityRunner
from terminal_client.kiosk.server import create_kiosk_app, launch_url
from terminal_client.kiosk.signing import RecheckRunner
from terminal_client.kiosk.translations import Translations
from terminal_client.kiosk.tts import Speech
from terminal_client.printer import CupsPrinter, Printer
from terminal_client.worker import CpuWorker

log = logging.getLogger(__name__)

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
# Full screen, no browser chrome, sound without a tap, no swipe-back or pinch-zoom.
KIOSK_BROWSER_ARGS = (
    "--kiosk",
    "--no-first-run",
    "--noerrdialogs",
    "--disable-translate",
    "--disable-pinch",
    "--overscroll-history-navigation=0",
    "--autoplay-policy=no-user-gesture-required",
    "--check-for-update-interval=31536000",
)


@dataclass(frozen=True)
class KioskOptions:
    """What ``vcounter terminal`` passes to the kiosk."""

    server_url: str
    token: str
    data_dir: Path
    language: Language = "zh-Hant"
    synthetic: bool = True
    camera: str = "/dev/video0"
    microphone: str = "default"
    port: int = 8090
    open_browser: bool = True
    idle_timeout_s: float = 90.0
    idle_warning_s: float = 20.0
    name: str = "kiosk"
    # the identity step's document reader: a simulated chip reader's slot, or a scan folder
    id_card_slot: Path | None = None
    id_scan_dir: Path | None = None
    # documents: a V4L2 path or "synthetic"; a folder of scanner pages; a USB mount point
    document_camera: str | None = None
    scanner_pages: Path | None = None
    usb_folder: Path | None = None
    # CUPS queue to print to (``lp -d``); None: PDFs go to data_dir/print/spool
    printer: str | None = None


def has_display() -> bool:
    """True when a graphical session is there to show a browser in."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def find_browser() -> str:
    """The Chromium executable; raises :class:`TerminalError` saying how to install it."""
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    raise TerminalError(
        "no Chromium found to show the kiosk screen; install it (`apt-get install chromium`)"
        " or run with --no-open-browser and open the URL yourself"
    )


async def open_browser(url: str, profile: Path) -> asyncio.subprocess.Process:
    """Start Chromium full-screen on ``url`` with its own profile under the data dir."""
    await asyncio.to_thread(profile.mkdir, parents=True, exist_ok=True)
    return await asyncio.create_subprocess_exec(
        find_browser(), *KIOSK_BROWSER_ARGS, f"--user-data-dir={profile}", f"--app={url}",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


def make_speech(directory: Path) -> Speech | None:
    """espeak-ng for care mode, or None (with a warning) when it is not installed."""
    speech = Speech(directory)
    try:
        speech.check()
    except SpeechUnavailable as exc:
        log.warning("%s", exc.message)
        return None
    return speech


def build_kiosk(
    server_url: str,
    token: str,
    media_factory: Callable[[], LocalMedia],
    speech: Speech | None,
    settings: KioskSettings,
    name: str = "kiosk",
    identity: KioskIdentity | None = None,
    documents: DocumentDevices | None = None,
    printer: Printer | None = None,
    print_dir: Path | None = None,
    face_recheck: bool = True,
    recording_dir: Path | None = None,
) -> tuple[KioskController, web.Application]:
    """The kiosk's controller and its page app, with the media bridge wired between them.

    The clerk's decoded video and audio, and the kiosk's own camera, reach the page through
    the bridge (``/media/*``); its relays live as long as the page's app. With an identity
    step, reprints re-check the ID with its reader and, if ``face_recheck``, the camera.
    """
    bridge = MediaBridge()
    recheck: RecheckRunner | None = None
    self_identity: IdentityRunner | None = None
    if identity is not None:
        step, camera = identity, media_factory if face_recheck else None

        def recheck(progress: Callable[[Progress], None]) -> Awaitable[Recheck]:
            return step.recheck(camera, progress)

        if camera is not None:
            # a service without a clerk needs the card and the live face (no clerk to look)
            seen = camera

            def self_identity(
                session_id: str, progress: Callable[[Progress], None]
            ) -> Awaitable[object]:
                return step.verify_outside_call(session_id, seen, progress)

    def media() -> LocalMedia:
        local = media_factory()
        return bridge.tap(identity.tap(local) if identity is not None else local)

    controller = KioskController(
        server_url,
        token,
        media,
        Translations.load(),
        speech,
        settings,
        name=name,
        on_video_frame=bridge.video.push,
        on_audio_frame=bridge.audio.push,
        serves_media=True,
        identity=identity,
        documents=documents,
        printer=printer,
        print_dir=print_dir,
        recording_dir=recording_dir,
        recheck=recheck,
        self_identity=self_identity,
    )

    def routes(app: web.Application) -> None:
        bridge.add_routes(app)
        controller.signing.add_routes(app)

    return controller, create_kiosk_app(controller, extra_routes=routes)


async def run_kiosk(options: KioskOptions, announce: Callable[[str], None] | None = None) -> None:
    """Run the kiosk until SIGINT/SIGTERM: connect, serve the page, show it.

    ``announce`` gets the screen's URL once it is served (the CLI prints it).
    """
    role = f"kiosk:{options.name}"
    controller, app = build_kiosk(
        options.server_url,
        options.token,
        lambda: create_local_tracks(
            options.synthetic, options.camera, options.microphone, label=options.name
        ),
        make_speech(options.data_dir / "kiosk-speech"),
        KioskSettings(
            idle_timeout_s=options.idle_timeout_s,
            idle_warning_s=options.idle_warning_s,
            default_language=options.language,
        ),
        name=options.name,
        identity=identity_step(options),
        documents=DocumentDevices.from_options(
            options.document_camera, options.scanner_pages, options.usb_folder, options.synthetic
        ),
        printer=CupsPrinter(options.printer) if options.printer else None,
        print_dir=options.data_dir / "print",
        # recording segments wait here for the server, across restarts too
        recording_dir=options.data_dir / "recordings",
        # a test pattern shows no face: with --synthetic, reprints check the document only
        face_recheck=not options.synthetic,
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    browser: asyncio.subprocess.Process | None = None
    try:
        # loopback only: the page is this kiosk's screen, not a service for the network
        await web.TCPSite(runner, "127.0.0.1", options.port).start()
        # the real port, also for port 0, and this launch's page secret
        url = launch_url(f"http://127.0.0.1:{runner.addresses[0][1]}", app)
        await controller.start()
        # not the secret: logs are read by more people than the kiosk's screen
        context_log(log, None, role).info("kiosk screen at %s", url.split("?")[0])
        if announce is not None:
            announce(url)
        if options.open_browser and has_display():
            browser = await open_browser(url, options.data_dir / "kiosk-browser")
        elif options.open_browser:
            context_log(log, None, role).info("no display: open %s in a browser", url)
        await _until_stopped()
    finally:
        if browser is not None and browser.returncode is None:
            browser.terminate()
            try:
                await asyncio.wait_for(browser.wait(), 5)
            except TimeoutError:
                browser.kill()
                await browser.wait()
        await runner.cleanup()
        await controller.close()


def identity_step(options: KioskOptions) -> KioskIdentity | None:
    """The identity step with the reader the options name, or None without one."""
    slot, scans = options.id_card_slot, options.id_scan_dir
    if slot is None and scans is None:
        return None

    def reader(engine: FaceEngine, worker: CpuWorker) -> IdReader:
        if slot is not None:
            return SimulatedCardReader(slot)
        assert scans is not None
        return MrzImageReader(ScanFolder(scans).next_scan, engine, worker=worker)

    return KioskIdentity(reader, options.server_url, options.token)


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
