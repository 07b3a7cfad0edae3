"""Acceptance numbers (受理号), issued when the applicant signs (submission).

Format: ``VC`` + the UTC day ``YYYYMMDD`` + that day's running number, six digits + one
check character, e.g. ``VC202612020000018``. The check character is ISO 7064 MOD 11-2
(as on mainland resident ID cards: ``0``-``9`` or ``X``) over the 14 digits, so any single
mistyped digit and any swap of two neighbouring digits is caught before a lookup. People
may type it with spaces or hyphens and in lower case; :func:`normalise` removes them.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from signaling.paperwork.errors import BadAcceptanceNumber, UnknownAcceptanceNumber
from storage.db import Database
from storage.errors import StorageError
from storage.models import AcceptanceNumber, utcnow

PREFIX = "VC"
PATTERN = re.compile(r"VC(\d{8})(\d{6})([0-9X])")
EXAMPLE = "VC202612020000018"


def check_character(digits: str) -> str:
    """ISO 7064 MOD 11-2 check character of a string of digits."""
    p = 0
    for ch in digits:
        p = ((p + int(ch)) * 2) % 11
    r = (12 - p) % 11
    return "X" if r == 10 else str(r)


def format_number(day: str, serial: int) -> str:
    """The acceptance number of ``serial`` on ``day`` (YYYYMMDD)."""
    digits = f"{day}{serial:06d}"
    return f"{PREFIX}{digits}{check_character(digits)}"


def normalise(typed: str) -> str:
    """The canonical form of a typed number; raises :class:`BadAcceptanceNumber` saying why."""
    value = re.sub(r"[\s\-]", "", typed).upper()
    match = PATTERN.fullmatch(value)
    if match is None:
        raise BadAcceptanceNumber(
            f"{typed!r} is not an acceptance number: it is VC, 8 digits of the date, 6 digits"
            f" and a check character, e.g. {EXAMPLE}; copy it from the receipt"
        )
    day, serial, check = match.groups()
    if check_character(day + serial) != check:
        raise BadAcceptanceNumber(
            f"{typed!r} is not a valid acceptance number: its last character does not match"
            " the others, so a character was mistyped; check it against the receipt"
        )
    return value


async def issue(db: Database, session_id: str, when: datetime | None = None) -> str:
    """The session's acceptance number, issuing the day's next one on first call."""
    moment = when or utcnow()
    day = moment.strftime("%Y%m%d")
    async with db.lock("acceptance-numbers"):
        for _attempt in range(5):
            try:
                async with db.sessions() as session, session.begin():
                    existing = await session.scalar(
                        select(AcceptanceNumber.number).where(
                            AcceptanceNumber.session_id == session_id
                        )
                    )
                    if existing is not None:
                        return existing
                    last = await session.scalar(
                        select(func.max(AcceptanceNumber.serial)).where(AcceptanceNumber.day == day)
                    )
                    serial = (last or 0) + 1
                    number = format_number(day, serial)
                    session.add(
                        AcceptanceNumber(
                            number=number, session_id=session_id, day=day, serial=serial,
                            issued_at=moment,
                        )
                    )  # fmt: skip
            except IntegrityError:
                # another server process took this serial between our read and our write
                continue
            return number
    raise StorageError(
        f"could not issue an acceptance number for session {session_id}: other writers kept"
        " taking the same serial; try again"
    )


async def session_of(db: Database, typed: str) -> tuple[str, str]:
    """``(number, session_id)`` for a typed number; raises Bad- or UnknownAcceptanceNumber."""
    number = normalise(typed)
    async with db.sessions() as session:
        session_id = await session.scalar(
            select(AcceptanceNumber.session_id).where(AcceptanceNumber.number == number)
        )
    if session_id is None:
        raise UnknownAcceptanceNumber(
            f"no application has the acceptance number {number}; check the receipt, or ask"
            " at the counter"
        )
    return number, session_id


async def number_of(db: Database, session_id: str) -> str | None:
    """The acceptance number issued for a session, if any."""
    async with db.sessions() as session:
        found: str | None = await session.scalar(
            select(AcceptanceNumber.number).where(AcceptanceNumber.session_id == session_id)
        )
    return found
