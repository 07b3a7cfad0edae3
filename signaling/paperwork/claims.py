"""What a sealed document says about its session's chain, sealed with it, and checking it.

Every sealed document carries, in its catalogue (``/VcounterClaims``, inside the sealed
revision so the seal covers it), the session's chain head when it was sealed and, for a
result, the decision it states. ``vcounter verify`` holds these against the chain: a chain
rewritten after the document was sealed no longer has that head, and a document whose
decision is not the chain's is named, whoever made either.
"""

from __future__ import annotations

import io
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader

from signaling.paperwork import decisions as d
from signaling.paperwork.messages import CheckLine
from storage.models import SessionEvent

KEY = "/VcounterClaims"


class DecisionClaim(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    seq: int
    outcome: str
    reason: str


class Claims(BaseModel):
    """The chain as the document saw it when sealed."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    session_id: str
    doc_id: str
    head_seq: int
    head_hash: str
    decision: DecisionClaim | None = None


def claims_for(session_id: str, doc_id: str, events: list[SessionEvent]) -> Claims:
    """The claims of a document sealed now, after ``events``."""
    decision = None
    last = next((e for e in reversed(events) if e.kind == d.DECISION_EVENT), None)
    if last is not None:
        p = last.payload
        decision = DecisionClaim(
            seq=last.seq, outcome=str(p["outcome"]), reason=str(p.get("reason", ""))
        )
    return Claims(
        session_id=session_id,
        doc_id=doc_id,
        head_seq=events[-1].seq if events else 0,
        head_hash=events[-1].hash if events else "",
        decision=decision,
    )


def embed(writer: IncrementalPdfFileWriter, claims: Claims) -> None:
    """Put ``claims`` in the catalogue of the revision about to be sealed."""
    writer.root[pdf_name(KEY)] = generic.TextStringObject(claims.model_dump_json())
    writer.update_root()  # type: ignore[no-untyped-call]


def read(pdf: bytes) -> Claims | None:
    """The claims in ``pdf``'s last revision; None if it has none or they cannot be read."""
    try:
        value: Any = PdfFileReader(io.BytesIO(pdf), strict=False).root.get(KEY)
        if value is None:
            return None
        return Claims.model_validate(json.loads(str(value)))
    except (PdfError, ValueError, KeyError, TypeError, ValidationError):
        return None


def check(claims: Claims | None, sealed: bool, events: list[SessionEvent]) -> list[CheckLine]:
    """The document's claims against the chain as stored now."""
    if claims is None:
        if not sealed:
            return []
        return [
            CheckLine(
                what="claims", ok=False,
                detail="the sealed document states no chain head, so it cannot be held against"
                " the chain (sealed by an older vcounter, or not by vcounter)",
            )
        ]  # fmt: skip
    lines = []
    if claims.head_seq > len(events):
        lines.append(
            CheckLine(
                what="chain head", ok=False,
                detail=f"the document was sealed when the chain had {claims.head_seq} events;"
                f" the store has {len(events)}: events were deleted",
            )
        )  # fmt: skip
    elif claims.head_seq > 0 and events[claims.head_seq - 1].hash != claims.head_hash:
        lines.append(
            CheckLine(
                what="chain head", ok=False,
                detail=f"the chain was rewritten after this document was sealed: event"
                f" {claims.head_seq} is {events[claims.head_seq - 1].hash[:16]}… in the store,"
                f" the sealed document says {claims.head_hash[:16]}…",
            )
        )  # fmt: skip
    else:
        lines.append(
            CheckLine(
                what="chain head", ok=True,
                detail=f"the chain still holds the head the document was sealed with"
                f" (event {claims.head_seq})",
            )
        )  # fmt: skip
    if claims.decision is not None:
        lines.append(_decision_line(claims.decision, events))
    return lines


def _decision_line(claim: DecisionClaim, events: list[SessionEvent]) -> CheckLine:
    event = events[claim.seq - 1] if 0 < claim.seq <= len(events) else None
    if event is None or event.kind != d.DECISION_EVENT:
        return CheckLine(
            what="decision", ok=False,
            detail=f"the document states a decision recorded as event {claim.seq}; the chain has"
            " no decision there",
        )  # fmt: skip
    outcome, reason = str(event.payload["outcome"]), str(event.payload.get("reason", ""))
    if (outcome, reason) != (claim.outcome, claim.reason):
        return CheckLine(
            what="decision", ok=False,
            detail=f"the document says {claim.outcome} ({claim.reason!r}); the chain records"
            f" {outcome} ({reason!r}) at event {claim.seq}",
        )  # fmt: skip
    return CheckLine(
        what="decision", ok=True,
        detail=f"{outcome} as recorded in the chain (event {claim.seq})",
    )  # fmt: skip
