"""The media bridge: decoded frames in, JPEG / PCM out over the kiosk page's websockets, and
the page module that draws and plays them in real Chromium (under the kiosk's CSP).

No timing is asserted here: how much the bridge adds is ``python -m bench.kiosk_display``.
"""

from __future__ import annotations

import asyncio
import fractions
from collections.abc import AsyncIterator, Callable

import aiohttp
import av
import cv2
import numpy as np
import pytest
from aiohttp import web
from playwright.async_api import Page

from media.sinks import FrameCounter
from media.sources import SyntheticAudioTrack, SyntheticVideoTrack, create_local_tracks
from terminal_client.kiosk.display import (
    AUDIO_RATE,
    MediaBridge,
    TappedVideoTrack,
    VideoRelay,
    fit,
    unpack,
)
from terminal_client.kiosk.server import STATIC_DIR, security_headers
from tests.kiosk.conftest import canvas_colours

pytestmark = pytest.mark.timeout(30)

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>media bridge</title><link rel="icon" href="data:,"></head>
<body>
<canvas id="clerk" width="640" height="480"></canvas>
<canvas id="self" width="320" height="240"></canvas>
<script type="module" src="/page.js"></script>
</body></html>
"""

PAGE_JS = """
import { startClerkMedia } from '/static/kiosk-media.js';
window.media = startClerkMedia(document.getElementById('clerk'), {
  selfCanvas: document.getElementById('self'),
});
"""


def frame_640x480(index: int = 0) -> av.VideoFrame:
    """A decoded-looking frame: the synthetic pattern in the decoder's yuv420p."""
    return SyntheticVideoTrack(640, 480)._render(index).reformat(format="yuv420p")


def opus_like_frame(pts: int, rate: int = 48_000, samples: int = 960) -> av.AudioFrame:
    """What aiortc's Opus decoder hands out: interleaved s16 stereo."""
    t = (np.arange(pts, pts + samples) / rate).astype(np.float64)
    tone = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    frame = av.AudioFrame.from_ndarray(
        np.repeat(tone, 2).reshape(1, -1), format="s16", layout="stereo"
    )
    frame.sample_rate = rate
    frame.pts = pts
    frame.time_base = fractions.Fraction(1, rate)
    return frame


async def until(predicate: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    """Wait until ``predicate()`` holds (the server registers a page after the handshake)."""
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"not within {timeout:g} s: {what}")


async def serve(bridge: MediaBridge) -> tuple[str, web.AppRunner]:
    """The bridge's routes, the kiosk's static files and a test page, with the kiosk's CSP."""
    app = web.Application(middlewares=[security_headers])

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    async def page_js(request: web.Request) -> web.Response:
        return web.Response(text=PAGE_JS, content_type="text/javascript")

    app.router.add_get("/", page)
    app.router.add_get("/page.js", page_js)
    app.router.add_static("/static/", STATIC_DIR)
    bridge.add_routes(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return f"http://127.0.0.1:{runner.addresses[0][1]}", runner


@pytest.fixture
async def bridge() -> AsyncIterator[tuple[MediaBridge, str]]:
    """A bridge served on loopback; the app's cleanup closes it."""
    media = MediaBridge()
    url, runner = await serve(media)
    try:
        yield media, url
    finally:
        await runner.cleanup()


async def receive(ws: aiohttp.ClientWebSocketResponse, quiet: float = 0.5) -> list[bytes]:
    """Every binary message until none comes for ``quiet`` seconds."""
    messages: list[bytes] = []
    while True:
        try:
            message = await ws.receive(timeout=quiet)
        except TimeoutError:
            return messages
        assert message.type == aiohttp.WSMsgType.BINARY, message
        messages.append(message.data)


def test_fit_scales_down_into_the_box_keeping_the_shape() -> None:
    assert fit(640, 480, None) == (640, 480)
    assert fit(640, 480, (1280, 720)) == (640, 480)
    assert fit(1920, 1080, (1280, 720)) == (1280, 720)
    assert fit(640, 480, (320, 240)) == (320, 240)
    assert fit(1280, 720, (320, 240)) == (320, 180)


async def test_video_page_gets_the_frame_as_jpeg_with_its_decode_time(
    bridge: tuple[MediaBridge, str],
) -> None:
    media, url = bridge
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{url}/media/video") as ws:
        await until(lambda: media.video.pages == 1, "the page is registered")
        media.video.push(frame_640x480(), 1_700_000_000.25)
        [message] = await receive(ws)
    decoded_at, sequence, jpeg = unpack(message)
    assert (decoded_at, sequence) == (1_700_000_000.25, 1)
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (480, 640, 3)
    assert image.std() > 20  # the pattern, not a blank picture


async def test_video_is_latest_wins(bridge: tuple[MediaBridge, str]) -> None:
    media, url = bridge
    frames = [frame_640x480(i) for i in range(10)]
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{url}/media/video") as ws:
        await until(lambda: media.video.pages == 1, "the page is registered")
        # ten frames faster than any encoder: only the newest is worth sending
        for i, frame in enumerate(frames):
            media.video.push(frame, 1000.0 + i)
        messages = await receive(ws)
    assert [unpack(m)[:2] for m in messages] == [(1009.0, 10)]
    assert media.video.pushed == 10 and media.video.encoded == 1


async def test_self_view_is_scaled_down_and_tapped_at_a_reduced_rate(
    bridge: tuple[MediaBridge, str],
) -> None:
    media, url = bridge
    frame = frame_640x480()

    class Instant(SyntheticVideoTrack):
        """A camera with frames ready at once: far faster than the tap's 15 fps."""

        async def recv(self) -> av.VideoFrame:
            return frame

    source = Instant()
    tapped = TappedVideoTrack(source, media.self_view, max_fps=15)
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{url}/media/self") as ws:
        await until(lambda: media.self_view.pages == 1, "the page is registered")
        passed = [await tapped.recv() for _ in range(20)]
        messages = await receive(ws)
    assert all(f is frame for f in passed)  # the call gets the camera's frames untouched
    assert 1 <= media.self_view.pushed < 20
    jpeg = unpack(messages[-1])[2]
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (240, 320, 3)
    tapped.stop()
    assert source.readyState == "ended"  # stopping the tap releases the camera


@pytest.mark.parametrize(("rate", "samples"), [(48_000, 960), (44_100, 441)])
async def test_audio_page_gets_48k_mono_pcm(
    bridge: tuple[MediaBridge, str], rate: int, samples: int
) -> None:
    media, url = bridge
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{url}/media/audio") as ws:
        await until(lambda: media.audio.pages == 1, "the page is registered")
        for i in range(5):
            media.audio.push(opus_like_frame(i * samples, rate, samples), 500.0 + i)
        messages = await receive(ws)
    assert messages
    pcm = np.concatenate([np.frombuffer(unpack(m)[2], "<i2") for m in messages])
    expected = 5 * samples * AUDIO_RATE // rate
    # the resampler may hold back a few samples for its filter; none are invented
    assert expected - 64 <= len(pcm) <= expected
    assert 7000 < np.abs(pcm).max() <= 8001  # the tone, mixed to mono at its own level
    assert [unpack(m)[1] for m in messages] == list(range(1, len(messages) + 1))
    assert unpack(messages[0])[0] == 500.0


async def test_audio_relay_restarts_its_resampler_for_a_new_call(
    bridge: tuple[MediaBridge, str],
) -> None:
    media, url = bridge
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{url}/media/audio") as ws:
        await until(lambda: media.audio.pages == 1, "the page is registered")
        for call in range(2):  # the second call's timestamps start again at 0
            for i in range(3):
                media.audio.push(opus_like_frame(i * 882, 44_100, 882), float(call))
        messages = await receive(ws)
    assert {unpack(m)[0] for m in messages} == {0.0, 1.0}


async def test_nothing_is_encoded_without_a_page() -> None:
    async with VideoRelay() as relay:
        for i in range(5):
            relay.push(frame_640x480(i), float(i))
            await asyncio.sleep(0.01)
        assert (relay.pushed, relay.encoded) == (5, 0)


async def test_close_ends_the_pages_sockets_and_every_task() -> None:
    media = MediaBridge()
    url, runner = await serve(media)
    async with aiohttp.ClientSession() as http:
        sockets = [await http.ws_connect(f"{url}/media/{name}") for name in ("video", "self")]
        await until(lambda: media.video.pages == media.self_view.pages == 1, "both registered")
        media.video.push(frame_640x480(), 1.0)
        await sockets[0].receive(timeout=5)
        await media.close()
        for ws in sockets:
            message = await ws.receive(timeout=5)
            assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            await ws.close()
        await runner.cleanup()
    left = [t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("relay-")]
    assert left == []
    media.video.push(frame_640x480(), 2.0)  # a late frame from the call is ignored
    assert media.video.pushed == 1


async def test_other_origins_cannot_watch(bridge: tuple[MediaBridge, str]) -> None:
    _, url = bridge
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(f"{url}/media/video", origin="http://evil.example")
    assert refused.value.status == 403


@pytest.mark.browser
@pytest.mark.call_media
async def test_page_draws_the_video_and_self_view_and_plays_audio(
    bridge: tuple[MediaBridge, str], page: Page
) -> None:
    media, url = bridge
    clerk_video = FrameCounter(on_frame=media.video.push)
    clerk_audio = FrameCounter(on_frame=media.audio.push)
    own_camera = media.tap(create_local_tracks(True, "", "", label="kiosk"))
    call_sender = FrameCounter()  # pulls the camera as the RTP sender would
    clerk_video.start(SyntheticVideoTrack(label="clerk"))
    clerk_audio.start(SyntheticAudioTrack())
    call_sender.start(own_camera.video)
    try:
        await page.goto(url)
        await page.wait_for_function("() => window.kioskMediaStats().frames > 20", timeout=15000)
        await page.wait_for_function(
            "() => { const s = window.kioskMediaStats(); return s.self.frames > 5"
            " && s.audio.chunks > 10 && s.audio.state === 'running'; }",
            timeout=10000,
        )
        stats = await page.evaluate("() => window.kioskMediaStats()")
        assert await canvas_colours(page, "#clerk") > 4
        assert await canvas_colours(page, "#self") > 4
        assert stats["errors"] == 0 and len(stats["addedMs"]) == stats["frames"]

        # the kiosk process drops the page's sockets: the page comes back by itself
        await media.close_pages()
        frames = stats["frames"]
        await page.wait_for_function(
            f"() => {{ const s = window.kioskMediaStats(); return s.reconnects >= 1 && s.frames > {frames + 10}; }}",
            timeout=10000,
        )
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        for counter in (clerk_video, clerk_audio, call_sender):
            await counter.stop()
        own_camera.stop()
