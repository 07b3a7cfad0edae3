"""The identity step at the kiosk: read the document, match the live face, run the challenge.

:class:`IdentityCheck` drives one attempt: the :class:`~terminal_client.id_reader.IdReader`
reads the document, the portrait becomes the reference embedding, then live camera frames
are judged by :class:`~media.liveness.LivenessJudge` while each is matched against it. The
result, with a few evidence JPEGs, is reported to the server (``POST
/api/sessions/{id}/identity``), failures too, so the clerk sees every attempt.

CPU work (OCR, detection, embedding, JPEG) runs in one worker thread at a time and only on
the newest camera frame: a slow frame means skipped frames for the judge, never a late
frame for the call. The camera's frames reach :class:`LatestFrame` through
:class:`IdentityTappedTrack`, which passes them on to the call untouched.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

import aiohttp
import av
import cv2
from aiortc.mediastreams import MediaStreamTrack
from cv2.typing import MatLike

from media.errors import DeviceUnavailable, FaceMismatch, IdentityError
from media.faces import Embedding, FaceEngine, FrameMatch
from media.liveness import Action, LivenessJudge, LivenessOutcome, eye_openness, random_challenge
from media.sources import LocalMedia
from signaling.logs import context_log
from signaling.messages import (
    EvidenceImage,
    IdentityDocument,
    IdentityLiveness,
    IdentityMatch,
    IdentityReport,
)
from storage.errors import VcounterError
from terminal_client.errors import IdentityUploadFailed
from terminal_client.id_reader import DocumentRead, IdReader
from terminal_client.worker import CpuWorker

log = logging.getLogger(__name__)

# no camera frame for this long during the challenge: the camera is gone, not the face
CAMERA_SILENT_S = 5.0

Phase = Literal["document", "reading", "face", "challenge", "sending", "done", "failed"]


class LatestFrame:
    """The camera's newest frame and its sequence number; older ones are dropped."""

    def __init__(self) -> None:
        self._frame: av.VideoFrame | MatLike | None = None
        self._seq = 0
        self._at = 0.0
        self._changed = asyncio.Event()

    def push(self, frame: av.VideoFrame | MatLike, at: float) -> None:
        """Keep ``frame`` (taken at ``at`` seconds) as the newest; cheap, no copy."""
        self._frame, self._at = frame, at
        self._seq += 1
        self._changed.set()

    async def after(self, seq: int) -> tuple[int, av.VideoFrame | MatLike, float]:
        """The newest frame newer than ``seq``, waiting for one if needed."""
        while self._seq <= seq or self._frame is None:
            self._changed.clear()
            await self._changed.wait()
        return self._seq, self._frame, self._at


class IdentityTappedTrack(MediaStreamTrack):
    """The camera track for the call, with every frame also offered to a :class:`LatestFrame`."""

    kind = "video"

    def __init__(self, source: MediaStreamTrack, latest: LatestFrame) -> None:
        super().__init__()
        self.source = source
        self.latest = latest

    async def recv(self) -> Any:
        frame = await self.source.recv()
        if isinstance(frame, av.VideoFrame):
            self.latest.push(frame, time.monotonic())
        return frame

    def stop(self) -> None:
        super().stop()
        self.source.stop()


def tap_for_identity(media: LocalMedia, latest: LatestFrame) -> LocalMedia:
    """``media`` with its camera frames also going to ``latest`` (wrap the media factory)."""
    return LocalMedia(IdentityTappedTrack(media.video, latest), media.audio, media.players)


def _bgr(frame: av.VideoFrame | MatLike) -> MatLike:
    if isinstance(frame, av.VideoFrame):
        return frame.to_ndarray(format="bgr24")
    return frame


def _jpeg(image: MatLike, quality: int = 85) -> str:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise IdentityError("an evidence picture could not be encoded")
    return base64.b64encode(data.tobytes()).decode("ascii")


@dataclass
class Progress:
    """What the kiosk screen shows during the attempt."""

    phase: Phase
    action: Action | None = None
    completed: list[Action] = field(default_factory=list)
    error_code: str | None = None


async def reference_of(
    read: DocumentRead, engine: FaceEngine, worker: CpuWorker, today: date
) -> tuple[MatLike, Embedding]:
    """The portrait of a document just read and its embedding, once the document is valid on
    ``today`` (raises DocumentExpired, or FaceNotFound for a portrait without a face)."""
    read.document.require_valid_on(today)
    return await worker.run(engine.portrait, read.portrait)


@dataclass
class FaceWatch:
    """What :func:`watch_face` saw: the challenge's outcome, every frame's score, evidence."""

    outcome: LivenessOutcome
    scores: list[float]
    evidence: list[MatLike]

    def match(self, threshold: float) -> IdentityMatch:
        """The face match over the whole watch: the median score against ``threshold``."""
        score = round(statistics.median(self.scores), 4) if self.scores else None
        return IdentityMatch(
            score=score, threshold=threshold, matched=score is not None and score >= threshold
        )

    def raise_if_failed(self, threshold: float) -> None:
        """Raise the liveness failure, else FaceMismatch if the face did not match."""
        self.outcome.raise_if_failed()
        if not self.match(threshold).matched:
            raise FaceMismatch(
                "your face does not match the photo on the document; the clerk will help you"
            )


async def watch_face(
    engine: FaceEngine,
    frames: LatestFrame,
    reference: Embedding,
    worker: CpuWorker,
    challenge: list[Action],
    on_progress: Callable[[Progress], None] = lambda _: None,
    max_fps: float = 10.0,
) -> FaceWatch:
    """Judge the newest camera frames against ``reference`` until ``challenge`` is done or
    failed; at most ``max_fps`` frames a second, the CPU work in ``worker``."""
    judge = LivenessJudge(challenge, engine.threshold)
    on_progress(Progress("face", judge.current))
    seq = 0
    scores: list[float] = []
    evidence: list[MatLike] = []
    started: float | None = None
    while not judge.done:
        try:
            seq, frame, at = await asyncio.wait_for(frames.after(seq), CAMERA_SILENT_S)
        except TimeoutError:
            # the judge decides on frames; with none coming it would wait for ever
            raise DeviceUnavailable(
                f"the camera gave no picture for {CAMERA_SILENT_S:g} s; ask staff for help"
            ) from None
        started = at if started is None else started
        began = time.monotonic()
        image, match, openness = await worker.run(_analyse, engine, frame, reference)
        done = judge.observe(match, openness, at - started)
        if match.score is not None:
            scores.append(match.score)
        if match.matched and not evidence:
            evidence.append(image)  # the first frame that matched, facing the camera
        if done is not None:
            evidence.append(image)  # the moment each action was seen
        on_progress(Progress("challenge", judge.current, list(judge.completed)))
        rest = 1.0 / max_fps - (time.monotonic() - began)
        if rest > 0 and not judge.done:
            await asyncio.sleep(rest)
    return FaceWatch(judge.outcome(), scores, evidence[:4])


def _analyse(
    engine: FaceEngine, frame: av.VideoFrame | MatLike, reference: Embedding
) -> tuple[MatLike, FrameMatch, float | None]:
    """Worker thread: the frame as BGR, matched, with its eye openness."""
    image = _bgr(frame)
    match = engine.match_frame(image, reference)
    openness = eye_openness(image, match.face) if match.face is not None else None
    return image, match, openness


@dataclass
class IdentityCheck:
    """One identity attempt for ``session_id``; ``run`` it, show :class:`Progress` as it goes."""

    engine: FaceEngine
    reader: IdReader
    frames: LatestFrame
    server_url: str
    token: str
    session_id: str
    on_progress: Callable[[Progress], None] = lambda _: None
    challenge: list[Action] | None = None
    document_timeout_s: float = 60.0
    today: Callable[[], date] = date.today
    # the low-priority thread for CPU work (the kiosk keeps one; else one per attempt)
    worker: CpuWorker | None = None
    # frames judged per second at most: enough for a blink, and the call keeps the rest
    max_fps: float = 10.0
    # the JSON body last sent to the server (tests and the log read it)
    report: IdentityReport | None = None

    async def run(self) -> IdentityReport:
        """Run the attempt and report it; raises the specific error of a failed attempt."""
        if self.worker is not None:
            return await self._attempt(self.worker)
        with CpuWorker() as worker:
            return await self._attempt(worker)

    async def _attempt(self, worker: CpuWorker) -> IdentityReport:
        role = "terminal"
        document: DocumentRead | None = None
        match: IdentityMatch | None = None
        outcome: LivenessOutcome | None = None
        evidence: list[EvidenceImage] = []
        try:
            self.on_progress(Progress("document"))
            document = await self.reader.read(self.document_timeout_s)
            self.on_progress(Progress("reading"))
            portrait, reference = await reference_of(document, self.engine, worker, self.today())
            evidence.append(
                EvidenceImage(kind="portrait", jpeg_base64=await worker.run(_jpeg, portrait))
            )
            watched = await watch_face(
                self.engine, self.frames, reference, worker,
                self.challenge or random_challenge(), self.on_progress, self.max_fps,
            )  # fmt: skip
            outcome = watched.outcome
            evidence += [
                EvidenceImage(kind="frame", jpeg_base64=await worker.run(_jpeg, f))
                for f in watched.evidence
            ]
            match = watched.match(self.engine.threshold)
            watched.raise_if_failed(self.engine.threshold)
        except VcounterError as exc:
            self.on_progress(Progress("failed", error_code=exc.code))
            context_log(log, self.session_id, role).info("identity attempt failed: %s", exc.code)
            try:
                await self._send(
                    self._report("failed", exc.code, document, match, outcome, evidence)
                )
            except IdentityUploadFailed as upload:
                # the applicant's error is the one to show; the clerk misses one failed attempt
                context_log(log, self.session_id, role).warning("%s", upload.message)
            raise
        self.on_progress(Progress("sending"))
        report = self._report("verified", None, document, match, outcome, evidence)
        await self._send(report)
        self.on_progress(Progress("done", completed=list(outcome.completed)))
        context_log(log, self.session_id, role).info("identity verified (score %s)", match.score)
        return report

    def _report(
        self,
        outcome: Literal["verified", "failed"],
        code: str | None,
        read: DocumentRead | None,
        match: IdentityMatch | None,
        liveness: LivenessOutcome | None,
        evidence: list[EvidenceImage],
    ) -> IdentityReport:
        document = None
        if read is not None:
            document = IdentityDocument.model_validate(
                {**read.document.fields(), "source": read.source}
            )
        return IdentityReport(
            outcome=outcome,
            failure_code=code,
            document=document,
            match=match,
            liveness=IdentityLiveness.model_validate(liveness.payload()) if liveness else None,
            evidence=evidence,
        )

    async def _send(self, report: IdentityReport) -> None:
        self.report = report
        url = f"{self.server_url}/api/sessions/{self.session_id}/identity"
        headers = {"Authorization": f"Bearer {self.token}"}
        body = report.model_dump(mode="json")
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.post(url, json=body, headers=headers) as r,
            ):
                if r.status != 201:
                    detail = await r.text()
                    raise IdentityUploadFailed(
                        f"the server did not take the identity result ({r.status}: {detail[:200]});"
                        " try again"
                    )
        except aiohttp.ClientError as exc:
            raise IdentityUploadFailed(
                f"the identity result could not be sent ({exc}); check the network and try again"
            ) from exc
