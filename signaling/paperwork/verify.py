"""Checking a printed or downloaded document: its seal, the stored original, the chain.

:func:`verify_pdf` finds the document's marker (``vcounter:SESSION:DOCUMENT``, the last one
in the file wins since a seal's update comes after the form it covers), then reports:

1. every seal: intact, made with a certificate the trusted roots vouch for, covering the
   whole file;
2. the stored original: same SHA-256; if not, the first byte that differs and which PDF
   object and which sealed revision it is in;
3. the chain head and decision the sealed document states, against the chain (:mod:`.claims`);
4. the session's hash chain and every file it names (:func:`storage.verify.verify_session`),
   and, given the checkpoints and the verifier's policy (pinned keys), the chain against
   the signed checkpoints.
"""

from __future__ import annotations

import asyncio
import re

from pyhanko.pdf_utils.misc import PdfError

from signaling.paperwork import acceptance
from signaling.paperwork import claims as c
from signaling.paperwork import decisions as d
from signaling.paperwork.messages import CheckLine, VerifyReport
from signaling.paperwork.seal import SealCheck, check_seals
from storage.audit import AuditLog
from storage.blobs import FileBlobStore, sha256_hex
from storage.checkpoints import Checkpoint
from storage.db import Database
from storage.errors import VcounterError
from storage.trail import Policy, check_checkpoints
from storage.verify import verify_session

MARKER = re.compile(rb"vcounter:([0-9a-f]{32}):([0-9a-f]{32})")
_OBJ = re.compile(rb"(\d+) (\d+) obj\b")


def find_marker(data: bytes) -> tuple[str, str] | None:
    """``(session_id, doc_id)`` named in the file, or None if it is not a vcounter document."""
    found = MARKER.findall(data)
    if not found:
        return None
    session_id, doc_id = found[-1]
    return session_id.decode(), doc_id.decode()


def where_differs(original: bytes, changed: bytes) -> str:
    """A sentence saying where ``changed`` first departs from ``original``."""
    limit = min(len(original), len(changed))
    at = next((i for i in range(limit) if original[i] != changed[i]), limit)
    objects = list(_OBJ.finditer(original, 0, at + 1))
    inside = f"inside PDF object {objects[-1].group(1).decode()}" if objects else "in the header"
    if at == limit:
        return (
            f"the file is {len(changed)} bytes, the stored original {len(original)}: they agree"
            f" up to byte {at}, then one of them ends"
        )
    return (
        f"byte {at} ({inside}) differs: stored 0x{original[at]:02x}, this file 0x{changed[at]:02x}"
    )


def _seal_line(check: SealCheck, index: int) -> CheckLine:
    if check.ok:
        return CheckLine(
            what=f"seal {index + 1}", ok=True,
            detail=f"intact, by {check.signer}, at {check.signed_at}, covers the whole file"
            + (f", time-stamped {check.timestamped_at}" if check.timestamped_at else ""),
        )  # fmt: skip
    problems = []
    if not check.intact:
        # the rest (validity, trust) cannot be judged on changed bytes
        problems.append("the sealed bytes were changed after sealing (digest mismatch)")
    elif not check.valid:
        problems.append("the signature does not verify")
    elif not check.trusted:
        problems.append("the certificate is not from a trusted department CA")
    if not check.timestamp_ok:
        problems.append("its RFC 3161 time stamp does not verify")
    if not check.whole_file:
        end = check.ranges[-1][0] + check.ranges[-1][1]
        problems.append(f"bytes after {end} were added after sealing")
    return CheckLine(
        what=f"seal {index + 1}", ok=False, detail="; ".join(problems) + f" ({check.signer})"
    )


async def verify_pdf(
    data: bytes,
    db: Database,
    blobs: FileBlobStore,
    trust_roots: list[bytes],
    checkpoints: list[Checkpoint] | None = None,
    policy: Policy | None = None,
) -> VerifyReport:
    """Check a document the way ``vcounter verify`` and the /verify page do.

    With ``checkpoints`` and ``policy`` (``vcounter verify``) the session's chain is also
    held against the signed checkpoints.
    """
    checks: list[CheckLine] = []
    found = find_marker(data)
    if found is None:
        return VerifyReport(
            ok=False,
            checks=[
                CheckLine(
                    what="document",
                    ok=False,
                    detail="this is not a document vcounter issued: it names no session",
                )
            ],
        )
    session_id, doc_id = found
    try:
        seals = await asyncio.to_thread(check_seals, data, trust_roots)
    except (PdfError, ValueError, KeyError, TypeError) as exc:  # a damaged file: the finding
        seals = []
        checks.append(
            CheckLine(
                what="seal", ok=False, detail=f"the file cannot be read as a sealed PDF: {exc}"
            )
        )
    for index, check in enumerate(seals):
        checks.append(_seal_line(check, index))
    audit = AuditLog(db)
    events = await audit.events(session_id)
    app = d.fold(session_id, events)
    doc = app.document(doc_id)
    kind = None
    if doc is None:
        checks.append(
            CheckLine(
                what="store",
                ok=False,
                detail=f"session {session_id} has no document {doc_id} in this store",
            )
        )
    else:
        kind = doc.kind
        if not seals and doc.sealed and not any(c.what == "seal" for c in checks):
            checks.append(
                CheckLine(
                    what="seal",
                    ok=False,
                    detail="the stored document is sealed but this file has no seal",
                )
            )
        digest = sha256_hex(data)
        if digest == doc.sha256:
            checks.append(
                CheckLine(
                    what="store",
                    ok=True,
                    detail=f"matches the stored {doc.kind} (SHA-256 {digest})",
                )
            )
        else:
            try:
                original = await blobs.get(doc.sha256)
                where = where_differs(original, data)
            except VcounterError as exc:
                where = f"the stored original cannot be read: {exc.message}"
            checks.append(
                CheckLine(
                    what="store", ok=False, detail=f"differs from the stored {doc.kind}: {where}"
                )
            )
    if doc is not None:
        checks += c.check(c.read(data) if seals else None, doc.sealed, events)
    if checkpoints is not None and policy is not None:
        trail = await check_checkpoints(checkpoints, policy)
        checks.append(
            CheckLine(
                what="checkpoints", ok=not trail,
                detail=f"checkpoint chain: {trail[0]}" if trail
                else f"{len(checkpoints)} signed checkpoints, signed by a pinned key",
            )
        )  # fmt: skip
    report = await verify_session(db, blobs, session_id, checkpoints, policy)
    if report.ok:
        checks.append(
            CheckLine(
                what="chain",
                ok=True,
                detail=f"session chain intact ({report.events} events, {report.blobs} files)",
            )
        )
    else:
        checks.append(
            CheckLine(what="chain", ok=False, detail=f"session chain: {report.problems[0]}")
        )
    return VerifyReport(
        ok=all(c.ok for c in checks), session_id=session_id, doc_id=doc_id, kind=kind,
        # a self-service document has its number without a signed application
        acceptance_number=app.acceptance_number or await acceptance.number_of(db, session_id),
        checks=checks,
    )  # fmt: skip
