"""The kiosk's recording backlog: a server outage, and a kiosk restart in it, lose no segment."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import av
import pytest
from aiohttp import web

from media.recording import RecordingSettings
from media.sources import LocalMedia, create_local_tracks
from signaling.app import create_app
from signaling.recordings import SEGMENT_EVENT, side_file
from signaling.settings import Settings
from storage.audit import AuditLog
from terminal_client.client import TerminalClient, TerminalState
from terminal_client.recording import CallRecorder
from terminal_client.recording_backlog import RecordingBacklog
from tests.conftest import CLERK_PASSWORD, RunningServer, make_settings
from tests.peers import ClerkPeer, login

pytestmark = pytest.mark.timeout(300)

SERVICE = "tax-registration"
OUTAGE_S = 20.0
# short segments, small pictures: the outage is many segments, cheaply encoded
SETTINGS = RecordingSettings(segment_s=1.0, width=320, height=240, fps=10.0)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def serve(settings: Settings) -> tuple[RunningServer, web.AppRunner]:
    """The real server on ``settings.port`` (a fixed port: the kiosk knows only that URL)."""
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", settings.port, reuse_address=True).start()
    return RunningServer(f"http://127.0.0.1:{settings.port}", settings, app), runner


async def ended_session(server: RunningServer, token: str) -> str:
    """A real call of this kiosk, hung up: the session its recording belongs to."""
    await server.add_clerk("rita")
    terminal = TerminalClient(
        server.url, token, lambda: create_local_tracks(True, "", "", label="k"),
        name="kiosk", recording=None,
    )  # fmt: skip
    clerk = ClerkPeer(server.url, await login(server.url, "rita", CLERK_PASSWORD))
    try:
        await clerk.connect()
        await clerk.wait(lambda: clerk.status is not None)
        await clerk.emit("set_availability", {"available": True})
        await terminal.connect()
        session_id = await terminal.request_service(SERVICE, "en")
        await terminal.wait_for(TerminalState.IN_CALL, timeout=20)
        await terminal.hangup()
        await terminal.wait_for(TerminalState.ENDED)
    finally:
        await terminal.close()
        await clerk.close()
    return session_id


@contextlib.asynccontextmanager
async def camera_running(recorder: CallRecorder) -> AsyncIterator[None]:
    """The kiosk's camera and microphone keep sending (and so recording) until the block ends."""
    media: LocalMedia = recorder.tap(create_local_tracks(True, "", "", label="k"))

    async def pump(track: object) -> None:
        while True:
            await track.recv()  # type: ignore[attr-defined]

    pumps = [asyncio.create_task(pump(media.video)), asyncio.create_task(pump(media.audio))]
    try:
        yield
    finally:
        for task in pumps:
            task.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)
        media.stop()


async def stored_indexes(server: RunningServer, session_id: str) -> list[int]:
    events = await AuditLog(server.db).events(session_id)
    return sorted(
        e.payload["index"]
        for e in events
        if e.kind == SEGMENT_EVENT and e.payload["side"] == "applicant"
    )


@pytest.mark.slow
async def test_segments_survive_a_server_outage_and_a_kiosk_restart(tmp_path: Path) -> None:
    settings = make_settings(tmp_path).model_copy(update={"port": free_port()})
    server, runner = await serve(settings)
    token = await server.add_terminal("kiosk-rec")
    session_id = await ended_session(server, token)
    folder = tmp_path / "kiosk" / "backlog"

    backlog = RecordingBacklog(server.url, token, folder, name="kiosk", retry_max_s=1.0)
    await backlog.start()
    recorder = CallRecorder(server.url, token, SETTINGS, name="kiosk", backlog=backlog)
    recorder.start(session_id)
    async with camera_running(recorder):
        # the server is there: segments go up as they are finished
        for _ in range(300):
            if recorder.uploaded:
                break
            await asyncio.sleep(0.1)
        assert recorder.uploaded, "no segment reached the server while it was up"
        await runner.cleanup()  # the server is gone
        await asyncio.sleep(OUTAGE_S)
    # the kiosk is switched off in the middle of the outage
    await recorder.close(upload_timeout_s=0.5)
    await backlog.close()

    before = {m.index for sid, m in backlog.uploaded if m.side == "applicant"}
    left = [p for p in backlog.pending() if p.meta.side == "applicant"]
    assert left, "nothing was recorded while the server was away"
    assert len(left) >= 10, (
        f"only {len(left)} one-second segments kept over a {OUTAGE_S:.0f} s outage"
    )
    last = max(p.meta.index for p in left)

    # the kiosk starts again (a new backlog on the same folder) while the server is still away
    restarted = RecordingBacklog(server.url, token, folder, name="kiosk", retry_max_s=1.0)
    await restarted.start()
    try:
        await asyncio.sleep(1.0)  # it tries, and fails, and keeps the segments
        assert len(restarted.pending()) >= len(left)
        # a new server on the same data dir and port
        server, runner = await serve(settings)
        assert await restarted.wait_uploaded(timeout=120), restarted.pending()
    finally:
        await restarted.close()
    try:
        assert not list(folder.glob("*.webm")), "uploaded segments left on the kiosk's disk"
        indexes = await stored_indexes(server, session_id)
        assert indexes == list(range(last + 1)), (indexes, last, before)
        report = await AuditLog(server.db).verify(session_id)
        assert report.ok, report
        path = await side_file(server.app, session_id, "applicant")
        with av.open(str(path)) as container:
            assert sum(1 for _ in container.decode(video=0)) > 10 * OUTAGE_S / 2
    finally:
        await runner.cleanup()
