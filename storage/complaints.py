"""Complaints: an applicant files one at the kiosk after a session; the department's
supervisors assign, answer and close it.

A ticket moves ``open -> answered -> closed`` (an answer may be amended while it is
``answered``; closing needs an answer); a closed ticket may be reopened (``open`` again, with
a new due date) when the applicant's matter is not settled after all. Each change is one transaction that locks the
session's row (the head of its chain), checks the ticket's state *in the database*, changes
it and appends the chain event (``complaint.filed``, ``complaint.assigned``,
``complaint.answered``, ``complaint.closed``, ``complaint.reopened``), or changes nothing.

The complaint's text and phone number are personal data: they are stored with the ticket and
shown to the department's supervisors, but never put in a chain event or a log line (a
SHA-256 of the text and of each answer is, so the record shows what was said without saying it).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from storage.audit import append_in
from storage.callbacks import parse_phone
from storage.db import Database, Transaction
from storage.errors import InvalidValue, NotFound, StorageError
from storage.models import CallSession, Complaint, utcnow

log = logging.getLogger(__name__)

STATES: Final = ("open", "answered", "closed")
TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    "open": frozenset({"answered"}),
    "answered": frozenset({"answered", "closed"}),
    "closed": frozenset({"open"}),
}
# what the kiosk offers, in this order; the words are the kiosk's and the console's
CATEGORIES: Final = ("staff", "waiting", "equipment", "result", "other")
# short enough to type on a kiosk's on-screen keyboard, long enough to say what happened
TEXT_MAX: Final = 500
ANSWER_MAX: Final = 2000


class InvalidComplaint(InvalidValue):
    """The complaint cannot be filed as entered; ``reason`` names what for translation."""

    code = "invalid_complaint"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class ComplaintConflict(StorageError):
    """The ticket (or session) is not in the state the change needs."""

    code = "complaint_conflict"


@dataclass(frozen=True)
class ComplaintSnap:
    """A ticket as committed."""

    number: str
    day: str
    serial: int
    code_hash: str
    session_id: str
    terminal_id: int
    department_id: str
    service_id: str
    clerk_id: int | None
    language: str
    category: str
    text: str
    phone: str | None
    state: str
    filed_at: datetime
    due_on: date
    assigned_to: int | None
    assigned_at: datetime | None
    answer: str | None
    answered_by: int | None
    answered_at: datetime | None
    closed_at: datetime | None

    def overdue(self, today: date) -> bool:
        """Not answered and its last day has passed."""
        return self.state == "open" and today > self.due_on


_COLUMNS: Final = [c.name for c in Complaint.__table__.columns]


def _snap(row: Complaint) -> ComplaintSnap:
    return ComplaintSnap(**{name: getattr(row, name) for name in _COLUMNS})


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def check_text(text: str) -> str:
    """The complaint's text, trimmed; :class:`InvalidComplaint` when empty or too long."""
    trimmed = text.strip()
    if not trimmed:
        raise InvalidComplaint("empty_text", "Write what happened: the complaint has no text.")
    if len(trimmed) > TEXT_MAX:
        raise InvalidComplaint(
            "text_too_long",
            f"The complaint has {len(trimmed)} characters; shorten it to {TEXT_MAX}.",
        )
    return trimmed


def check_category(category: str) -> str:
    """``category`` if it is one of :data:`CATEGORIES`, else :class:`InvalidComplaint`."""
    if category not in CATEGORIES:
        raise InvalidComplaint(
            "category", f"Choose what the complaint is about: one of {', '.join(CATEGORIES)}."
        )
    return category


def check_phone(phone: str, region: str) -> str | None:
    """The optional phone number in E.164 (None when none was typed), checked as a
    callback's number is (:func:`storage.callbacks.parse_phone`)."""
    if not phone.strip():
        return None
    return parse_phone(phone, region)


def move_complaint(row: Complaint, new: str) -> str:
    """Set the ticket's state to ``new`` if :data:`TRANSITIONS` allow it; returns the old."""
    old = row.state
    if new not in TRANSITIONS[old]:
        raise ComplaintConflict(f'Complaint {row.number} is "{old}"; it cannot become "{new}"')
    row.state = new
    log.info("complaint %s: %s -> %s", row.number, old, new)
    return old


async def _session_locked(tx: Transaction, session_id: str) -> CallSession | None:
    """The session's row, locked: the head of the chain every complaint event joins."""
    await tx.hold(f"audit:{session_id}")
    found: CallSession | None = await tx.session.scalar(
        select(CallSession).where(CallSession.id == session_id).with_for_update()
    )
    return found


async def file(
    db: Database,
    session_id: str,
    *,
    terminal_id: int,
    department_id: str,
    category: str,
    text: str,
    phone: str,
    region: str,
    due_on: date,
    numbering: Callable[[str, int], str],
    seal: Callable[[str], str],
    actor: str,
) -> ComplaintSnap:
    """File the complaint about the kiosk's ended session: the ticket and its
    ``complaint.filed`` event in one transaction. ``numbering(day, serial)`` makes the
    number, ``seal(number)`` the access code's keyed hash. Checks first, nothing saved on a
    bad entry (:class:`InvalidComplaint`, :class:`~storage.callbacks.InvalidPhone`)."""
    category = check_category(category)
    words = check_text(text)
    number_e164 = check_phone(phone, region)
    for _ in range(5):
        try:
            return await _file_once(
                db, session_id, terminal_id, department_id, category, words, number_e164,
                due_on, numbering, seal, actor,
            )  # fmt: skip
        except IntegrityError:
            # another server process took the day's serial between our read and our write
            continue
    raise ComplaintConflict(
        f"could not store a complaint for session {session_id}: other writers kept taking"
        " the same number; try again"
    )


async def _file_once(
    db: Database,
    session_id: str,
    terminal_id: int,
    department_id: str,
    category: str,
    text: str,
    phone: str | None,
    due_on: date,
    numbering: Callable[[str, int], str],
    seal: Callable[[str], str],
    actor: str,
) -> ComplaintSnap:
    async with db.transaction() as tx:
        row = await _session_locked(tx, session_id)
        if row is None or row.terminal_id != terminal_id:
            raise NotFound(f"no session {session_id!r} of this kiosk to complain about")
        if row.ended_at is None:
            raise ComplaintConflict(
                f'Session {session_id} is "{row.state}": a complaint is filed once it has ended'
            )
        filed = await tx.session.scalar(
            select(Complaint.number).where(Complaint.session_id == session_id)
        )
        if filed is not None:
            raise ComplaintConflict(
                f"A complaint about this session was filed already: {filed}; look it up by"
                " that number"
            )
        # one process at a time draws the day's next number (other processes: the unique
        # (day, serial) makes the loser try again)
        await tx.hold("complaint-numbers")
        now = utcnow()
        day = now.strftime("%Y%m%d")
        last = await tx.session.scalar(
            select(func.max(Complaint.serial)).where(Complaint.day == day)
        )
        serial = (last or 0) + 1
        number = numbering(day, serial)
        ticket = Complaint(
            number=number, day=day, serial=serial, code_hash=seal(number),
            session_id=session_id, terminal_id=terminal_id, department_id=department_id,
            service_id=row.service_id, clerk_id=row.clerk_id, language=row.language,
            category=category, text=text, phone=phone, state="open", filed_at=now,
            due_on=due_on,
        )  # fmt: skip
        tx.session.add(ticket)
        await tx.session.flush()
        payload: dict[str, Any] = {
            "number": number,
            "department_id": department_id,
            "category": category,
            "clerk_id": row.clerk_id,
            "due_on": due_on.isoformat(),
            "text_sha256": _sha(text),
            "phone_given": phone is not None,
        }
        await append_in(tx.session, session_id, "complaint.filed", actor, payload, row=row)
        return _snap(ticket)


async def _change(
    db: Database,
    number: str,
    change: Callable[[Complaint, datetime], tuple[str, dict[str, Any]]],
    actor: str,
) -> ComplaintSnap:
    """Lock the ticket's session and the ticket, apply ``change`` (which checks the state and
    returns the event's kind and payload) and chain the event, in one transaction."""
    async with db.reads() as s:
        session_id = await s.scalar(select(Complaint.session_id).where(Complaint.number == number))
    if session_id is None:
        raise NotFound(f"no complaint {number!r}; check the number")
    async with db.transaction() as tx:
        row = await _session_locked(tx, session_id)
        ticket = await tx.session.scalar(
            select(Complaint).where(Complaint.number == number).with_for_update()
        )
        if row is None or ticket is None:
            raise NotFound(f"no complaint {number!r}; check the number")
        kind, payload = change(ticket, utcnow())
        await tx.session.flush()
        await append_in(tx.session, session_id, kind, actor, {"number": number, **payload}, row=row)
        return _snap(ticket)


async def assign(db: Database, number: str, assignee: int, actor: str) -> ComplaintSnap:
    """Give the ticket to staff member ``assignee`` (again, to another); not once closed."""

    def change(ticket: Complaint, now: datetime) -> tuple[str, dict[str, Any]]:
        if ticket.state == "closed":
            raise ComplaintConflict(f"Complaint {number} is closed; it cannot be assigned")
        previous = ticket.assigned_to
        ticket.assigned_to, ticket.assigned_at = assignee, now
        return "complaint.assigned", {"assigned_to": assignee, "previous": previous}

    return await _change(db, number, change, actor)


async def answer(db: Database, number: str, text: str, by: int, actor: str) -> ComplaintSnap:
    """Write (or amend) the answer the applicant is shown; :class:`InvalidComplaint` when
    empty or too long, :class:`ComplaintConflict` once closed."""
    words = text.strip()
    if not words:
        raise InvalidComplaint("empty_answer", "Write the answer: it has no text.")
    if len(words) > ANSWER_MAX:
        raise InvalidComplaint(
            "answer_too_long",
            f"The answer has {len(words)} characters; shorten it to {ANSWER_MAX}.",
        )

    def change(ticket: Complaint, now: datetime) -> tuple[str, dict[str, Any]]:
        amended = ticket.state == "answered"
        move_complaint(ticket, "answered")
        ticket.answer, ticket.answered_by, ticket.answered_at = words, by, now
        return "complaint.answered", {
            "answered_by": by, "answer_sha256": _sha(words), "amended": amended,
        }  # fmt: skip

    return await _change(db, number, change, actor)


async def close(db: Database, number: str, by: int, actor: str) -> ComplaintSnap:
    """Close an answered ticket; :class:`ComplaintConflict` while it has no answer."""

    def change(ticket: Complaint, now: datetime) -> tuple[str, dict[str, Any]]:
        if ticket.state == "open":
            raise ComplaintConflict(
                f"Complaint {number} has no answer yet; write the answer before closing it"
                if ticket.answer is None
                else f"Complaint {number} was reopened; amend the answer before closing it again"
            )
        move_complaint(ticket, "closed")
        ticket.closed_at = now
        return "complaint.closed", {"closed_by": by}

    return await _change(db, number, change, actor)


async def reopen(db: Database, number: str, due_on: date, by: int, actor: str) -> ComplaintSnap:
    """Open a closed ticket again, due anew on ``due_on``; the applicant sees it being handled
    (the earlier answer is kept for the supervisors, shown again once amended)."""

    def change(ticket: Complaint, now: datetime) -> tuple[str, dict[str, Any]]:
        move_complaint(ticket, "open")
        ticket.closed_at, ticket.due_on = None, due_on
        return "complaint.reopened", {"reopened_by": by, "due_on": due_on.isoformat()}

    return await _change(db, number, change, actor)


async def get(db: Database, number: str) -> ComplaintSnap | None:
    """The ticket as stored now, or None."""
    async with db.reads() as s:
        found = await s.scalar(select(Complaint).where(Complaint.number == number))
    return _snap(found) if found is not None else None


async def listed(
    db: Database,
    *,
    states: Collection[str] = STATES,
    departments: Collection[str] | None = None,
    overdue_on: date | None = None,
) -> list[ComplaintSnap]:
    """Tickets in ``states`` (of ``departments``; only those overdue on ``overdue_on``, when
    given), soonest due first."""
    statement = select(Complaint).where(Complaint.state.in_(list(states)))
    if departments is not None:
        statement = statement.where(Complaint.department_id.in_(list(departments)))
    if overdue_on is not None:
        statement = statement.where(Complaint.state == "open", Complaint.due_on < overdue_on)
    statement = statement.order_by(Complaint.due_on, Complaint.filed_at, Complaint.number)
    async with db.reads() as s:
        found: Sequence[Complaint] = (await s.scalars(statement)).all()
    return [_snap(r) for r in found]
