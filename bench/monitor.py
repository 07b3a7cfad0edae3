"""A supervisor watching live calls (issue 16): time from the click to the first decoded frame
of each side, and what it costs the kiosk.

    python -m bench.monitor            # ten calls, 5 s of the kiosk's CPU without and with
    python -m bench.monitor --smoke    # two calls, 1 s each (the suite runs this)

The real server runs in this process; the clerk's console and the supervisor's page are two
pages of Debian's Chromium; the kiosk is the real aiortc kiosk in a process of its own
(tests/media/kiosk_in_netns.py on loopback, with a synthetic document camera, recording on),
so its CPU is its own. For each call: the clerk's console answers; the kiosk's CPU time over
``--window-s`` (from /proc, as a share of one core); the supervisor presses "Monitor" on the
live view; the page notes the first decoded frame of the applicant's camera, the clerk's
camera and the document camera (``getStats()`` every 10 ms, from the press); the kiosk's CPU
again over the same window while monitored; leave, hang up.

The last line is a JSON object: ``monitor_first_frame_p50_ms`` and ``monitor_first_frame_p95_ms``
(over calls, of the slowest of the three sides), ``side_p95_ms`` (each side's own p95),
``kiosk_cpu_pct`` and ``kiosk_cpu_monitored_pct`` (medians over calls), and
``kiosk_cpu_overhead_pct`` (the median of each call's difference), ``calls``.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from playwright.async_api import Page

from bench.cli import bench_parser, parse, report
from bench.server import PASSWORD, chromium, login_console, pct
from storage import store
from tests.conftest import make_settings, start_server
from tests.netfault import NetnsKiosk, NoLink

KEYS = (
    "monitor_first_frame_p50_ms", "monitor_first_frame_p95_ms", "side_p95_ms",
    "kiosk_cpu_pct", "kiosk_cpu_monitored_pct", "kiosk_cpu_overhead_pct", "calls",
)  # fmt: skip
SIDES = ("applicant", "clerk", "documents")
TICKS = os.sysconf("SC_CLK_TCK")

# from the press (the page's own performance.now() at the click) to each side's first frame
FIRST_FRAMES = """async ([sides, timeoutMs]) => {
  const m = window.vcounterSupervisor.monitor;
  const first = {};
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (m.pc) {
      const stats = await m.pc.getStats();
      stats.forEach((s) => {
        if (s.type !== 'inbound-rtp' || s.kind !== 'video' || !(s.framesDecoded > 0)) return;
        const side = m.roles.get(s.mid);
        if (side && first[side] === undefined) first[side] = performance.now() - m.clicked;
      });
      if (sides.every((side) => first[side] !== undefined)) return first;
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`no first frame within ${timeoutMs} ms for ${sides.filter((s) => first[s] === undefined)}`);
}"""


@dataclass
class Options:
    calls: int
    window_s: float


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


async def cpu_share(pid: int, seconds: float) -> float:
    """The process's CPU over the next ``seconds``, as a percentage of one core."""
    before, start = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(seconds)
    return 100 * (cpu_seconds(pid) - before) / (time.monotonic() - start)


async def sign_in(clerk: Page, supervisor: Page, url: str) -> None:
    await login_console(clerk, url, "clerk")  # auto-answer on, available
    await supervisor.goto(url + "/supervisor")
    await supervisor.fill("[data-testid=login-username]", "boss")
    await supervisor.fill("[data-testid=login-password]", PASSWORD)
    await supervisor.click("[data-testid=login-submit]")
    await supervisor.wait_for_selector("[data-testid=tab-live]")


async def run(opts: Options) -> dict[str, object]:
    slowest: list[float] = []
    per_side: dict[str, list[float]] = {side: [] for side in SIDES}
    plain: list[float] = []
    monitored: list[float] = []
    with tempfile.TemporaryDirectory(prefix="vcounter-bench-monitor-") as tmp:
        server, runner = await start_server(make_settings(Path(tmp)))
        try:
            await store.create_clerk(server.db, "clerk", PASSWORD, "Clerk", ["taxation"])
            await store.create_clerk(
                server.db, "boss", PASSWORD, "Boss", ["taxation"], "supervisor"
            )
            token = await server.add_terminal("bench-kiosk")
            async with chromium() as browser:
                clerk_ctx = await browser.new_context(permissions=["camera", "microphone"])
                sup_ctx = await browser.new_context(permissions=["camera", "microphone"])
                clerk, supervisor = await clerk_ctx.new_page(), await sup_ctx.new_page()
                await sign_in(clerk, supervisor, server.url)
                kiosk_args = ("--document-camera", "--log-level", "WARNING")
                async with NetnsKiosk(NoLink(), server.url, token, *kiosk_args) as kiosk:
                    assert kiosk.process is not None
                    pid = kiosk.process.pid
                    for n in range(opts.calls):
                        session_id = await kiosk.request_service("tax-registration", "en")
                        await kiosk.wait_state("in_call", timeout=30)
                        await kiosk.frames_after(time.time(), count=30, timeout=30)
                        plain.append(await cpu_share(pid, opts.window_s))
                        button = supervisor.locator(
                            f"tr[data-session='{session_id}'] [data-testid=monitor-open]"
                        )
                        await button.click()
                        first = await supervisor.evaluate(FIRST_FRAMES, [list(SIDES), 20_000])
                        steps = await supervisor.evaluate(
                            "() => window.vcounterSupervisor.monitor.times"
                        )
                        for side in SIDES:
                            per_side[side].append(first[side])
                        slowest.append(max(first[side] for side in SIDES))
                        monitored.append(await cpu_share(pid, opts.window_s))
                        await supervisor.get_by_test_id("monitor-leave").click()
                        print(
                            f"call {n + 1}: first frames "
                            + ", ".join(f"{side} {first[side]:.0f} ms" for side in SIDES)
                            + " ("
                            + ", ".join(f"{k} {v:.0f}" for k, v in steps.items())
                            + ")"
                            + f"; kiosk CPU {plain[-1]:.1f} % of a core,"
                            f" {monitored[-1]:.1f} % monitored",
                            flush=True,
                        )
                        await kiosk.hangup()
                        await kiosk.wait_state("ended", timeout=30)
                        await clerk.wait_for_function(
                            "() => window.vcounterConsole.state() === 'available'"
                        )
                await clerk_ctx.close()
                await sup_ctx.close()
        finally:
            await runner.cleanup()
    overhead = [m - p for m, p in zip(monitored, plain, strict=True)]
    return {
        "monitor_first_frame_p50_ms": round(pct(slowest, 0.5)),
        "monitor_first_frame_p95_ms": round(pct(slowest, 0.95)),
        "side_p95_ms": {side: round(pct(per_side[side], 0.95)) for side in SIDES},
        "kiosk_cpu_pct": round(statistics.median(plain), 1),
        "kiosk_cpu_monitored_pct": round(statistics.median(monitored), 1),
        "kiosk_cpu_overhead_pct": round(statistics.median(overhead), 1),
        "calls": opts.calls,
    }


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--calls", type=int, default=10, help="calls monitored (default 10)")
    parser.add_argument(
        "--window-s", type=float, default=5.0, help="seconds of the kiosk's CPU measured each way"
    )
    args = parse(parser, smoke={"calls": 2, "window_s": 1.0})
    report(asyncio.run(run(Options(args.calls, args.window_s))), KEYS, smoke=args.smoke)


if __name__ == "__main__":
    main()
