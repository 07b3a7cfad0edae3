"""Call set-up time: kiosk "request service" -> first decoded frame at both ends.

A clerk waits, signed in, in headless Chromium with auto-answer on. N calls go through the
real server (its own process); each is timed from the kiosk's request to the first frame
decoded by the kiosk (aiortc) and presented by the console (``requestVideoFrameCallback``).
The baseline: the same aiortc source and the same Chromium page doing a bare offer/answer
with no server, queue or console logic. Last line: JSON with p50_ms, p95_ms,
baseline_p50_ms, ratio.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from playwright.async_api import Page

from bench.cli import bench_parser, parse, report
from bench.server import bench_server, chromium, login_console, pct
from media.sinks import FrameCounter
from media.sources import create_local_tracks
from terminal_client.client import TerminalClient, TerminalState

# the keys of the JSON line (tests/bench/test_bench_smoke.py checks them)
KEYS = (
    "n", "p50_ms", "p95_ms", "kiosk_p50_ms", "console_p50_ms", "baseline_p50_ms",
    "baseline_p95_ms", "ratio",
)  # fmt: skip

ARM_FIRST_FRAME = """
() => {
  const v = document.querySelector('[data-testid=remote-video]');
  window.__firstFrame = new Promise((resolve) => {
    const arm = () => v.requestVideoFrameCallback(() => resolve(Date.now()));
    arm();
  });
}
"""

BASELINE_ANSWER = """
async (offer) => {
  if (window.__basePc) window.__basePc.close();
  if (!window.__baseStream) {
    window.__baseStream = await navigator.mediaDevices.getUserMedia({video: {width: 640, height: 480}, audio: true});
  }
  const pc = window.__basePc = new RTCPeerConnection({iceServers: []});
  const video = document.createElement('video');
  video.muted = true; video.autoplay = true; video.playsInline = true;
  document.body.appendChild(video);
  window.__baseFirstFrame = new Promise((resolve) => video.requestVideoFrameCallback(() => resolve(Date.now())));
  pc.ontrack = (e) => { if (e.track.kind === 'video') video.srcObject = new MediaStream([e.track]); };
  await pc.setRemoteDescription(offer);
  for (const t of window.__baseStream.getTracks()) pc.addTrack(t, window.__baseStream);
  await pc.setLocalDescription(await pc.createAnswer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') resolve(); });
    setTimeout(resolve, 1000);
  });
  return {type: pc.localDescription.type, sdp: pc.localDescription.sdp};
}
"""


async def system_call(page: Page, terminal: TerminalClient) -> tuple[float, float]:
    await page.evaluate(ARM_FIRST_FRAME)
    t0 = time.time()
    await terminal.request_service("tax-registration", "en")
    await terminal.wait_for(TerminalState.IN_CALL, timeout=20)
    await terminal.video_in.first_frame.wait()
    kiosk_ms = (terminal.video_in.first_frame_wall - t0) * 1000
    browser_ms = (await page.evaluate("() => window.__firstFrame") / 1000 - t0) * 1000
    await terminal.hangup("bench")
    await terminal.wait_for(TerminalState.ENDED)
    await page.wait_for_function("() => window.vcounterConsole.state() === 'available'")
    return kiosk_ms, browser_ms


async def baseline_call(page: Page) -> tuple[float, float]:
    t0 = time.time()
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    media = create_local_tracks(True, "", "", label="baseline")
    counter = FrameCounter()

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        if track.kind == "video":
            counter.start(track)

    pc.addTrack(media.audio)
    pc.addTrack(media.video)
    try:
        await pc.setLocalDescription(await pc.createOffer())
        answer = await page.evaluate(
            BASELINE_ANSWER, {"type": "offer", "sdp": pc.localDescription.sdp}
        )
        await pc.setRemoteDescription(RTCSessionDescription(**answer))
        await asyncio.wait_for(counter.first_frame.wait(), 20)
        kiosk_ms = (counter.first_frame_wall - t0) * 1000
        browser_ms = (await page.evaluate("() => window.__baseFirstFrame") / 1000 - t0) * 1000
        return kiosk_ms, browser_ms
    finally:
        await counter.stop()
        await pc.close()
        media.stop()
        await page.evaluate("() => { window.__basePc && window.__basePc.close(); }")


async def main(n: int) -> dict[str, Any]:
    async with bench_server() as server, chromium() as browser:
        server.clerk()
        token = server.terminal()
        page = await browser.new_page()
        await login_console(page, server.url)
        terminal = TerminalClient(
            server.url, token, lambda: create_local_tracks(True, "", "", label="k"), name="bench"
        )
        await terminal.connect()
        system: list[tuple[float, float]] = []
        base: list[tuple[float, float]] = []
        try:
            await system_call(page, terminal)  # warm-up: codecs, JIT, first DB writes
            await baseline_call(page)
            for _ in range(n):
                system.append(await system_call(page, terminal))
                base.append(await baseline_call(page))
        finally:
            await terminal.close()
    both = [max(k, b) for k, b in system]
    both_base = [max(k, b) for k, b in base]
    result = {
        "n": n,
        "p50_ms": round(statistics.median(both), 1),
        "p95_ms": round(pct(both, 0.95), 1),
        "kiosk_p50_ms": round(statistics.median(k for k, _ in system), 1),
        "console_p50_ms": round(statistics.median(b for _, b in system), 1),
        "baseline_p50_ms": round(statistics.median(both_base), 1),
        "baseline_p95_ms": round(pct(both_base, 0.95), 1),
    }
    result["ratio"] = round(result["p50_ms"] / result["baseline_p50_ms"], 3)
    return result


if __name__ == "__main__":
    parser = bench_parser(__doc__)
    parser.add_argument("-n", type=int, default=20, help="calls of each kind (default 20)")
    args = parse(parser, smoke={"n": 1})
    out = asyncio.run(main(args.n))
    print(
        f"call setup (request -> first frame at both ends), n={out['n']}:\n"
        f"  vcounter  p50 {out['p50_ms']} ms  p95 {out['p95_ms']} ms "
        f"(kiosk p50 {out['kiosk_p50_ms']}, console p50 {out['console_p50_ms']})\n"
        f"  baseline  p50 {out['baseline_p50_ms']} ms  p95 {out['baseline_p95_ms']} ms\n"
        f"  ratio     {out['ratio']}"
    )
    report(out, KEYS, args.smoke)
