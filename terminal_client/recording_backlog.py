"""The kiosk's recording backlog: finished segments kept on disk until the server has them.

Like the print queue (``printer.py``), nothing is ever given up: a finished segment is moved
into ``folder`` with its description (``NNNNNN-SESSION-SIDE-INDEX.webm`` + ``.json``) before
the first upload attempt, uploads are retried with a growing pause for as long as the server
is away, and only a segment the server has stored (or refused for good) leaves the folder.
Segments still there when the kiosk stops are uploaded after it starts again, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from signaling.logs import context_log
from signaling.messages import SegmentMeta

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PendingSegment:
    """One segment waiting for upload: which session it belongs to, and its description."""

    session_id: str
    meta: SegmentMeta
    stem: str


class RecordingBacklog:
    """Finished recording segments on disk, uploaded in order, retried until stored.

    :meth:`start` it once per kiosk process (it begins with what an earlier run left),
    :meth:`add` each finished segment, :meth:`close` on shutdown.
    """

    def __init__(
        self,
        server_url: str,
        token: str,
        folder: Path,
        name: str = "kiosk",
        retry_min_s: float = 0.25,
        retry_max_s: float = 5.0,
    ) -> None:
        self.server_url = server_url.rstrip("/")
        self.token = token
        self.folder = folder
        self.name = name
        self.retry_min_s = retry_min_s
        self.retry_max_s = retry_max_s
        self.uploaded: list[tuple[str, SegmentMeta]] = []
        self._wake = asyncio.Event()
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._count = 0

    def pending(self) -> list[PendingSegment]:
        """Segments not stored by the server yet, oldest first."""
        found: list[PendingSegment] = []
        for path in sorted(self.folder.glob("*.json")):
            data = json.loads(path.read_text(encoding="utf-8"))
            meta = SegmentMeta.model_validate(data["meta"])
            found.append(PendingSegment(str(data["session_id"]), meta, path.stem))
        return found

    async def start(self) -> None:
        """Start uploading, beginning with segments left on disk by an earlier run."""
        if self._task is not None:
            return
        await asyncio.to_thread(self.folder.mkdir, parents=True, exist_ok=True)
        left = await asyncio.to_thread(self.pending)
        self._count = max((int(p.stem.split("-", 1)[0]) + 1 for p in left), default=0)
        if left:
            log.info("%d recording segments left by an earlier run: uploading them", len(left))
        self._task = asyncio.get_running_loop().create_task(self._work(), name="recording-backlog")
        self._wake.set()

    async def add(self, session_id: str, meta: SegmentMeta, path: Path) -> None:
        """Take over the finished segment file at ``path`` (moved, not copied) and upload it."""
        stem = f"{self._count:06d}-{session_id}-{meta.side}-{meta.index}"
        self._count += 1
        await asyncio.to_thread(self._keep, stem, session_id, meta, path)
        self._wake.set()

    def _keep(self, stem: str, session_id: str, meta: SegmentMeta, path: Path) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        # a move, not a copy, when on the same disk (the recorder's folder may be elsewhere)
        shutil.move(path, self.folder / f"{stem}.webm")
        description = {"session_id": session_id, "meta": meta.model_dump(mode="json")}
        tmp = self.folder / f".{stem}.json.incoming"
        with tmp.open("w", encoding="utf-8") as handle:
            json.dump(description, handle)
            handle.flush()
            os.fsync(handle.fileno())
        # the description is written last: a segment is pending only once both files exist
        os.replace(tmp, self.folder / f"{stem}.json")

    async def wait_uploaded(self, session_id: str | None = None, timeout: float = 20.0) -> bool:
        """Wait until nothing (of ``session_id``, if given) is pending; False on timeout.

        The segments stay on disk either way and go on uploading in the background.
        """

        def done() -> bool:
            return not any(session_id is None or p.session_id == session_id for p in self.pending())

        async def waited() -> None:
            async with self._changed:
                await self._changed.wait_for(done)

        try:
            await asyncio.wait_for(waited(), timeout)
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        """Stop uploading; segments not stored yet stay on disk for the next start."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _work(self) -> None:
        async with aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=aiohttp.ClientTimeout(total=30),
        ) as http:
            delay = self.retry_min_s
            while True:
                self._wake.clear()
                waiting = await asyncio.to_thread(self.pending)
                if not waiting:
                    await self._wake.wait()
                    continue
                if await self._upload(http, waiting[0]):
                    delay = self.retry_min_s
                    await self._forget(waiting[0])
                    continue
                # the server is away: wait, unless a new segment comes (then try again at once
                # only after the pause too, so a long outage does not become a busy loop)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max_s)

    async def _forget(self, segment: PendingSegment) -> None:
        def remove() -> None:
            # the description goes first: a crash in between leaves an orphan file, not a
            # description without its segment
            (self.folder / f"{segment.stem}.json").unlink(missing_ok=True)
            (self.folder / f"{segment.stem}.webm").unlink(missing_ok=True)

        await asyncio.to_thread(remove)
        async with self._changed:
            self._changed.notify_all()

    async def _upload(self, http: aiohttp.ClientSession, segment: PendingSegment) -> bool:
        """Try once; True when the segment may leave the backlog (stored or refused for good)."""
        meta = segment.meta
        data = await asyncio.to_thread((self.folder / f"{segment.stem}.webm").read_bytes)
        url = (
            f"{self.server_url}/api/sessions/{segment.session_id}/recordings/"
            f"{meta.side}/{meta.index}"
        )
        headers = {"X-Segment": meta.model_dump_json(), "Content-Type": "video/webm"}
        slog = context_log(log, segment.session_id, f"terminal:{self.name}")
        try:
            async with http.put(url, data=data, headers=headers) as response:
                if response.status in (200, 201):
                    self.uploaded.append((segment.session_id, meta))
                    slog.info("recording %s segment %d uploaded", meta.side, meta.index)
                    return True
                body = await response.text()
                if response.status < 500 and response.status != 429:
                    # refused for good (not this kiosk's session, not a recording): retrying
                    # cannot help, and keeping it would block every later segment
                    slog.error(
                        "server refused %s segment %d: %s %s",
                        meta.side, meta.index, response.status, body[:200],
                    )  # fmt: skip
                    return True
                slog.warning(
                    "upload of %s segment %d: server answered %s; retrying",
                    meta.side, meta.index, response.status,
                )  # fmt: skip
        except (aiohttp.ClientError, TimeoutError) as exc:
            slog.warning(
                "upload of %s segment %d failed: %s; kept on disk, retrying",
                meta.side, meta.index, exc,
            )  # fmt: skip
        return False
