"""The kiosk's printer: CUPS through ``lp`` when one is configured, else a spool folder.

:class:`PrintQueue` never loses a job: the PDF and its description are written to
``folder/pending`` before the first attempt, a failed attempt (out of paper, offline) is
reported and retried with a growing pause, and only a printed job moves to ``done``. Jobs
still pending when the kiosk stops are printed after it starts again, in order.

Devices (:class:`Printer`): :class:`CupsPrinter` (``lp -d NAME``), :class:`SpoolPrinter`
(files in a folder, for kiosks without a printer and for tests) and
:class:`FakeCupsPrinter`, which behaves like a CUPS queue that can run out of paper or go
offline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from terminal_client.errors import PrinterError, PrinterOffline, PrinterOutOfPaper

log = logging.getLogger(__name__)

Status = Literal["printed", "retrying", "failed"]


class Printer(Protocol):
    """A device that prints one PDF file; raises :class:`PrinterError` when it cannot."""

    name: str

    async def print_file(self, path: Path, title: str) -> str:
        """Print ``path``; returns the device's job reference."""
        ...


def _atomic_write(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class SpoolPrinter:
    """Writes each job into a folder (``NNNN-title.pdf``): the default without a printer."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.name = f"spool:{folder}"

    async def print_file(self, path: Path, title: str) -> str:
        safe = re.sub(r"[^\w.-]+", "_", title)[:60] or "job"
        target = self.folder / f"{path.stem}-{safe}.pdf"
        await asyncio.to_thread(_atomic_write, target, await asyncio.to_thread(path.read_bytes))
        return str(target)


_OUT_OF_PAPER = re.compile(r"paper|media-empty|media-needed", re.I)
_OFFLINE = re.compile(r"offline|not accepting|unable to connect|does not exist|disabled", re.I)


class CupsPrinter:
    """A CUPS queue, printed to with ``lp -d NAME``; lp's complaints become typed errors."""

    def __init__(self, queue: str, lp: str = "lp") -> None:
        self.queue = queue
        self.lp = lp
        self.name = f"cups:{queue}"

    async def print_file(self, path: Path, title: str) -> str:
        try:
            process = await asyncio.create_subprocess_exec(
                self.lp, "-d", self.queue, "-t", title, "--", str(path),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
        except FileNotFoundError as exc:
            raise PrinterOffline(
                f"{self.lp} is not installed, so CUPS queue {self.queue} cannot be used;"
                " install cups-client or configure no printer (a spool folder)"
            ) from exc
        out, err = await process.communicate()
        message = (err or out).decode(errors="replace").strip()
        if process.returncode != 0:
            if _OUT_OF_PAPER.search(message):
                raise PrinterOutOfPaper(f"printer {self.queue} is out of paper: {message}")
            if _OFFLINE.search(message):
                raise PrinterOffline(f"printer {self.queue} is offline: {message}")
            raise PrinterError(f"printer {self.queue} refused the job: {message}")
        found = re.search(r"request id is (\S+)", out.decode(errors="replace"))
        return found.group(1) if found else message


class FakeCupsPrinter:
    """A CUPS-like printer in memory: a paper tray and an online switch, like the device."""

    def __init__(self, paper: int = 100, online: bool = True, name: str = "fake-cups") -> None:
        self.paper = paper
        self.online = online
        self.name = name
        self.printed: list[tuple[str, bytes]] = []
        self._next = 1

    def load_paper(self, sheets: int) -> None:
        self.paper += sheets

    async def print_file(self, path: Path, title: str) -> str:
        if not self.online:
            raise PrinterOffline(f"printer {self.name} is offline; switch it on or check its cable")
        if self.paper <= 0:
            raise PrinterOutOfPaper(f"printer {self.name} is out of paper; load paper in tray 1")
        data = await asyncio.to_thread(path.read_bytes)
        self.paper -= 1
        self.printed.append((title, data))
        ref = f"{self.name}-{self._next}"
        self._next += 1
        return ref


@dataclass
class PrintJob:
    """One document to print, as kept on disk until it is printed."""

    job_id: str
    session_id: str
    doc_id: str
    title: str
    attempts: int = 0
    last_error: str = ""
    last_error_code: str = ""
    device_ref: str = ""
    extra: dict[str, str] = field(default_factory=dict)


Reporter = Callable[[PrintJob, Status, PrinterError | None], Awaitable[None]]


class PrintQueue:
    """Jobs in order, each retried until printed; state on disk so none is ever lost."""

    def __init__(
        self,
        device: Printer,
        folder: Path,
        report: Reporter | None = None,
        retry_min_s: float = 1.0,
        retry_max_s: float = 30.0,
    ) -> None:
        self.device = device
        self.folder = folder
        self.report = report
        self.retry_min_s = retry_min_s
        self.retry_max_s = retry_max_s
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def pending_dir(self) -> Path:
        return self.folder / "pending"

    @property
    def done_dir(self) -> Path:
        return self.folder / "done"

    def pending(self) -> list[PrintJob]:
        """Jobs not printed yet, oldest first."""
        found = sorted(self.pending_dir.glob("*.json"), key=lambda p: p.name)
        return [PrintJob(**json.loads(p.read_text(encoding="utf-8"))) for p in found]

    def done(self) -> list[PrintJob]:
        found = sorted(self.done_dir.glob("*.json"), key=lambda p: p.name)
        return [PrintJob(**json.loads(p.read_text(encoding="utf-8"))) for p in found]

    def _stem(self, job: PrintJob) -> str:
        existing = list(self.pending_dir.glob(f"*-{job.job_id}.json"))
        if existing:
            return existing[0].stem
        count = len(list(self.pending_dir.glob("*.json"))) + len(list(self.done_dir.glob("*.json")))
        return f"{count:06d}-{job.job_id}"

    def _save(self, stem: str, job: PrintJob) -> None:
        data = json.dumps(asdict(job), ensure_ascii=False).encode()
        _atomic_write(self.pending_dir / f"{stem}.json", data)

    async def submit(self, job: PrintJob, pdf: bytes) -> None:
        """Keep the job on disk, then print it as soon as the printer can."""
        stem = await asyncio.to_thread(self._stem, job)
        await asyncio.to_thread(_atomic_write, self.pending_dir / f"{stem}.pdf", pdf)
        await asyncio.to_thread(self._save, stem, job)
        log.info("print job %s queued (%s, %d bytes)", job.job_id, job.title, len(pdf))
        self._idle.clear()
        self._wake.set()

    async def start(self) -> None:
        """Start printing, beginning with jobs left pending by an earlier run."""
        await asyncio.to_thread(self.pending_dir.mkdir, parents=True, exist_ok=True)
        await asyncio.to_thread(self.done_dir.mkdir, parents=True, exist_ok=True)
        self._task = asyncio.get_running_loop().create_task(self._work())
        self._wake.set()

    async def close(self) -> None:
        """Stop printing; unprinted jobs stay on disk for the next start."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait until every job is printed."""
        await asyncio.wait_for(self._idle.wait(), timeout)

    async def _work(self) -> None:
        while True:
            jobs = await asyncio.to_thread(self.pending)
            if not jobs:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            self._idle.clear()
            job = jobs[0]
            stem = await asyncio.to_thread(self._stem, job)
            pause = await self._attempt(stem, job)
            if pause:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), pause)

    async def _attempt(self, stem: str, job: PrintJob) -> float:
        """Try the job once; returns how long to wait before the next try (0: go on)."""
        job.attempts += 1
        try:
            job.device_ref = await self.device.print_file(
                self.pending_dir / f"{stem}.pdf", job.title
            )
        except PrinterError as exc:
            job.last_error, job.last_error_code = exc.message, exc.code
            await asyncio.to_thread(self._save, stem, job)
            log.warning("print job %s attempt %d failed: %s", job.job_id, job.attempts, exc.message)
            await self._report(job, "retrying", exc)
            return min(self.retry_max_s, self.retry_min_s * float(2 ** min(job.attempts - 1, 10)))
        await asyncio.to_thread(self._finish, stem, job)
        log.info("print job %s printed on %s (%s)", job.job_id, self.device.name, job.device_ref)
        await self._report(job, "printed", None)
        return 0.0

    def _finish(self, stem: str, job: PrintJob) -> None:
        self._save(stem, job)
        for suffix in (".pdf", ".json"):
            os.replace(self.pending_dir / f"{stem}{suffix}", self.done_dir / f"{stem}{suffix}")

    async def _report(self, job: PrintJob, status: Status, error: PrinterError | None) -> None:
        if self.report is None:
            return
        try:
            await self.report(job, status, error)
        except (OSError, TimeoutError) as exc:
            # the job's state is on disk; the server hears of it with the next report
            log.warning("print job %s: could not report %s: %s", job.job_id, status, exc)
