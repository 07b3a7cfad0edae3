"""The appointments desk: check-in at a kiosk, the priority at the slot time, no-shows.

- **Check-in** (:meth:`AppointmentDesk.check_in`): a booking is checked in once, from
  ``check_in_early_minutes`` before its slot. Before the slot the applicant waits at the
  kiosk (``wait``); from the slot to the end of the grace time they queue at once (``now``);
  past the grace time they lose the priority and queue as a walk-in (``late``).
- **Priority** (:meth:`AppointmentDesk.admit`): the kiosk asks for the service with the
  booking's number; a checked-in booking whose slot has begun gets
  :data:`~storage.routing.PRIORITY_APPOINTMENT` (its place in line is its queueing time less
  the full head start, ``aging_ceiling_s``: ahead of walk-ins who came up to that long
  before). The call's chain gets ``appointment.checked_in`` and ``appointment.priority_given``
  (or ``appointment.priority_lost``) after ``session.created``.
- **Sweep** (:meth:`AppointmentDesk.sweep`, every ``appointment_sweep_s``): bookings whose
  slot and grace time passed without a check-in are recorded as no-shows; each early arrival
  whose slot has begun is told so at their kiosk (``appointment_due``) until it has queued.

Times come from :class:`Clock` (the server's clock; tests move it).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from signaling.appointment_messages import CheckedIn
from signaling.appointment_numbers import normalise
from signaling.booking_rules import BookingRules
from signaling.catalogue import Catalogue
from signaling.errors import IllegalTransition
from signaling.messages import AppointmentDue, Event, Role
from signaling.rooms import Emitter, terminal_room
from signaling.router.base import Admitted
from storage import appointments
from storage.appointments import AppointmentConflict, AppointmentSnap
from storage.db import Database
from storage.errors import NotFound
from storage.routing import PRIORITY_APPOINTMENT

log = logging.getLogger(__name__)


class TooEarly(AppointmentConflict):
    """Check-in has not opened yet for this booking."""

    code = "too_early"


@dataclass
class Clock:
    """The server's clock for bookings; ``offset`` moves it (tests only)."""

    offset: timedelta = field(default_factory=timedelta)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def set(self, moment: datetime) -> None:
        """From now on the clock reads ``moment`` and runs on from it."""
        self.offset = moment - datetime.now(UTC)


def zone_label(timezone: str, moment: datetime) -> str:
    """How a time's zone is named beside it, e.g. ``HKT (UTC+8)``."""
    local = moment.astimezone(ZoneInfo(timezone))
    offset = local.utcoffset() or timedelta()
    hours = int(offset.total_seconds() // 3600)
    minutes = int(offset.total_seconds() % 3600 // 60)
    name = {"Asia/Hong_Kong": "HKT", "Asia/Macau": "MOT", "Asia/Shanghai": "CST"}.get(
        timezone, timezone
    )
    return f"{name} (UTC{hours:+d}{f':{minutes:02d}' if minutes else ''})"


def clock_label(rules: BookingRules, moment: datetime) -> str:
    """``moment`` as HH:MM on the department's clock."""
    return rules.local(moment).strftime("%H:%M")


class AppointmentDesk:
    """Check-ins, priorities and the no-show sweep of one process (see the module doc)."""

    def __init__(
        self,
        db: Database,
        catalogue: Catalogue,
        emitter: Emitter,
        clock: Clock,
        interval_s: float,
    ) -> None:
        self.db = db
        self.catalogue = catalogue
        self.emitter = emitter
        self.clock = clock
        self.interval_s = interval_s

    def rules(self, department_id: str) -> BookingRules:
        """The department's booking rules (a stored booking's department always has them)."""
        return self.catalogue.bookings[department_id]

    async def _booking(self, number: str) -> AppointmentSnap:
        found = await appointments.get(self.db, number)
        if found is None or found.department_id not in self.catalogue.bookings:
            raise NotFound(f"There is no booking {number}; check the number on your booking")
        return found

    async def check_in(self, terminal_id: int, typed: str) -> CheckedIn:
        """Check the booking in at this kiosk, once; what the kiosk does next."""
        number = normalise(typed)
        booking = await self._booking(number)
        rules = self.rules(booking.department_id)
        now = self.clock.now()
        opens = booking.slot_start - rules.early
        if booking.state == "booked" and now < opens:
            day = rules.local(booking.slot_start).strftime("%Y-%m-%d")
            raise TooEarly(
                f"Booking {number} is on {day} at {clock_label(rules, booking.slot_start)};"
                f" check-in opens at {clock_label(rules, opens)}, come back then"
            )
        late = now > booking.slot_start + rules.grace
        actor = f"terminal:{terminal_id}"
        snap = await appointments.check_in(
            self.db, number, terminal_id, now, late=late, actor=actor
        )
        outcome = "late" if snap.state == "late" else ("wait" if now < snap.slot_start else "now")
        log.info("appointment %s checked in at terminal %d: %s", number, terminal_id, outcome)
        return CheckedIn(
            number=number,
            service_id=snap.service_id,
            department_id=snap.department_id,
            outcome=outcome,
            local_time=clock_label(rules, snap.slot_start),
            zone_label=zone_label(rules.timezone, snap.slot_start),
            grace_minutes=rules.grace_minutes,
        )

    async def admit(self, terminal_id: int, number: str, service_id: str) -> Admitted:
        """The priority of a checked-in booking's call; :class:`IllegalTransition` saying why
        when the booking cannot be queued from this kiosk now."""
        try:
            booking = await self._booking(number)
        except NotFound as exc:
            raise IllegalTransition(exc.message) from exc
        if booking.checked_in_terminal != terminal_id or booking.state not in (
            "checked_in",
            "late",
        ):
            raise IllegalTransition(
                f"Booking {number} is not checked in at this kiosk; check it in first"
            )
        if booking.service_id != service_id:
            raise IllegalTransition(
                f"Booking {number} is for {booking.service_id}, not {service_id}"
            )
        if booking.session_id is not None:
            raise IllegalTransition(f"Booking {number} is in the queue already")
        rules = self.rules(booking.department_id)
        now = self.clock.now()
        details = {
            "number": number,
            "slot_start": booking.slot_start.isoformat(),
            "checked_in_at": (booking.checked_in_at or now).isoformat(),
        }
        if booking.state == "late":
            return Admitted(
                0,
                [
                    ("appointment.checked_in", {**details, "late": True}),
                    (
                        "appointment.priority_lost",
                        {**details, "grace_minutes": rules.grace_minutes},
                    ),
                ],
            )
        if now < booking.slot_start:
            raise IllegalTransition(
                f"Booking {number}'s slot begins at {clock_label(rules, booking.slot_start)};"
                " the kiosk calls you then"
            )
        return Admitted(
            PRIORITY_APPOINTMENT,
            [
                ("appointment.checked_in", {**details, "late": False}),
                ("appointment.priority_given", details),
            ],
        )

    async def queued(self, number: str, session_id: str, actor: str) -> None:
        """The booking's call is in the queue (the booking is taken up, once)."""
        await appointments.take_up(self.db, number, session_id, actor)

    async def sweep(self) -> None:
        """Record no-shows; tell the kiosks of early arrivals whose slot has begun."""
        now = self.clock.now()
        await appointments.no_shows(
            self.db, now, lambda department: self.rules(department).grace, "server"
        )
        for booking in await appointments.due(self.db, now):
            rules = self.rules(booking.department_id)
            if booking.checked_in_terminal is None or now > booking.slot_start + rules.grace:
                # past the grace time the kiosk has long gone back to its start screen (a
                # restart, a reconnect): the applicant shows the booking again to be queued
                continue
            due = AppointmentDue(number=booking.number, service_id=booking.service_id)
            room = terminal_room(booking.checked_in_terminal)
            await self.emitter.to_room(Role.TERMINAL, room, Event.APPOINTMENT_DUE, due)

    async def run(self) -> None:
        """Sweep every ``interval_s`` until cancelled."""
        while True:
            try:
                await self.sweep()
            except Exception:  # the database briefly away: the next round retries
                log.exception("appointments sweep failed; retrying in %.1f s", self.interval_s)
            await asyncio.sleep(self.interval_s)
