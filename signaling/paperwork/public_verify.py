"""The public check behind ``/verify``: cheap, and telling nothing but the verdict per part.

Anyone may ask, so nothing here may cost much or give anything away:

- only the one document is hashed (in a low-priority worker thread, see
  :mod:`signaling.workers`), never the session's other files or recordings; the chain is
  recomputed from its rows (hashes of small JSON records);
- one check runs at a time (:data:`CONCURRENT`), the rest wait off the CPU;
- each line says only whether that part holds: ``seal``, ``store`` (the file is the stored
  original), ``chain`` — no byte offsets, stored values or hashes, which would let someone
  read the stored original back byte by byte.

``vcounter verify`` (:func:`signaling.paperwork.verify.verify_pdf`) is the operator's tool
and says exactly where a file differs.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any, TypeVar

from pyhanko.pdf_utils.misc import PdfError

from signaling.logs import context_log
from signaling.paperwork import decisions as d
from signaling.paperwork.messages import CheckLine, VerifyReport
from signaling.paperwork.seal import check_seals
from signaling.paperwork.verify import find_marker
from storage.audit import AuditLog
from storage.blobs import FileBlobStore
from storage.db import Database
from storage.errors import VcounterError

if TYPE_CHECKING:
    from signaling.trail_check import TrailCheck

log = logging.getLogger(__name__)

T = TypeVar("T")

# the public gets one core at most: the counter's own work keeps the other
CONCURRENT = 1
_NOT_OURS = "this is not a document issued here"


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _seal_lines(data: bytes, roots: list[bytes], sealed: bool) -> list[CheckLine]:
    try:
        seals = check_seals(data, roots)
    except (PdfError, ValueError, KeyError, TypeError):
        return [CheckLine(what="seal", ok=False, detail="the file cannot be read as a sealed PDF")]
    if not seals:
        if sealed:
            return [CheckLine(what="seal", ok=False, detail="the document should carry a seal")]
        return []
    return [
        CheckLine(
            what=f"seal {i + 1}",
            ok=check.ok,
            detail="intact and from a trusted department" if check.ok else "not valid",
        )
        for i, check in enumerate(seals)
    ]


class PublicVerifier:
    """Checks documents for the public page; one per app."""

    def __init__(
        self,
        db: Database,
        blobs: FileBlobStore,
        trail: TrailCheck | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.db = db
        self.blobs = blobs
        # without it the chain is only recomputed from its rows (whoever holds the database
        # can make that pass); with it the chain must also match the signed checkpoints
        self.trail = trail
        self.slots = asyncio.Semaphore(CONCURRENT)
        # the public's CPU work (default: asyncio's pool); the server gives it a low-priority one
        self.executor = executor

    async def _work(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def uploaded(self, data: bytes, roots: list[bytes]) -> VerifyReport:
        """Check a file someone uploaded against the store."""
        found = await self._work(find_marker, data)  # a regex over up to 10 MiB
        if found is None:
            return VerifyReport(
                ok=False, checks=[CheckLine(what="document", ok=False, detail=_NOT_OURS)]
            )
        return await self._check(found[0], found[1], data, roots)

    async def stored(self, session_id: str, doc_id: str, roots: list[bytes]) -> VerifyReport:
        """Check the stored document a receipt's QR code names."""
        return await self._check(session_id, doc_id, None, roots)

    async def _check(
        self, session_id: str, doc_id: str, data: bytes | None, roots: list[bytes]
    ) -> VerifyReport:
        async with self.slots:
            audit = AuditLog(self.db)
            events = await audit.events(session_id)
            app = d.fold(session_id, events)
            doc = app.document(doc_id)
            if doc is None:
                return VerifyReport(
                    ok=False, checks=[CheckLine(what="document", ok=False, detail=_NOT_OURS)]
                )
            checks: list[CheckLine] = []
            if data is None:
                try:
                    data = await self.blobs.get(doc.sha256)  # re-hashed by the blob store
                    checks.append(CheckLine(what="store", ok=True, detail="the stored original"))
                except VcounterError:
                    checks.append(
                        CheckLine(what="store", ok=False, detail="the stored original is damaged")
                    )
            else:
                digest = await self._work(_sha256_hex, data)
                same = digest == doc.sha256
                checks.append(
                    CheckLine(
                        what="store",
                        ok=same,
                        detail="the same as the stored original"
                        if same
                        else "differs from the stored original",
                    )
                )
            if data is not None:
                checks[:0] = await self._work(_seal_lines, data, roots, doc.sealed)
            chain = await audit.verify(session_id)
            intact = chain.ok
            if intact and self.trail is not None:
                held = await self.trail.problems(session_id, events)
                if held:
                    # the public hears "does not verify"; the operator's log says what
                    context_log(log, session_id, "public").warning(
                        "verify: chain against checkpoints: %s", held[0]
                    )
                    intact = False
            checks.append(
                CheckLine(
                    what="chain",
                    ok=intact,
                    detail="the session's record is intact"
                    if intact
                    else "the session's record does not verify",
                )
            )
        return VerifyReport(
            ok=all(c.ok for c in checks), session_id=session_id, doc_id=doc_id, kind=doc.kind,
            acceptance_number=app.acceptance_number, checks=checks,
        )  # fmt: skip
