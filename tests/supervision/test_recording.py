"""Recording at the kiosk: segments uploaded during the call, in the chain, playable, in sync."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamTrack

from media.document_camera import SyntheticDocumentCamera
from media.recording import RecordingSettings
from media.sources import LocalMedia, create_local_tracks
from media.sync_pattern import BEEP_S, sync_pattern
from signaling.messages import SegmentMeta
from signaling.recordings import SEGMENT_EVENT, side_file
from signaling.replay import replay_view
from storage.audit import AuditLog
from terminal_client.client import TerminalClient, TerminalState
from terminal_client.recording import CallRecorder
from tests.conftest import CLERK_PASSWORD, RunningServer
from tests.peers import ClerkPeer, login

SERVICE = "tax-registration"
SEGMENT_S = 2.0


async def call(
    server: RunningServer,
    media: LocalMedia | None = None,
    seconds: float = 5.0,
    document_track: Callable[[], MediaStreamTrack] | None = None,
) -> tuple[TerminalClient, ClerkPeer, str]:
    """A connected call with a recording kiosk, held for ``seconds``."""
    await server.add_clerk("rita")
    token = await server.add_terminal("kiosk-rec")
    terminal = TerminalClient(
        server.url, token,
        (lambda: media) if media else (lambda: create_local_tracks(True, "", "", label="k")),
        name="kiosk", recording=RecordingSettings(segment_s=SEGMENT_S),
        document_track=document_track,
    )  # fmt: skip
    clerk = ClerkPeer(server.url, await login(server.url, "rita", CLERK_PASSWORD))
    await clerk.connect()
    await clerk.wait(lambda: clerk.status is not None)
    await clerk.emit("set_availability", {"available": True})
    await terminal.connect()
    session_id = await terminal.request_service(SERVICE, "en")
    await terminal.wait_for(TerminalState.IN_CALL, timeout=20)
    await asyncio.sleep(seconds)
    return terminal, clerk, session_id


def applicant_uploads(recorder: CallRecorder) -> list[SegmentMeta]:
    """The applicant side's segments the server has confirmed, in order."""
    return [u for u in recorder.uploaded if u.side == "applicant"]


async def until(predicate: Callable[[], bool], timeout: float) -> None:
    """Wait until ``predicate()`` holds (checked every 50 ms); fail after ``timeout`` s."""
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 - uploads finish on the recorder's own task
            await asyncio.sleep(0.05)


async def segment_events(server: RunningServer, session_id: str, side: str) -> list[dict]:
    events = await AuditLog(server.db).events(session_id)
    return [e.payload for e in events if e.kind == SEGMENT_EVENT and e.payload["side"] == side]


async def test_a_call_is_recorded_both_sides_in_the_chain(server: RunningServer) -> None:
    terminal, clerk, session_id = await call(server, seconds=5.0)
    try:
        # segments arrive during the call, not only at its end
        for _ in range(100):
            if await segment_events(server, session_id, "applicant"):
                break
            await asyncio.sleep(0.1)
        assert await segment_events(server, session_id, "applicant"), "nothing uploaded mid-call"
        await terminal.hangup()
        await terminal.wait_for(TerminalState.ENDED)
    finally:
        await terminal.close()  # waits for the last segments' upload
        await clerk.close()
    report = await AuditLog(server.db).verify(session_id)
    assert report.ok, report
    for side in ("applicant", "clerk"):
        segments = await segment_events(server, session_id, side)
        # in the order they were recorded, each once; a window the starved encoder dropped
        # whole (it drops frames rather than stall the call) leaves a gap, not a disorder
        indexes = [s["index"] for s in segments]
        assert indexes == sorted(set(indexes)) and indexes[0] == 0, indexes
        path = await side_file(server.app, session_id, side)
        with av.open(str(path)) as container:
            assert {s.type for s in container.streams} == {"video", "audio"}
            frames = sum(1 for _ in container.decode(video=0))
            duration = container.duration / 1_000_000
        recorded = segments[-1]["end_ms"] / 1000
        assert abs(duration - recorded) < 1.0, (side, duration, recorded)
        # what the chain says was recorded is what plays; never more than 15 fps (how many a
        # loaded machine's camera delivered is the recording benchmark's business)
        assert frames == sum(s["video_frames"] for s in segments) > 0, (side, frames, segments)
        assert frames <= 15 * duration + len(segments), (side, frames, duration)


async def test_audio_and_video_stay_in_sync(server: RunningServer, tmp_path: Path) -> None:
    terminal, clerk, session_id = await call(server, media=sync_pattern(1.0), seconds=4.5)
    try:
        await terminal.hangup()
        await terminal.wait_for(TerminalState.ENDED)
    finally:
        await terminal.close()
        await clerk.close()
    path = await side_file(server.app, session_id, "applicant")
    flashes, beeps, audio_end = flash_and_beep_times(path.read_bytes())
    # Compared in the recording's own time; where the sound ends first (a loaded machine's
    # microphone lagged at the hang-up) a flash has no beep to be compared with.
    heard = [flash for flash in flashes if flash + BEEP_S <= audio_end]
    assert len(heard) >= 3 and len(beeps) >= 3, (flashes, beeps, audio_end)
    for flash in heard:
        nearest = min(beeps, key=lambda b: abs(b - flash))
        assert abs(nearest - flash) < 0.1, (flash, nearest, flashes, beeps)


def flash_and_beep_times(data: bytes) -> tuple[list[float], list[float], float]:
    """When the picture flashes white and when a beep starts, in seconds of the recording
    (its timestamps), and where its sound ends."""
    flashes: list[float] = []
    with av.open(io.BytesIO(data)) as container:
        bright_before = False
        for frame in container.decode(video=0):
            bright = frame.to_ndarray(format="gray").mean() > 180
            if bright and not bright_before:  # a flash's first recorded frame
                flashes.append(float(frame.pts * frame.time_base))
            bright_before = bright
    beeps: list[float] = []
    audio_end = 0.0
    with av.open(io.BytesIO(data)) as container:
        loud_before = False
        for frame in container.decode(audio=0):
            samples = frame.to_ndarray().astype(np.float64).reshape(-1)
            if frame.format.name.startswith("flt"):  # Opus decodes to float in [-1, 1]
                samples *= 32768
            step = max(1, len(samples) // 4)  # 5 ms blocks of a 20 ms frame
            for k in range(0, len(samples), step):
                loud = np.abs(samples[k : k + step]).max() > 3000
                if loud and not loud_before:
                    beeps.append(float(frame.pts * frame.time_base) + k / frame.sample_rate)
                loud_before = loud
            audio_end = float(frame.pts * frame.time_base) + frame.samples / frame.sample_rate
    return flashes, beeps, audio_end


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_kiosk_killed_mid_call_keeps_its_finished_segments(
    server: RunningServer, backend: str
) -> None:
    terminal, clerk, session_id = await call(server, seconds=0)
    try:
        recorder = terminal.recorder
        assert recorder is not None
        # the call goes on until two of the applicant's segments are finished and uploaded
        # (however long a loaded machine takes to encode them), then the kiosk dies
        await until(lambda: len(applicant_uploads(recorder)) >= 2, timeout=60)
        uploaded = applicant_uploads(recorder)
        # the process dies: no hang-up, no flush; its socket and recorder just stop
        terminal.recorder = None
        await terminal.sio.eio.disconnect(abort=True)
    finally:
        await clerk.close()
    stored = await segment_events(server, session_id, "applicant")
    # every segment the kiosk had uploaded is kept (one finishing meanwhile may join them)
    assert [s["index"] for s in stored][: len(uploaded)] == [u.index for u in uploaded]
    assert len(stored) >= 2
    report = await AuditLog(server.db).verify(session_id)
    assert report.ok, report
    # what was stored plays
    path = await side_file(server.app, session_id, "applicant")
    with av.open(str(path)) as container:
        assert sum(1 for _ in container.decode(video=0)) > 15
    # the kiosk's leftovers (the unfinished segment) are not the server's concern
    await recorder.close(upload_timeout_s=0.1)
    await terminal.close()


async def test_the_document_camera_is_recorded_too(server: RunningServer) -> None:
    camera = SyntheticDocumentCamera(fps=10)
    terminal, clerk, session_id = await call(server, seconds=3.0, document_track=camera.track)
    try:
        await terminal.hangup()
        await terminal.wait_for(TerminalState.ENDED)
    finally:
        await terminal.close()
        await clerk.close()
    segments = await segment_events(server, session_id, "document")
    indexes = [s["index"] for s in segments]
    assert segments and indexes == sorted(set(indexes)), indexes
    assert all(s["audio_ms"] == 0 for s in segments)
    path = await side_file(server.app, session_id, "document")
    with av.open(str(path)) as container:
        assert [s.type for s in container.streams] == ["video"]
        frames = sum(1 for _ in container.decode(video=0))
    # a few pictures a second (at most the camera's 10), counted against the recording's own
    # timeline, however long a loaded machine made the call last: the paper, not a movie
    recorded_s = (segments[-1]["end_ms"] - segments[0]["start_ms"]) / 1000
    assert sum(s["video_frames"] for s in segments) == frames
    assert 1 <= frames <= recorded_s * 10 + 1, (frames, recorded_s)
    assert (await AuditLog(server.db).verify(session_id)).ok
    # the replay shows it beside the two sides of the call
    view = await replay_view(server.db, session_id, "")
    assert {r.side for r in view.recordings} == {"applicant", "clerk", "document"}
