"""Resumable uploads: a file arrives in ranges, kept on disk until it is whole.

A client names the file by its SHA-256 and sends ``PUT`` requests with ``Content-Range:
bytes START-END/TOTAL``; what arrives is appended to ``data_dir/uploads/SESSION/SHA.part``,
also when the connection breaks in the middle of a range, so the client asks how much the
server has (``received``) and goes on from there. A range the server already has is
acknowledged without being written again: retrying a request is harmless. Requests for the
same file are handled one at a time (a lock per file); different files go in parallel.

Quotas: one kiosk may hold at most ``uploads_per_kiosk`` partial files at once
(:meth:`UploadArea.admit`), and a partial file untouched for ``upload_max_age_s`` is deleted
(:meth:`UploadArea.sweep`, run at start and then periodically).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from aiohttp import ClientPayloadError, web

from signaling.http_auth import http_error

log = logging.getLogger(__name__)

_RANGE = re.compile(r"^bytes (\d{1,12})-(\d{1,12})/(\d{1,12})$")
CHUNK = 256 * 1024


@dataclass(frozen=True)
class ByteRange:
    """The part of the file one request carries: bytes ``start`` to ``end`` (exclusive)."""

    start: int
    end: int
    total: int


def parse_range(request: web.Request) -> ByteRange:
    """The request's ``Content-Range``; without one, the body is the whole file."""
    header = request.headers.get("Content-Range")
    if header is None:
        length = request.content_length or 0
        return ByteRange(0, length, length)
    match = _RANGE.match(header.strip())
    if not match:
        raise http_error(
            web.HTTPBadRequest,
            "bad_range",
            f"Content-Range {header!r} is not 'bytes START-END/TOTAL' (END inclusive)",
        )
    start, last, total = (int(g) for g in match.groups())
    if last < start or last >= total:
        raise http_error(
            web.HTTPBadRequest,
            "bad_range",
            f"Content-Range {header!r} lies outside a file of {total} bytes",
        )
    if request.content_length is not None and request.content_length != last - start + 1:
        raise http_error(
            web.HTTPBadRequest,
            "bad_range",
            f"Content-Range names {last - start + 1} bytes but the body has {request.content_length}",
        )
    return ByteRange(start, last + 1, total)


class UploadArea:
    """Partial uploads on disk, one file per (session, SHA-256)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._users: dict[tuple[str, str], int] = {}
        # (session, sha256) -> the kiosk whose partial file it is
        self._owners: dict[tuple[str, str], int] = {}

    def admit(self, terminal_id: int, session_id: str, sha256: str, limit: int) -> None:
        """Let kiosk ``terminal_id`` start (or go on with) this upload, unless it already holds
        ``limit`` unfinished ones: a 429 that says to finish or wait for those."""
        key = (session_id, sha256)
        if key in self._owners:
            return
        held = sum(1 for owner in self._owners.values() if owner == terminal_id)
        if held >= limit:
            raise http_error(
                web.HTTPTooManyRequests,
                "too_many_uploads",
                f"this kiosk has {held} unfinished uploads; finish them (or wait until they"
                " expire) before starting another",
            )
        self._owners[key] = terminal_id

    def sweep(self, max_age_s: float) -> int:
        """Delete partial files untouched for ``max_age_s``; returns how many. Blocking: call
        it in a thread."""
        cutoff = time.time() - max_age_s
        removed = 0
        for part in self.root.glob("*/*.part"):
            try:
                if part.stat().st_mtime < cutoff:
                    part.unlink()
                    removed += 1
                    self._owners.pop((part.parent.name, part.stem), None)
            except FileNotFoundError:
                continue
        for folder in self.root.glob("*"):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only succeeds when empty
        if removed:
            log.info("removed %d partial uploads older than %.0f s", removed, max_age_s)
        return removed

    def path(self, session_id: str, sha256: str) -> Path:
        """Where the partial file is kept."""
        return self.root / session_id / f"{sha256}.part"

    @contextlib.asynccontextmanager
    async def hold(self, session_id: str, sha256: str) -> AsyncIterator[None]:
        """One request at a time for this file; the lock is forgotten when nobody waits."""
        key = (session_id, sha256)
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if self._users[key] == 0:
                del self._users[key], self._locks[key]

    def received(self, session_id: str, sha256: str) -> int:
        """How many bytes of the file the server has so far."""
        try:
            return self.path(session_id, sha256).stat().st_size
        except FileNotFoundError:
            return 0

    async def write(
        self, request: web.Request, session_id: str, sha256: str, span: ByteRange
    ) -> int:
        """Append the request's body at ``span.start``; returns the bytes now held.

        Call inside :meth:`hold`. A body that breaks off keeps what arrived.
        """
        have = await asyncio.to_thread(self.received, session_id, sha256)
        if span.start > have:
            raise http_error(
                web.HTTPConflict,
                "range_gap",
                f"this range starts at byte {span.start} but the server has {have} bytes;"
                f" send from byte {have}",
            )
        skip = have - span.start  # bytes of this body the server already has
        path = self.path(session_id, sha256)
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        pending = bytearray()
        try:
            async for chunk in request.content.iter_chunked(CHUNK):
                if skip >= len(chunk):
                    skip -= len(chunk)
                    continue
                pending += chunk[skip:]
                skip = 0
                if have + len(pending) > span.total:
                    raise http_error(
                        web.HTTPBadRequest,
                        "bad_range",
                        f"the body goes past the {span.total} bytes the file was said to have",
                    )
                if len(pending) >= 4 * CHUNK:
                    have += await asyncio.to_thread(_append, path, bytes(pending))
                    pending.clear()
        except (ClientPayloadError, ConnectionResetError):
            pass  # the client went away: it asks for ``received`` and resumes
        finally:
            # also when the client went away mid-body: what came is kept for the resume
            if pending:
                have += await asyncio.to_thread(_append, path, bytes(pending))
        return have

    async def discard(self, session_id: str, sha256: str) -> None:
        """Forget a partial file (refused or stored)."""
        self._owners.pop((session_id, sha256), None)
        await asyncio.to_thread(self.path(session_id, sha256).unlink, missing_ok=True)

    async def discard_session(self, session_id: str) -> None:
        """Forget every partial file of a session (it ended)."""
        for key in [k for k in self._owners if k[0] == session_id]:
            del self._owners[key]
        await asyncio.to_thread(shutil.rmtree, self.root / session_id, True)


def _append(path: Path, data: bytes) -> int:
    with path.open("ab") as handle:
        handle.write(data)
        handle.flush()
    return len(data)
