"""The wire contract of the paperwork steps: REST bodies and socket.io payloads.

Kept beside :mod:`signaling.messages` like :mod:`signaling.supervisor_messages`; the
socket.io event names are :class:`PaperEvent`. The kiosk process and the console use the
same models (the console through their JSON form).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, StrictBool, StrictFloat, StrictInt, StringConstraints

from signaling.messages import Message, SessionId
from signaling.paperwork.follow_messages import FollowItem
from signaling.payments.messages import PaymentView

Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
DocId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
Outcome = Literal["approved", "returned", "rejected"]
DocumentKind = Literal["form", "application", "receipt", "result"]


class PaperEvent(StrEnum):
    """socket.io events of the paperwork steps (server -> terminal / clerk)."""

    SIGN_REQUEST = "sign_request"  # to the terminal: show this form and ask for a signature
    SIGNATURE_INK = "signature_ink"  # to the clerk: strokes as the applicant draws them
    APPLICATION = "application"  # to both: the application changed (signed, decided)
    PRINT_DOCUMENT = "print_document"  # to the terminal: print this document now
    PAYMENT = "payment"  # to the terminal showing its QR code: a payment order changed


class StrokePoint(Message):
    """One sample of the pen: canvas pixels, milliseconds since the first touch, 0-1 pressure."""

    x: StrictFloat = Field(ge=0, le=10_000)
    y: StrictFloat = Field(ge=0, le=10_000)
    t: StrictFloat = Field(ge=0, le=3_600_000)
    p: StrictFloat = Field(default=0.5, ge=0, le=1)


class Stroke(Message):
    points: list[StrokePoint] = Field(max_length=5000)


class SignatureSubmission(Message):
    """The applicant's signature on the form whose SHA-256 they were shown."""

    form_sha256: Sha256
    width: StrictFloat = Field(gt=0, le=10_000)
    height: StrictFloat = Field(gt=0, le=10_000)
    strokes: list[Stroke] = Field(max_length=500)


class SignatureInk(Message):
    """Strokes drawn so far, relayed to the clerk while the applicant signs (not audited)."""

    session_id: SessionId
    width: StrictFloat = Field(gt=0, le=10_000)
    height: StrictFloat = Field(gt=0, le=10_000)
    strokes: list[Stroke] = Field(max_length=500)


class DocumentRef(Message):
    """A stored document and where its PDF can be fetched."""

    doc_id: DocId
    kind: DocumentKind
    sha256: Sha256
    label: str = ""
    url: str
    verify_url: str | None = None


class SignRequest(Message):
    """To the terminal: the form to show, and the hash the signature must name."""

    session_id: SessionId
    form: DocumentRef
    preview_url: str


class DecisionRequest(Message):
    outcome: Outcome
    reason: str = Field(min_length=1, max_length=1000)


class PrintRequest(Message):
    """The clerk sends a document of the session to the terminal's printer."""

    doc_id: DocId


class PrintDocument(Message):
    """To the terminal: fetch ``document`` and print it; report with :class:`PrintReport`."""

    session_id: SessionId
    job_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
    document: DocumentRef


class PrintReport(Message):
    """From the terminal: how a print job went (``retrying`` after an error, until printed)."""

    job_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
    doc_id: DocId
    status: Literal["printed", "retrying", "failed"]
    attempts: StrictInt = Field(ge=1, le=100_000)
    printer: str = Field(max_length=200)
    error: str = Field(default="", max_length=500)
    error_code: str = Field(default="", max_length=64)


class FaceRecheck(Message):
    """The live face against the portrait of the document just read, as the kiosk scored it."""

    score: StrictFloat | None = Field(ge=-1, le=1)  # median cosine over the frames; None: no face
    threshold: StrictFloat = Field(ge=-1, le=1)
    matched: StrictBool


class ReprintRequest(Message):
    """At any kiosk: the acceptance number typed, and the ID document its reader read again.

    ``face`` is the live face matched against that document's portrait; None only at a
    kiosk without a camera for it.
    """

    acceptance_number: str = Field(min_length=1, max_length=40)
    document_number: str = Field(min_length=1, max_length=40)
    source: Literal["chip", "mrz_scan"]
    face: FaceRecheck | None = None


class DecisionView(Message):
    outcome: str
    reason: str
    clerk: str
    stage: str
    at: datetime


class ApplicationView(Message):
    """One application as the console, the kiosk and a reprint see it."""

    session_id: SessionId
    state: str
    service_id: str
    department_id: str
    acceptance_number: str | None = None
    second_approval: StrictBool = False
    documents: list[DocumentRef] = Field(default_factory=list)
    decisions: list[DecisionView] = Field(default_factory=list)
    signature: SignatureInk | None = None
    # the service's fee ("CNY 10.00") and its payment orders, oldest first
    fee: str | None = None
    payments: list[PaymentView] = Field(default_factory=list)
    # materials accepted "to follow" (容缺受理) and what became of them
    to_follow: list[FollowItem] = Field(default_factory=list)


class PendingList(Message):
    """Applications of the clerk's departments waiting for a (second) decision."""

    applications: list[ApplicationView]


class CheckLine(Message):
    what: str
    ok: StrictBool
    detail: str


class VerifyReport(Message):
    """What :func:`signaling.paperwork.verify.verify_pdf` found, line by line."""

    ok: StrictBool
    session_id: str | None = None
    doc_id: str | None = None
    kind: str | None = None
    acceptance_number: str | None = None
    checks: list[CheckLine]
