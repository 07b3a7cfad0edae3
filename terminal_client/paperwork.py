"""The kiosk's side of steps 5-7: the form to sign, the signature, printing, reprints.

:class:`KioskPaperwork` talks REST to the server with the device token and listens on the
terminal's socket for ``sign_request`` and ``print_document``. Every document fetched is
checked against the SHA-256 the server announced before it is printed.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp
from pydantic import BaseModel

from signaling.messages import NAMESPACE_TERMINAL, Message
from signaling.paperwork.messages import (
    ApplicationView,
    DocumentRef,
    PaperEvent,
    PrintDocument,
    PrintReport,
    ReprintRequest,
    SignatureSubmission,
    SignRequest,
    Stroke,
)
from signaling.payments.messages import PaymentAsk, PaymentView
from terminal_client.client import TerminalClient
from terminal_client.errors import PaperworkRefused, PrinterError
from terminal_client.printer import PrintJob, PrintQueue, Status

log = logging.getLogger(__name__)

TIMEOUT = aiohttp.ClientTimeout(total=30)


class Signed(Message):
    """The server's answer to a signature: the acceptance number and documents, or the
    order of a fee to pay first (then the number comes with the ``application`` push)."""

    acceptance_number: str | None
    documents: list[DocumentRef]
    payment: PaymentView | None = None


def origin_of(url: str) -> str:
    """``scheme://host:port`` of ``url``, lower case."""
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


class KioskPaperwork:
    """Signature, documents and the print queue of one kiosk."""

    def __init__(
        self,
        server_url: str,
        token: str,
        queue: PrintQueue,
        *,
        on_sign_request: Callable[[SignRequest], None] | None = None,
        on_application: Callable[[ApplicationView], None] | None = None,
        on_print: Callable[[PrintJob, Status, PrinterError | None], None] | None = None,
        on_payment: Callable[[PaymentView], None] | None = None,
    ) -> None:
        self.server_url = server_url.rstrip("/")
        self.token = token
        self.queue = queue
        self.on_sign_request = on_sign_request
        self.on_application = on_application
        self.on_print = on_print
        self.on_payment = on_payment
        self.payments: list[PaymentView] = []  # every payment push, in order
        self.sign_requests: list[SignRequest] = []
        self.applications: list[ApplicationView] = []
        self.print_pushes: list[PrintDocument] = []
        self.jobs: list[PrintJob] = []  # every job this kiosk queued, in order
        self.changed = asyncio.Event()
        queue.report = self._report

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 20.0) -> None:
        """Wait until ``predicate()`` holds, re-checking after every message or queued job."""

        async def loop() -> None:
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(loop(), timeout)

    def attach(self, client: TerminalClient) -> None:
        """Listen for the server's paperwork messages on the terminal's socket."""
        client.sio.on(
            PaperEvent.SIGN_REQUEST.value, self._on_sign_request, namespace=NAMESPACE_TERMINAL
        )
        client.sio.on(PaperEvent.PRINT_DOCUMENT.value, self._on_print, namespace=NAMESPACE_TERMINAL)
        client.sio.on(
            PaperEvent.APPLICATION.value, self._on_application, namespace=NAMESPACE_TERMINAL
        )
        client.sio.on(PaperEvent.PAYMENT.value, self._on_payment, namespace=NAMESPACE_TERMINAL)

    @property
    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def own_url(self, url: str) -> str:
        """``url`` if it is on this kiosk's configured server, else :class:`PaperworkRefused`:
        the device token goes to no other host, whatever a message names."""
        if origin_of(url) != origin_of(self.server_url):
            log.warning("refused to fetch %s: not on the configured server", origin_of(url))
            raise PaperworkRefused(
                "foreign_url",
                f"the link points to {origin_of(url)}, not to this kiosk's server"
                f" {origin_of(self.server_url)}; the kiosk only fetches from its own server",
            )
        return url

    async def _call(self, method: str, path: str, body: BaseModel | None = None) -> Any:
        payload = body.model_dump(mode="json") if body is not None else None
        async with (
            aiohttp.ClientSession(timeout=TIMEOUT) as http,
            http.request(method, f"{self.server_url}{path}", json=payload, headers=self._auth) as r,
        ):
            data = await r.json()
            if r.status >= 400:
                raise PaperworkRefused(
                    str(data.get("code", "error")), str(data.get("message", r.reason))
                )
            return data

    async def fetch(self, document: DocumentRef) -> bytes:
        """The document's PDF, refused unless it hashes to what the server announced."""
        async with (
            aiohttp.ClientSession(timeout=TIMEOUT) as http,
            http.get(self.own_url(document.url), headers=self._auth) as r,
        ):
            data = await r.read()
            if r.status >= 400:
                raise PaperworkRefused("document_unavailable", data.decode(errors="replace"))
        digest = hashlib.sha256(data).hexdigest()
        if digest != document.sha256:
            raise PaperworkRefused(
                "document_changed",
                f"the document fetched hashes to {digest[:12]}…, not {document.sha256[:12]}…; fetch it again",
            )
        return data

    async def send_ink(
        self, session_id: str, width: float, height: float, strokes: list[Stroke]
    ) -> None:
        """Strokes so far, for the clerk's live view."""
        body = {"width": width, "height": height, "strokes": [s.model_dump() for s in strokes]}
        async with (
            aiohttp.ClientSession(timeout=TIMEOUT) as http,
            http.post(
                f"{self.server_url}/api/sessions/{session_id}/signature/ink",
                json=body,
                headers=self._auth,
            ) as r,
        ):
            await r.read()

    async def sign(
        self, session_id: str, submission: SignatureSubmission
    ) -> tuple[str, list[DocumentRef]]:
        """Submit the signature of a free service; returns the acceptance number and the
        sealed documents (:meth:`submit_signature` when a fee may be due)."""
        signed = await self.submit_signature(session_id, submission)
        if signed.acceptance_number is None:
            raise PaperworkRefused(
                "payment_due", "a fee is due before the application is submitted"
            )
        return signed.acceptance_number, signed.documents

    async def submit_signature(self, session_id: str, submission: SignatureSubmission) -> Signed:
        """Submit the signature; the number and documents, or the fee's payment order."""
        data = await self._call("POST", f"/api/sessions/{session_id}/signature", submission)
        return Signed.model_validate(data)

    async def ask_payment(
        self, session_id: str, purpose: Literal["submission", "result"] = "submission"
    ) -> PaymentView:
        """The order to show for the session's fee (a new one after a failed or expired one)."""
        ask = PaymentAsk(purpose=purpose)
        data = await self._call("POST", f"/api/sessions/{session_id}/payment", ask)
        return PaymentView.model_validate(data)

    async def payment_shown(self, payment: PaymentView) -> None:
        """Tell the server the order's QR code is on screen (an event in the chain)."""
        await self._call(
            "POST", f"/api/sessions/{payment.session_id}/payment/{payment.payment_id}/shown"
        )

    async def print_document(
        self, session_id: str, document: DocumentRef, job_id: str | None = None
    ) -> PrintJob:
        """Fetch a document and queue it; it is printed (and retried) by the queue."""
        pdf = await self.fetch(document)
        job = PrintJob(
            job_id or uuid.uuid4().hex, session_id, document.doc_id, document.label or document.kind
        )
        await self.queue.submit(job, pdf)
        self.jobs.append(job)
        self.changed.set()
        return job

    async def reprint(self, request: ReprintRequest) -> ApplicationView:
        """At this kiosk: look an application up by number and the ID re-check
        (:meth:`terminal_client.id_recheck.Recheck.request`), and print its documents."""
        view = ApplicationView.model_validate(await self._call("POST", "/api/reprint", request))
        for document in view.documents:
            await self.print_document(view.session_id, document)
        return view

    async def _report(self, job: PrintJob, status: Status, error: PrinterError | None) -> None:
        if self.on_print is not None:
            self.on_print(job, status, error)
        if job.extra.get("report") == "no":
            return  # not one of the session's documents (a complaint's slip)
        report = PrintReport(
            job_id=job.job_id, doc_id=job.doc_id, status=status, attempts=job.attempts,
            printer=self.queue.device.name, error=error.message if error else "",
            error_code=error.code if error else "",
        )  # fmt: skip
        try:
            await self._call("POST", f"/api/sessions/{job.session_id}/print-reports", report)
        except (aiohttp.ClientError, PaperworkRefused) as exc:
            # the job's state is on disk; the next attempt reports again
            log.warning("print job %s: report %s not delivered: %s", job.job_id, status, exc)

    async def _on_sign_request(self, data: dict[str, Any]) -> None:
        request = SignRequest.model_validate(data)
        self.sign_requests.append(request)
        self.changed.set()
        if self.on_sign_request is not None:
            self.on_sign_request(request)

    async def _on_application(self, data: dict[str, Any]) -> None:
        view = ApplicationView.model_validate(data)
        self.applications.append(view)
        self.changed.set()
        if self.on_application is not None:
            self.on_application(view)

    async def _on_payment(self, data: dict[str, Any]) -> None:
        view = PaymentView.model_validate(data)
        self.payments.append(view)
        self.changed.set()
        if self.on_payment is not None:
            self.on_payment(view)

    async def _on_print(self, data: dict[str, Any]) -> None:
        push = PrintDocument.model_validate(data)
        self.print_pushes.append(push)
        try:
            await self.print_document(push.session_id, push.document, push.job_id)
        except PaperworkRefused as exc:
            log.warning("print of %s refused: %s", push.document.doc_id, exc.message)
