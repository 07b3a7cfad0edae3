"""The SELF_SERVICE screen: a service without a clerk, from the identity check to the print.

:class:`KioskSelfService` sits beside the controller like the signing and complaint parts: it
opens the session (:class:`~terminal_client.self_service.SelfServiceClient`), runs the
kiosk's identity check outside any call, asks the server for the department's sealed
document, prints it on the kiosk's print queue and ends the session. The department may be
slow (the screen says so after the connector's ``slow_after_s`` and keeps waiting), fail or
refuse: the screen says why in a sentence and offers "Ask a clerk", which the controller
turns into a call that keeps the verified identity (``handover_of``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import aiohttp

from signaling.messages import Language
from storage.errors import VcounterError
from terminal_client.errors import PaperworkRefused, PrinterError
from terminal_client.identity import Progress
from terminal_client.kiosk.eid_ui import KioskEid
from terminal_client.kiosk.messages import SelfServiceView
from terminal_client.printer import PrintJob, Status
from terminal_client.self_service import SelfServiceClient

log = logging.getLogger(__name__)

# checks the applicant's identity for a session without a call (card + face), reporting it to
# the server; raises the check's own error (KioskIdentity.verify_outside_call with the camera)
IdentityRunner = Callable[[str, Callable[[Progress], None]], Awaitable[object]]
REFUSALS = ("department_no_record", "department_not_eligible")
IDENTITY_PHASES = ("document", "reading", "face", "challenge", "sending")


class KioskSelfService:
    """One kiosk's self-service state; ``publish`` redraws the screen."""

    def __init__(
        self,
        client: SelfServiceClient,
        identify: IdentityRunner | None,
        *,
        publish: Callable[[], None],
        spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]],
        eid: KioskEid | None = None,
    ) -> None:
        self.client = client
        self.identify = identify
        # the e-ID card offered beside the card reader (None: this kiosk offers no e-ID)
        self.eid = eid
        self._eid_done: asyncio.Future[str] | None = None
        self.publish = publish
        self.spawn = spawn
        self.view: SelfServiceView | None = None
        self.session_id: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._job: str | None = None
        self._printed = False

    def _show(self, **fields: Any) -> None:
        self.view = SelfServiceView(**fields)
        self.publish()

    def start(self, service_id: str, language: Language, care_mode: bool) -> None:
        """Open the session and run it in the background: identity, document, print."""
        self.forget()
        self._show(state="opening")
        self._task = self.spawn(self._run(service_id, language, care_mode))

    async def _run(self, service_id: str, language: Language, care_mode: bool) -> None:
        try:
            opened = await self.client.open(service_id, language, care_mode)
        except PaperworkRefused as exc:
            self._show(state="failed", error_key=f"self_service.error.{exc.code}",
                       error_detail=exc.message)  # fmt: skip
            return
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._show(
                state="failed", error_key="self_service.error.network", error_detail=str(exc)
            )
            return
        session_id = self.session_id = opened.session_id
        if not await self._identified(session_id):
            return
        self._show(state="fetching")
        slow = self.spawn(self._say_slow(opened.slow_after_s))
        try:
            issued = await self.client.issue(session_id)
        except PaperworkRefused as exc:
            state = "refused" if exc.code in REFUSALS else "failed"
            self._show(state=state, error_key=f"self_service.error.{exc.code}",
                       error_detail=exc.message, can_ask_clerk=True)  # fmt: skip
            return
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._show(state="failed", error_key="self_service.error.network",
                       error_detail=str(exc), can_ask_clerk=True)  # fmt: skip
            return
        finally:
            slow.cancel()
        self._show(state="printing", acceptance_number=issued.acceptance_number,
                   reference=issued.reference)  # fmt: skip
        job = await self.client.print(issued)
        self._job = job.job_id
        log.info("self-service %s: %s queued for printing", session_id, issued.acceptance_number)

    async def _identified(self, session_id: str) -> bool:
        """Check who the applicant is: card + face, or e-ID on their phone, whichever ends
        first (both report to the server, which fetches only for a verified identity)."""
        offered = self.eid is not None and await self.eid.offer(session_id)
        if self.identify is None and not offered:
            # no reader or camera here and no e-ID: only a clerk can check who they are
            self._show(state="unavailable", can_ask_clerk=True)
            return False
        self._eid_done = asyncio.get_running_loop().create_future()
        card = None
        if self.identify is not None:
            card = asyncio.ensure_future(self.identify(session_id, self._identity_progress))
        else:
            self._show(state="eid")
        waiting: set[asyncio.Future[Any]] = {self._eid_done, *([card] if card else [])}
        try:
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if card is not None and not card.done():
                card.cancel()  # signed in by e-ID (or the applicant left): the reader stops
                with contextlib.suppress(asyncio.CancelledError, VcounterError):
                    await card
            if self.eid is not None:
                self.eid.forget()
        if self._eid_done in done:
            if self._eid_done.result() != "strong":
                # no clerk here to weigh a weaker sign-in: they confirm it in a call
                self._show(state="failed", error_key="self_service.error.eid_lower",
                           can_ask_clerk=True)  # fmt: skip
                return False
            log.info("self-service %s: identity proven by e-ID", session_id)
            return True
        assert card is not None
        try:
            card.result()
        except VcounterError as exc:
            log.info("self-service %s: identity check failed (%s)", session_id, exc.code)
            self._show(state="failed", error_key=f"identity.error.{exc.code}",
                       error_detail=exc.message, can_ask_clerk=True)  # fmt: skip
            return False
        return True

    def eid_finished(self, session_id: str, assurance: str | None) -> None:
        """The server says the applicant signed in by e-ID for this screen's session."""
        if session_id == self.session_id and self._eid_done and not self._eid_done.done():
            self._eid_done.set_result(assurance or "lower")

    async def _say_slow(self, after_s: float) -> None:
        await asyncio.sleep(after_s)
        if self.view is not None and self.view.state == "fetching":
            self._show(state="slow")

    def _identity_progress(self, progress: Progress) -> None:
        if progress.phase in IDENTITY_PHASES:
            action = progress.action.value if progress.action is not None else None
            self._show(state=progress.phase, action=action)

    def printed(self, job: PrintJob, status: Status, error: PrinterError | None) -> bool:
        """A print job changed; True if it was this screen's document."""
        if self._job is None or job.job_id != self._job or self.view is None:
            return False
        if status == "printed":
            self.view = self.view.model_copy(update={"state": "printed", "print_error": ""})
            self._printed = True
            if self.session_id is not None:
                self.spawn(self._finish(self.session_id, "printed"))
        else:
            problem = f"error.{error.code}" if error else ""
            self.view = self.view.model_copy(update={"print_error": problem})
        self.publish()
        return True

    async def _finish(self, session_id: str, reason: str) -> None:
        try:
            await self.client.finish(session_id, reason)
        except (PaperworkRefused, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("self-service %s: not ended (%s): %s", session_id, reason, exc)

    def handed_over(self) -> str | None:
        """The session "Ask a clerk" hands over (None unless it is offered now)."""
        if self.view is None or not self.view.can_ask_clerk:
            return None
        session_id, self.session_id = self.session_id, None
        return session_id

    def forget(self) -> None:
        """The applicant left (or a new one starts): stop, and end an unfinished session."""
        if self._task is not None and not self._task.done():
            self._task.cancel()  # the reader and camera stop
        self._task = None
        if self.session_id is not None and not self._printed:
            self.spawn(self._finish(self.session_id, "left"))
        self.view, self.session_id, self._job, self._printed = None, None, None, False

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
