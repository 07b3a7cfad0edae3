"""The media bridge: the clerk's decoded video and audio, relayed to the kiosk page.

The terminal (aiortc) decodes the clerk's media; the page in Chromium shows it. The bridge
hands each decoded frame from the terminal's :class:`~media.sinks.FrameCounter` to the page
over loopback websockets, adding as little delay as it can:

- ``/media/video`` — the clerk's video as JPEG, one binary message per frame
- ``/media/self`` — the kiosk's own camera, small and at a reduced rate (the self view)
- ``/media/audio`` — the clerk's audio as 48 kHz mono s16 PCM, one message per decoded frame

Every message starts with :data:`HEADER` (little-endian ``float64`` wall time the terminal
decoded the frame, ``uint32`` sequence number), then the payload. The page measures what the
bridge adds as "shown at" minus that wall time: both clocks are this machine's.

Video is latest-wins end to end: the encoder only ever takes the newest frame, and each page
has a one-frame mailbox, so a slow page misses frames instead of falling behind.

Wiring (see :class:`MediaBridge`)::

    bridge = MediaBridge()
    controller = KioskController(..., media_factory=lambda: bridge.tap(create_local_tracks(...)),
                                 on_video_frame=bridge.video.push,
                                 on_audio_frame=bridge.audio.push, serves_media=True)
    app = create_kiosk_app(controller, extra_routes=bridge.add_routes)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
from collections import deque
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import av
import cv2
from aiohttp import WSCloseCode, web
from aiortc.mediastreams import MediaStreamTrack
from av.frame import Frame
from av.packet import Packet
from av.video.reformatter import VideoReformatter

from media.sources import LocalMedia
from terminal_client.tasks import cancel_and_wait

log = logging.getLogger(__name__)

HEADER = struct.Struct("<dI")  # decoded_at (wall-clock seconds), sequence number
AUDIO_RATE = 48_000  # what the page's AudioContext runs at: no resampling in the browser
JPEG_QUALITY = 80
# Check the socket's back-pressure after about every frame (aiohttp's default waits for
# 256 KiB, i.e. ~10 frames queued on a slow page before the sender notices).
WRITER_LIMIT = 16 * 1024


def unpack(message: bytes) -> tuple[float, int, bytes]:
    """Split a bridge message into ``(decoded_at, sequence, payload)``."""
    decoded_at, sequence = HEADER.unpack_from(message)
    return decoded_at, sequence, message[HEADER.size :]


def fit(width: int, height: int, box: tuple[int, int] | None) -> tuple[int, int]:
    """The size of a ``width``×``height`` picture scaled down (never up) into ``box``."""
    if box is None or (width <= box[0] and height <= box[1]):
        return width, height
    scale = min(box[0] / width, box[1] / height)
    # even sizes: JPEG's 4:2:0 chroma and the browser's decoder both prefer them
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


@dataclass(eq=False)
class _Page:
    """One connected page: its socket and a bounded mailbox that drops the oldest."""

    ws: web.WebSocketResponse
    mailbox: deque[bytes]
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: int = 0

    def offer(self, message: bytes) -> None:
        if len(self.mailbox) == self.mailbox.maxlen:
            self.dropped += 1
        self.mailbox.append(message)
        self.ready.set()


class _Fanout:
    """The websocket side shared by the relays: accept pages, send each its mailbox."""

    def __init__(self, name: str, mailbox: int) -> None:
        self.name = name
        self.mailbox = mailbox
        self.pages: set[_Page] = set()
        self.sent = 0
        self._senders: set[asyncio.Task[None]] = set()
        self._closed = False

    def offer(self, message: bytes) -> None:
        for page in self.pages:
            page.offer(message)

    async def serve(self, request: web.Request) -> web.WebSocketResponse:
        if not _same_origin(request):
            raise web.HTTPForbidden(text=f"{request.path} only serves the kiosk's own page")
        if self._closed:
            raise web.HTTPServiceUnavailable(text=f"the kiosk's {self.name} relay is closed")
        # No permessage-deflate: JPEG and PCM do not compress, and deflate costs CPU per frame.
        ws = web.WebSocketResponse(
            compress=False, heartbeat=20, max_msg_size=1024, writer_limit=WRITER_LIMIT
        )
        await ws.prepare(request)
        page = _Page(ws, deque(maxlen=self.mailbox))
        self.pages.add(page)
        sender = asyncio.get_running_loop().create_task(
            self._send(page), name=f"relay-{self.name}-sender"
        )
        self._senders.add(sender)
        log.info("kiosk page connected to /media/%s", self.name)
        try:
            async for _ in ws:
                pass  # the page sends nothing; reading is how we notice it went away
        finally:
            self.pages.discard(page)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
            self._senders.discard(sender)
            log.info("kiosk page left /media/%s (%d messages dropped)", self.name, page.dropped)
        return ws

    async def _send(self, page: _Page) -> None:
        while True:
            await page.ready.wait()
            page.ready.clear()
            while page.mailbox:
                try:
                    await page.ws.send_bytes(page.mailbox.popleft())
                except ConnectionResetError:
                    return  # the page went away; its handler ends on the close
                self.sent += 1

    async def close_pages(self) -> None:
        """Close every page's socket (on app shutdown: open sockets would hold it up)."""
        for page in list(self.pages):
            await page.ws.close(code=WSCloseCode.GOING_AWAY, message=b"kiosk stopping")

    async def close(self) -> None:
        self._closed = True
        await self.close_pages()
        await cancel_and_wait(self._senders)
        self._senders.clear()


def _same_origin(request: web.Request) -> bool:
    """Only the kiosk's own page may watch: a cross-site page must not see the call. The
    Origin is checked against loopback names with this server's port, never against the
    request's own Host (which a DNS-rebinding page controls)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    transport = request.transport
    sockname = transport.get_extra_info("sockname") if transport is not None else None
    port = sockname[1] if isinstance(sockname, tuple) and len(sockname) >= 2 else None
    return urlsplit(origin).netloc in {f"{h}:{port}" for h in ("127.0.0.1", "localhost", "[::1]")}


class VideoRelay:
    """Decoded video frames in, JPEG frames out to every page on its websocket.

    Use :meth:`push` as a :class:`~media.sinks.FrameCounter` listener (or feed it from
    :class:`TappedVideoTrack`), mount :meth:`serve` as a websocket route, and ``async with``
    (or :meth:`close`) for the encoder's lifetime.
    """

    def __init__(
        self, name: str = "video", size: tuple[int, int] | None = None, quality: int = JPEG_QUALITY
    ) -> None:
        """``size`` is the box frames are scaled down into (None: as decoded)."""
        self.name = name
        self.size = size
        self.quality = quality
        self.pushed = 0
        self.encoded = 0
        self.encode_cpu_s = 0.0  # CPU time of the encoder thread (the relay's main cost)
        self._fanout = _Fanout(name, mailbox=1)
        self._latest: tuple[av.VideoFrame, float, int] | None = None
        self._fresh = asyncio.Event()
        # One thread of its own: encoding never waits behind other to_thread work, and one
        # frame at a time is all latest-wins needs.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"relay-{name}")
        self._reformatter = VideoReformatter()  # only ever used in the executor's thread
        self._worker: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def pages(self) -> int:
        """How many pages are watching."""
        return len(self._fanout.pages)

    def push(self, frame: av.VideoFrame | av.AudioFrame, decoded_at: float) -> None:
        """Offer the newest decoded frame; cheap, for the event loop. Older unsent ones drop."""
        if self._closed or not isinstance(frame, av.VideoFrame):
            return
        self.pushed += 1
        self._latest = (frame, decoded_at, self.pushed)
        self._fresh.set()
        self._start()

    async def serve(self, request: web.Request) -> web.WebSocketResponse:
        """The websocket handler: the page receives ``HEADER`` + JPEG per frame."""
        self._start()
        return await self._fanout.serve(request)

    def _start(self) -> None:
        if self._worker is None and not self._closed:
            self._worker = asyncio.get_running_loop().create_task(
                self._encode_loop(), name=f"relay-{self.name}-encoder"
            )

    async def _encode_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._fresh.wait()
            self._fresh.clear()
            if self._latest is None or not self._fanout.pages:
                continue  # nobody watching: spend no CPU
            frame, decoded_at, sequence = self._latest
            self._latest = None
            jpeg = await loop.run_in_executor(self._executor, self._encode, frame)
            message = HEADER.pack(decoded_at, sequence) + jpeg
            self._fanout.offer(message)

    def _encode(self, frame: av.VideoFrame) -> bytes:
        """Runs in the relay's thread: scale, convert and compress one frame."""
        started = time.thread_time()
        width, height = fit(frame.width, frame.height, self.size)
        # swscale does the YUV -> BGR conversion and the scaling in one pass, with the
        # relay's own context: frame.reformat() would use one cached on the frame, which the
        # call's video encoder may be using on the same (self view) frame in its thread.
        image = self._reformatter.reformat(
            frame, width, height, format="bgr24", threads=1
        ).to_ndarray()
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise RuntimeError(f"OpenCV could not encode a {width}x{height} frame as JPEG")
        self.encoded += 1
        self.encode_cpu_s += time.thread_time() - started
        return jpeg.tobytes()

    async def close_pages(self) -> None:
        """Close the pages' sockets (they reconnect if the app is still serving)."""
        await self._fanout.close_pages()

    async def close(self) -> None:
        """Close the pages' sockets and stop the encoder; safe to call twice."""
        self._closed = True
        self._latest = None
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        await self._fanout.close()
        await asyncio.to_thread(self._executor.shutdown)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


class AudioRelay:
    """Decoded audio frames in, 48 kHz mono s16 PCM out to every page on its websocket.

    Each page has a short queue (``queue_ms``); when a page falls behind, the oldest audio
    drops, so what it plays stays close to the call.
    """

    def __init__(self, queue_ms: int = 200) -> None:
        self.pushed = 0
        # a decoded Opus frame is 20 ms: queue_ms // 20 of them before the oldest drops
        self._fanout = _Fanout("audio", mailbox=max(1, queue_ms // 20))
        self._resampler: av.AudioResampler | None = None
        self._input: tuple[str, str, int] | None = None
        self._next_pts: int | None = None
        self._closed = False

    @property
    def pages(self) -> int:
        """How many pages are listening."""
        return len(self._fanout.pages)

    def push(self, frame: av.VideoFrame | av.AudioFrame, decoded_at: float) -> None:
        """Resample one decoded frame and queue it for every page.

        Runs on the event loop on purpose: resampling 20 ms of audio takes microseconds,
        less than handing it to a thread would.
        """
        if self._closed or not isinstance(frame, av.AudioFrame) or not self._fanout.pages:
            return
        for pcm in self._resample(frame):
            self.pushed += 1
            self._fanout.offer(HEADER.pack(decoded_at, self.pushed) + pcm)

    def _resample(self, frame: av.AudioFrame) -> list[bytes]:
        shape = (frame.format.name, frame.layout.name, frame.sample_rate)
        # A new call (pts starts again) or another format needs a fresh resampler: the
        # filter graph is set up for the first frame's format and timeline.
        restarted = (
            frame.pts is not None and self._next_pts is not None and frame.pts < self._next_pts
        )
        if self._resampler is None or shape != self._input or restarted:
            self._resampler = av.AudioResampler(format="s16", layout="mono", rate=AUDIO_RATE)
            self._input = shape
        self._next_pts = None if frame.pts is None else frame.pts + frame.samples
        # to_ndarray, not the plane's buffer: planes may be padded past the last sample
        return [out.to_ndarray().tobytes() for out in self._resampler.resample(frame)]

    async def serve(self, request: web.Request) -> web.WebSocketResponse:
        """The websocket handler: the page receives ``HEADER`` + PCM per decoded frame."""
        return await self._fanout.serve(request)

    async def close_pages(self) -> None:
        """Close the pages' sockets (they reconnect if the app is still serving)."""
        await self._fanout.close_pages()

    async def close(self) -> None:
        """Close the pages' sockets; safe to call twice."""
        self._closed = True
        await self._fanout.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


class TappedVideoTrack(MediaStreamTrack):
    """The kiosk's camera track, unchanged for the call, with a copy for the self view.

    At most ``max_fps`` frames a second go to ``relay``; the frames themselves (with their
    ``pts`` and ``time_base``) pass through untouched. Stopping it stops the camera.
    """

    kind = "video"

    def __init__(self, source: MediaStreamTrack, relay: VideoRelay, max_fps: float = 15.0) -> None:
        super().__init__()
        self.source = source
        self.relay = relay
        self._interval = 1.0 / max_fps
        self._slack = min(0.010, self._interval / 4)
        self._next_tap = 0.0

    async def recv(self) -> Frame | Packet[Any]:
        frame = await self.source.recv()
        now = time.time()
        # A little slack: a 30 fps camera's frame due at 66.7 ms may come at 66.5 ms, and
        # skipping it would turn 15 fps into 10.
        if isinstance(frame, av.VideoFrame) and now + self._slack >= self._next_tap:
            # step from the due time, not from now, so the rate stays steady
            self._next_tap += self._interval
            if self._next_tap < now:  # the first frame, or after a stall
                self._next_tap = now + self._interval
            self.relay.push(frame, now)
        return frame

    def stop(self) -> None:
        super().stop()
        self.source.stop()


class MediaBridge:
    """The kiosk's three relays, their routes and their lifetime.

    ``self_view_size`` / ``self_view_fps`` keep the self view cheap: a small picture at a
    reduced rate. ``video_size`` caps the clerk's picture (None: as the clerk sends it).
    """

    def __init__(
        self,
        video_size: tuple[int, int] | None = (1280, 720),
        self_view_size: tuple[int, int] = (320, 240),
        self_view_fps: float = 15.0,
    ) -> None:
        self.video = VideoRelay("video", size=video_size)
        self.audio = AudioRelay()
        self.self_view = VideoRelay("self", size=self_view_size)
        self.self_view_fps = self_view_fps

    def tap(self, media: LocalMedia) -> LocalMedia:
        """``media`` with its camera track copied to the self view (wrap the media factory)."""
        video = TappedVideoTrack(media.video, self.self_view, self.self_view_fps)
        return LocalMedia(video, media.audio, media.players)

    def add_routes(self, app: web.Application) -> None:
        """Mount ``/media/video``, ``/media/audio``, ``/media/self`` on the kiosk page's app.

        The app's shutdown closes the pages' media sockets and its cleanup closes the bridge.
        """
        app.router.add_get("/media/video", self.video.serve)
        app.router.add_get("/media/audio", self.audio.serve)
        app.router.add_get("/media/self", self.self_view.serve)
        app.on_shutdown.append(self._on_shutdown)
        app.cleanup_ctx.append(self._lifetime)

    async def close_pages(self) -> None:
        """Close every page's media sockets (pages reconnect while the app serves)."""
        for relay in (self.video, self.audio, self.self_view):
            await relay.close_pages()

    async def _on_shutdown(self, app: web.Application) -> None:
        await self.close_pages()

    async def _lifetime(self, app: web.Application) -> AsyncIterator[None]:
        yield
        await self.close()

    async def close(self) -> None:
        """Stop the relays and close their sockets; safe to call twice."""
        await asyncio.gather(self.video.close(), self.audio.close(), self.self_view.close())

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
