"""The seven-step counter flow, scripted, with a clerk in headless Chromium.

A server runs as its own process; the kiosk (aiortc peer sending a 640x480@30 test pattern,
recording on, the paperwork client, a spool-folder printer) runs in this one. Steps:
service + call, identity and two materials (stand-in events until those features are
merged), form shown on the kiosk, signature (the clerk sees the ink), approve in the
console, receipt and result printed, hang up, and a reprint at another kiosk by acceptance
number with the ID re-check. Prints the wall time of each step, the total and this
process's (the terminal's) CPU; the last line is JSON with ``total_s`` and
``terminal_cpu_avg`` (cores, averaged over the whole flow).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from playwright.async_api import Page, async_playwright

from bench.server import ARGS, CHROMIUM, PASSWORD, vcounter, wait_http
from media.sources import create_local_tracks
from signaling.paperwork.messages import SignatureSubmission, Stroke
from storage.audit import AuditLog
from storage.blobs import FileBlobStore
from storage.db import Database, default_sqlite_url
from terminal_client.client import TerminalClient, TerminalState
from terminal_client.paperwork import KioskPaperwork
from terminal_client.printer import PrintQueue, SpoolPrinter

DOCUMENT_NUMBER = "M1234567"
STATE_IS = "() => document.querySelector('[data-testid=paper-state]').dataset.state === '{}'"


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def signature() -> list[Stroke]:
    def point(s: int, i: int) -> dict[str, float]:
        return {"x": 40 + s * 150 + i * 4, "y": 100 + ((i % 9) - 4) * 8, "t": s * 800 + i * 12}

    return [Stroke.model_validate({"points": [point(s, i) for i in range(30)]}) for s in range(3)]


async def stand_ins(data_dir: Path, session_id: str) -> None:
    """What the identity and documents features will record (MRZ read, face match, 2 scans)."""
    blobs = FileBlobStore(data_dir / "blobs")
    async with Database(default_sqlite_url(data_dir)) as db:
        audit = AuditLog(db)
        fields = {"name": "陳大文", "document_number": DOCUMENT_NUMBER, "document_type": "HKID"}
        await audit.append(
            session_id, "identity.document_read", "terminal:bench", {"fields": fields}
        )
        await audit.append(session_id, "identity.face_match", "terminal:bench", {"match": True})
        for material in ("business-licence", "legal-representative-id"):
            digest = await blobs.put(f"%PDF-1.4 bench scan of {material}".encode())
            await audit.append(
                session_id, "material.scanned", "terminal:bench",
                {"material_id": material, "sha256": digest},
            )  # fmt: skip


async def sign_in(page: Page, url: str) -> None:
    await page.goto(url)
    await page.fill("[data-testid=login-username]", "bench")
    await page.fill("[data-testid=login-password]", PASSWORD)
    await page.click("[data-testid=login-submit]")
    await page.wait_for_selector("[data-testid=clerk-state]")
    await page.click("[data-testid=availability-toggle]")
    await page.wait_for_function("() => window.vcounterConsole.state() === 'available'")


async def flow(url: str, data_dir: Path, page: Page, token: str, token2: str) -> dict[str, float]:
    steps: dict[str, float] = {}

    async def step(name: str, work: Callable[[], Awaitable[Any]]) -> Any:
        start = time.monotonic()
        result = await work()
        steps[name] = round(time.monotonic() - start, 3)
        return result

    terminal = TerminalClient(url, token, lambda: create_local_tracks(True, "", "", label="k"))
    queue = PrintQueue(SpoolPrinter(data_dir / "spool-1"), data_dir / "queue-1")
    kiosk = KioskPaperwork(url, token, queue)
    kiosk.attach(terminal)
    await queue.start()
    await terminal.connect()
    try:

        async def call() -> str:
            session_id = await terminal.request_service("tax-registration", "zh-Hant")
            await page.locator("[data-testid=accept-call]").click()
            await terminal.wait_for(TerminalState.IN_CALL, timeout=30)
            await terminal.video_in.first_frame.wait()
            return session_id

        session_id: str = await step("1-2 service and call", call)
        await step(
            "3-4 identity and materials (stand-ins)", lambda: stand_ins(data_dir, session_id)
        )

        async def form() -> None:
            await page.click("[data-testid=paper-form]")
            await kiosk.wait_for(lambda: bool(kiosk.sign_requests))
            await kiosk.fetch(kiosk.sign_requests[-1].form)

        await step("5a form shown on both sides", form)

        async def sign() -> tuple[str, Any]:
            drawn = signature()
            await kiosk.send_ink(session_id, 600, 200, drawn)
            request = kiosk.sign_requests[-1]
            body = SignatureSubmission(
                form_sha256=request.form.sha256, width=600, height=200, strokes=drawn
            )
            number, docs = await kiosk.sign(session_id, body)
            receipt = next(d for d in docs if d.kind == "receipt")
            await kiosk.print_document(session_id, receipt)
            await queue.wait_idle(30)
            return number, docs

        number, _ = await step("5b signature, seal, receipt printed", sign)

        async def decide() -> None:
            await page.wait_for_function(STATE_IS.format("submitted"))
            await page.fill("[data-testid=paper-reason]", "complete")
            await page.click("[data-testid=paper-decide]")
            await page.wait_for_function(STATE_IS.format("approved"))

        await step("6 approve in the console", decide)

        async def print_result() -> None:
            await page.click("[data-testid=paper-print-result]")
            await kiosk.wait_for(lambda: len(kiosk.jobs) == 2, 30)
            await queue.wait_idle(30)

        await step("7a result printed at the kiosk", print_result)

        async def hang_up() -> None:
            await terminal.hangup()
            await terminal.wait_for(TerminalState.ENDED)

        await step("hang up", hang_up)
    finally:
        await terminal.close()
        await queue.close()

    queue2 = PrintQueue(SpoolPrinter(data_dir / "spool-2"), data_dir / "queue-2")
    other = KioskPaperwork(url, token2, queue2)
    await queue2.start()
    try:

        async def reprint() -> None:
            await other.reprint(number, DOCUMENT_NUMBER)
            await queue2.wait_idle(30)

        await step("7b reprint by number at another kiosk", reprint)
    finally:
        await queue2.close()
    return steps


async def main() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="vcounter-bench-") as tmp:
        data = Path(tmp)
        vcounter(data, "clerk", "add", "bench", "--password", PASSWORD, "--department", "taxation")
        token = vcounter(data, "terminal", "register", "bench-kiosk")
        token2 = vcounter(data, "terminal", "register", "bench-kiosk-2")
        port = 18000 + os.getpid() % 1000
        env = {**os.environ, "VCOUNTER_LOG_LEVEL": "WARNING"}
        server = subprocess.Popen(
            [sys.executable, "-m", "signaling.cli", "--data-dir", str(data), "serve",
             "--port", str(port)],
            env=env,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            await wait_http(url)
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                page = await browser.new_page(viewport={"width": 1280, "height": 900})
                await sign_in(page, url)
                wall, cpu = time.monotonic(), cpu_s()
                steps = await flow(url, data, page, token, token2)
                total = time.monotonic() - wall
                used = cpu_s() - cpu
                await browser.close()
        finally:
            server.terminate()
            server.wait(10)
    return {
        "steps": steps,
        "total_s": round(total, 2),
        "terminal_cpu_s": round(used, 2),
        "terminal_cpu_avg": round(used / total, 3),
    }


if __name__ == "__main__":
    out = asyncio.run(main())
    for name, seconds in out["steps"].items():
        print(f"  {name:<42} {seconds:7.3f} s")
    print(
        f"total {out['total_s']} s (target <= 60 s); terminal CPU {out['terminal_cpu_s']} s,"
        f" {out['terminal_cpu_avg']} cores on average (target <= 1)"
    )
    print(json.dumps(out, ensure_ascii=False))
