"""ID document readers: the driver seam between the identity step and the kiosk's hardware.

Two implementations of :class:`IdReader`:

- :class:`MrzImageReader` reads a scan (the document camera or a flatbed) with
  :func:`media.mrz_scan.read_mrz` and cuts the portrait out of the same page;
- :class:`SimulatedCardReader` is a chip/card reader driven by fixture files that behaves
  like the device: a card is *inserted* when a card folder appears in the reader's slot
  folder and *removed* when it goes; the card's data groups are read in 1 KiB blocks at the
  device's pace (so a card pulled out mid-read is noticed at the next block); a card whose
  data does not match its security object is a read error; a reader that stops answering
  (``.stalled`` in the slot) or no card within the timeout is a :class:`ReaderTimeout`.

A card folder holds ``dg1.mrz`` (the MRZ text, as data group 1), ``dg2.jpg`` (the portrait,
as data group 2) and ``sod.json`` (``{"dg1": sha256, "dg2": sha256}``, standing in for the
document security object that binds them). The readers return the document unchecked for
expiry; the identity step decides what an expired document means.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal, Protocol

import cv2
import numpy as np
from cv2.typing import MatLike

from media.faces import FaceEngine
from media.mrz import MrzDocument, parse_mrz
from media.mrz_scan import read_mrz
from terminal_client.errors import CardReadError, CardRemoved, ReaderTimeout
from terminal_client.worker import CpuWorker

log = logging.getLogger(__name__)

CARD_FOLDER = "card"
STALLED_FLAG = ".stalled"
BLOCK = 1024


@dataclass(frozen=True)
class DocumentRead:
    """A document as read: its MRZ, its portrait (BGR) and which reader read it."""

    document: MrzDocument
    portrait: MatLike
    source: Literal["mrz_scan", "chip"]
    ms: float


class IdReader(Protocol):
    """Waits for a document, reads it; raises ReaderError or an IdentityError on failure."""

    async def read(self, timeout_s: float) -> DocumentRead: ...


class MrzImageReader:
    """Reads the MRZ and the portrait from a scan taken by ``capture``."""

    def __init__(
        self,
        capture: Callable[[], Awaitable[MatLike | None]],
        engine: FaceEngine,
        today: Callable[[], date] = date.today,
        worker: CpuWorker | None = None,
    ) -> None:
        self.capture = capture
        self.engine = engine
        self.today = today
        # the identity step's low-priority thread; without one, asyncio's default pool
        self.worker = worker

    async def read(self, timeout_s: float) -> DocumentRead:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout_s):
                image = await self.capture()
        except TimeoutError as exc:
            raise ReaderTimeout(
                f"no document was placed within {timeout_s:.0f} s; place it on the glass"
            ) from exc
        if image is None:
            raise ReaderTimeout("the document camera gave no picture; place the document again")
        # OCR and face detection are CPU work: a worker thread, so the call's video keeps going
        run = self.worker.run if self.worker is not None else asyncio.to_thread
        scan = await run(read_mrz, image, self.today())
        portrait, _ = await run(self.engine.portrait, scan.upright)
        ms = (time.perf_counter() - started) * 1000
        return DocumentRead(scan.document, portrait, "mrz_scan", ms)


class SimulatedCardReader:
    """A contact chip reader over a slot folder; see the module docstring for its behaviour."""

    def __init__(
        self,
        slot: Path,
        bytes_per_second: float = 64_000,
        poll_s: float = 0.05,
        today: Callable[[], date] = date.today,
    ) -> None:
        self.slot = slot
        self.bytes_per_second = bytes_per_second
        self.poll_s = poll_s
        self.today = today

    @property
    def card(self) -> Path:
        return self.slot / CARD_FOLDER

    def present(self) -> bool:
        """True while a card sits in the reader."""
        return self.card.is_dir()

    async def read(self, timeout_s: float) -> DocumentRead:
        started = time.perf_counter()
        deadline = time.monotonic() + timeout_s
        while not self.present():
            if time.monotonic() >= deadline:
                raise ReaderTimeout(
                    f"no card was inserted within {timeout_s:.0f} s; insert the card with the"
                    " chip first"
                )
            await asyncio.sleep(self.poll_s)
        log.info("card inserted in %s", self.slot)
        dg1 = await self._read_file("dg1.mrz", deadline)
        dg2 = await self._read_file("dg2.jpg", deadline)
        sod = await self._read_file("sod.json", deadline)
        self._verify(sod, {"dg1": dg1, "dg2": dg2})
        try:
            text = dg1.decode("ascii")
        except UnicodeDecodeError as exc:
            raise CardReadError(
                "the card's data could not be read correctly; take the card out and insert it again"
            ) from exc
        # a check digit that fails here is reported as such (CheckDigitMismatch), by field
        document = parse_mrz(text, self.today())
        portrait = cv2.imdecode(np.frombuffer(dg2, np.uint8), cv2.IMREAD_COLOR)
        if portrait is None:
            raise CardReadError("the card's photo is damaged; ask staff for help")
        ms = (time.perf_counter() - started) * 1000
        return DocumentRead(document, portrait, "chip", ms)

    async def _read_file(self, name: str, deadline: float) -> bytes:
        """One data group, block by block at the device's pace, checking the card each block."""
        data = bytearray()
        offset = 0
        while True:
            if (self.slot / STALLED_FLAG).exists():
                # a hung reader answers nothing: wait for it until the deadline
                while (self.slot / STALLED_FLAG).exists():
                    if time.monotonic() >= deadline:
                        raise ReaderTimeout(
                            "the card reader stopped answering; take the card out, insert it"
                            " again, and if it happens again ask staff for help"
                        )
                    await asyncio.sleep(self.poll_s)
            if not self.present():
                raise CardRemoved(
                    "the card was taken out before it was read; insert it again and leave it"
                    " in until the screen says so"
                )
            try:
                block = await asyncio.to_thread(_read_block, self.card / name, offset)
            except FileNotFoundError as exc:
                if not self.present():
                    raise CardRemoved(
                        "the card was taken out before it was read; insert it again and leave"
                        " it in until the screen says so"
                    ) from exc
                raise CardReadError(
                    "this card has no identity data the kiosk can read; use another document"
                ) from exc
            data += block
            offset += len(block)
            await asyncio.sleep(len(block) / self.bytes_per_second)
            if len(block) < BLOCK:
                return bytes(data)

    @staticmethod
    def _verify(sod: bytes, groups: dict[str, bytes]) -> None:
        try:
            expected = json.loads(sod)
        except ValueError as exc:
            raise CardReadError("the card's security data is damaged; ask staff for help") from exc
        for name, data in groups.items():
            if expected.get(name) != hashlib.sha256(data).hexdigest():
                raise CardReadError(
                    f"the card's data group {name.upper()} does not match its security data:"
                    " the card was altered or misread; insert it again"
                )


class ScanFolder:
    """A scanner that drops page images into a folder: :meth:`next_scan` waits for a new one.

    Only files that appear (or change) after the call are taken, so an old scan of the
    previous applicant is never read; a file is taken once its size stops changing.
    """

    SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")

    def __init__(self, folder: Path, poll_s: float = 0.2) -> None:
        self.folder = folder
        self.poll_s = poll_s

    def _images(self) -> dict[Path, tuple[float, int]]:
        if not self.folder.is_dir():
            return {}
        found = {}
        for path in self.folder.iterdir():
            if path.suffix.lower() in self.SUFFIXES and path.is_file():
                stat = path.stat()
                found[path] = (stat.st_mtime, stat.st_size)
        return found

    async def next_scan(self) -> MatLike | None:
        """The next new page image, decoded (BGR); None if it cannot be decoded."""
        seen = await asyncio.to_thread(self._images)
        while True:
            await asyncio.sleep(self.poll_s)
            now = await asyncio.to_thread(self._images)
            fresh = [p for p, meta in now.items() if seen.get(p) != meta]
            if not fresh:
                continue
            newest = max(fresh, key=lambda p: now[p][0])
            await asyncio.sleep(self.poll_s)
            if (await asyncio.to_thread(self._images)).get(newest) != now[newest]:
                continue  # still being written
            log.info("scan %s taken", newest.name)
            return await asyncio.to_thread(cv2.imread, str(newest), cv2.IMREAD_COLOR)


def _read_block(path: Path, offset: int) -> bytes:
    with path.open("rb") as handle:
        handle.seek(offset)
        return handle.read(BLOCK)


def write_card(folder: Path, mrz_lines: list[str], portrait_jpeg: bytes) -> Path:
    """Make a card fixture folder (data groups and their security object)."""
    folder.mkdir(parents=True, exist_ok=True)
    dg1 = "\n".join(mrz_lines).encode("ascii")
    (folder / "dg1.mrz").write_bytes(dg1)
    (folder / "dg2.jpg").write_bytes(portrait_jpeg)
    sod = {"dg1": hashlib.sha256(dg1).hexdigest(), "dg2": hashlib.sha256(portrait_jpeg).hexdigest()}
    (folder / "sod.json").write_text(json.dumps(sod))
    return folder


def write_card_from_photo(
    folder: Path, mrz_lines: list[str], photo: MatLike, engine: FaceEngine
) -> Path:
    """A card fixture whose portrait is the passport-style crop of the face in ``photo``
    (for tests and benchmarks; the photos come from :mod:`media.face_samples`)."""
    from media.face_camera import passport_photo  # aiortc track code the reader never needs

    faces = engine.detect(photo, max_width=1280)
    if not faces:
        raise ValueError("the photo for the card shows no face")
    ok, jpeg = cv2.imencode(".jpg", passport_photo(photo, faces[0].box))
    if not ok:
        raise ValueError("the card's portrait could not be encoded as JPEG")
    return write_card(folder, mrz_lines, jpeg.tobytes())
