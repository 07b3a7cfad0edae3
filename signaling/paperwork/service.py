"""The paperwork of one session: form, signature, submission, decision, documents.

Each method reads the session's chain, checks the step is allowed (state machine in
:mod:`.decisions`), does the PDF work off the event loop and writes the outcome back as
session events; stored files go to the blob store by SHA-256. The reprint at another
kiosk (step 7) is :mod:`.reprint`; the certificate of completion is :mod:`.completion`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from sqlalchemy import select

from signaling.catalogue import Catalogue, Service
from signaling.errors import InvalidMessage, NotYourSession
from signaling.logs import context_log
from signaling.messages import Language
from signaling.paperwork import acceptance, forms
from signaling.paperwork import decisions as d
from signaling.paperwork.claims import claims_for
from signaling.paperwork.completion import certificate
from signaling.paperwork.errors import FormMismatch, NoStrokes, NotReady
from signaling.paperwork.follow_messages import FollowItem
from signaling.paperwork.messages import (
    ApplicationView,
    DecisionView,
    DocumentRef,
    SignatureInk,
    SignatureSubmission,
    Stroke,
)
from signaling.paperwork.seal import InkPoint, ink_content, seal_pdf
from signaling.paperwork.seal_keys import SealFiles, seal_for, trust_roots
from signaling.paperwork.session_facts import facts_of
from signaling.paperwork.texts import text
from signaling.payments import service as pay
from signaling.payments.errors import PaymentUnavailable
from signaling.payments.fees import format_amount
from signaling.payments.messages import PaymentView
from storage import payments as payment_store
from storage.audit import AuditLog
from storage.blobs import FileBlobStore
from storage.db import Database
from storage.errors import ChainMoved
from storage.models import AcceptanceNumber, CallSession, SessionEvent, utcnow
from storage.payments import PaymentRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Submitted:
    """A signature's outcome: the acceptance number and documents, or the fee to pay first."""

    acceptance_number: str | None
    documents: list[DocumentRef]
    payment: PaymentView | None = None


@dataclass(frozen=True)
class ClerkInfo:
    id: int
    username: str
    display_name: str
    departments: frozenset[str]


@dataclass(frozen=True)
class Loaded:
    row: CallSession
    events: list[SessionEvent]
    app: d.Application
    service: Service
    payments: list[PaymentRecord]

    @property
    def language(self) -> Language:
        lang = self.row.language
        return lang if lang in ("zh-Hant", "zh-Hans", "en") else "zh-Hant"  # type: ignore[return-value]


def follow_items(loaded: Loaded) -> list[FollowItem]:
    """The application's materials to follow, named as the catalogue names them."""
    names = {m.id: m.names for m in loaded.service.materials}
    return [
        FollowItem(
            material_id=t.material_id, names=names[t.material_id], due_on=t.due_on,
            state=t.state, reminded=t.reminded, documents=t.documents,
        )
        for t in loaded.app.to_follow.values()
        if t.material_id in names
    ]  # fmt: skip


class Paperwork:
    """The paperwork steps over one store; cheap to make, holds no per-session state."""

    def __init__(
        self,
        db: Database,
        blobs: FileBlobStore,
        catalogue: Catalogue,
        data_dir: Path,
        seals: dict[str, SealFiles],
        base_url: str = "",
        *,
        tsa_url: str | None = None,
        tsa_roots: tuple[bytes, ...] = (),
        payments: pay.Payments | None = None,
    ) -> None:
        self.db = db
        self.blobs = blobs
        self.catalogue = catalogue
        self.data_dir = data_dir
        self.seals = seals
        self.base_url = base_url.rstrip("/")
        # seals are time-stamped (PAdES B-T/B-LT) when a TSA is configured
        self.tsa_url = tsa_url
        self.tsa_roots = tsa_roots
        self.audit = AuditLog(db)
        # the fee's provider (signaling/payments); None when payments are not configured
        self.payments = payments

    # ------------------------------------------------------------------ reading

    async def load(self, session_id: str) -> Loaded:
        """The session row, its events and its application; NotFound for an unknown id."""
        from storage.store import get_session

        row = await get_session(self.db, session_id)
        events = await self.audit.events(session_id)
        return Loaded(
            row, events, d.fold(session_id, events), self.catalogue.service(row.service_id),
            await payment_store.of_session(self.db, session_id),
        )  # fmt: skip

    def doc_url(self, session_id: str, doc_id: str) -> str:
        return f"{self.base_url}/api/sessions/{session_id}/documents/{doc_id}.pdf"

    def verify_url(self, session_id: str, doc_id: str) -> str:
        return f"{self.base_url}/verify/{session_id}/{doc_id}"

    def ref(self, session_id: str, doc: d.StoredDocument) -> DocumentRef:
        return DocumentRef(
            doc_id=doc.doc_id, kind=doc.kind, sha256=doc.sha256, label=doc.label,
            url=self.doc_url(session_id, doc.doc_id),
            verify_url=self.verify_url(session_id, doc.doc_id) if doc.sealed else None,
        )  # fmt: skip

    def view(self, loaded: Loaded, with_ink: bool = True) -> ApplicationView:
        """The application as the console and kiosk see it."""
        app = loaded.app
        signature = None
        if with_ink and app.signature is not None and "ink" in app.signature:
            signature = SignatureInk.model_validate(
                {"session_id": app.session_id, **app.signature["ink"]}
            )
        return ApplicationView(
            session_id=app.session_id,
            state=app.state.value,
            service_id=loaded.service.id,
            department_id=loaded.service.department_id,
            acceptance_number=app.acceptance_number,
            second_approval=loaded.service.second_approval,
            documents=[self.ref(app.session_id, doc) for doc in app.documents],
            decisions=[
                DecisionView(
                    outcome=x.outcome, reason=x.reason, clerk=x.clerk, stage=x.stage, at=x.at
                )
                for x in app.decisions
            ],
            signature=signature,
            fee=(
                format_amount(loaded.service.fee.minor, loaded.service.fee.currency)
                if loaded.service.fee
                else None
            ),
            payments=[pay.view(p) for p in loaded.payments],
            to_follow=follow_items(loaded),
        )

    async def document_bytes(self, session_id: str, doc_id: str) -> tuple[d.StoredDocument, bytes]:
        """A stored document of the session and its bytes; NotFound if it has none by that id."""
        from storage.errors import NotFound

        loaded = await self.load(session_id)
        doc = loaded.app.document(doc_id)
        if doc is None:
            raise NotFound(f"session {session_id} has no document {doc_id}")
        return doc, await self.blobs.get(doc.sha256)

    # ------------------------------------------------------------------ helpers

    def _material_lines(self, loaded: Loaded) -> list[forms.MaterialLine]:
        names = {m.id: m.names.get(loaded.language) for m in loaded.service.materials}
        return [
            forms.MaterialLine(names.get(m.material_id) or m.label or m.material_id, m.sha256)
            for m in facts_of(loaded.events).materials
        ]

    def _department_name(self, loaded: Loaded) -> str:
        for dept in self.catalogue.departments:
            if dept.id == loaded.service.department_id:
                return dept.names.get(loaded.language)
        return loaded.service.department_id

    async def _store(
        self,
        session_id: str,
        actor: str,
        kind: str,
        doc_id: str,
        data: bytes,
        label: str,
        sealed: bool,
    ) -> d.StoredDocument:
        digest = await self.blobs.put(data)
        payload = {
            "doc_id": doc_id,
            "kind": kind,
            "sha256": digest,
            "label": label,
            "sealed": sealed,
            "bytes": len(data),
        }
        event = await self.audit.append(session_id, d.DOCUMENT_EVENT, actor, payload)
        return d.StoredDocument(doc_id, kind, digest, label, sealed, event.seq)

    async def _completion(
        self, loaded: Loaded, doc_id: str, decision: str, extra_docs: list[forms.MaterialLine]
    ) -> bytes:
        second = next((x.clerk for x in loaded.app.decisions if x.stage == "second"), "")
        return await certificate(
            self.db, loaded.row, loaded.events, loaded.language, doc_id, decision,
            self._material_lines(loaded) + extra_docs, second,
        )  # fmt: skip

    async def _seal(self, loaded: Loaded, pdf: bytes, doc_id: str, **kw: object) -> bytes:
        seal = seal_for(self.data_dir, loaded.service.department_id, self.seals)
        name = forms.marker(loaded.row.id, doc_id)
        kw["claims"] = claims_for(loaded.row.id, doc_id, loaded.events)
        if self.tsa_url:
            roots = [*trust_roots(self.data_dir, self.seals), *self.tsa_roots]
            stamped = {**kw, "tsa_url": self.tsa_url, "validation_roots": roots}
            try:
                return await asyncio.to_thread(seal_pdf, pdf, seal, name, **stamped)  # type: ignore[arg-type]
            except TimestampRequestError as exc:
                # the document is still sealed (B-B) and its time is in the chain; the TSA's
                # absence must not stop the counter, but someone must hear of it
                context_log(log, loaded.row.id, "server").error(
                    "the time-stamping authority %s did not answer (%s): %s sealed without a"
                    " time stamp (PAdES B-B); check tsa_url", self.tsa_url, exc, doc_id,
                )  # fmt: skip
        return await asyncio.to_thread(seal_pdf, pdf, seal, name, **kw)  # type: ignore[arg-type]

    async def seal_issued(
        self, session_id: str, pdf: bytes, doc_id: str, kind: str, label: str, reason: str
    ) -> DocumentRef:
        """Seal and store a document issued without a clerk (signaling/self_service), with
        the seal and chain claims a clerk's result gets."""
        loaded = await self.load(session_id)
        sealed = await self._seal(loaded, pdf, doc_id, reason=reason)
        doc = await self._store(session_id, "server", kind, doc_id, sealed, label, True)
        return self.ref(session_id, doc)

    # ------------------------------------------------------------------ step 5: form

    async def make_form(self, session_id: str, clerk: ClerkInfo) -> DocumentRef:
        """Make the application form from the session's facts, store it, record it."""
        loaded = await self.load(session_id)
        if loaded.row.clerk_id != clerk.id:
            raise NotYourSession(f"session {session_id} is not yours; open your own call")
        d.check_transition(session_id, loaded.app.state, d.A.FORM_SHOWN)
        doc_id = uuid.uuid4().hex
        data = forms.FormData(
            session_id=session_id, doc_id=doc_id, language=loaded.language,
            service_name=loaded.service.names.get(loaded.language),
            department_name=self._department_name(loaded),
            applicant=facts_of(loaded.events).applicant,
            materials=self._material_lines(loaded), generated_at=utcnow(),
        )  # fmt: skip
        pdf, box = await asyncio.to_thread(forms.application_form, data)
        digest = await self.blobs.put(pdf)
        payload = {
            "doc_id": doc_id, "sha256": digest, "language": loaded.language,
            "signature_box": {"page": box.page, "x": box.x, "y": box.y, "w": box.w, "h": box.h},
            "materials": [{"label": m.label, "sha256": m.sha256} for m in data.materials],
        }  # fmt: skip
        actor = f"clerk:{clerk.username}"
        event = await self.audit.append(session_id, d.FORM_EVENT, actor, payload)
        context_log(log, session_id, actor).info("application form %s generated", doc_id)
        doc = d.StoredDocument(
            doc_id, "form", digest, text("form.title", loaded.language), False, event.seq
        )
        return self.ref(session_id, doc)

    # ------------------------------------------------------------------ step 5: signature

    async def submit_signature(
        self, session_id: str, terminal_id: int, submission: SignatureSubmission
    ) -> Submitted:
        """Record the signature; then, once any fee due before submission is paid, issue the
        acceptance number, seal the form and make the receipt (:meth:`complete_submission`).

        The fee is taken after the signature (the applicant has confirmed what they apply
        for, so they pay for a confirmed application) and before the number (a number is
        issued only for an application that may be decided)."""
        loaded = await self.load(session_id)
        if loaded.row.terminal_id != terminal_id:
            raise NotYourSession(
                f"session {session_id} is not this kiosk's; sign on your own session"
            )
        if loaded.app.state != d.A.FORM_SHOWN or loaded.app.form is None:
            raise NotReady(
                f"session {session_id} has no form waiting for a signature (it is"
                f" {loaded.app.state}); the clerk shows the form first"
            )
        form = loaded.app.form
        if submission.form_sha256 != form["sha256"]:
            raise FormMismatch(
                f"the signature names form {submission.form_sha256[:12]}… but the form shown is"
                f" {form['sha256'][:12]}…; a newer form was sent, sign that one"
            )
        strokes = [s for s in submission.strokes if s.points]
        if not strokes:
            raise NoStrokes(
                "The signature is empty: sign inside the box with your finger or the pen, then confirm"
            )
        for index, stroke in enumerate(strokes):
            for point in stroke.points:
                if point.x > submission.width or point.y > submission.height:
                    raise InvalidMessage(
                        f"stroke {index} has a point ({point.x:g}, {point.y:g}) outside the"
                        f" {submission.width:g}x{submission.height:g} canvas",
                        field=f"strokes.{index}",
                    )
        fee = pay.fee_due(loaded.service, "submission")
        if fee is not None and self.payments is None:
            raise PaymentUnavailable(
                f"{loaded.service.id} has a fee of {format_amount(fee.minor, fee.currency)} but"
                " this server takes no payments (payments_url is not set); ask the clerk"
            )
        actor = f"terminal:{terminal_id}"
        ink = {
            "width": submission.width,
            "height": submission.height,
            "strokes": [s.model_dump() for s in strokes],
        }
        evidence = json.dumps({"form_sha256": form["sha256"], **ink}, sort_keys=True).encode()
        strokes_digest = await self.blobs.put(evidence)
        await self.audit.append(
            session_id, d.SIGNATURE_EVENT, actor,
            {
                "form_sha256": form["sha256"], "form_doc_id": form["doc_id"],
                "sha256": strokes_digest, "strokes": len(strokes),
                "points": sum(len(s.points) for s in strokes), "ink": ink,
            },
        )  # fmt: skip
        paid = fee is None or self.payments is None
        if not paid and self.payments is not None and fee is not None:
            paid = await self.payments.settled(session_id, "submission") is not None
        if not paid and self.payments is not None and fee is not None:
            order = await self.payments.order(
                session_id, "submission", fee, loaded.service.names.get("en"),
                self.base_url, terminal_id,
            )  # fmt: skip
            context_log(log, session_id, actor).info(
                "signed; fee %s due before submission (payment %s)",
                format_amount(fee.minor, fee.currency), order.id,
            )  # fmt: skip
            return Submitted(None, [], pay.view(order))
        return await self.complete_submission(session_id, actor)

    async def complete_submission(self, session_id: str, actor: str) -> Submitted:
        """Submit the signed application: the acceptance number, the sealed application and
        the receipt. Called after the signature, or when its fee is paid; a second call for
        a submitted application returns what the first made."""
        async with self.db.lock(f"submit:{session_id}"):
            loaded = await self.load(session_id)
            app = loaded.app
            if app.state == d.A.SUBMITTED and app.acceptance_number:
                docs = [d_ for d_ in (app.latest("application"), app.latest("receipt")) if d_]
                return Submitted(app.acceptance_number, [self.ref(session_id, doc) for doc in docs])
            form, signed = app.form, app.signature
            if app.state != d.A.FORM_SHOWN or form is None or signed is None:
                raise NotReady(
                    f"session {session_id} has no signed form to submit (it is {app.state});"
                    " the clerk shows the form and the applicant signs"
                )
            return await self._submit(loaded, form, signed, actor)

    async def _submit(
        self, loaded: Loaded, form: dict[str, Any], signed: dict[str, Any], actor: str
    ) -> Submitted:
        session_id = loaded.row.id
        ink = signed["ink"]
        strokes = [Stroke.model_validate(x) for x in ink["strokes"]]
        strokes_digest = str(signed["sha256"])
        number = await acceptance.issue(self.db, session_id)
        loaded = await self.load(session_id)
        box = form["signature_box"]
        page_box = forms.PageBox(box["x"], box["y"], box["w"], box["h"], box["page"])
        points = [[InkPoint(p.x, p.y, p.t, p.p) for p in s.points] for s in strokes]
        stream = ink_content(points, ink["width"], ink["height"], page_box)
        form_pdf = await self.blobs.get(form["sha256"])
        lang = loaded.language
        app_id = uuid.uuid4().hex
        shown = [
            forms.MaterialLine(text("cert.form_shown", lang), form["sha256"]),
            forms.MaterialLine(text("cert.strokes", lang), strokes_digest),
        ]
        completion = await self._completion(
            loaded,
            app_id,
            f"{text('receipt.number', lang)} {number} · {text('outcome.pending', lang)}",
            shown,
        )
        sealed = await self._seal(
            loaded, form_pdf, app_id, ink=(page_box.page, stream), completion=completion,
            reason=f"application {number}",
        )  # fmt: skip
        app_doc = await self._store(
            session_id, "server", "application", app_id, sealed, text("form.title", lang), True
        )
        receipt_doc = await self._receipt(loaded, number)
        await self.audit.append(
            session_id, d.SUBMITTED_EVENT, actor,
            {"acceptance_number": number, "application_doc_id": app_id, "receipt_doc_id": receipt_doc.doc_id},
        )  # fmt: skip
        context_log(log, session_id, actor).info("signed; acceptance number %s", number)
        return Submitted(number, [self.ref(session_id, app_doc), self.ref(session_id, receipt_doc)])

    async def _receipt(self, loaded: Loaded, number: str) -> d.StoredDocument:
        doc_id = uuid.uuid4().hex
        lang = loaded.language
        data = forms.ReceiptData(
            session_id=loaded.row.id, doc_id=doc_id, language=lang, acceptance_number=number,
            service_name=loaded.service.names.get(lang), department_name=self._department_name(loaded),
            accepted_at=utcnow(), materials=self._material_lines(loaded),
            verify_url=self.verify_url(loaded.row.id, doc_id), **self._fee_lines(loaded),
            to_follow=tuple(
                (x.names.get(lang), x.due_on.isoformat())
                for x in follow_items(loaded) if x.state == "outstanding"
            ),
        )  # fmt: skip
        pdf = await asyncio.to_thread(forms.receipt, data)
        sealed = await self._seal(loaded, pdf, doc_id, reason=f"receipt {number}")
        return await self._store(
            loaded.row.id, "server", "receipt", doc_id, sealed, text("receipt.title", lang), True
        )

    def _fee_lines(self, loaded: Loaded) -> dict[str, str]:
        """What the receipt says of the fee: what was paid (with the provider's order and
        transaction), or what falls due when the result is printed."""
        paid = [p for p in loaded.payments if p.purpose == "submission" and p.state == "paid"]
        if paid:
            p = paid[-1]
            ref = f"{p.provider} {p.provider_order_id or p.id} / {p.transaction_id or '—'}"
            return {"paid": format_amount(p.amount_minor, p.currency), "paid_ref": ref}
        fee = pay.fee_due(loaded.service, "result")
        return {"fee_due": format_amount(fee.minor, fee.currency)} if fee else {}

    async def result_fee_open(self, loaded: Loaded, terminal_id: int) -> bool:
        """Step 7 for a fee due on approval: True (with its order open for this kiosk) while
        the approved result's fee is unpaid; False when there is nothing to pay."""
        fee = pay.fee_due(loaded.service, "result")
        if fee is None or loaded.app.state != d.A.APPROVED:
            return False
        if self.payments is None:
            raise PaymentUnavailable(
                f"the result of {loaded.service.id} has a fee of"
                f" {format_amount(fee.minor, fee.currency)} but this server takes no payments"
                " (payments_url is not set); ask at the counter"
            )
        if await self.payments.settled(loaded.row.id, "result") is not None:
            return False
        await self.payments.order(
            loaded.row.id, "result", fee, loaded.service.names.get("en"), self.base_url,
            terminal_id,
        )  # fmt: skip
        return True

    # ------------------------------------------------------------------ step 6: decision

    async def decide(
        self, session_id: str, clerk: ClerkInfo, outcome: str, reason: str
    ) -> d.Application:
        """Record a clerk's decision; a final one makes the sealed result document.

        Two decisions at once (approve and reject): each is appended only if nothing was
        recorded since its state was read; the loser re-reads, and finds the state moved on
        (IllegalTransition), or, if only other events came in between (a recording segment),
        tries again."""
        for _ in range(5):
            loaded = await self.load(session_id)
            if loaded.service.department_id not in clerk.departments:
                raise NotYourSession(
                    f"session {session_id} belongs to {loaded.service.department_id}, which is"
                    " not one of your departments"
                )
            new_state, stage = d.next_decision_state(
                loaded.app, outcome, loaded.service.second_approval, clerk.id, loaded.row.clerk_id
            )
            d.check_transition(session_id, loaded.app.state, new_state)
            actor = f"clerk:{clerk.username}"
            try:
                await self.audit.append(
                    session_id, d.DECISION_EVENT, actor,
                    {"outcome": new_state.value, "reason": reason, "clerk_id": clerk.id,
                     "clerk": f"{clerk.display_name} ({clerk.username})", "stage": stage,
                     "acceptance_number": loaded.app.acceptance_number},
                    after_seq=loaded.events[-1].seq if loaded.events else 0,
                )  # fmt: skip
            except ChainMoved:
                continue
            break
        else:
            raise ChainMoved(f"session {session_id} keeps changing; decide again in a moment")
        context_log(log, session_id, actor).info("decision %s (%s)", new_state.value, stage)
        loaded = await self.load(session_id)
        if new_state.value in d.OUTCOMES:
            await self._result(loaded, new_state.value, reason, clerk)
            loaded = await self.load(session_id)
        if new_state == d.A.REJECTED and self.payments is not None:
            # a rejected application's fee goes back at once, each refund in the chain
            await self.payments.refund_session(session_id, f"application rejected: {reason}")
            loaded = await self.load(session_id)
        return loaded.app

    async def _result(
        self, loaded: Loaded, outcome: str, reason: str, clerk: ClerkInfo
    ) -> d.StoredDocument:
        lang = loaded.language
        doc_id = uuid.uuid4().hex
        number = loaded.app.acceptance_number or ""
        applicant = facts_of(loaded.events).applicant
        data = forms.ResultData(
            session_id=loaded.row.id, doc_id=doc_id, language=lang, acceptance_number=number,
            service_name=loaded.service.names.get(lang), department_name=self._department_name(loaded),
            applicant_name=applicant.name if applicant else "", outcome=outcome, reason=reason,
            decided_by=f"{clerk.display_name} ({clerk.username})", decided_at=utcnow(),
            verify_url=self.verify_url(loaded.row.id, doc_id),
        )  # fmt: skip
        pdf = await asyncio.to_thread(forms.result_document, data)
        application = loaded.app.latest("application")
        extra = [forms.MaterialLine(application.label, application.sha256)] if application else []
        decision = f"{text(f'outcome.{outcome}', lang)}: {reason}"
        completion = await self._completion(loaded, doc_id, decision, extra)
        sealed = await self._seal(
            loaded, pdf, doc_id, completion=completion, reason=f"decision {number}"
        )
        return await self._store(
            loaded.row.id, "server", "result", doc_id, sealed, text(f"result.{outcome}", lang), True
        )

    async def pending(self, clerk: ClerkInfo) -> list[ApplicationView]:
        """Submitted applications of the clerk's departments that wait for a decision by them."""
        services = {s.id for s in self.catalogue.services if s.department_id in clerk.departments}
        async with self.db.sessions() as session:
            rows = (
                await session.execute(
                    select(AcceptanceNumber.session_id)
                    .join(CallSession, CallSession.id == AcceptanceNumber.session_id)
                    .where(CallSession.service_id.in_(services))
                    .order_by(AcceptanceNumber.issued_at)
                )
            ).all()
        found = []
        for (session_id,) in rows:
            loaded = await self.load(session_id)
            state = loaded.app.state
            mine = state == d.A.SUBMITTED and loaded.row.clerk_id == clerk.id
            second = state == d.A.AWAITING_SECOND and all(
                x.clerk_id != clerk.id for x in loaded.app.decisions if x.stage == "first"
            )
            if mine or second:
                found.append(self.view(loaded, with_ink=False))
        return found

    async def record_print(
        self, session_id: str, actor: str, kind: str, payload: dict[str, object]
    ) -> None:
        await self.audit.append(session_id, kind, actor, payload)
