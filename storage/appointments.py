"""Appointments (办事预约) as stored: book, cancel, check in, take up, no-show.

A booking moves ``booked -> cancelled | checked_in | late | no_show`` and ``no_show -> late``
(a person who comes after the sweep recorded them absent). Each change is one write
transaction that checks the state *in the database*. Booking holds two serialising locks,
the person's and the slot's (PostgreSQL advisory locks, taken in that order by every
writer; on SQLite writers take turns anyway), so two people racing for a slot's last place,
or one person booking twice at once, cannot both pass the count: exactly one wins.

Every change is audited in the staff log (``appointment.*``, by number; never the name,
phone or document); the check-in and the priority are also events in the call's own chain
(:func:`take_up`'s caller passes them to :func:`storage.routing.open_session`).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, cast

from sqlalchemy import Table, func, select, text, update
from sqlalchemy.exc import IntegrityError

from storage.db import Database, Transaction
from storage.errors import NotFound, StorageError
from storage.models import Appointment, CallSession
from storage.staff_audit import StaffLog

log = logging.getLogger(__name__)

APPOINTMENTS = cast(Table, Appointment.__table__)
STATES: Final = ("booked", "cancelled", "checked_in", "late", "no_show")
TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    "booked": frozenset({"cancelled", "checked_in", "late", "no_show"}),
    "checked_in": frozenset(),
    "late": frozenset(),
    "no_show": frozenset({"late"}),
    "cancelled": frozenset(),
}
# a booking that still holds its place and counts against the person's limit
OPEN_STATES: Final = ("booked", "checked_in")
# what takes one of a slot's places (a cancelled booking gives its place back)
TAKING_STATES: Final = ("booked", "checked_in", "late", "no_show")


class AppointmentError(StorageError):
    """Base of the booking refusals; ``code`` says which, for translation."""

    code = "appointment_error"


class SlotFull(AppointmentError):
    code = "slot_full"


class BookingLimit(AppointmentError):
    code = "booking_limit"


class AlreadyBooked(AppointmentError):
    """The person holds a place in this slot already: one each."""

    code = "already_booked"


class AppointmentConflict(AppointmentError):
    """The booking is not in the state the change needs (cancelled, checked in already)."""

    code = "appointment_state"


@dataclass(frozen=True)
class AppointmentSnap:
    """A booking as committed."""

    number: str
    department_id: str
    service_id: str
    slot_start: datetime
    slot_end: datetime
    state: str
    person_key: str
    name: str
    phone: str | None
    language: str
    created_at: datetime
    cancelled_at: datetime | None
    checked_in_at: datetime | None
    checked_in_terminal: int | None
    no_show_at: datetime | None
    session_id: str | None


@dataclass(frozen=True)
class NewBooking:
    """What the person entered, checked, and the slot's rules."""

    department_id: str
    service_id: str
    slot_start: datetime
    slot_end: datetime
    capacity: int
    max_open: int
    name: str
    phone: str | None
    language: str


def person_key(secret: str, document_number: str) -> str:
    """The person as stored: HMAC-SHA256 of their (normalised) document number under the
    server's secret, so the table never holds the number and cannot be searched by it."""
    message = b"appointment-person\x00" + document_number.encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _snap(row: Any) -> AppointmentSnap:
    return AppointmentSnap(**{c.name: getattr(row, c.name) for c in APPOINTMENTS.columns})


def _move(row: Appointment, new: str) -> str:
    old = row.state
    if new not in TRANSITIONS[old]:
        raise AppointmentConflict(f'Booking {row.number} is "{old}"; it cannot become "{new}"')
    row.state = new
    log.info("appointment %s: %s -> %s", row.number, old, new)
    return old


async def _serialise(tx: Transaction, *keys: str) -> None:
    """Hold ``keys`` until the transaction ends: PostgreSQL advisory locks (every process);
    on SQLite the write transaction already takes turns with every other writer."""
    if tx.db.dialect != "postgresql":
        return
    for key in keys:
        await tx.session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": key})


async def _audit(db: Database, actor: str, kind: str, snap: AppointmentSnap, **extra: Any) -> None:
    payload = {
        "number": snap.number,
        "department_id": snap.department_id,
        "service_id": snap.service_id,
        "slot_start": snap.slot_start.isoformat(),
        **extra,
    }
    await StaffLog(db).append(actor, kind, payload, session_id=snap.session_id)


async def book(
    db: Database,
    new: NewBooking,
    person: str,
    now: datetime,
    make_number: Callable[[], str],
    actor: str,
) -> AppointmentSnap:
    """Book a place in the slot: :class:`SlotFull` when every place is taken,
    :class:`BookingLimit` when the person holds ``max_open`` open bookings of the
    department, :class:`AlreadyBooked` when they hold a place in this slot."""
    for _ in range(5):
        try:
            async with db.transaction() as tx:
                await _serialise(
                    tx,
                    f"appointment-person:{person}",
                    f"appointment-slot:{new.service_id}:{new.slot_start.isoformat()}",
                )
                s = tx.session
                mine = (
                    await s.execute(
                        select(Appointment.service_id, Appointment.slot_start).where(
                            Appointment.person_key == person,
                            Appointment.department_id == new.department_id,
                            Appointment.state.in_(OPEN_STATES),
                            Appointment.session_id.is_(None),
                            Appointment.slot_end > now,
                        )
                    )
                ).all()
                if any(
                    service == new.service_id and start == new.slot_start for service, start in mine
                ):
                    raise AlreadyBooked("You have a booking at this time already; one place each")
                held = len(mine)
                if held >= new.max_open:
                    raise BookingLimit(
                        f"You already hold {held} open booking(s), the most one person may"
                        f" hold ({new.max_open}); cancel one, or wait until it has passed"
                    )
                taken = await s.scalar(
                    select(func.count()).where(
                        Appointment.service_id == new.service_id,
                        Appointment.slot_start == new.slot_start,
                        Appointment.state.in_(TAKING_STATES),
                    )
                )
                if (taken or 0) >= new.capacity:
                    raise SlotFull(
                        "Every place of this time slot has just been taken; choose another"
                    )
                row = Appointment(
                    number=make_number(),
                    department_id=new.department_id,
                    service_id=new.service_id,
                    slot_start=new.slot_start,
                    slot_end=new.slot_end,
                    state="booked",
                    person_key=person,
                    name=new.name,
                    phone=new.phone,
                    language=new.language,
                    created_at=now,
                )
                s.add(row)
                await s.flush()
                snap = _snap(row)
        except IntegrityError:
            continue  # a number drawn twice: draw again
        log.info("appointment %s booked for %s", snap.number, snap.service_id)
        await _audit(db, actor, "appointment.booked", snap)
        return snap
    raise AppointmentError("could not store the booking; try again")


async def get(db: Database, number: str) -> AppointmentSnap | None:
    """The booking as stored now, or None."""
    async with db.reads() as s:
        row = (await s.execute(select(APPOINTMENTS).where(APPOINTMENTS.c.number == number))).first()
    return _snap(row) if row is not None else None


async def owned(db: Database, number: str, person: str) -> AppointmentSnap:
    """The booking if it is ``person``'s; :class:`NotFound` alike for a wrong number and a
    wrong document (nobody learns which numbers exist)."""
    found = await get(db, number)
    if found is None or not hmac.compare_digest(found.person_key, person):
        raise NotFound(
            f"There is no booking {number} for this document number; check both and try again"
        )
    return found


async def _change(
    db: Database, number: str, change: Callable[[Appointment], None]
) -> AppointmentSnap:
    async with db.transaction() as tx:
        await _serialise(tx, f"appointment:{number}")
        row = await tx.session.get(Appointment, number, with_for_update=True)
        if row is None:
            raise NotFound(f"There is no booking {number}; check the number")
        change(row)
        await tx.session.flush()
        return _snap(row)


async def cancel(
    db: Database, number: str, person: str, now: datetime, actor: str
) -> AppointmentSnap:
    """The person gives the place back (only a booking not yet checked in or passed)."""
    await owned(db, number, person)

    def change(row: Appointment) -> None:
        if row.state != "booked":
            raise AppointmentConflict(_state_sentence(row.number, row.state, "cancelled"))
        if row.slot_start <= now:
            raise AppointmentConflict(
                f"Booking {row.number}'s time has begun; it can no longer be cancelled"
            )
        _move(row, "cancelled")
        row.cancelled_at = now

    snap = await _change(db, number, change)
    await _audit(db, actor, "appointment.cancelled", snap)
    return snap


def _state_sentence(number: str, state: str, wanted: str) -> str:
    said = {
        "cancelled": "was cancelled",
        "checked_in": "is checked in already",
        "late": "was checked in already (late)",
        "no_show": "was missed: its time and grace time have passed",
        "booked": "is booked",
    }[state]
    return f"Booking {number} {said}; it cannot be {wanted}"


async def check_in(
    db: Database, number: str, terminal_id: int, now: datetime, *, late: bool, actor: str
) -> AppointmentSnap:
    """Record the person at a kiosk, once: ``checked_in`` (in time), or ``late`` (past the
    grace time: the priority is lost, from ``booked`` or after a recorded no-show). Shown
    again at the same kiosk before it has queued (the kiosk restarted), it is taken up
    again as it was, without a second check-in."""
    found = await get(db, number)
    if (
        found is not None
        and found.state in ("checked_in", "late")
        and found.checked_in_terminal == terminal_id
        and found.session_id is None
    ):
        log.info("appointment %s: shown again at terminal %d", number, terminal_id)
        return found

    def change(row: Appointment) -> None:
        allowed = ("booked", "no_show") if late else ("booked",)
        if row.state not in allowed:
            raise AppointmentConflict(_state_sentence(row.number, row.state, "checked in"))
        _move(row, "late" if late else "checked_in")
        row.checked_in_at = now
        row.checked_in_terminal = terminal_id

    snap = await _change(db, number, change)
    if late:
        await _audit(db, actor, "appointment.priority_lost", snap, terminal_id=terminal_id)
    else:
        await _audit(db, actor, "appointment.checked_in", snap, terminal_id=terminal_id)
    return snap


async def take_up(db: Database, number: str, session_id: str, actor: str) -> AppointmentSnap:
    """The booking became the call ``session_id`` (once)."""

    def change(row: Appointment) -> None:
        if row.session_id is not None:
            raise AppointmentConflict(f"Booking {row.number} is in the queue already")
        row.session_id = session_id

    snap = await _change(db, number, change)
    await _audit(db, actor, "appointment.queued", snap, priority=snap.state == "checked_in")
    return snap


async def no_shows(
    db: Database, now: datetime, grace_of: Callable[[str], Any], actor: str
) -> list[AppointmentSnap]:
    """Record as missed every booking whose slot and grace time passed without a check-in
    (``grace_of``: a department's grace as a timedelta); each once, whoever sweeps."""
    async with db.reads() as s:
        candidates = (
            await s.execute(
                select(APPOINTMENTS).where(
                    APPOINTMENTS.c.state == "booked", APPOINTMENTS.c.slot_start < now
                )
            )
        ).all()
    missed: list[AppointmentSnap] = []
    for row in candidates:
        if row.slot_start + grace_of(row.department_id) > now:
            continue
        async with db.transaction() as tx:
            # conditional: another process may have swept it, or the person checked in
            result = await tx.session.execute(
                update(Appointment)
                .where(Appointment.number == row.number, Appointment.state == "booked")
                .values(state="no_show", no_show_at=now)
            )
        if cast(Any, result).rowcount != 1:
            continue
        snap = await get(db, row.number)
        assert snap is not None
        log.info("appointment %s: booked -> no_show", snap.number)
        await _audit(db, actor, "appointment.no_show", snap)
        missed.append(snap)
    return missed


async def due(db: Database, now: datetime) -> list[AppointmentSnap]:
    """Early arrivals whose slot has begun and who are not in the queue yet."""
    async with db.reads() as s:
        found = await s.execute(
            select(APPOINTMENTS).where(
                APPOINTMENTS.c.state == "checked_in",
                APPOINTMENTS.c.session_id.is_(None),
                APPOINTMENTS.c.slot_start <= now,
            )
        )
        return [_snap(r) for r in found.all()]


async def between(
    db: Database, departments: Collection[str], start: datetime, end: datetime
) -> list[AppointmentSnap]:
    """The bookings of ``departments`` whose slot starts in [start, end), in time order."""
    async with db.reads() as s:
        found = await s.execute(
            select(APPOINTMENTS)
            .where(
                APPOINTMENTS.c.department_id.in_(list(departments)),
                APPOINTMENTS.c.slot_start >= start,
                APPOINTMENTS.c.slot_start < end,
            )
            .order_by(APPOINTMENTS.c.slot_start, APPOINTMENTS.c.number)
        )
        return [_snap(r) for r in found.all()]


async def session_states(db: Database, session_ids: Collection[str]) -> dict[str, str]:
    """The state of each of these sessions (the calls bookings became), in one read."""
    if not session_ids:
        return {}
    async with db.reads() as s:
        found = await s.execute(
            select(CallSession.id, CallSession.state).where(CallSession.id.in_(list(session_ids)))
        )
        return {str(i): str(state) for i, state in found.all()}


async def taken_places(
    db: Database, service_id: str, start: datetime, end: datetime
) -> dict[datetime, int]:
    """How many places of each of the service's slots in [start, end) are taken."""
    async with db.reads() as s:
        found = await s.execute(
            select(APPOINTMENTS.c.slot_start, func.count())
            .where(
                APPOINTMENTS.c.service_id == service_id,
                APPOINTMENTS.c.slot_start >= start,
                APPOINTMENTS.c.slot_start < end,
                APPOINTMENTS.c.state.in_(TAKING_STATES),
            )
            .group_by(APPOINTMENTS.c.slot_start)
        )
        return {_utc(t): int(n) for t, n in found.all()}


def _utc(moment: datetime) -> datetime:
    # a grouped column comes back without the column type's conversion on SQLite
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
