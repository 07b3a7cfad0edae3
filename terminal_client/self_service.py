"""The kiosk's side of a service without a clerk: open, fetch the sealed document, print.

:class:`SelfServiceClient` speaks the server's self-service routes with the device token
(:mod:`signaling.self_service.routes`) and prints through the kiosk's paperwork client, so
the document is checked against its announced SHA-256 and every print is reported into the
session's chain as a clerk's result is. The identity step between open and fetch is the
kiosk's own (:meth:`terminal_client.kiosk.identity_step.KioskIdentity.verify_outside_call`).
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp

from signaling.messages import Language
from signaling.self_service.messages import (
    SelfServiceFinish,
    SelfServiceIssued,
    SelfServiceOpened,
    SelfServiceStart,
)
from terminal_client.errors import PaperworkRefused
from terminal_client.paperwork import KioskPaperwork
from terminal_client.printer import PrintJob

log = logging.getLogger(__name__)

# the department may take its time (the connector's own timeout is what ends the wait)
TIMEOUT = aiohttp.ClientTimeout(total=180)


class SelfServiceClient:
    """One kiosk's self-service calls; stateless apart from the paperwork client it prints with."""

    def __init__(self, server_url: str, token: str, paperwork: KioskPaperwork) -> None:
        self.server_url = server_url.rstrip("/")
        self.token = token
        self.paperwork = paperwork

    async def _call(self, path: str, body: Any = None) -> Any:
        async with (
            aiohttp.ClientSession(timeout=TIMEOUT) as http,
            http.post(
                f"{self.server_url}{path}", json=body,
                headers={"Authorization": f"Bearer {self.token}"},
            ) as r,
        ):  # fmt: skip
            data = await r.json()
            if r.status >= 400:
                raise PaperworkRefused(
                    str(data.get("code", "error")), str(data.get("message", r.reason))
                )
            return data

    async def open(self, service_id: str, language: Language, care_mode: bool) -> SelfServiceOpened:
        """A self-service session for ``service_id`` at this kiosk."""
        start = SelfServiceStart(service_id=service_id, language=language, care_mode=care_mode)
        return SelfServiceOpened.model_validate(
            await self._call("/api/self-service", start.model_dump(mode="json"))
        )

    async def issue(self, session_id: str) -> SelfServiceIssued:
        """The department's document, sealed; :class:`PaperworkRefused` with the server's
        code (``department_no_record``, ``department_unavailable``, ...) if not."""
        return SelfServiceIssued.model_validate(
            await self._call(f"/api/sessions/{session_id}/self-service/document")
        )

    async def print(self, issued: SelfServiceIssued) -> PrintJob:
        """Fetch the sealed document and queue it on the kiosk's printer."""
        return await self.paperwork.print_document(issued.session_id, issued.document)

    async def finish(self, session_id: str, reason: str) -> None:
        """End the session: ``printed``, or ``left`` (the applicant went away)."""
        body = SelfServiceFinish.model_validate({"reason": reason})
        await self._call(
            f"/api/sessions/{session_id}/self-service/finish", body.model_dump(mode="json")
        )
