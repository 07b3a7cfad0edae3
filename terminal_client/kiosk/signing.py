"""The kiosk's steps 5 and 7 on screen: sign the form, print the receipt, print a result later.

A result is printed later only after the ID re-check (:mod:`terminal_client.id_recheck`):
the kiosk's ID reader reads the document and the camera matches the face; a kiosk without
a reader prints no results.

:class:`KioskSigning` sits beside the :class:`~terminal_client.kiosk.controller.
KioskController`: it owns the paperwork client and the print queue, keeps what the screen
shows about signing and looking up (:class:`SigningView`, :class:`LookupView`) and tells the
controller to publish after every change. The form's first page is served to the page by
the kiosk itself (``/paperwork/form.png``), fetched once with the device token.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import aiohttp
import segno
from aiohttp import web

from signaling.paperwork.messages import (
    ApplicationView,
    ReprintRequest,
    SignatureSubmission,
    SignRequest,
    Stroke,
)
from signaling.payments.messages import PaymentView
from storage.errors import VcounterError
from terminal_client.client import TerminalClient
from terminal_client.errors import CommandRefused, PaperworkRefused, PrinterError
from terminal_client.id_recheck import Recheck
from terminal_client.identity import Progress
from terminal_client.kiosk.messages import (
    LookupView,
    Notice,
    PayingView,
    SignatureInk,
    SigningView,
)
from terminal_client.paperwork import KioskPaperwork
from terminal_client.printer import Printer, PrintJob, PrintQueue, SpoolPrinter, Status

log = logging.getLogger(__name__)

# runs a reprint's ID re-check, reporting its progress (KioskIdentity.recheck with the camera)
RecheckRunner = Callable[[Callable[[Progress], None]], Awaitable[Recheck]]

PREVIEW_PATH = "/paperwork/form.png"
# application states the applicant is told of on the call screen
DECISIONS = ("approved", "returned", "rejected", "awaiting_second_approval")


def default_print_dir(name: str) -> Path:
    """A fresh folder for the print queue when no data directory was given (tests, demos);
    ``vcounter terminal`` passes ``DATA_DIR/print``, which survives restarts."""
    return Path(tempfile.mkdtemp(prefix=f"vcounter-kiosk-{name}-print-"))


class KioskSigning:
    """Signing and printing state of one kiosk; ``publish`` redraws the screen."""

    def __init__(
        self,
        client: TerminalClient,
        server_url: str,
        token: str,
        *,
        publish: Callable[[], None],
        notice: Callable[[Notice | None], None],
        spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]],
        printer: Printer | None = None,
        print_dir: Path | None = None,
        recheck: RecheckRunner | None = None,
    ) -> None:
        folder = print_dir or default_print_dir(client.name)
        self.queue = PrintQueue(printer or SpoolPrinter(folder / "spool"), folder / "queue")
        self.paperwork = KioskPaperwork(
            server_url, token, self.queue,
            on_sign_request=self._sign_request, on_print=self._printed,
            on_application=self._application, on_payment=self._payment,
        )  # fmt: skip
        self.paperwork.attach(client)
        self.client = client
        self.publish = publish
        self.notice = notice
        self.spawn = spawn
        self.request: SignRequest | None = None
        self.signing: SigningView | None = None
        self.lookup: LookupView | None = None
        self.preview: bytes = b""
        self._receipt_job: str | None = None
        self._lookup_jobs: set[str] = set()  # a reprint's jobs not printed yet
        # the ID re-check of a reprint (the identity step's reader and camera); None: no reader
        self.recheck = recheck
        self._lookup_task: asyncio.Task[None] | None = None
        # a result whose fee is being paid: the checked request that prints it once paid
        # the payment order shown last (its code URL is in the QR code; the benchmark pays it)
        self.order: PaymentView | None = None
        self._paying_for: ReprintRequest | None = None
        self._paying_session: str | None = None
        # told of the queue's other jobs (a complaint's slip: terminal_client.kiosk.complaints_ui)
        self.also_printed: Callable[[PrintJob, Status, PrinterError | None], None] | None = None

    async def start(self) -> None:
        await self.queue.start()

    async def close(self) -> None:
        await self.queue.close()

    def forget(self) -> None:
        """The kiosk reset: nothing about the last applicant stays on screen."""
        self.request, self.signing, self.preview = None, None, b""
        self.lookup = None
        self._paying_for = self._paying_session = None
        if self._lookup_task is not None:
            self._lookup_task.cancel()  # the applicant left: the reader and camera stop
            self._lookup_task = None

    def add_routes(self, app: web.Application) -> None:
        async def preview(request: web.Request) -> web.Response:
            if not self.preview:
                raise web.HTTPNotFound(text="no form is waiting for a signature")
            return web.Response(body=self.preview, content_type="image/png")

        app.router.add_get(PREVIEW_PATH, preview)

    # ------------------------------------------------------------------ signing

    def _sign_request(self, request: SignRequest) -> None:
        if request.session_id != self.client.session_id:
            log.warning("sign request for %s, not this kiosk's call; ignored", request.session_id)
            return
        self.request = request
        self.spawn(self._load_preview(request))

    def _application(self, view: ApplicationView) -> None:
        """The application changed: its fee's payment, its submission once paid, the
        department's decision; each shown on screen."""
        request, signing = self.request, self.signing
        if request is None or signing is None or view.session_id != request.session_id:
            return
        mine = [p for p in view.payments if p.purpose == "submission"]
        if signing.state == "paying" and mine:
            # the push of the payment itself may have been lost: the application carries it
            self._payment(mine[-1])
        if self.signing is not None and self.signing.state == "paying" and view.acceptance_number:
            self.spawn(self._submitted(view))
            return
        if view.state not in DECISIONS:
            return
        reason = view.decisions[-1].reason if view.decisions else ""
        self.signing = signing.model_copy(
            update={"decision": view.state, "decision_reason": reason}
        )
        self.publish()

    def _payment(self, payment: PaymentView) -> None:
        """A payment of this call changed (the provider told the server): show it at once."""
        if payment.purpose == "result":
            self._result_payment(payment)
            return
        request, signing = self.request, self.signing
        if request is None or signing is None or payment.session_id != request.session_id:
            return
        if signing.state != "paying":
            return
        shown = signing.payment
        if shown is not None and shown.attempt > payment.attempt:
            return  # news of an older order
        self.signing = signing.model_copy(update={"payment": paying_view(payment)})
        self.publish()

    async def _submitted(self, view: ApplicationView) -> None:
        """Paid and submitted: the number on screen, the receipt printed at once."""
        signing = self.signing
        if signing is None or signing.state != "paying" or self.request is None:
            return
        self.signing = signing.model_copy(
            update={"state": "signed", "acceptance_number": view.acceptance_number,
                    "printing": "queued"}
        )  # fmt: skip
        self.publish()
        receipt = next((d for d in reversed(view.documents) if d.kind == "receipt"), None)
        if receipt is not None:
            job = await self.paperwork.print_document(self.request.session_id, receipt)
            self._receipt_job = job.job_id

    def _result_payment(self, payment: PaymentView) -> None:
        """The fee of a result being looked up changed: paid, it prints now."""
        lookup, checked = self.lookup, self._paying_for
        if lookup is None or lookup.state != "paying" or checked is None:
            return
        if payment.session_id != self._paying_session:
            return
        self.lookup = lookup.model_copy(update={"payment": paying_view(payment)})
        self.publish()
        if payment.state == "paid":
            self._lookup_task = self.spawn(self._print_paid(checked))

    async def _print_paid(self, checked: ReprintRequest) -> None:
        number = checked.acceptance_number
        try:
            view = await self.paperwork.reprint(checked)
        except PaperworkRefused as exc:
            self._failed(number, exc.code, exc.message)
            return
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._failed(number, "network", str(exc))
            return
        self._paying_for = self._paying_session = None
        await self._found(view, number)

    async def pay_again(self) -> None:
        """A new code after a failed or expired payment (the server makes a new order)."""
        lookup = self.lookup
        if lookup is not None and lookup.state == "paying" and self._paying_session:
            if lookup.payment is not None and lookup.payment.state in ("open", "paid"):
                raise CommandRefused("the payment code on screen is still valid; scan it to pay")
            try:
                payment = await self.paperwork.ask_payment(self._paying_session, "result")
            except PaperworkRefused as exc:
                self.notice(Notice(key=f"error.{exc.code}", detail=exc.message))
                return
            self.lookup = lookup.model_copy(update={"payment": paying_view(payment)})
            self.publish()
            await self._shown(payment)
            return
        request, signing = self.request, self.signing
        if request is None or signing is None or signing.state != "paying":
            raise CommandRefused("there is no fee to pay now")
        if signing.payment is not None and signing.payment.state in ("open", "paid"):
            raise CommandRefused("the payment code on screen is still valid; scan it to pay")
        try:
            payment = await self.paperwork.ask_payment(request.session_id)
        except PaperworkRefused as exc:
            self.notice(Notice(key=f"error.{exc.code}", detail=exc.message))
            return
        self.signing = signing.model_copy(update={"payment": paying_view(payment)})
        self.publish()
        await self._shown(payment)

    async def _shown(self, payment: PaymentView) -> None:
        self.order = payment
        try:
            await self.paperwork.payment_shown(payment)
        except (PaperworkRefused, aiohttp.ClientError) as exc:
            log.info("QR shown not recorded: %s", exc)  # the order and its payment stand

    async def _load_preview(self, request: SignRequest) -> None:
        try:
            url = self.paperwork.own_url(request.preview_url)
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http,
                http.get(url, headers={"Authorization": f"Bearer {self.paperwork.token}"}) as r,
            ):
                r.raise_for_status()
                png = await r.read()
        except (aiohttp.ClientError, TimeoutError, PaperworkRefused) as exc:
            log.warning("form preview not loaded: %s", exc)
            self.notice(Notice(key="error.form_unavailable", detail=str(exc)))
            return
        if self.request is not request:
            return
        self.preview = png
        self.signing = SigningView(
            state="sign", form_sha256=request.form.sha256,
            preview_url=f"{PREVIEW_PATH}?form={request.form.sha256[:16]}",
        )  # fmt: skip
        self.publish()

    async def ink(self, command: SignatureInk) -> None:
        """Strokes so far: to the clerk's live view."""
        if self.request is None or self.signing is None or self.signing.state != "sign":
            raise CommandRefused("there is no form to sign now; wait for the clerk")
        strokes = [Stroke.model_validate(s.model_dump()) for s in command.strokes]
        try:
            await self.paperwork.send_ink(
                self.request.session_id, command.width, command.height, strokes
            )
        except aiohttp.ClientError as exc:
            log.info("ink not relayed: %s", exc)

    async def submit(self, command: SignatureInk) -> None:
        """The finished signature: submitted, then the receipt printed at once."""
        request, view = self.request, self.signing
        if request is None or view is None or view.state != "sign":
            raise CommandRefused("there is no form to sign now; wait for the clerk")
        body = SignatureSubmission(
            form_sha256=request.form.sha256, width=command.width, height=command.height,
            strokes=[Stroke.model_validate(s.model_dump()) for s in command.strokes],
        )  # fmt: skip
        self.signing = view.model_copy(update={"state": "sending"})
        self.publish()
        try:
            signed = await self.paperwork.submit_signature(request.session_id, body)
        except PaperworkRefused as exc:
            self.signing = view
            self.notice(Notice(key=f"error.{exc.code}", detail=exc.message))
            return
        self.notice(None)  # an earlier refusal (an empty signature) is over
        if signed.payment is not None:
            # a fee due before submission: its QR code until the provider confirms payment
            self.signing = view.model_copy(
                update={"state": "paying", "payment": paying_view(signed.payment)}
            )
            self.publish()
            await self._shown(signed.payment)
            return
        self.signing = view.model_copy(
            update={"state": "signed", "acceptance_number": signed.acceptance_number,
                    "printing": "queued"}
        )  # fmt: skip
        receipt = next((d for d in signed.documents if d.kind == "receipt"), None)
        if receipt is not None:
            job = await self.paperwork.print_document(request.session_id, receipt)
            self._receipt_job = job.job_id

    # ------------------------------------------------------------------ print my result

    def open_lookup(self) -> None:
        self.lookup = LookupView(state="enter" if self.recheck is not None else "unavailable")

    def look_up(self, acceptance_number: str) -> None:
        """Re-check the applicant's ID with the kiosk's reader (and camera), then find the
        application and print its receipt and result; runs in the background."""
        if self.recheck is None:
            # no reader, no reprint: a typed document number is not an ID check
            self.lookup = LookupView(state="unavailable", acceptance_number=acceptance_number)
            self.notice(Notice(key="error.no_id_reader"))
            return
        if self._lookup_task is not None and not self._lookup_task.done():
            raise CommandRefused("the ID check is already running; follow the screen")
        self.notice(None)  # an earlier refusal (a mistyped number) is over
        self._lookup_task = self.spawn(self._look_up(self.recheck, acceptance_number))

    async def _look_up(self, recheck: RecheckRunner, number: str) -> None:
        def progress(p: Progress) -> None:
            phase = p.phase if p.phase in ("document", "reading", "face", "challenge") else None
            if phase is not None:
                action = p.action.value if p.action is not None else None
                self.lookup = LookupView(state=phase, acceptance_number=number, action=action)
                self.publish()

        progress(Progress("document"))
        try:
            checked = await recheck(progress)
            self.lookup = LookupView(state="checking", acceptance_number=number)
            self.publish()
            asked = checked.request(number)
            view = await self.paperwork.reprint(asked)
        except PaperworkRefused as exc:
            if exc.code in ("bad_acceptance_number", "unknown_acceptance_number"):
                # the number is what is wrong: type it again (the notice says how)
                self.lookup = LookupView(state="enter", acceptance_number=number)
                self.notice(Notice(key=f"error.{exc.code}", detail=exc.message))
                return
            self._failed(number, exc.code, exc.message)
            return
        except VcounterError as exc:  # the reader, the document, the face, the camera
            self._failed(number, exc.code, exc.message)
            return
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._failed(number, "network", str(exc))
            return
        due = [p for p in view.payments if p.purpose == "result" and p.state == "open"]
        if not view.documents and due:
            # the result's fee first: its QR code; the result prints once it is paid
            self._paying_for, self._paying_session = asked, view.session_id
            self.lookup = LookupView(
                state="paying", acceptance_number=view.acceptance_number or number,
                outcome=view.state, payment=paying_view(due[-1]),
            )  # fmt: skip
            self.publish()
            await self._shown(due[-1])
            return
        await self._found(view, number)

    async def _found(self, view: ApplicationView, number: str) -> None:
        if view.documents:
            mine = {j.job_id for j in self.paperwork.jobs[-len(view.documents) :]}
            # the first may have printed while the second was being fetched
            done = {j.job_id for j in await asyncio.to_thread(self.queue.done)}
            self._lookup_jobs = mine - done
        self.lookup = LookupView(
            state="found", acceptance_number=view.acceptance_number or number,
            outcome=view.state, documents=len(view.documents),
            printing=("queued" if self._lookup_jobs else "printed") if view.documents else None,
        )  # fmt: skip
        self.publish()

    def _failed(self, number: str, code: str, detail: str) -> None:
        log.info("reprint of %s: ID re-check failed (%s)", number, code)
        self.lookup = LookupView(
            state="failed", acceptance_number=number, error_key=f"reprint.error.{code}",
            error_detail=detail,
        )  # fmt: skip
        self.publish()

    def _printed(self, job: PrintJob, status: Status, error: PrinterError | None) -> None:
        problem = f"error.{error.code}" if error else ""
        if job.job_id == self._receipt_job and self.signing is not None:
            state = "printed" if status == "printed" else "retrying"
            self.signing = self.signing.model_copy(
                update={"printing": state, "print_error": problem}
            )
        elif job.job_id in self._lookup_jobs and self.lookup is not None:
            if status == "printed":
                self._lookup_jobs.discard(job.job_id)
            state = (
                "retrying"
                if status != "printed"
                else ("queued" if self._lookup_jobs else "printed")
            )
            self.lookup = self.lookup.model_copy(update={"printing": state, "print_error": problem})
        elif self.also_printed is not None:
            self.also_printed(job, status, error)
        self.publish()


def paying_view(payment: PaymentView) -> PayingView:
    """What the screen shows of a payment order: its QR code only while it can be paid."""
    qr = None
    if payment.state == "open" and payment.code_url:
        qr = segno.make(payment.code_url, error="m").svg_data_uri(scale=6, border=2)
    return PayingView(
        state=payment.state, amount=payment.amount, qr=qr,
        expires_at=payment.expires_at.isoformat() if payment.expires_at else None,
        attempt=payment.attempt,
    )  # fmt: skip
