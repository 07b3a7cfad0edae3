"""Time from the identity check done to the sealed document printed, for a self-service print.

The server and the department sandbox (``python -m signaling.departments.sandbox``, answering
in 200 ms) each run as their own process; the kiosk is the kiosk process's controller (its
self-service screen, paperwork client and print spool) in this one. Its ID reader and camera
are the faked hardware: they report a verified identity to the server as the identity step
does. Each round: the applicant picks the self-service tax record, the identity is reported,
and the clock starts; the server asks the department, renders and seals the PDF, the kiosk
fetches it (checked against its SHA-256) and the spool printer writes it, and the clock stops
when the print queue reports it printed. Prints p50/p95; the last line is JSON with
``print_p50_ms`` and ``print_p95_ms`` (target: p95 at most 3,000 ms).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp

from bench.cli import bench_parser, parse, report
from bench.server import BenchServer, bench_server, pct
from media.sources import create_local_tracks
from signaling.departments.sandbox import sandbox_process
from terminal_client.identity import Progress
from terminal_client.kiosk.controller import KioskController
from terminal_client.kiosk.messages import (
    ChooseService,
    KioskView,
    Screen,
    SimpleCommand,
    ViewMessage,
)
from terminal_client.kiosk.run import build_kiosk
from terminal_client.kiosk.screens import KioskSettings

KEYS = ("n", "department_delay_ms", "print_p50_ms", "print_p95_ms", "print_max_ms")
SERVICE = "income-tax-record-print"
DEPARTMENTS = (
    "taxation", "human-resources-social-security", "real-estate-registration",
    "market-regulation",
)  # fmt: skip
DELAY_MS = 200
DOCUMENT = {
    "source": "chip", "format": "TD1", "document_type": "ID", "issuing_state": "HKG",
    "document_number": "K1234567", "surname": "CHAN", "given_names": "TAI MAN",
    "nationality": "CHN", "birth_date": "1990-01-01", "sex": "M", "expiry_date": "2034-12-31",
}  # fmt: skip


async def wait_view(
    kiosk: KioskController, check: Callable[[KioskView], bool], what: str, timeout: float = 60
) -> KioskView:
    """The kiosk's view once ``check`` holds (from its feed: what its screen is sent)."""
    view = kiosk.view()
    async with asyncio.timeout(timeout), kiosk.subscribe() as feed:
        while not check(view):
            message = await feed.get()
            if isinstance(message, ViewMessage):
                view = message.view
    return view


class FakeReader:
    """The kiosk's reader and camera (hardware): a verified attempt reported to the server;
    ``done_at`` is when the report was accepted (the identity step done)."""

    def __init__(self, server_url: str, token: str, http: aiohttp.ClientSession) -> None:
        self.server_url, self.token, self.http = server_url, token, http
        self.done_at = 0.0

    async def __call__(self, session_id: str, progress: Callable[[Progress], None]) -> None:
        report = {
            "outcome": "verified", "document": DOCUMENT,
            "match": {"score": 0.9, "threshold": 0.4, "matched": True},
            "liveness": {"passed": True, "challenge": ["blink"], "completed": ["blink"],
                         "frames": 12, "matched_frames": 12},
        }  # fmt: skip
        async with self.http.post(
            f"{self.server_url}/api/sessions/{session_id}/identity", json=report,
            headers={"Authorization": f"Bearer {self.token}"},
        ) as r:  # fmt: skip
            r.raise_for_status()
        self.done_at = time.perf_counter()


async def one_print(kiosk: KioskController, reader: FakeReader) -> float:
    """One round; returns the milliseconds from identity done to the document printed."""
    await wait_view(kiosk, lambda v: v.screen == Screen.LANGUAGE, "the start screen")
    await kiosk.handle(SimpleCommand(type="start"))
    await kiosk.handle(ChooseService(type="choose_service", service_id=SERVICE))
    await kiosk.handle(SimpleCommand(type="call"))
    view = await wait_view(
        kiosk, lambda v: v.self_service is not None
        and v.self_service.state in ("printed", "failed", "refused"), "printed",
    )  # fmt: skip
    printed = time.perf_counter()
    assert view.self_service is not None
    if view.self_service.state != "printed":
        raise RuntimeError(f"the self-service print failed: {view.self_service.error_detail}")
    await kiosk.handle(SimpleCommand(type="home"))
    return (printed - reader.done_at) * 1000


async def main(n: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="vcounter-bench-self-") as tmp:
        keys = Path(tmp) / "keys"
        async with sandbox_process(keys / "department.pem", keys / "vcounter.pem") as dept_url:
            async with (
                aiohttp.ClientSession() as http,
                http.post(f"{dept_url}/control", json={"delay_ms": DELAY_MS}) as r,
            ):
                r.raise_for_status()
            connector = {"url": dept_url, "key": str(keys / "vcounter.pem"),
                         "department_key": str(keys / "department.pem.pub")}  # fmt: skip
            settings = {
                "VCOUNTER_DEPARTMENT_CONNECTORS": json.dumps(dict.fromkeys(DEPARTMENTS, connector))
            }
            async with bench_server("vcounter-bench-self-", settings) as server:
                return await _rounds(server, n, Path(tmp))


async def _rounds(server: BenchServer, n: int, tmp: Path) -> dict[str, object]:
    token = server.terminal("bench-self-kiosk")
    kiosk, _app = build_kiosk(
        server.url, token, lambda: create_local_tracks(True, "", "", label="kiosk"), None,
        KioskSettings(idle_timeout_s=600, thanks_s=600), name="bench-self",
        print_dir=tmp / "print",
    )  # fmt: skip
    times: list[float] = []
    async with aiohttp.ClientSession() as http:
        reader = FakeReader(server.url, token, http)
        kiosk.self_service.identify = reader
        await kiosk.start()
        try:
            for _ in range(n):
                times.append(await one_print(kiosk, reader))
        finally:
            await kiosk.close()
    spooled = len(list((tmp / "print" / "spool").glob("*.pdf")))
    if spooled != n:
        raise RuntimeError(f"{spooled} documents in the spool after {n} prints")
    return {
        "n": n,
        "department_delay_ms": DELAY_MS,
        "print_p50_ms": round(pct(times, 0.5), 1),
        "print_p95_ms": round(pct(times, 0.95), 1),
        "print_max_ms": round(max(times), 1),
    }


if __name__ == "__main__":
    parser = bench_parser(__doc__)
    parser.add_argument("-n", type=int, default=20, help="prints (default 20)")
    args = parse(parser, smoke={"n": 2})
    out = asyncio.run(main(args.n))
    print(
        f"identity done -> sealed document printed over {out['n']} prints (department answering"
        f" in {DELAY_MS} ms): p50 {out['print_p50_ms']} ms, p95 {out['print_p95_ms']} ms"
        " (target <= 3000 ms)"
    )
    report(out, KEYS, args.smoke)
