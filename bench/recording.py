"""Recording overhead at the kiosk, and replay time-to-first-frame for a supervisor.

A clerk in headless Chromium (fake 640x480 camera, auto-answer) takes calls from an aiortc
kiosk in this process, which sends its 640x480@30 synthetic camera and tone. For each call
the kiosk's CPU (this process: every thread, so the recorder's encoder threads count) is
measured over a window of the call, alternately with recording off and on. Then a
supervisor opens each recorded call's replay page; time from navigation to the first
decoded frame of both videos. Last line: JSON with overhead_cpu_pct, replay_first_frame_ms.
"""

from __future__ import annotations

import asyncio
import json
import resource
import statistics
import time
from typing import Any

import aiohttp
from playwright.async_api import Browser

from bench.cli import bench_parser, parse, report
from bench.server import PASSWORD, bench_server, chromium, login_console, pct
from media.recording import RecordingSettings
from media.sources import create_local_tracks
from terminal_client.client import TerminalClient, TerminalState

# the keys of the JSON line (tests/bench/test_bench_smoke.py checks them)
KEYS = (
    "calls", "window_s", "cpu_off_pct", "cpu_on_pct", "overhead_cpu_pct",
    "replay_first_frame_ms", "replay_first_frame_p95_ms",
)  # fmt: skip

FIRST_FRAMES = """
() => {
  window.__frames = {};
  document.addEventListener('loadeddata', (e) => {
    if (e.target.dataset && e.target.dataset.testid) window.__frames[e.target.dataset.testid] = performance.now();
  }, true);
}
"""


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def one_call(url: str, token: str, record: bool, window_s: float) -> tuple[float, str]:
    """A call of ``window_s`` measured seconds; returns (kiosk CPU % of one core, session id)."""
    terminal = TerminalClient(
        url,
        token,
        lambda: create_local_tracks(True, "", "", label="k"),
        name="bench",
        recording=RecordingSettings() if record else None,
    )
    await terminal.connect()
    try:
        session_id = await terminal.request_service("tax-registration", "en")
        await terminal.wait_for(TerminalState.IN_CALL, timeout=20)
        await terminal.video_in.first_frame.wait()
        await asyncio.sleep(1.0)  # past the encoders' start-up
        wall, cpu = time.monotonic(), cpu_s()
        await asyncio.sleep(window_s)
        used = (cpu_s() - cpu) / (time.monotonic() - wall) * 100
        await terminal.hangup("bench")
        await terminal.wait_for(TerminalState.ENDED)
    finally:
        await terminal.close()  # waits for the last segments' upload
    return used, session_id


async def replay_first_frame(browser: Browser, url: str, token: str, session_id: str) -> float:
    context = await browser.new_context()
    session = json.dumps({"token": token, "expiresAt": time.time() * 1000 + 3600_000, "name": "s"})
    await context.add_init_script(
        f"localStorage.setItem('vcounter.supervisor.session', {json.dumps(session)});"
    )
    await context.add_init_script(f"({FIRST_FRAMES})()")
    page = await context.new_page()
    await page.goto(f"{url}/supervisor?session={session_id}")
    await page.wait_for_function(
        "() => window.__frames && window.__frames['video-applicant'] && window.__frames['video-clerk']",
        timeout=20_000,
    )
    frames = await page.evaluate("() => window.__frames")
    await context.close()
    return max(frames["video-applicant"], frames["video-clerk"])


async def main(calls: int, window_s: float) -> dict[str, Any]:
    off: list[float] = []
    on: list[float] = []
    recorded: list[str] = []
    first_frame: list[float] = []
    async with bench_server() as server, chromium() as browser:
        server.clerk()
        server.clerk("boss", "--role", "supervisor")
        token = server.terminal()
        url = server.url
        page = await browser.new_page()
        await login_console(page, url)
        await one_call(url, token, False, min(2.0, window_s))  # warm-up
        for _ in range(calls):
            off.append((await one_call(url, token, False, window_s))[0])
            used, session_id = await one_call(url, token, True, window_s)
            on.append(used)
            recorded.append(session_id)
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{url}/api/login", json={"username": "boss", "password": PASSWORD}) as r,
        ):
            boss = (await r.json())["token"]
        for session_id in recorded:
            first_frame.append(await replay_first_frame(browser, url, boss, session_id))
    result = {
        "calls": calls,
        "window_s": window_s,
        "cpu_off_pct": round(statistics.median(off), 1),
        "cpu_on_pct": round(statistics.median(on), 1),
        "replay_first_frame_p95_ms": round(pct(first_frame, 0.95), 1),
    }
    result["overhead_cpu_pct"] = round(result["cpu_on_pct"] - result["cpu_off_pct"], 1)
    result["replay_first_frame_ms"] = round(statistics.median(first_frame), 1)
    return result


if __name__ == "__main__":
    parser = bench_parser(__doc__)
    parser.add_argument("-n", type=int, default=5, help="calls with and without recording")
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per call")
    args = parse(parser, smoke={"n": 1, "seconds": 1.0})
    out = asyncio.run(main(args.n, args.seconds))
    s = RecordingSettings()
    print(
        f"kiosk CPU during a 640x480@30 call (median of {out['calls']} calls, one core = 100 %):\n"
        f"  recording off  {out['cpu_off_pct']} %\n"
        f"  recording on   {out['cpu_on_pct']} %  ({s.width}x{s.height}@{s.fps:g} VP8"
        f" {s.video_kbps} kb/s + Opus, both sides)\n"
        f"  overhead       {out['overhead_cpu_pct']} % of one core\n"
        f"replay page, navigation -> first frame of both videos: median"
        f" {out['replay_first_frame_ms']} ms, p95 {out['replay_first_frame_p95_ms']} ms"
    )
    report(out, KEYS, args.smoke)
