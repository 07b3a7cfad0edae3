"""Printing: spool folder, CUPS through lp, faults retried and reported, nothing lost."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from terminal_client.errors import PrinterError, PrinterOffline, PrinterOutOfPaper
from terminal_client.printer import (
    CupsPrinter,
    FakeCupsPrinter,
    PrintJob,
    PrintQueue,
    SpoolPrinter,
    Status,
)
from tests.browser.test_transfer_in_chromium import until
from tests.conftest import RunningServer
from tests.sign.conftest import Counter, sign

PDF = b"%PDF-1.7\n% a receipt\n%%EOF\n"


def job(n: int) -> PrintJob:
    return PrintJob(f"{n:032x}", "a" * 32, f"{n:032x}", f"receipt {n}")


class Reports:
    def __init__(self) -> None:
        self.seen: list[tuple[str, Status, str]] = []
        self.changed = asyncio.Event()

    async def __call__(self, job: PrintJob, status: Status, error: PrinterError | None) -> None:
        self.seen.append((job.job_id, status, error.code if error else ""))
        self.changed.set()

    async def until(self, predicate: Callable[[], bool]) -> None:
        async def loop() -> None:
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(loop(), 10)


async def test_spool_folder_gets_every_job_in_order(tmp_path: Path) -> None:
    queue = PrintQueue(SpoolPrinter(tmp_path / "spool"), tmp_path / "queue")
    await queue.start()
    try:
        for n in range(3):
            await queue.submit(job(n), PDF + bytes([n]))
        await queue.wait_idle(10)
    finally:
        await queue.close()
    files = sorted((tmp_path / "spool").iterdir())
    assert [f.read_bytes()[-1] for f in files] == [0, 1, 2]
    assert queue.pending() == [] and len(queue.done()) == 3


async def test_out_of_paper_and_offline_are_reported_and_retried_until_printed(
    tmp_path: Path,
) -> None:
    device = FakeCupsPrinter(paper=0)
    reports = Reports()
    queue = PrintQueue(device, tmp_path / "queue", reports, retry_min_s=0.05, retry_max_s=0.1)
    await queue.start()
    try:
        await queue.submit(job(1), PDF)
        await queue.submit(job(2), PDF)
        await reports.until(lambda: len(reports.seen) >= 2)
        assert reports.seen[0] == (job(1).job_id, "retrying", "printer_out_of_paper")
        assert device.printed == [] and len(queue.pending()) == 2  # kept, in order
        device.online = False
        device.load_paper(5)
        await reports.until(lambda: any(c == "printer_offline" for _, _, c in reports.seen))
        device.online = True
        await queue.wait_idle(10)
    finally:
        await queue.close()
    assert [title for title, _ in device.printed] == ["receipt 1", "receipt 2"]
    printed = [(j, s) for j, s, _ in reports.seen if s == "printed"]
    assert printed == [(job(1).job_id, "printed"), (job(2).job_id, "printed")]
    assert queue.done()[0].attempts >= 3 and queue.done()[0].last_error_code == "printer_offline"


async def test_jobs_left_pending_survive_a_restart(tmp_path: Path) -> None:
    folder = tmp_path / "queue"
    first = PrintQueue(FakeCupsPrinter(paper=0), folder, retry_min_s=10)
    await first.start()
    await first.submit(job(7), PDF)
    await asyncio.sleep(0.1)
    await first.close()  # the kiosk stops with the job unprinted
    assert [j.job_id for j in PrintQueue(FakeCupsPrinter(), folder).pending()] == [job(7).job_id]
    device = FakeCupsPrinter()
    second = PrintQueue(device, folder)
    await second.start()
    try:
        await second.wait_idle(10)
    finally:
        await second.close()
    assert device.printed == [("receipt 7", PDF)]


def fake_lp(tmp_path: Path, behaviour: str) -> str:
    """A stand-in for CUPS' lp: prints to a folder, or fails the way lp does."""
    script = tmp_path / "lp"
    out = tmp_path / "cups-out"
    out.mkdir(exist_ok=True)
    body = {
        "ok": f'for last; do :; done; cp "$last" {out}/ && echo "request id is kiosk-42 (1 file(s))"',
        "paper": 'echo "lp: Error - printer kiosk is out of paper (media-empty)" >&2; exit 1',
        "offline": 'echo "lp: Error - Destination \\"kiosk\\" is not accepting jobs." >&2; exit 1',
    }[behaviour]
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


async def test_cups_printer_through_lp(tmp_path: Path) -> None:
    path = tmp_path / "job.pdf"
    path.write_bytes(PDF)
    ref = await CupsPrinter("kiosk", lp=fake_lp(tmp_path, "ok")).print_file(path, "receipt")
    assert ref == "kiosk-42" and (tmp_path / "cups-out" / "job.pdf").read_bytes() == PDF
    with pytest.raises(PrinterOutOfPaper, match="out of paper"):
        await CupsPrinter("kiosk", lp=fake_lp(tmp_path, "paper")).print_file(path, "receipt")
    with pytest.raises(PrinterOffline, match="not accepting"):
        await CupsPrinter("kiosk", lp=fake_lp(tmp_path, "offline")).print_file(path, "receipt")
    with pytest.raises(PrinterOffline, match="cups-client"):
        await CupsPrinter("kiosk", lp=os.fspath(tmp_path / "no-lp")).print_file(path, "x")


async def test_print_reports_reach_the_chain(
    server: RunningServer, counter: Counter, tmp_path: Path
) -> None:
    from signaling.paperwork.messages import DocumentRef
    from storage.audit import AuditLog
    from terminal_client.paperwork import KioskPaperwork

    signed = await sign(counter)
    receipt = DocumentRef.model_validate(
        next(d for d in signed["documents"] if d["kind"] == "receipt")
    )
    device = FakeCupsPrinter(paper=0)
    queue = PrintQueue(device, tmp_path / "queue", retry_min_s=0.05, retry_max_s=0.1)
    kiosk = KioskPaperwork(server.url, counter.terminal_token, queue)
    await queue.start()
    try:
        await kiosk.print_document(counter.session_id, receipt)
        await asyncio.sleep(0.3)
        # the service map's printer status is the newest report (signaling/places.py)
        await until(
            lambda: _printer_of(server), lambda p: p == ("retrying", "printer_out_of_paper")
        )
        device.load_paper(1)
        await queue.wait_idle(10)
    finally:
        await queue.close()
    assert device.printed and device.printed[0][1].startswith(b"%PDF")
    events = await AuditLog(server.db).events(counter.session_id)
    statuses = [e.payload["status"] for e in events if e.kind == "print.reported"]
    assert statuses[0] == "retrying" and statuses[-1] == "printed"
    assert (
        next(e for e in events if e.kind == "print.reported").payload["error_code"]
        == "printer_out_of_paper"
    )
    assert await _printer_of(server) == ("printed", "")


async def _printer_of(server: RunningServer) -> tuple[str | None, str]:
    from storage.places import kiosk_facts  # the service map's store (signaling/places.py)

    reported = [f for f in (await kiosk_facts(server.db)).values() if f.printer_status]
    return (reported[0].printer_status, reported[0].printer_error) if reported else (None, "")
