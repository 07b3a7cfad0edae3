"""The kiosk's network in a call (issue 14): the real kiosk in a network namespace, the clerk's
console in Chromium, the real server between them; link cuts, then a long lossy path.

    python -m bench.network               # ten 5 s cuts, then 30 s at 300 ms round trip + 5 % loss
    python -m bench.network --smoke       # one 2 s cut, 3 s impaired (the suite runs this)

The kiosk (tests/media/kiosk_in_netns.py: TerminalClient, its synthetic camera at the kiosk's
640x480, recording on) reaches the server and the clerk only over a veth pair
(tests/netfault.py); the server runs in this process, listening on loopback for Chromium and
on the pair's host end for the kiosk. Needs root, ip, iptables, NetfilterQueue, Chromium.

Cuts: ``ip link set … down`` for ``--cut-s``; the figure is the time from the link coming back
to video decoded again at each end (the kiosk times each decoded frame; the console's
``getStats()`` framesDecoded is polled every 50 ms in the page). Impaired: ``--delay-ms`` each
way and ``--loss`` for ``--impaired-s``: video frames a second decoded at each end, and the
longest time either end went without a new decoded frame.

The last line is a JSON object: ``recover_p50_ms``, ``recover_p95_ms`` (over both ends of
every cut), ``recover_worst_ms``, ``impaired_fps_clerk``, ``impaired_fps_kiosk``,
``longest_freeze_ms``, ``baseline_fps_clerk``, ``baseline_fps_kiosk`` (the same, unimpaired,
before the cuts: what the ends decode on this machine at all), ``same_session`` (the call
carried on in its session throughout), ``cuts``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from pathlib import Path

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from bench.cli import bench_parser, parse, report
from bench.server import chromium, pct
from storage.audit import AuditLog
from tests.browser.frames import clerk_frames, clerk_frames_after, watch_clerk_frames
from tests.conftest import CLERK_PASSWORD, RunningServer, make_settings, start_server
from tests.netfault import ImpairedLink, KioskFailed, NetnsKiosk

KEYS = (
    "recover_p50_ms", "recover_p95_ms", "recover_worst_ms", "impaired_fps_clerk",
    "impaired_fps_kiosk", "longest_freeze_ms", "baseline_fps_clerk", "baseline_fps_kiosk",
    "same_session", "cuts",
)  # fmt: skip
GIVE_UP_S = 40.0  # a picture not back by then counts as this long
AGAIN = 3  # frames decoded after the link came back that count as "video again"


@dataclass
class Options:
    cuts: int
    cut_s: float
    impaired_s: float
    baseline_s: float
    delay_ms: float
    loss: float
    size: str


@contextlib.asynccontextmanager
async def served(link: ImpairedLink) -> AsyncIterator[RunningServer]:
    """The real server in this process, on loopback and on ``link``'s host end."""
    with tempfile.TemporaryDirectory(prefix="vcounter-bench-network-") as tmp:
        server, runner = await start_server(make_settings(Path(tmp)), also_on=(link.outside,))
        try:
            yield server
        finally:
            await runner.cleanup()


async def sign_in(page: Page, server: RunningServer) -> None:
    """The clerk signed in, auto-answer on, available; the page timing its decoded video."""
    await page.goto(server.url)
    await page.fill("[data-testid=login-username]", "bench")
    await page.fill("[data-testid=login-password]", CLERK_PASSWORD)
    await page.click("[data-testid=login-submit]")
    await page.wait_for_selector("[data-testid=clerk-state]")
    await page.check("[data-testid=auto-answer]")
    await page.click("[data-testid=availability-toggle]")
    await page.wait_for_function("() => window.vcounterConsole.state() === 'available'")
    await watch_clerk_frames(page)


async def back_after(waiting: Awaitable[float], restored: float) -> float:
    """Seconds from ``restored`` to the time ``waiting`` gives; GIVE_UP_S if it never does."""
    try:
        return await waiting - restored
    except (KioskFailed, PlaywrightError) as exc:  # each end's wait gave up
        print(f"  no video again within {GIVE_UP_S:g} s: {str(exc)[:200]}", flush=True)
        return GIVE_UP_S


def longest_gap(times: list[float], start: float, end: float) -> float:
    """The longest stretch of [start, end] without a time in ``times``."""
    inside = [start, *sorted(t for t in times if start < t < end), end]
    return max(b - a for a, b in itertools.pairwise(inside))


@dataclass
class Window:
    """Video decoded at each end over a stretch of the call."""

    fps_kiosk: float
    fps_clerk: float
    freeze_kiosk_s: float  # the longest stretch without a new frame
    freeze_clerk_s: float

    def __str__(self) -> str:
        return (
            f"{self.fps_kiosk} fps at the kiosk, {self.fps_clerk} at the clerk; longest freeze"
            f" {self.freeze_kiosk_s * 1000:.0f} ms at the kiosk,"
            f" {self.freeze_clerk_s * 1000:.0f} ms at the clerk"
        )


async def window(kiosk: NetnsKiosk, page: Page, start: float, end: float) -> Window:
    """Each end's decoded video between wall times ``start`` and ``end``."""
    _, clerk_at = await clerk_frames(page)
    # the console's counts are (poll time, frames so far)
    before = max((n for t, n in clerk_at if t <= start), default=0)
    after = max((n for t, n in clerk_at if t <= end), default=0)
    span = end - start
    return Window(
        fps_kiosk=round(sum(1 for t in kiosk.report.video_at if start < t <= end) / span, 1),
        fps_clerk=round((after - before) / span, 1),
        freeze_kiosk_s=longest_gap(kiosk.report.video_at, start, end),
        freeze_clerk_s=longest_gap([t for t, _ in clerk_at], start, end),
    )


async def still_in_call(server: RunningServer, kiosk: NetnsKiosk, session_id: str) -> bool:
    await server.stored()
    row = await server.session(session_id)
    return (
        row.state == "in_call"
        and kiosk.report.session_id == session_id
        and kiosk.report.state == "in_call"
    )


async def run(opts: Options) -> dict[str, object]:
    async with ImpairedLink() as link, served(link) as server, chromium() as browser:
        await server.add_clerk("bench")
        token = await server.add_terminal("bench-kiosk")
        context = await browser.new_context(permissions=["camera", "microphone"])
        page = await context.new_page()
        await sign_in(page, server)
        kiosk_url = server.url.replace("127.0.0.1", link.outside)
        kiosk_args = ("--size", opts.size, "--log-level", "WARNING")
        async with NetnsKiosk(link, kiosk_url, token, *kiosk_args) as kiosk:
            session_id = await kiosk.request_service("tax-registration", "en")
            await kiosk.wait_state("in_call", timeout=30)
            began = time.time()
            await kiosk.frames_after(began, count=30, timeout=30)
            await clerk_frames_after(page, began, count=30, timeout=30)
            start = time.time()
            await asyncio.sleep(opts.baseline_s)
            baseline = await window(kiosk, page, start, time.time())
            same = True
            recoveries: list[float] = []
            for n in range(opts.cuts):
                await link.cut()
                await asyncio.sleep(opts.cut_s)
                await link.restore()
                restored = time.time()
                kiosk_s, clerk_s = await asyncio.gather(
                    back_after(kiosk.frames_after(restored, AGAIN, GIVE_UP_S), restored),
                    back_after(clerk_frames_after(page, restored, AGAIN, GIVE_UP_S), restored),
                )
                recoveries += [kiosk_s, clerk_s]
                same = same and await still_in_call(server, kiosk, session_id)
                print(f"cut {n + 1} ({opts.cut_s:g} s): video again at the kiosk after"
                      f" {kiosk_s * 1000:.0f} ms, at the clerk after {clerk_s * 1000:.0f} ms;"
                      f" same call: {same}", flush=True)  # fmt: skip
                await asyncio.sleep(3)

            print(f"impaired from {time.strftime('%H:%M:%S')}", flush=True)
            await link.impair(opts.delay_ms, opts.loss)
            await asyncio.sleep(2)  # the path settles: packets in flight, a first keyframe
            start = time.time()
            await asyncio.sleep(opts.impaired_s)
            impaired = await window(kiosk, page, start, time.time())
            await link.clear()
            same = same and await still_in_call(server, kiosk, session_id)
            # what the chain made of it: each break, new peer connection and recovery
            for event in await AuditLog(server.db).events(session_id):
                if event.kind in ("media.interrupted", "media.restarting", "media.restored"):
                    print(f"  chain {event.created_at:%H:%M:%S.%f}: {event.kind} {event.payload}")
            await kiosk.hangup()
            # the kiosk's signalling may still be catching up after the cuts (TCP's back-off)
            await kiosk.wait_state("ended", timeout=45)
        await context.close()
    out: dict[str, object] = {
        "recover_p50_ms": round(pct(recoveries, 0.5) * 1000) if recoveries else None,
        "recover_p95_ms": round(pct(recoveries, 0.95) * 1000) if recoveries else None,
        "recover_worst_ms": round(max(recoveries) * 1000) if recoveries else None,
        "impaired_fps_clerk": impaired.fps_clerk,
        "impaired_fps_kiosk": impaired.fps_kiosk,
        "longest_freeze_ms": round(max(impaired.freeze_kiosk_s, impaired.freeze_clerk_s) * 1000),
        "baseline_fps_clerk": baseline.fps_clerk,
        "baseline_fps_kiosk": baseline.fps_kiosk,
        "same_session": same,
        "cuts": opts.cuts,
    }
    print(f"{opts.baseline_s:g} s unimpaired: {baseline}", flush=True)
    print(f"{opts.impaired_s:g} s at {2 * opts.delay_ms:g} ms round trip, {opts.loss:.0%} loss:"
          f" {impaired}", flush=True)  # fmt: skip
    return out


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--cuts", type=int, default=10, help="link cuts (default 10)")
    parser.add_argument("--cut-s", type=float, default=5.0, help="each cut's length (default 5)")
    parser.add_argument("--impaired-s", type=float, default=30.0, help="seconds impaired")
    parser.add_argument(
        "--baseline-s", type=float, default=10.0, help="seconds unimpaired, measured first"
    )
    parser.add_argument("--delay-ms", type=float, default=150.0, help="delay each way")
    parser.add_argument("--loss", type=float, default=0.05, help="packets dropped (0.05: 5 %%)")
    parser.add_argument("--size", default="640x480", help="the kiosk camera's picture")
    args = parse(parser, smoke={"cuts": 1, "cut_s": 2.0, "impaired_s": 3.0, "baseline_s": 2.0})
    opts = Options(
        args.cuts, args.cut_s, args.impaired_s, args.baseline_s, args.delay_ms, args.loss,
        args.size,
    )  # fmt: skip
    report(asyncio.run(run(opts)), KEYS, smoke=args.smoke)


if __name__ == "__main__":
    main()
