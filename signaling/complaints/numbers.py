"""Complaint numbers, access codes and due dates.

A number is ``CP`` + the UTC day ``YYYYMMDD`` + that day's running number (five digits) + a
check character, ISO 7064 MOD 11-2 as on acceptance numbers
(:func:`signaling.paperwork.acceptance.check_character`), e.g. ``CP20261205000014``: a
mistyped digit is caught before any lookup. Numbers follow each other, so a number alone
opens nothing: its six-digit access code, drawn at random and stored only as a keyed hash
(HMAC-SHA256 with the server's key), is needed as well.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Collection
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from signaling.errors import SignalingError
from signaling.paperwork.acceptance import check_character

PREFIX = "CP"
PATTERN = re.compile(r"(\d{8})(\d{5})([0-9X])")
EXAMPLE = "CP20261205000014"
CODE_DIGITS = 6


class BadComplaintNumber(SignalingError):
    """What was typed cannot be a complaint number (its form, or its check character)."""

    code = "bad_complaint_number"


def format_number(day: str, serial: int) -> str:
    """The complaint number of ``serial`` on ``day`` (YYYYMMDD)."""
    digits = f"{day}{serial:05d}"
    return f"{PREFIX}{digits}{check_character(digits)}"


def normalise(typed: str) -> str:
    """The canonical form of a typed number (spaces, hyphens, lower case and the ``CP`` are
    optional); :class:`BadComplaintNumber` saying what is wrong."""
    value = re.sub(r"[\s\-]", "", typed).upper().removeprefix(PREFIX)
    match = PATTERN.fullmatch(value)
    if match is None:
        raise BadComplaintNumber(
            f"{typed!r} is not a complaint number: it is CP, 13 digits and a last digit or X,"
            f" e.g. {EXAMPLE}; copy it from the slip"
        )
    day, serial, check = match.groups()
    if check_character(day + serial) != check:
        raise BadComplaintNumber(
            f"{typed!r} is not a valid complaint number: its last character does not match the"
            " others, so a character was mistyped; check it against the slip"
        )
    return PREFIX + value


def new_access_code() -> str:
    """Six random digits (typed on a number pad)."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def seal(key: str, number: str, code: str) -> str:
    """The keyed hash stored for ``code`` of ``number``."""
    return hmac.new(key.encode(), f"{number}:{code}".encode(), hashlib.sha256).hexdigest()


def code_matches(key: str, number: str, code: str, stored: str | None) -> bool:
    """Whether ``code`` opens ``number``; as slow for an unknown number (``stored`` None)
    as for a known one, so the answer's timing does not tell which numbers exist."""
    typed = re.sub(r"\s", "", code)
    found = seal(key, number, typed)
    return hmac.compare_digest(found, stored or "0" * len(found)) and stored is not None


def due_date(filed_at: datetime, working_days: int, holidays: Collection[date], zone: str) -> date:
    """The last day to answer: ``working_days`` working days (Monday to Friday, not
    ``holidays``) after the day of filing, on the local calendar of ``zone``."""
    day = filed_at.astimezone(ZoneInfo(zone)).date()
    left = working_days
    while left > 0:
        day += timedelta(days=1)
        if day.weekday() < 5 and day not in holidays:
            left -= 1
    return day


def today(zone: str, now: datetime) -> date:
    """The local day of ``now`` in ``zone``: what overdue is measured against."""
    return now.astimezone(ZoneInfo(zone)).date()
