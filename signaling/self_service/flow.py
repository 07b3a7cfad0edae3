"""One self-service session: opened at the kiosk, the document fetched, sealed, finished.

::

    (kiosk) open ──> self_service.requested
    (kiosk) identity.result (verified; card + face, or any identity step ending verified)
    (kiosk) document ──> department.queried ──> department.answered ──> document.stored
                     │                    └──> department.refused | department.failed
                     └──(no verified identity) IdentityNotVerified
    (kiosk) finish ──> self_service.finished (printed / left)   or
    (kiosk) ask a clerk ──> self_service.finished (handed_over) + a queued call whose chain
                            starts with the verified identity (:class:`Handovers`)

The person asked for is the one the session's chain verified, never one the kiosk names;
the department's answer must be for that person. Its exact bytes go to the blob store and
its SHA-256 into the chain, so what the department said is kept beside what was printed.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from signaling.catalogue import Catalogue, Service
from signaling.departments.connector import Connectors
from signaling.departments.errors import (
    DepartmentRefused,
    DepartmentUnavailable,
    IdentityNotVerified,
    NotSelfService,
)
from signaling.departments.wire import DocumentQuery, Person
from signaling.errors import IllegalTransition, NotYourSession
from signaling.logs import context_log
from signaling.messages import Language
from signaling.paperwork import acceptance
from signaling.paperwork.service import Paperwork
from signaling.paperwork.session_facts import applicant_of
from signaling.router.base import Admitted
from signaling.self_service.messages import SelfServiceIssued, SelfServiceOpened
from signaling.self_service.pdf import IssuedData, self_service_document
from storage import self_service as store
from storage.audit import AuditLog
from storage.blobs import FileBlobStore
from storage.db import Database
from storage.models import SessionEvent
from storage.store import get_session

log = logging.getLogger(__name__)

RESULT_KIND = "result"  # so a reprint by acceptance number prints it too
IDENTITY_EVENT = "identity.result"


def self_service_of(service: Service) -> str:
    """The document kind of a self-service service; :class:`NotSelfService` for another."""
    if service.self_service is None:
        raise NotSelfService(
            f"{service.id} is not self-service: it is done with a clerk; ask for it as a call"
        )
    return service.self_service.document


class SelfService:
    """Self-service sessions over one store; holds no per-session state."""

    def __init__(
        self, db: Database, blobs: FileBlobStore, catalogue: Catalogue, connectors: Connectors
    ) -> None:
        self.db = db
        self.blobs = blobs
        self.catalogue = catalogue
        self.connectors = connectors
        self.audit = AuditLog(db)

    async def sweep(self, older_than_s: float) -> int:
        """End the self-service sessions left open ``older_than_s`` (their kiosk never came
        back to end them); how many this call ended."""
        ended = 0
        for session_id in await store.abandoned(self.db, older_than_s):
            if await store.finish(
                self.db, session_id, "abandoned", "server", {"after_s": older_than_s}
            ):
                ended += 1
                context_log(log, session_id, "server").info(
                    "self-service session left open %.0f s: ended as abandoned", older_than_s
                )
        return ended

    async def run_sweeps(self, older_than_s: float) -> None:
        """:meth:`sweep` every so often until cancelled."""
        interval_s = min(60.0, older_than_s / 2)
        while True:
            try:
                await self.sweep(older_than_s)
            except Exception:  # the database briefly away: the next round retries
                log.exception("self-service sweep failed; retrying in %.1f s", interval_s)
            await asyncio.sleep(interval_s)

    async def open(
        self, terminal_id: int, service_id: str, language: Language, care_mode: bool
    ) -> SelfServiceOpened:
        """A new self-service session of this kiosk; one it left open before is ended."""
        service = self.catalogue.service(service_id)
        kind = self_service_of(service)
        connector = self.connectors.of(service.department_id)
        actor = f"terminal:{terminal_id}"
        for stale in await store.open_of_terminal(self.db, terminal_id):
            # the applicant before walked away mid-way: their session ends here
            await store.finish(self.db, stale, "left", actor, {"by": "next applicant"})
        session_id = uuid.uuid4().hex
        await store.open_session(
            self.db, session_id=session_id, terminal_id=terminal_id, service_id=service.id,
            department_id=service.department_id, language=language, care_mode=care_mode,
            actor=actor,
            payload={"service_id": service.id, "department_id": service.department_id,
                     "document": kind, "language": language, "terminal_id": terminal_id,
                     "care_mode": care_mode},
        )  # fmt: skip
        context_log(log, session_id, actor).info("self-service %s opened", service.id)
        return SelfServiceOpened(
            session_id=session_id, service_id=service.id, slow_after_s=connector.slow_after_s
        )

    async def issue(self, work: Paperwork, session_id: str, terminal_id: int) -> SelfServiceIssued:
        """Ask the department for the verified person's document, seal and store it; a
        second call returns the document already issued."""
        async with self.db.lock(f"self-service:{session_id}"):
            loaded = await work.load(session_id)
            row, service = loaded.row, loaded.service
            if row.terminal_id != terminal_id:
                raise NotYourSession(
                    f"session {session_id} is not this kiosk's; start the service at this kiosk"
                )
            kind = self_service_of(service)
            done = loaded.app.latest(RESULT_KIND)
            number = await acceptance.number_of(self.db, session_id)
            answered = _last(loaded.events, "department.answered")
            if done is not None and number is not None and answered is not None:
                return SelfServiceIssued(
                    session_id=session_id, acceptance_number=number,
                    reference=str(answered.payload["reference"]), document=work.ref(session_id, done),
                )  # fmt: skip
            if row.state != store.STATE:
                raise IllegalTransition(
                    f"self-service session {session_id} has ended ({row.end_reason}); start again"
                )
            person = _verified_person(session_id, loaded.events)
            connector = self.connectors.of(service.department_id)
            query = DocumentQuery(
                request_id=uuid.uuid4().hex, kind=kind, language=loaded.language, person=person
            )
            await self.audit.append(
                session_id, "department.queried", "server",
                {"request_id": query.request_id, "department_id": service.department_id,
                 "kind": kind, "document_number": person.document_number},
            )  # fmt: skip
            began = time.monotonic()
            log_ = context_log(log, session_id, "server")
            try:
                answer = await connector.fetch(query)
                if _clean(answer.holder_document_number) != _clean(person.document_number):
                    raise DepartmentUnavailable(
                        f"the department answered for document {answer.holder_document_number},"
                        f" not {person.document_number}; nothing was printed"
                    )
            except DepartmentRefused as exc:
                await self.audit.append(
                    session_id, "department.refused", "server",
                    {"request_id": query.request_id, "reason": exc.reason, "message": exc.message},
                )  # fmt: skip
                log_.info("department %s refused: %s", service.department_id, exc.reason)
                raise
            except DepartmentUnavailable as exc:
                await self.audit.append(
                    session_id, "department.failed", "server",
                    {"request_id": query.request_id, "message": exc.message},
                )  # fmt: skip
                log_.warning("department %s failed: %s", service.department_id, exc.message)
                raise
            elapsed_ms = round((time.monotonic() - began) * 1000)
            body = answer.model_dump_json().encode()
            answer_sha = await self.blobs.put(body)
            number = await acceptance.issue(self.db, session_id)
            await self.audit.append(
                session_id, "department.answered", "server",
                {"request_id": query.request_id, "reference": answer.reference,
                 "answer_sha256": answer_sha, "elapsed_ms": elapsed_ms,
                 "acceptance_number": number},
            )  # fmt: skip
            doc_id = uuid.uuid4().hex
            data = IssuedData(
                session_id=session_id, doc_id=doc_id, language=loaded.language,
                acceptance_number=number, service_name=service.names.get(loaded.language),
                department_name=self.catalogue.department(service.department_id).names.get(
                    loaded.language
                ),
                verify_url=work.verify_url(session_id, doc_id), answer=answer,
                answer_sha256=answer_sha, printed_at=datetime.now(UTC),
            )  # fmt: skip
            pdf = await asyncio.to_thread(self_service_document, data)
            ref = await work.seal_issued(
                session_id, pdf, doc_id, RESULT_KIND, answer.title, f"self-service {number}"
            )
            log_.info("%s issued by %s in %d ms, sealed as %s", kind, service.department_id,
                      elapsed_ms, number)  # fmt: skip
            return SelfServiceIssued(
                session_id=session_id, acceptance_number=number, reference=answer.reference,
                document=ref,
            )  # fmt: skip

    async def finish(self, session_id: str, terminal_id: int, reason: str) -> bool:
        """End the kiosk's self-service session (printed, or the applicant left)."""
        loaded_row = await self._own(session_id, terminal_id)
        return await store.finish(self.db, loaded_row, reason, f"terminal:{terminal_id}", {})

    async def _own(self, session_id: str, terminal_id: int) -> str:
        row = await get_session(self.db, session_id)
        if row.terminal_id != terminal_id:
            raise NotYourSession(f"session {session_id} is not this kiosk's")
        return row.id

    # ------------------------------------------------------------------ ask a clerk

    async def admit(self, terminal_id: int, service_id: str, handover_of: str | None) -> Admitted:
        """A call for ``service_id``: for a self-service service only as a hand-over of this
        kiosk's self-service session of it, whose verified identity starts the call's chain."""
        service = self.catalogue.service(service_id)
        if handover_of is None:
            if service.self_service is not None:
                raise IllegalTransition(
                    f"{service.id} is self-service: start it at the kiosk (no clerk needed);"
                    " a clerk is called only from it, with Ask a clerk"
                )
            return Admitted(0, [])
        row = await get_session(self.db, handover_of)
        if row.terminal_id != terminal_id or row.service_id != service.id:
            raise NotYourSession(
                f"session {handover_of} is not this kiosk's session of {service.id}; ask a clerk"
                " from the self-service screen"
            )
        if row.state != store.STATE:
            raise IllegalTransition(
                f"self-service session {handover_of} has ended ({row.end_reason}); ask for the"
                " service again"
            )
        events = await self.audit.events(handover_of)
        carried: list[tuple[str, dict[str, Any]]] = [
            ("self_service.handover", {"from_session": handover_of, "chain_seq": row.chain_seq})
        ]
        carried += [(e.kind, dict(e.payload)) for e in events if e.kind == IDENTITY_EVENT]
        return Admitted(0, carried)

    async def handed_over(self, handover_of: str, session_id: str, actor: str) -> None:
        """The call is queued: the self-service session ends, naming it."""
        await store.finish(self.db, handover_of, "handed_over", actor, {"call_session": session_id})


def _last(events: list[SessionEvent], kind: str) -> SessionEvent | None:
    return next((e for e in reversed(events) if e.kind == kind), None)


def _clean(number: str) -> str:
    return "".join(ch for ch in number.upper() if ch.isalnum())


def _verified_person(session_id: str, events: list[SessionEvent]) -> Person:
    applicant = applicant_of(events)
    if applicant is None or not applicant.verified or applicant.overridden:
        state = "no identity check" if applicant is None else "an identity check that failed"
        raise IdentityNotVerified(
            f"session {session_id} has {state}; check your identity at the kiosk (ID card and"
            " face) before the document is fetched"
        )
    if not applicant.document_number:
        raise IdentityNotVerified(
            f"the identity verified in session {session_id} has no document number; check"
            " your identity again with your ID card"
        )
    names = applicant.name.split(" ", 1)
    return Person(
        document_number=applicant.document_number,
        surname=names[0] if names else "",
        given_names=names[1] if len(names) > 1 else "",
        birth_date=applicant.fields.get("birth_date", "")[:10],
    )
