"""Step 7 later: a result printed at any kiosk by acceptance number, after the ID re-check.

The kiosk reads the applicant's ID document with its reader and matches the live face to
the document's portrait (:mod:`terminal_client.id_recheck`); only then does it send the
number it read. Here that number is compared with the document recorded at the identity
step, and every attempt, refused or not, is a ``reprint.requested`` event with the
re-check's result.
"""

from __future__ import annotations

import logging

from signaling.logs import context_log
from signaling.paperwork import acceptance
from signaling.paperwork import decisions as d
from signaling.paperwork.errors import FaceNotMatched, IdentityMismatch
from signaling.paperwork.messages import ReprintRequest
from signaling.paperwork.service import Loaded, Paperwork
from signaling.paperwork.session_facts import recorded_document_number
from storage.models import SessionEvent

log = logging.getLogger(__name__)


async def reprint(
    work: Paperwork, request: ReprintRequest, terminal_id: int, kind: str = d.REPRINT_EVENT
) -> Loaded:
    """The application behind an acceptance number, once the ID document and face match;
    ``kind``: the event the attempt is recorded as (a material brought later uses it too)."""
    number, session_id = await acceptance.session_of(work.db, request.acceptance_number)
    loaded = await work.load(session_id)
    actor = f"terminal:{terminal_id}"
    matched = id_matches(loaded.events, request.document_number)
    face = request.face
    recheck = {
        "document_matched": matched,
        "source": request.source,
        "face": face.model_dump(mode="json") if face is not None else None,
    }
    refusal: IdentityMismatch | None = None
    if not matched:
        refusal = IdentityMismatch(
            f"the identity document does not match the one used for application {number};"
            " use the same document you showed when applying"
        )
    elif face is not None and not (
        face.matched and face.score is not None and face.score >= face.threshold
    ):
        # the kiosk does not send a failed face check; a report that says so is refused too
        refusal = FaceNotMatched(
            f"the face at the kiosk did not match the document's photo (score {face.score});"
            " look at the camera and try again"
        )
    result = refusal.code if refusal is not None else "ok"
    await work.audit.append(
        session_id, kind, actor,
        {"acceptance_number": number, "result": result, "recheck": recheck},
    )  # fmt: skip
    context_log(log, session_id, actor).info("%s of %s: %s", kind, number, result)
    if refusal is not None:
        raise refusal
    return loaded


def _clean(number: str) -> str:
    return "".join(ch for ch in number.upper() if ch.isalnum())


def id_matches(events: list[SessionEvent], presented: str) -> bool:
    """True if ``presented`` (the number the kiosk's reader read) is the ID document number
    recorded for the session; compared without spaces, hyphens, brackets or case."""
    recorded = recorded_document_number(events)
    return recorded is not None and _clean(recorded) == _clean(presented)
