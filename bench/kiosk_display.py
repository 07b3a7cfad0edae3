"""Kiosk display latency: terminal decode -> pixel on the kiosk page, and displayed fps.

A real aiortc call over loopback: the clerk is a second process sending the synthetic
640×480@30 pattern and a tone; the terminal (this process) sends its own synthetic camera
and microphone, decodes the clerk's media with a FrameCounter whose listener is the media
bridge, and serves the bridge to headless Chromium (/usr/bin/chromium), which draws the
clerk's video, the self view and plays the audio with ``kiosk-media.js`` under the kiosk's
CSP. The page times each frame from the terminal's decode (``time.time()``) to the
animation frame after the one that committed its pixels.

Also measured: the terminal's CPU with and without a page watching (the difference is what
the bridge costs) and the bridge's JPEG encoder thread. Last line: JSON with
``added_p50_ms``, ``added_p95_ms``, ``fps``. Target: p95 ≤ 100 ms, fps ≥ 25.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from playwright.async_api import async_playwright

from bench.cli import bench_parser, parse, report
from media.chromium import CHROMIUM, CHROMIUM_ARGS
from media.sinks import FrameCounter
from media.sources import SyntheticAudioTrack, SyntheticVideoTrack, create_local_tracks
from terminal_client.kiosk.display import MediaBridge
from terminal_client.kiosk.server import STATIC_DIR, security_headers

# the keys of the JSON line (tests/bench/test_bench_smoke.py checks them)
KEYS = (
    "added_p50_ms", "added_p95_ms", "added_max_ms", "arrival_p50_ms", "arrival_p95_ms", "fps",
    "frames", "seconds", "decoded_fps", "dropped", "self_view_fps", "audio_underruns",
    "audio_buffered_ms", "terminal_cpu_idle_pct", "terminal_cpu_watched_pct", "bridge_cpu_pct",
    "bridge_encoder_cpu_pct", "chromium_and_clerk_cpu_pct", "machine_busy_pct", "cores",
    "page_errors",
)  # fmt: skip
VIEWPORT = {"width": 1920, "height": 1080}

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>kiosk display bench</title>
<link rel="icon" href="data:,"><link rel="stylesheet" href="/bench.css"></head>
<body><canvas id="clerk" width="640" height="480"></canvas>
<canvas id="self" width="320" height="240"></canvas>
<script type="module" src="/bench.js"></script></body></html>
"""
# the call screen's proportions: the clerk large, the applicant small in a corner
PAGE_CSS = """
body { margin: 0; background: #101820; overflow: hidden; }
#clerk { position: absolute; left: 0; top: 0; width: 1440px; height: 1080px; }
#self { position: absolute; right: 16px; top: 16px; width: 320px; height: 240px; }
"""
PAGE_JS = """
import { startClerkMedia } from '/static/kiosk-media.js';
window.media = startClerkMedia(document.getElementById('clerk'), {
  selfCanvas: document.getElementById('self'),
});
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# ------------------------------------------------------------------ the clerk's process


async def clerk_peer() -> None:
    """The clerk's side: answer the offer from stdin, send the pattern until stdin closes."""
    offer = json.loads(await asyncio.to_thread(sys.stdin.readline))
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTrack(SyntheticAudioTrack())
    pc.addTrack(SyntheticVideoTrack(label="clerk"))
    sinks: list[FrameCounter] = []

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        sink = FrameCounter()  # decode the kiosk's media, as the console does
        sink.start(track)
        sinks.append(sink)

    await pc.setRemoteDescription(RTCSessionDescription(**offer))
    await pc.setLocalDescription(await pc.createAnswer())
    answer = {"type": pc.localDescription.type, "sdp": pc.localDescription.sdp}
    print(json.dumps(answer), flush=True)
    await asyncio.to_thread(sys.stdin.read)  # until the terminal closes the pipe
    for sink in sinks:
        await sink.stop()
    await pc.close()


# ------------------------------------------------------------------ CPU accounting


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid``."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine since boot."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


@dataclass
class CpuWindow:
    """CPU used over a stretch of wall time: this process, a set of others, the machine."""

    others: list[int]

    def __post_init__(self) -> None:
        self.wall = time.monotonic()
        self.own = time.process_time()
        self.other = sum(cpu_seconds(p) for p in self.others)
        self.busy, self.total = machine_busy()

    def result(self) -> dict[str, float]:
        wall = time.monotonic() - self.wall
        busy, total = machine_busy()
        return {
            "terminal_pct": 100 * (time.process_time() - self.own) / wall,
            "others_pct": 100 * (sum(cpu_seconds(p) for p in self.others) - self.other) / wall,
            "machine_pct": 100 * (busy - self.busy) / max(1, total - self.total),
            "wall_s": wall,
        }


# ------------------------------------------------------------------ the terminal


async def serve(bridge: MediaBridge) -> tuple[str, web.AppRunner]:
    """The bridge and a call-screen-like page, under the kiosk's CSP, on loopback."""
    app = web.Application(middlewares=[security_headers])
    texts = {"/": (PAGE, "text/html"), "/bench.js": (PAGE_JS, "text/javascript")}
    texts["/bench.css"] = (PAGE_CSS, "text/css")
    for path, (text, kind) in texts.items():

        async def handler(request: web.Request, text: str = text, kind: str = kind) -> web.Response:
            return web.Response(text=text, content_type=kind)

        app.router.add_get(path, handler)
    app.router.add_static("/static/", STATIC_DIR)
    bridge.add_routes(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return f"http://127.0.0.1:{runner.addresses[0][1]}/", runner


async def main(seconds: float, warmup: float, baseline: float) -> dict[str, Any]:
    bridge = MediaBridge()
    clerk_video = FrameCounter(on_frame=bridge.video.push)
    clerk_audio = FrameCounter(on_frame=bridge.audio.push)
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    local = bridge.tap(create_local_tracks(True, "", "", label="kiosk"))
    pc.addTrack(local.audio)
    pc.addTrack(local.video)

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        (clerk_video if track.kind == "video" else clerk_audio).start(track)

    clerk = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.kiosk_display", "--clerk-peer",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert clerk.stdin is not None and clerk.stdout is not None
    url, runner = await serve(bridge)
    try:
        await pc.setLocalDescription(await pc.createOffer())
        offer = {"type": pc.localDescription.type, "sdp": pc.localDescription.sdp}
        clerk.stdin.write((json.dumps(offer) + "\n").encode())
        await clerk.stdin.drain()
        answer = json.loads(await asyncio.wait_for(clerk.stdout.readline(), 20))
        await pc.setRemoteDescription(RTCSessionDescription(**answer))
        await asyncio.wait_for(clerk_video.first_frame.wait(), 20)

        # the call alone, nobody watching: the bridge encodes nothing
        await asyncio.sleep(2)
        window = CpuWindow([clerk.pid])
        decoded = clerk_video.count
        await asyncio.sleep(baseline)
        idle = window.result()
        idle["decoded_fps"] = (clerk_video.count - decoded) / idle["wall_s"]

        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=list(CHROMIUM_ARGS)
            )
            page = await browser.new_page(viewport=VIEWPORT)  # type: ignore[arg-type]
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            await page.goto(url)
            await page.wait_for_function("() => window.kioskMediaStats().frames > 0", timeout=20000)
            await asyncio.sleep(warmup)

            chromium = [p for p in descendants(os.getpid()) if p != clerk.pid]
            await page.evaluate("() => window.kioskMediaStats.reset()")
            window = CpuWindow([clerk.pid, *chromium])
            encode_cpu = bridge.video.encode_cpu_s + bridge.self_view.encode_cpu_s
            decoded = clerk_video.count
            added: list[float] = []
            arrival: list[float] = []
            seen = 0
            stats: dict[str, Any] = {}
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                await asyncio.sleep(min(2.0, max(0.0, deadline - time.monotonic())))
                stats = await page.evaluate("() => window.kioskMediaStats()")
                new = stats["frames"] - seen  # the page keeps the last 600 samples
                added += stats["addedMs"][-new:] if new else []
                arrival += stats["arrivalMs"][-new:] if new else []
                seen = stats["frames"]
            watching = window.result()
            watching["decoded_fps"] = (clerk_video.count - decoded) / watching["wall_s"]
            watching["encode_pct"] = (
                100
                * (bridge.video.encode_cpu_s + bridge.self_view.encode_cpu_s - encode_cpu)
                / watching["wall_s"]
            )
            await browser.close()
    finally:
        clerk.stdin.close()
        await asyncio.wait_for(clerk.wait(), 10)
        await runner.cleanup()
        await clerk_video.stop()
        await clerk_audio.stop()
        await pc.close()
        local.stop()
        await bridge.close()

    return {
        "added_p50_ms": round(pct(added, 0.50), 1),
        "added_p95_ms": round(pct(added, 0.95), 1),
        "fps": round(stats["meanFps"], 1),
        "added_max_ms": round(max(added), 1),
        "arrival_p50_ms": round(pct(arrival, 0.50), 1),
        "arrival_p95_ms": round(pct(arrival, 0.95), 1),
        "frames": stats["frames"],
        "seconds": round(stats["elapsedMs"] / 1000, 1),
        "decoded_fps": round(watching["decoded_fps"], 1),
        "dropped": stats["dropped"],
        "self_view_fps": round(stats["self"]["meanFps"], 1),
        "audio_underruns": stats["audio"]["underruns"],
        "audio_buffered_ms": round(stats["audio"]["bufferedMs"], 1),
        "terminal_cpu_idle_pct": round(idle["terminal_pct"], 1),
        "terminal_cpu_watched_pct": round(watching["terminal_pct"], 1),
        "bridge_cpu_pct": round(watching["terminal_pct"] - idle["terminal_pct"], 1),
        "bridge_encoder_cpu_pct": round(watching["encode_pct"], 1),
        "chromium_and_clerk_cpu_pct": round(watching["others_pct"], 1),
        "machine_busy_pct": round(watching["machine_pct"], 1),
        "cores": os.cpu_count(),
        "page_errors": errors,
    }


if __name__ == "__main__":
    parser = bench_parser(__doc__)
    parser.add_argument("--seconds", type=float, default=15, help="measured time (default 15)")
    parser.add_argument("--warmup", type=float, default=3, help="after the page shows (default 3)")
    parser.add_argument("--baseline", type=float, default=5, help="CPU without a page (default 5)")
    parser.add_argument("--clerk-peer", action="store_true", help=argparse.SUPPRESS)
    args = parse(parser, smoke={"seconds": 1.5, "warmup": 0.5, "baseline": 0.5})
    if args.clerk_peer:
        asyncio.run(clerk_peer())
        sys.exit(0)
    out = asyncio.run(main(args.seconds, args.warmup, args.baseline))
    print(
        f"kiosk display over {out['seconds']} s ({out['frames']} frames, {out['cores']} cores):\n"
        f"  added latency (terminal decode -> on screen)  p50 {out['added_p50_ms']} ms"
        f"  p95 {out['added_p95_ms']} ms  max {out['added_max_ms']} ms\n"
        f"    of which decode -> at the page               p50 {out['arrival_p50_ms']} ms"
        f"  p95 {out['arrival_p95_ms']} ms\n"
        f"  displayed {out['fps']} fps of {out['decoded_fps']} decoded"
        f" ({out['dropped']} dropped); self view {out['self_view_fps']} fps\n"
        f"  audio: {out['audio_underruns']} underruns, {out['audio_buffered_ms']} ms buffered\n"
        f"  terminal CPU {out['terminal_cpu_idle_pct']}% alone ->"
        f" {out['terminal_cpu_watched_pct']}% with the page: bridge ≈ {out['bridge_cpu_pct']}%"
        f" of a core (JPEG encoder thread {out['bridge_encoder_cpu_pct']}%)\n"
        f"  Chromium + clerk {out['chromium_and_clerk_cpu_pct']}%;"
        f" machine {out['machine_busy_pct']}% busy\n"
        f"  page errors: {out['page_errors'] or 'none'}"
    )
    report(out, KEYS, args.smoke)
