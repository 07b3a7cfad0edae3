"""The kiosk's complaint screens: file a complaint about the session just ended (and print
its slip), and look a complaint up by number and access code.

Owned by :class:`~terminal_client.kiosk.controller.KioskController`, which moves between
screens; this keeps what those screens show and talks to the server
(:mod:`signaling.complaints.routes`). What the applicant typed is checked here first, with the
server's own rules (:mod:`storage.complaints`), so a mistake is said at once in their
language, and again by the server, which decides.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Coroutine
from typing import Any, Literal, cast

import aiohttp
from pydantic import BaseModel, ValidationError

from signaling.complaints.numbers import CODE_DIGITS, BadComplaintNumber, normalise
from signaling.complaints.slip import SlipData, complaint_slip
from signaling.messages import (
    ComplaintCategory,
    ComplaintFiled,
    ComplaintLookup,
    ComplaintStatus,
    ErrorEvent,
    FileComplaint,
    Language,
    LocalizedText,
)
from storage.callbacks import InvalidPhone
from storage.complaints import (
    CATEGORIES,
    InvalidComplaint,
    check_category,
    check_phone,
    check_text,
)
from terminal_client.errors import PrinterError
from terminal_client.kiosk.messages import (
    CheckComplaint,
    ComplaintStatusView,
    ComplaintView,
    SendComplaint,
)
from terminal_client.printer import PrintJob, PrintQueue, Status

log = logging.getLogger(__name__)

# a print job the server is not told of: the slip is no document of the session's file
SLIP_EXTRA = {"report": "no"}


class KioskComplaints:
    """What the COMPLAINT and COMPLAINT_STATUS screens show; ``publish`` redraws."""

    def __init__(
        self,
        server_url: str,
        token: str,
        *,
        http: Callable[[], aiohttp.ClientSession],
        queue: PrintQueue,
        publish: Callable[[], None],
        spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]],
    ) -> None:
        self.server_url = server_url
        self.token = token
        self.http = http
        self.queue = queue
        self.publish = publish
        self.spawn = spawn
        self.complaint: ComplaintView | None = None
        self.status: ComplaintStatusView | None = None
        self._department: LocalizedText | None = None
        self._slip_job: str | None = None
        self._refusals = 0

    def forget(self) -> None:
        """The kiosk reset: nothing of the last applicant's complaint stays on screen."""
        self.complaint, self.status, self._department, self._slip_job = None, None, None, None

    def view(self, language: Language) -> ComplaintView | None:
        """The complaint form or its result, the department named in ``language``."""
        if self.complaint is None or self._department is None:
            return self.complaint
        return self.complaint.model_copy(update={"department": self._department.get(language)})

    # ------------------------------------------------------------------ filing

    def open(self, after_low_rating: bool) -> None:
        """A blank form (offered at once after a low rating)."""
        self.complaint = ComplaintView(state="enter", after_low_rating=after_low_rating)
        self._department = self._slip_job = None
        self._refusals = 0

    def busy(self) -> bool:
        """The complaint is being sent or was filed: the form is closed."""
        return self.complaint is not None and self.complaint.state != "enter"

    async def send(self, command: SendComplaint, session_id: str, language: Language) -> None:
        """Check the entries here, then file the complaint; the number and code are shown and
        the slip printed. A refusal keeps the form as it was, naming the field."""
        assert self.complaint is not None
        low = self.complaint.after_low_rating
        try:
            category = cast(ComplaintCategory, check_category(command.category))
            check_text(command.text)
        except InvalidComplaint as exc:
            which: Literal["category", "text"] = "category" if exc.reason == "category" else "text"
            return self._refused(command, f"complaint.error.{exc.reason}", exc.message, which)
        try:
            check_phone(command.phone, command.region)
        except InvalidPhone as exc:
            # the callback's words for a bad number: the same check, the same sentences
            return self._refused(command, f"callback.error.{exc.reason}", exc.message, "phone")
        self.complaint = ComplaintView(
            state="sending", after_low_rating=low, category=category,
            region=command.region,
        )  # fmt: skip
        self.publish()
        body = FileComplaint(
            session_id=session_id, category=category, text=command.text,
            phone=command.phone, region=command.region,
        )  # fmt: skip
        answer = await self._post("/api/complaints", body)
        if self.complaint is None or self.complaint.state != "sending":
            return  # the kiosk was reset meanwhile
        if isinstance(answer, ErrorEvent):
            field: Literal["category", "text", "phone"] | None = None
            if answer.code == "invalid_phone":
                key, field = f"callback.error.{answer.field or 'invalid'}", "phone"
            elif answer.code == "invalid_complaint":
                key = f"complaint.error.{answer.field}"
                field = "category" if answer.field == "category" else "text"
            else:
                key = f"complaint.error.{answer.code}"
            return self._refused(command, key, answer.message, field)
        filed = ComplaintFiled.model_validate_json(answer)
        log.info("complaint %s filed; printing its slip", filed.number)
        self._department = filed.department_name
        self.complaint = ComplaintView(
            state="done", after_low_rating=low, category=category,
            number=filed.number, access_code=filed.access_code, due_on=filed.due_on,
            status_url=filed.status_url, printing="queued",
        )  # fmt: skip
        self.publish()
        self.spawn(self._print(filed, category, session_id, language))

    def _refused(
        self,
        command: SendComplaint,
        key: str,
        detail: str,
        field: Literal["category", "text", "phone"] | None,
    ) -> None:
        log.info("complaint not filed: %s", key)
        if self.complaint is None:
            return
        self._refusals += 1
        self.complaint = ComplaintView(
            state="enter", after_low_rating=self.complaint.after_low_rating,
            category=command.category if command.category in CATEGORIES else None,
            region=command.region, error_key=key,
            error_detail=detail, error_field=field, refusals=self._refusals,
        )  # fmt: skip
        self.publish()

    async def _print(
        self,
        filed: ComplaintFiled,
        category: ComplaintCategory,
        session_id: str,
        language: Language,
    ) -> None:
        data = SlipData(
            language=language, session_id=session_id, number=filed.number,
            access_code=filed.access_code, department_name=filed.department_name.get(language),
            category=category, filed_at=filed.filed_at, due_on=filed.due_on,
            status_url=filed.status_url,
        )  # fmt: skip
        pdf = await asyncio.to_thread(complaint_slip, data)
        job = PrintJob(
            uuid.uuid4().hex, session_id, filed.number, "complaint-slip", extra=SLIP_EXTRA
        )
        self._slip_job = job.job_id
        await self.queue.submit(job, pdf)

    def printed(self, job: PrintJob, status: Status, error: PrinterError | None) -> None:
        """The print queue's news of a job: the slip's, shown on the screen."""
        if job.job_id != self._slip_job or self.complaint is None:
            return
        self.complaint = self.complaint.model_copy(
            update={
                "printing": "printed" if status == "printed" else "retrying",
                "print_error": f"error.{error.code}" if error else "",
            }
        )
        self.publish()

    # ------------------------------------------------------------------ status

    def open_status(self) -> None:
        self.status = ComplaintStatusView(state="enter")

    async def check(self, command: CheckComplaint, language: Language) -> None:
        """Look the complaint up; what was found, or why not, is shown."""
        if self.status is not None and self.status.state == "checking":
            return
        try:
            number = normalise(command.number)
        except BadComplaintNumber as exc:
            return self._failed(command.number, "bad_complaint_number", exc.message)
        code = command.access_code.strip()
        if not (code.isdigit() and len(code) == CODE_DIGITS):
            return self._failed(number, "bad_access_code", "")
        self.status = ComplaintStatusView(state="checking", number=number)
        self.publish()
        answer = await self._post(
            "/api/complaints/status", ComplaintLookup(number=number, access_code=code)
        )
        if self.status is None or self.status.state != "checking":
            return
        if isinstance(answer, ErrorEvent):
            return self._failed(number, answer.code, answer.message)
        found = ComplaintStatus.model_validate_json(answer)
        self.status = ComplaintStatusView(
            state="found", number=found.number, ticket_state=found.state, due_on=found.due_on,
            overdue=found.overdue, department=found.department_name.get(language),
            answer=found.answer, answered_on=found.answered_on,
        )  # fmt: skip
        self.publish()

    def _failed(self, number: str, code: str, detail: str) -> None:
        log.info("complaint lookup refused: %s", code)
        self.status = ComplaintStatusView(
            state="failed", number=number, error_key=f"complaint_status.error.{code}",
            error_detail=detail,
        )  # fmt: skip
        self.publish()

    # ------------------------------------------------------------------ the server

    async def _post(self, path: str, body: BaseModel) -> str | ErrorEvent:
        """POST ``body``; the answer's text when it succeeded, else the refusal."""
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        try:
            async with self.http().post(
                f"{self.server_url}{path}", data=body.model_dump_json(), headers=headers
            ) as response:
                text = await response.text()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("%s not sent: %s", path, exc)
            return ErrorEvent(code="unreachable", message=str(exc))
        if status < 300:
            return text
        try:
            return ErrorEvent.model_validate_json(text)
        except ValidationError:
            return ErrorEvent(code="refused", message=text[:200])
