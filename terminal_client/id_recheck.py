"""The ID re-check before a result is reprinted: read the document again, match the live face.

At a kiosk's "print my result" screen there is no call and no clerk. :class:`IdRecheck`
reads the applicant's ID document with the kiosk's :class:`~terminal_client.id_reader.
IdReader` (the one the identity step uses), checks it is still valid, and, when the kiosk
has a camera, opens it for the check only and matches the live face to the document's
portrait with the identity step's own pieces (:func:`~terminal_client.identity.watch_face`:
the same matching and liveness judge). Only its result goes to the server with the number
it read (:class:`~signaling.paperwork.messages.ReprintRequest`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media.errors import FaceMismatch
from media.faces import FaceEngine
from media.liveness import Action, random_challenge
from media.sources import LocalMedia
from signaling.messages import IdentityMatch
from signaling.paperwork.messages import FaceRecheck, ReprintRequest
from terminal_client.id_reader import DocumentRead, IdReader
from terminal_client.identity import LatestFrame, Progress, reference_of, watch_face
from terminal_client.worker import CpuWorker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recheck:
    """The document read again and, with a camera, how the live face matched its portrait."""

    read: DocumentRead
    face: IdentityMatch | None

    def request(self, acceptance_number: str) -> ReprintRequest:
        """The reprint request carrying this re-check."""
        face = None
        if self.face is not None:
            face = FaceRecheck(
                score=self.face.score, threshold=self.face.threshold, matched=self.face.matched
            )
        return ReprintRequest(
            acceptance_number=acceptance_number,
            document_number=self.read.document.document_number,
            source=self.read.source,
            face=face,
        )


async def _pump(track: MediaStreamTrack, latest: LatestFrame) -> None:
    """Feed the camera's frames to ``latest`` until the track ends."""
    with contextlib.suppress(MediaStreamError):
        while True:
            frame = await track.recv()
            if isinstance(frame, av.VideoFrame):
                latest.push(frame, time.monotonic())


@dataclass
class IdRecheck:
    """One re-check; ``run`` it, show its :class:`Progress` (phases as the identity step's)."""

    engine: FaceEngine
    reader: IdReader
    worker: CpuWorker
    # opens the kiosk's camera (its microphone stays unused); None: no face check
    camera: Callable[[], LocalMedia] | None
    on_progress: Callable[[Progress], None] = lambda _: None
    challenge: list[Action] | None = None
    document_timeout_s: float = 60.0
    today: Callable[[], date] = date.today

    async def run(self) -> Recheck:
        """Read and check; raises the specific ReaderError / IdentityError of a failure."""
        self.on_progress(Progress("document"))
        read = await self.reader.read(self.document_timeout_s)
        self.on_progress(Progress("reading"))
        _, reference = await reference_of(read, self.engine, self.worker, self.today())
        if self.camera is None:
            return Recheck(read, None)
        media = await asyncio.to_thread(self.camera)  # opening a V4L2 device can take a while
        latest = LatestFrame()
        pump = asyncio.get_running_loop().create_task(_pump(media.video, latest))
        try:
            # one action is enough to tell a live face from a photo held up to the camera
            watched = await watch_face(
                self.engine, latest, reference, self.worker,
                self.challenge or random_challenge(1), self.on_progress,
            )  # fmt: skip
        finally:
            media.stop()
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
        match = watched.match(self.engine.threshold)
        log.info("reprint re-check: document %s, face score %s", read.source, match.score)
        if not match.matched:
            # a face that never matched is the wrong person, whatever else the judge saw
            raise FaceMismatch(
                "your face does not match the photo on the document; look at the camera and"
                " try again with your own document"
            )
        watched.outcome.raise_if_failed()
        return Recheck(read, match)
