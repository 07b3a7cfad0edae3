"""Documents: a 300-dpi A4 colour capture, from the capture command to the page on the
clerk's screen.

The real server runs in its own process; the clerk waits in headless Chromium with
auto-answer; the kiosk (aiortc, recording on, document camera live) is in a call. Each of
N captures is a 2480 x 3508 photograph of a different rendered page, made before the clock
starts (a document camera hands over a frame it already has). Timed: the pipeline (page
detection, flattening, straightening, contrast, JPEG) in a worker thread, the resumable
upload, the content checks, the blob store and the hash chain, the push to the console,
its fetch and the first painted frame showing the page. Also the pipeline's CPU time at the
kiosk. Last line: JSON with p50_ms, p95_ms, cpu_ms (p50), committed_p50_ms.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from typing import Any

from bench.cli import bench_parser, parse, report
from bench.server import bench_server, chromium, login_console, pct
from media.document_camera import SyntheticDocumentCamera
from media.page_sample import a4_pixels, photograph, render_page
from media.pages import Image
from media.sources import create_local_tracks
from terminal_client.client import TerminalClient, TerminalState
from terminal_client.documents import KioskDocuments

# the keys of the JSON line (tests/bench/test_bench_smoke.py checks them)
KEYS = (
    "n", "capture", "p50_ms", "p95_ms", "committed_p50_ms", "committed_p95_ms", "cpu_ms",
    "cpu_p95_ms", "jpeg_kb_p50", "process_wall_p50_ms", "upload_p50_ms", "console_p50_ms",
    "load_average_1m",
)  # fmt: skip


class ReadyCaptures:
    """A document camera whose stills are made beforehand: one per capture, all different."""

    def __init__(self, n: int) -> None:
        width, height = a4_pixels(300)
        self.stills: list[Image] = []
        for i in range(n):
            page = render_page(300, title=f"BENCH PAGE {i}", seed=100 + i)
            self.stills.append(
                photograph(page, (width, height), rotation_deg=(i % 7) - 3, tilt=0.01,
                           fill=0.9, shadow=0.3, noise=2, seed=i).image
            )  # fmt: skip
        self.live = SyntheticDocumentCamera()

    def track(self) -> Any:
        return self.live.track()

    async def still(self) -> Image:
        return self.stills.pop(0)

    def close(self) -> None:
        self.live.close()


async def main(n: int) -> dict[str, Any]:
    captures = ReadyCaptures(n + 1)  # +1 warm-up
    totals: list[float] = []
    committed: list[float] = []
    cpu: list[float] = []
    sizes: list[int] = []
    process: list[float] = []
    upload: list[float] = []
    async with bench_server("vcounter-bench-docs-") as server, chromium() as browser:
        server.clerk()
        token = server.terminal()
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        await login_console(page, server.url)
        terminal = TerminalClient(
            server.url, token, lambda: create_local_tracks(True, "", "", label="k"),
            name="bench", document_track=captures.track,
        )  # fmt: skip
        desk = KioskDocuments(terminal, camera=captures)  # type: ignore[arg-type]
        try:
            await terminal.connect()
            await terminal.request_service("tax-registration", "en")
            await terminal.wait_for(TerminalState.IN_CALL, timeout=30)
            await page.wait_for_selector("[data-testid=documents-panel]:not([hidden])")
            for i in range(n + 1):
                t0 = time.time()
                shot = await desk.capture("business-licence", "camera")
                t_commit = time.time()
                assert shot.status.document is not None
                sha = shot.status.document.sha256
                shown = await page.wait_for_function(
                    f"() => window.vcounterConsole.documentShownAt('{sha}')", timeout=30000
                )
                shown_ms = await shown.json_value()
                if i == 0:
                    continue  # warm-up: first JPEG decode in the browser, first DB writes
                totals.append(shown_ms - t0 * 1000)
                committed.append((t_commit - t0) * 1000)
                cpu.append(shot.cpu_ms)
                sizes.append(len(shot.page.jpeg))
                process.append(shot.process_ms)
                upload.append(shot.upload_ms)
        finally:
            await desk.close()
            await terminal.close()
            captures.close()
    return {
        "n": n,
        "capture": "2480x3508 colour, 300 dpi A4",
        "p50_ms": round(statistics.median(totals), 1),
        "p95_ms": round(pct(totals, 0.95), 1),
        "committed_p50_ms": round(statistics.median(committed), 1),
        "committed_p95_ms": round(pct(committed, 0.95), 1),
        "cpu_ms": round(statistics.median(cpu), 1),
        "cpu_p95_ms": round(pct(cpu, 0.95), 1),
        "jpeg_kb_p50": round(statistics.median(sizes) / 1024),
        "process_wall_p50_ms": round(statistics.median(process), 1),
        "upload_p50_ms": round(statistics.median(upload), 1),
        "console_p50_ms": round(
            statistics.median(t - c for t, c in zip(totals, committed, strict=True)), 1
        ),
        "load_average_1m": round(os.getloadavg()[0], 1),
    }


if __name__ == "__main__":
    parser = bench_parser(__doc__)
    parser.add_argument("-n", type=int, default=20, help="pages (default 20)")
    args = parse(parser, smoke={"n": 1})
    out = asyncio.run(main(args.n))
    print(
        f"documents ({out['capture']}), n={out['n']}:\n"
        f"  capture -> shown in the console  p50 {out['p50_ms']} ms  p95 {out['p95_ms']} ms\n"
        f"  capture -> committed in store    p50 {out['committed_p50_ms']} ms  p95 {out['committed_p95_ms']} ms\n"
        f"  kiosk CPU for the pipeline       p50 {out['cpu_ms']} ms  p95 {out['cpu_p95_ms']} ms\n"
        f"  of which: pipeline wall p50 {out['process_wall_p50_ms']} ms, upload to stored p50"
        f" {out['upload_p50_ms']} ms, push to painted p50 {out['console_p50_ms']} ms\n"
        f"  JPEG size p50 {out['jpeg_kb_p50']} KiB; machine load average {out['load_average_1m']}"
    )
    report(out, KEYS, args.smoke)
