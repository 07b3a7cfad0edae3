"""Callbacks: an applicant facing a long wait leaves a phone number; a clerk calls them back.

A task moves ``open -> taken -> open`` (no answer, attempts left) or ``taken -> closed``.
Each change is one transaction that locks the originating session's row (the head of its
chain), checks the task's state *in the database*, changes it and appends the chain event
(``callback.requested``, ``callback.taken``, ``callback.attempted``, ``callback.closed``), or
changes nothing: two clerks taking one task at once, the second is refused.

The phone number is personal data: it is stored for the call and shown to the clerk who took
the task, but never put in a chain event or a log line (the reference stands for it).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, NamedTuple, cast

import phonenumbers
from sqlalchemy import Table, bindparam, func, select

from storage import rows
from storage.db import Database
from storage.errors import DuplicateEntry, InvalidValue, NotFound, StorageError
from storage.models import Callback
from storage.routing import Finished, locked_presence, snap
from storage.rows import Record
from storage.state_log import enter_state
from storage.states import move_session

log = logging.getLogger(__name__)

CALLBACKS = cast(Table, Callback.__table__)

STATES: Final = ("open", "taken", "closed")
TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    "open": frozenset({"taken"}),
    "taken": frozenset({"open", "closed"}),
    "closed": frozenset(),
}
# the away reason of a clerk who was available when they took a callback: no video call rings
# while they phone; recording the attempt brings them back
CALLBACK_AWAY: Final = "callback"
# what a clerk records after a call attempt; "no_answer" may leave the task open
OUTCOMES: Final = ("resolved", "needs_visit", "no_answer", "wrong_number")
# the outcome of a task closed after its last unanswered attempt
UNREACHABLE: Final = "unreachable"
# where the applicant may be called, by the region code the kiosk's number pad sends
REGIONS: Final[dict[str, str]] = {"HK": "Hong Kong", "MO": "Macau", "CN": "the mainland"}
# the clerk's note is kept with the task, not in a chain event: it may name the applicant
NOTE_MAX = 500

# references are read out over the phone: no 0/O, 1/I/L
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


class InvalidPhone(InvalidValue):
    """The phone number cannot be called; ``reason`` names what is wrong for translation."""

    code = "invalid_phone"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class CallbackConflict(StorageError):
    """The task is not in the state the change needs (taken by someone else, closed)."""

    code = "callback_conflict"


class ClerkInCall(StorageError):
    """A clerk in a call (or being rung) cannot take a callback as well."""

    code = "callback_busy"


@dataclass(frozen=True)
class CallbackSnap:
    """A task as committed."""

    reference: str
    session_id: str
    department_id: str
    service_id: str
    language: str
    phone: str
    state: str
    created_at: datetime
    taken_by: int | None
    taken_at: datetime | None
    attempts: int
    outcome: str | None
    note: str | None
    closed_at: datetime | None


class Requested(NamedTuple):
    """A callback task opened, and the session it ended (for the kiosk's and queue's news)."""

    task: CallbackSnap
    ended: Finished


def _snap(row: Any) -> CallbackSnap:
    return CallbackSnap(**{c.name: getattr(row, c.name) for c in CALLBACKS.columns})


def parse_phone(number: str, region: str) -> str:
    """``number`` as typed on the kiosk (local to ``region``, or with +country code) in
    E.164; :class:`InvalidPhone` with a sentence that says what is wrong."""
    if region not in REGIONS:
        raise InvalidPhone(
            "region", f"unknown region {region!r}: choose one of {', '.join(REGIONS)}"
        )
    typed = number.strip().replace(" ", "").replace("-", "")
    if not typed:
        raise InvalidPhone("empty", "Enter a phone number: none was entered.")
    if not typed.lstrip("+").isdigit() or typed.count("+") > 1 or "+" in typed[1:]:
        raise InvalidPhone(
            "characters", "A phone number has only digits, and a + only at the start."
        )
    place = REGIONS[region]
    if len(typed.lstrip("+")) < 4:
        # phonenumbers calls a digit or two "not a number"; to the applicant it is too short
        raise InvalidPhone("too_short", f"The number is too short for a phone number of {place}.")
    try:
        parsed = phonenumbers.parse(typed, region)
    except phonenumbers.NumberParseException as exc:
        short = exc.error_type in (
            phonenumbers.NumberParseException.TOO_SHORT_NSN,
            phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD,
        )
        if short:
            raise InvalidPhone(
                "too_short", f"The number is too short for a phone number of {place}."
            ) from exc
        raise InvalidPhone("invalid", f"This is not a phone number of {place}.") from exc
    found = phonenumbers.region_code_for_number(parsed)
    if found not in REGIONS and phonenumbers.is_valid_number(parsed):
        raise InvalidPhone(
            "other_region",
            "We can call numbers in Hong Kong, Macau and the mainland only; this number is"
            " elsewhere.",
        )
    possible = phonenumbers.is_possible_number_with_reason(parsed)
    if possible == phonenumbers.ValidationResult.TOO_SHORT:
        raise InvalidPhone("too_short", f"The number is too short for a phone number of {place}.")
    if possible == phonenumbers.ValidationResult.TOO_LONG:
        raise InvalidPhone("too_long", f"The number is too long for a phone number of {place}.")
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhone(
            "invalid",
            f"This is not a phone number in use in {place}: check the first digits and the"
            " area you chose.",
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def move_callback(row: Record, new: str) -> str:
    """Set the task's state to ``new`` if :data:`TRANSITIONS` allow it; returns the old."""
    old = str(row.state)
    if new not in TRANSITIONS[old]:
        raise CallbackConflict(f'Callback {row.reference} is "{old}"; it cannot become "{new}"')
    row.state = new
    log.info("callback %s: %s -> %s", row.reference, old, new)
    return old


# the task locked for a change, after its session's row (the order every writer keeps)
_LOCK = rows.Query(
    core=select(CALLBACKS).where(CALLBACKS.c.reference == bindparam("reference")),
    pg=f"SELECT {', '.join(c.name for c in CALLBACKS.columns)} FROM callbacks"
    " WHERE reference = $1 FOR UPDATE",
    params=("reference",),
)


def _clerk_moves(
    tx: rows.RowTransaction, clerk: Record, state: str, now: datetime, reason: str | None
) -> None:
    """The clerk goes ``state`` (away for a callback, or back), in their state log too."""
    enter_state(tx, clerk, state, now, reason=reason)
    clerk.away_reason = reason
    clerk.version = clerk.version + 1


async def _session_of(db: Database, reference: str) -> str:
    async with db.reads() as s:
        session_id = await s.scalar(
            select(Callback.session_id).where(Callback.reference == reference)
        )
    if session_id is None:
        raise NotFound(f"no callback {reference!r}; check the reference")
    return str(session_id)


async def _locked(
    tx: rows.RowTransaction, reference: str, session_id: str
) -> tuple[Record, Record]:
    """The task's session (locked: the chain's head) and the task, locked, as they are now."""
    found = await tx.session(session_id)
    if found is None:
        raise NotFound(f"callback {reference!r} has lost its session {session_id!r}")
    read = await tx.fetch(_LOCK, lock=True, reference=reference)
    if not read:
        raise NotFound(f"no callback {reference!r}; check the reference")
    task = Record(CALLBACKS, {c.name: read[0][c.name] for c in CALLBACKS.columns})
    tx.add(task)
    return found.row, task


async def request(
    db: Database,
    session_id: str,
    *,
    terminal_id: int,
    phone: str,
    region: str,
    actor: str,
) -> Requested:
    """Cancel the kiosk's queued session (``end_reason`` ``callback``) and open a callback
    task for it, in one transaction; :class:`InvalidPhone` (nothing saved) for a bad number."""
    number = parse_phone(phone, region)
    for _ in range(3):
        try:
            async with rows.transaction(db) as tx:
                found = await tx.session(session_id)
                if found is None or found.row.terminal_id != terminal_id:
                    raise NotFound(f"no session {session_id!r} of this kiosk to call back for")
                row, now = found.row, found.now
                before = snap(row, found.department_id)
                if row.state != "queued":
                    raise CallbackConflict(
                        f'Session {session_id} is "{row.state}": only a session still waiting'
                        " in the queue can be turned into a callback"
                    )
                move_session(row, "cancelled")
                row.ended_at = now
                row.end_reason = "callback"
                row.early_offer = None
                row.version = row.version + 1
                tx.chain(row, "session.cancelled", actor, {"reason": "callback"})
                task = Record.made(
                    CALLBACKS,
                    reference="CB" + "".join(secrets.choice(_ALPHABET) for _ in range(6)),
                    session_id=session_id,
                    department_id=found.department_id,
                    service_id=row.service_id,
                    language=row.language,
                    phone=number,
                    state="open",
                    created_at=now,
                    attempts=0,
                )
                tx.add(task)
                tx.chain(
                    row,
                    "callback.requested",
                    actor,
                    {
                        "reference": task.reference,
                        "department_id": found.department_id,
                        "service_id": row.service_id,
                        "language": row.language,
                    },
                )
                after = snap(row, found.department_id)
                return Requested(_snap(task), Finished(after, None, before))
        except DuplicateEntry:
            continue  # a reference drawn twice: draw again
    raise CallbackConflict(f"could not store a callback for session {session_id}; try again")


async def take(db: Database, reference: str, clerk_id: int, actor: str) -> CallbackSnap:
    """Give the open task to ``clerk_id``; :class:`CallbackConflict` if another clerk took
    it first, :class:`ClerkInCall` while they are in a call or being rung."""
    # which session's chain: read before the transaction (it never changes)
    session_id = await _session_of(db, reference)
    async with rows.transaction(db) as tx:
        session, task = await _locked(tx, reference, session_id)
        if task.state != "open":
            who = "another clerk" if task.taken_by != clerk_id else "you"
            state = "taken by " + who if task.state == "taken" else "closed"
            raise CallbackConflict(f"Callback {reference} is already {state}; pick another one")
        clerk = await locked_presence(tx, clerk_id)
        if clerk is not None and (clerk.session_id or clerk.state in ("ringing", "busy")):
            raise ClerkInCall(f"You are in a call; finish it before taking callback {reference}")
        now = await tx.clock()
        move_callback(task, "taken")
        task.taken_by = clerk_id
        task.taken_at = now
        if clerk is not None and clerk.state == "available":
            # on the phone to the applicant: no video call rings meanwhile
            _clerk_moves(tx, clerk, "away", now, CALLBACK_AWAY)
        tx.chain(
            session,
            "callback.taken",
            actor,
            {"reference": reference, "clerk_id": clerk_id, "attempt": task.attempts + 1},
        )
        return _snap(task)


async def attempt(
    db: Database,
    reference: str,
    clerk_id: int,
    *,
    outcome: str,
    note: str,
    max_attempts: int,
    actor: str,
) -> CallbackSnap:
    """Record how the clerk's call went: ``no_answer`` returns the task to the line until
    ``max_attempts`` (then it closes as unreachable); any other outcome closes it."""
    if outcome not in OUTCOMES:
        raise InvalidValue(f"unknown outcome {outcome!r}: use one of {', '.join(OUTCOMES)}")
    if len(note) > NOTE_MAX:
        raise InvalidValue(f"the note has {len(note)} characters; keep it to {NOTE_MAX}")
    session_id = await _session_of(db, reference)
    async with rows.transaction(db) as tx:
        session, task = await _locked(tx, reference, session_id)
        if task.state != "taken" or task.taken_by != clerk_id:
            raise CallbackConflict(
                f"Callback {reference} is not yours to record (it is {task.state}); take it first"
            )
        now = await tx.clock()
        clerk = await locked_presence(tx, clerk_id)
        if clerk is not None and clerk.state == "away" and clerk.away_reason == CALLBACK_AWAY:
            _clerk_moves(tx, clerk, "available", now, None)  # off the phone: back to calls
        task.attempts = task.attempts + 1
        task.note = note or task.note
        tx.chain(
            session,
            "callback.attempted",
            actor,
            {"reference": reference, "clerk_id": clerk_id, "outcome": outcome,
             "attempt": task.attempts},
        )  # fmt: skip
        if outcome == "no_answer" and task.attempts < max_attempts:
            move_callback(task, "open")
            task.taken_by = None
            task.taken_at = None
            return _snap(task)
        move_callback(task, "closed")
        task.outcome = UNREACHABLE if outcome == "no_answer" else outcome
        task.closed_at = now
        tx.chain(
            session,
            "callback.closed",
            actor,
            {"reference": reference, "clerk_id": clerk_id, "outcome": task.outcome,
             "attempts": task.attempts},
        )  # fmt: skip
        return _snap(task)


async def release_taken(
    db: Database, clerk_id: int, *, reason: str, actor: str
) -> list[CallbackSnap]:
    """Every task ``clerk_id`` holds goes back to the line, a ``callback.released`` event
    each: they signed off or were lost, and nobody else could take it up meanwhile."""
    async with db.reads() as s:
        held = (
            await s.execute(
                select(Callback.reference, Callback.session_id).where(
                    Callback.state == "taken", Callback.taken_by == clerk_id
                )
            )
        ).all()
    released: list[CallbackSnap] = []
    for reference, session_id in held:
        async with rows.transaction(db) as tx:
            session, task = await _locked(tx, reference, session_id)
            if task.state != "taken" or task.taken_by != clerk_id:
                continue  # recorded or released meanwhile
            move_callback(task, "open")
            task.taken_by = None
            task.taken_at = None
            tx.chain(
                session,
                "callback.released",
                actor,
                {"reference": reference, "clerk_id": clerk_id, "reason": reason},
            )
            released.append(_snap(task))
    return released


async def get(db: Database, reference: str) -> CallbackSnap | None:
    """The task as stored now, or None."""
    async with db.reads() as s:
        found = await s.execute(select(CALLBACKS).where(CALLBACKS.c.reference == reference))
        first = found.first()
    return _snap(first) if first is not None else None


async def listed(
    db: Database,
    *,
    states: Collection[str] = STATES,
    departments: Collection[str] | None = None,
) -> list[CallbackSnap]:
    """Tasks in ``states`` (of ``departments``, when given), oldest first."""
    statement = select(CALLBACKS).where(CALLBACKS.c.state.in_(list(states)))
    if departments is not None:
        statement = statement.where(CALLBACKS.c.department_id.in_(list(departments)))
    statement = statement.order_by(CALLBACKS.c.created_at, CALLBACKS.c.reference)
    async with db.reads() as s:
        found: Sequence[Any] = (await s.execute(statement)).all()
    return [_snap(r) for r in found]


async def open_by_department(db: Database) -> dict[str, int]:
    """How many tasks wait for a clerk (open), by department."""
    async with db.reads() as s:
        found = await s.execute(
            select(CALLBACKS.c.department_id, func.count())
            .where(CALLBACKS.c.state == "open")
            .group_by(CALLBACKS.c.department_id)
        )
        return {str(d): int(n) for d, n in found}
