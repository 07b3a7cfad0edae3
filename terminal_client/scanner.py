"""Flatbed scanners: the interface the kiosk uses, and a simulated one that acts like a device.

A scan is a file the driver writes (PNG or JPEG) and hands over by path. The simulated
scanner takes as long as a real one, writes rendered pages (or files from a folder), and
fails the ways devices fail: a paper jam that stays until someone clears it, and a scan
that never finishes (the kiosk's timeout stops waiting).
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from pathlib import Path
from typing import Literal, Protocol

import cv2

from media.page_sample import render_page
from terminal_client.errors import DeviceFault

Fault = Literal["jam", "timeout"]


class Scanner(Protocol):
    """A scanner: ``scan()`` returns the path of the image it wrote."""

    async def scan(self) -> Path: ...

    def close(self) -> None: ...


class SimulatedScanner:
    """A scanner without hardware: pages from ``source`` (a folder of images) or rendered.

    ``seconds_per_scan`` is how long the head takes; ``timeout_s`` is how long the kiosk
    waits before it gives up on the device.
    """

    def __init__(
        self,
        source: Path | None = None,
        *,
        dpi: int = 300,
        seconds_per_scan: float = 0.3,
        timeout_s: float = 10.0,
    ) -> None:
        self.source = source
        self.dpi = dpi
        self.seconds_per_scan = seconds_per_scan
        self.timeout_s = timeout_s
        self.jammed = False
        self.scans = 0
        self._faults: list[Fault] = []
        self._out = Path(tempfile.mkdtemp(prefix="vcounter-scan-"))
        self._files = itertools.cycle(self._listed()) if source else None

    def _listed(self) -> list[Path]:
        assert self.source is not None
        files = sorted(
            p for p in self.source.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg")
        )
        if not files:
            raise DeviceFault(f"the scanner's page folder {self.source} has no images", "missing")
        return files

    def fail_next(self, fault: Fault) -> None:
        """The next scan fails with ``fault`` (tests and demos)."""
        self._faults.append(fault)

    def clear_jam(self) -> None:
        """Someone opened the lid and took the sheet out."""
        self.jammed = False

    async def scan(self) -> Path:
        """Scan one page; raises :class:`DeviceFault` on a jam or when the device hangs."""
        if self.jammed:
            raise DeviceFault(
                "the scanner is jammed: open the lid, remove the sheet, try again", "jam"
            )
        fault = self._faults.pop(0) if self._faults else None
        try:
            return await asyncio.wait_for(self._run(fault), self.timeout_s)
        except TimeoutError as exc:
            raise DeviceFault(
                f"the scanner did not answer within {self.timeout_s:g} s; switch it off and on",
                "timeout",
            ) from exc

    async def _run(self, fault: Fault | None) -> Path:
        await asyncio.sleep(self.seconds_per_scan / 2)
        if fault == "jam":
            self.jammed = True
            raise DeviceFault("paper jam: open the scanner lid, remove the sheet, try again", "jam")
        if fault == "timeout":
            await asyncio.Event().wait()  # a hung device: never answers
        await asyncio.sleep(self.seconds_per_scan / 2)
        self.scans += 1
        if self._files is not None:
            return next(self._files)
        target = self._out / f"scan-{self.scans:04d}.png"
        page = await asyncio.to_thread(render_page, self.dpi, "SCANNED PAGE", self.scans)
        await asyncio.to_thread(cv2.imwrite, str(target), page, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        return target

    def close(self) -> None:
        """Remove the pages it wrote."""
        for path in self._out.glob("scan-*"):
            path.unlink(missing_ok=True)
        self._out.rmdir()
