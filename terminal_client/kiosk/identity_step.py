"""The kiosk's identity step: runs :class:`~terminal_client.identity.IdentityCheck` during the
call and turns its progress and errors into the :class:`IdentityView` the page shows.

It starts when the clerk moves the session to step 3 (or the applicant presses the button),
can be retried after a failure, and is dropped when the call ends. Its reader, face engine
and worker also serve a reprint's ID re-check (:meth:`KioskIdentity.recheck`). The face
models are loaded in a worker thread on first use; OpenCV runs on one thread so the call's
video encoder keeps a core to itself (``python -m bench.identity`` measures per-frame cost
at 1).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import date

import av
import cv2
from aiortc.mediastreams import MediaStreamError

from media.faces import DEFAULT_THRESHOLD, FaceEngine
from media.liveness import Action
from media.sources import LocalMedia
from signaling.logs import context_log
from signaling.messages import IdentityReport
from storage.errors import VcounterError
from terminal_client.id_reader import IdReader
from terminal_client.id_recheck import IdRecheck, Recheck
from terminal_client.identity import IdentityCheck, LatestFrame, Progress, tap_for_identity
from terminal_client.kiosk.messages import IdentityView
from terminal_client.worker import CpuWorker

log = logging.getLogger(__name__)

IDENTITY_STEP = 3


class KioskIdentity:
    """One kiosk's identity step; ``on_change`` is called whenever its view changes."""

    def __init__(
        self,
        reader_factory: Callable[[FaceEngine, CpuWorker], IdReader],
        server_url: str,
        token: str,
        threshold: float = DEFAULT_THRESHOLD,
        document_timeout_s: float = 60.0,
        today: Callable[[], date] = date.today,
        challenge: list[Action] | None = None,
    ) -> None:
        self.reader_factory = reader_factory
        self.server_url = server_url
        self.token = token
        self.threshold = threshold
        self.document_timeout_s = document_timeout_s
        self.today = today
        # None: a fresh random challenge every attempt; a fixed one only for tests
        self.challenge = challenge
        self.latest = LatestFrame()
        self.on_change: Callable[[], None] = lambda: None
        self._engine: FaceEngine | None = None
        self._worker = CpuWorker()
        self._task: asyncio.Task[None] | None = None
        self._session_id: str | None = None
        self._progress: Progress | None = None
        self._error: VcounterError | None = None
        self._attempts = 0
        self._last_step: tuple[str | None, int] = (None, 0)
        self._confirmed_by_clerk = False

    @property
    def active(self) -> bool:
        """True while an attempt runs or its outcome is on screen."""
        return self._progress is not None

    def tap(self, media: LocalMedia) -> LocalMedia:
        """Wrap the kiosk's media factory with this: camera frames also reach the step."""
        return tap_for_identity(media, self.latest)

    def view(self, session_id: str | None) -> IdentityView | None:
        """What the page shows for ``session_id`` (None: the step is not on screen)."""
        if session_id is None or session_id != self._session_id or self._progress is None:
            return None
        progress = self._progress
        error = self._error
        # the attempt says it failed, with its code, a moment before the error itself is
        # kept here: the screen (and a watcher) gets the reason from the first view
        code = error.code if error else progress.error_code
        return IdentityView(
            phase=progress.phase,
            action=progress.action.value if progress.action else None,
            completed=[a.value for a in progress.completed],
            error_key=f"identity.error.{code}" if code else None,
            error_detail=error.message if error else "",
            attempts=self._attempts,
            confirmed_by_clerk=self._confirmed_by_clerk,
        )

    async def confirmed_by_clerk(self, session_id: str) -> None:
        """The clerk checked the document in person and confirmed the identity (override):
        the failed attempt is over, and the screen says so instead of "try again"."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._session_id = session_id
        self._error = None
        self._progress = Progress("done")
        self._confirmed_by_clerk = True
        self.on_change()

    def follow_step(self, session_id: str | None, step: int) -> None:
        """The call is at ``step``: moving to step 3 starts the check (again, if the clerk
        moves away and back)."""
        moved = (session_id, step) != self._last_step
        self._last_step = (session_id, step)
        if session_id and step == IDENTITY_STEP and moved:
            self.start(session_id)

    def start(self, session_id: str) -> None:
        """Start an attempt (a retry after a failure); does nothing while one runs."""
        if self._task is not None and not self._task.done():
            return
        self._session_id = session_id
        self._error = None
        self._confirmed_by_clerk = False
        self._attempts += 1
        self._progress = Progress("document")
        self._task = asyncio.get_running_loop().create_task(self._run(session_id))
        self.on_change()

    async def stop(self) -> None:
        """Put the step away (the call ended, or the applicant cancelled)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._session_id = None
        self._progress = None
        self._error = None
        self._attempts = 0
        self._confirmed_by_clerk = False
        self.on_change()

    async def close(self) -> None:
        """Stop the step and end its worker thread (the kiosk is shutting down)."""
        await self.stop()
        self._worker.close()

    async def recheck(
        self, camera: Callable[[], LocalMedia] | None, on_progress: Callable[[Progress], None]
    ) -> Recheck:
        """The ID re-check of a reprint, outside any call: this step's reader, face engine
        and worker thread; ``camera`` opens the kiosk's camera (None: document only)."""
        engine = await self._load()
        check = IdRecheck(
            engine, self.reader_factory(engine, self._worker), self._worker, camera,
            on_progress=on_progress, challenge=self.challenge,
            document_timeout_s=self.document_timeout_s, today=self.today,
        )  # fmt: skip
        return await check.run()

    async def verify_outside_call(
        self,
        session_id: str,
        camera: Callable[[], LocalMedia],
        on_progress: Callable[[Progress], None],
    ) -> IdentityReport:
        """The identity step of a session without a call (a self-service service): this
        step's reader, face engine and worker, the kiosk's camera opened for the check only;
        the attempt is reported to the server like one in a call. Raises its failure."""
        engine = await self._load()
        media = await asyncio.to_thread(camera)  # opening a V4L2 device can take a while
        latest = LatestFrame()

        async def pump() -> None:
            with contextlib.suppress(MediaStreamError):
                while True:
                    frame = await media.video.recv()
                    if isinstance(frame, av.VideoFrame):
                        latest.push(frame, time.monotonic())

        feeding = asyncio.get_running_loop().create_task(pump())
        try:
            check = IdentityCheck(
                engine, self.reader_factory(engine, self._worker), latest, self.server_url,
                self.token, session_id, on_progress=on_progress,
                document_timeout_s=self.document_timeout_s, today=self.today,
                challenge=self.challenge, worker=self._worker,
            )  # fmt: skip
            return await check.run()
        finally:
            media.stop()
            feeding.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeding

    async def _run(self, session_id: str) -> None:
        role = "kiosk"
        try:
            engine = await self._load()
            check = IdentityCheck(
                engine, self.reader_factory(engine, self._worker), self.latest, self.server_url, self.token,
                session_id, on_progress=self._on_progress,
                document_timeout_s=self.document_timeout_s, today=self.today,
                challenge=self.challenge, worker=self._worker,
            )  # fmt: skip
            await check.run()
        except VcounterError as exc:
            self._error = exc
            self._progress = Progress("failed", error_code=exc.code)
            context_log(log, session_id, role).info("identity step failed: %s", exc.code)
        self.on_change()

    def _on_progress(self, progress: Progress) -> None:
        self._progress = progress
        self.on_change()

    async def _load(self) -> FaceEngine:
        if self._engine is None:

            def load() -> FaceEngine:
                cv2.setNumThreads(1)
                return FaceEngine(threshold=self.threshold)

            self._engine = await self._worker.run(load)
        return self._engine
