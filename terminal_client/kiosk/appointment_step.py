"""The kiosk's "I have an appointment": the booking number typed on the pad or read from its
QR code on the scanner glass, checked in with the server (``POST /api/appointments/check-in``).

The number is checked here first (its check character catches a mistyped digit at once, in
the applicant's language); the server decides the rest: ``wait`` for the slot (early),
``now`` (queue with priority) or ``late`` (the priority is lost). The controller moves the
screens; this holds the APPOINTMENT screen's state and talks to the server and the scanner.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import aiohttp
import cv2
from pydantic import ValidationError

from signaling.appointment_messages import CheckedIn, CheckIn
from signaling.appointment_numbers import BadAppointmentNumber, normalise
from signaling.messages import ErrorEvent
from terminal_client.errors import DeviceFault
from terminal_client.kiosk.messages import AppointmentView
from terminal_client.scanner import Scanner

log = logging.getLogger(__name__)

# the server's refusals the kiosk words itself (appointment.error.<code>); others are
# shown as the generic refusal with the server's sentence
KNOWN_REFUSALS = frozenset(
    {"not_found", "too_early", "appointment_state", "bad_number_format", "bad_number_check",
     "bad_number_empty", "rate_limited"}
)  # fmt: skip


def read_qr(path: Path) -> str:
    """The text of the QR code in the image at ``path`` ("" when there is none)."""
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        return ""
    text, _, _ = cv2.QRCodeDetector().detectAndDecode(image)
    return str(text)


class KioskAppointment:
    """The APPOINTMENT screen's state and its work (see the module docstring)."""

    def __init__(
        self,
        server_url: str,
        token: str,
        http: Callable[[], aiohttp.ClientSession],
        scanner: Scanner | None,
        publish: Callable[[], None],
    ) -> None:
        self.server_url = server_url
        self.token = token
        self._http = http
        self.scanner = scanner
        self._publish = publish
        self.view: AppointmentView | None = None

    def open(self) -> None:
        """The pad, empty."""
        self.view = AppointmentView(state="enter", can_scan=self.scanner is not None)

    def forget(self) -> None:
        self.view = None

    def _refused(self, key: str, detail: str = "") -> None:
        self.view = AppointmentView(
            state="enter", can_scan=self.scanner is not None, error_key=key, error_detail=detail
        )
        self._publish()

    def _busy(self, state: Literal["checking", "scanning"]) -> None:
        self.view = AppointmentView(state=state, can_scan=self.scanner is not None)
        self._publish()

    async def scan(self) -> str | None:
        """The number in the QR code on the scanner glass, or None (the screen says why)."""
        if self.scanner is None:
            self._refused("appointment.error.no_scanner")
            return None
        self._busy("scanning")
        try:
            path = await self.scanner.scan()
        except DeviceFault as exc:
            log.warning("scanner fault while reading a booking: %s", exc.message)
            self._refused("appointment.error.scanner")
            return None
        text = await asyncio.to_thread(read_qr, path)
        if not text:
            self._refused("appointment.error.no_qr")
            return None
        return text

    async def check_in(self, typed: str) -> CheckedIn | None:
        """Check the booking in; None when refused (the screen says why)."""
        try:
            number = normalise(typed)
        except BadAppointmentNumber as exc:
            self._refused(f"appointment.error.bad_number_{exc.reason}")
            return None
        self._busy("checking")
        url = f"{self.server_url}/api/appointments/check-in"
        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            async with self._http().post(
                url, data=CheckIn(number=number).model_dump_json(), headers=headers
            ) as response:
                status, text = response.status, await response.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("check-in not sent: %s", exc)
            self._refused("appointment.error.unreachable")
            return None
        if status != 200:
            try:
                refusal = ErrorEvent.model_validate_json(text)
            except ValidationError:
                refusal = ErrorEvent(code="error", message=text[:200])
            log.info("check-in refused: %s %s", status, refusal.code)
            known = refusal.code in KNOWN_REFUSALS
            key = f"appointment.error.{refusal.code}" if known else "appointment.error.refused"
            self._refused(key, refusal.message)
            return None
        done = CheckedIn.model_validate_json(text)
        state = "waiting" if done.outcome == "wait" else "late" if done.outcome == "late" else None
        self.view = AppointmentView(
            state=state or "checking", can_scan=self.scanner is not None, number=done.number,
            service_id=done.service_id, local_time=done.local_time, zone_label=done.zone_label,
            grace_minutes=done.grace_minutes,
        )  # fmt: skip
        self._publish()
        return done
