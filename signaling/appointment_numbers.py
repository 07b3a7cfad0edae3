"""Booking numbers: ``AP`` + ten random digits + a check character, e.g. ``AP48213307560``.

The check character is ISO 7064 MOD 11-2 over the digits, as on acceptance numbers
(:mod:`signaling.paperwork.acceptance`): a single mistyped digit or two neighbouring digits
swapped are caught before any lookup. The digits are random, not a running count, so a
number says nothing about how many bookings there are and the next one cannot be guessed.
People may type it with spaces or hyphens, in lower case, or only its digits.
"""

from __future__ import annotations

import re
import secrets

from signaling.paperwork.acceptance import check_character
from storage.errors import InvalidValue

PREFIX = "AP"
DIGITS = 10
PATTERN = re.compile(r"AP(\d{10})([0-9X])")
EXAMPLE = "AP4821330756" + check_character("4821330756")


class BadAppointmentNumber(InvalidValue):
    """A typed booking number that cannot be one; ``reason`` names why, for translation."""

    code = "bad_number"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def new_number() -> str:
    """A fresh random booking number with its check character."""
    digits = "".join(secrets.choice("0123456789") for _ in range(DIGITS))
    return f"{PREFIX}{digits}{check_character(digits)}"


def normalise(typed: str) -> str:
    """The canonical form of a typed (or scanned) number; :class:`BadAppointmentNumber`
    with a sentence saying what is wrong."""
    value = re.sub(r"[\s\-]", "", typed).upper()
    if not value:
        raise BadAppointmentNumber("empty", "Enter the booking number: none was entered.")
    if not value.startswith(PREFIX):
        value = PREFIX + value
    match = PATTERN.fullmatch(value)
    if match is None:
        raise BadAppointmentNumber(
            "format",
            f"{typed.strip()[:20]!r} is not a booking number: it is AP, 10 digits and a check"
            f" character (a digit or X), e.g. {EXAMPLE}; copy it from your booking",
        )
    digits, check = match.groups()
    if check_character(digits) != check:
        raise BadAppointmentNumber(
            "check",
            f"{value} is not a valid booking number: its last character does not match the"
            " others, so a character was mistyped; check it against your booking",
        )
    return value
