"""ICAO Doc 9303 machine-readable zones: parse TD1, TD2 and TD3 and check every check digit.

:func:`parse_mrz` takes the MRZ text (two or three lines, as OCR or a chip gives it) and
returns a :class:`MrzDocument`, or raises the specific error of :mod:`media.errors`: the
wrong shape (:class:`MrzInvalid`), a field whose check digit does not match
(:class:`CheckDigitMismatch`, naming the field) or an expired document
(:class:`DocumentExpired`, from :meth:`MrzDocument.require_valid_on`). :func:`compose_mrz`
is the inverse, for specimens and tests.

Written here rather than taken from the ``mrz`` package: that package was last released in
2020, is untyped, and its checker reports a bad check digit as a boolean rather than which
field failed, which is what the applicant needs to hear.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from media.errors import CheckDigitMismatch, DocumentExpired, MrzInvalid

_ALPHABET = re.compile(r"[A-Z0-9<]+")
_WEIGHTS = (7, 3, 1)


class MrzFormat(StrEnum):
    """The three ICAO 9303 layouts: ID card (3x30), TD2 (2x36), passport (2x44)."""

    TD1 = "TD1"
    TD2 = "TD2"
    TD3 = "TD3"


_SHAPES = {
    (3, 30): MrzFormat.TD1,
    (2, 36): MrzFormat.TD2,
    (2, 44): MrzFormat.TD3,
}
SHAPES: dict[MrzFormat, tuple[int, int]] = {v: k for k, v in _SHAPES.items()}


def check_digit(field: str) -> str:
    """The ICAO 9303 check digit of ``field`` (digits, A-Z as 10-35, ``<`` as 0)."""
    total = 0
    for i, char in enumerate(field):
        if char.isdigit():
            value = int(char)
        elif "A" <= char <= "Z":
            value = ord(char) - ord("A") + 10
        elif char == "<":
            value = 0
        else:
            raise MrzInvalid(f"{char!r} cannot appear in a machine-readable zone")
        total += value * _WEIGHTS[i % 3]
    return str(total % 10)


@dataclass(frozen=True)
class MrzDocument:
    """What the MRZ says, with every check digit already verified."""

    format: MrzFormat
    document_type: str
    issuing_state: str
    document_number: str
    surname: str
    given_names: str
    nationality: str
    birth_date: date
    sex: str
    expiry_date: date
    optional_data: str
    lines: tuple[str, ...]

    def require_valid_on(self, today: date) -> MrzDocument:
        """``self`` if the document has not expired by ``today``; raises DocumentExpired."""
        if self.expiry_date < today:
            raise DocumentExpired(
                f"this document expired on {self.expiry_date.isoformat()}; use a document"
                " that is still valid"
            )
        return self

    def fields(self) -> dict[str, str]:
        """The document fields as strings, for events and the clerk's panel."""
        return {
            "format": self.format.value,
            "document_type": self.document_type,
            "issuing_state": self.issuing_state,
            "document_number": self.document_number,
            "surname": self.surname,
            "given_names": self.given_names,
            "nationality": self.nationality,
            "birth_date": self.birth_date.isoformat(),
            "sex": self.sex,
            "expiry_date": self.expiry_date.isoformat(),
            "optional_data": self.optional_data,
        }


def _checked(name: str, value: str, digit: str) -> str:
    expected = check_digit(value)
    # An empty optional field may carry '<' as its check digit (ICAO 9303-3, 4.9).
    if digit == expected or (digit == "<" and set(value) <= {"<"}):
        return value
    raise CheckDigitMismatch(
        f"the check digit of the {name.replace('_', ' ')} is {digit!r} but the field"
        f" {value!r} gives {expected!r}: the document was misread or altered; scan it again",
        field=name,
    )


def _date(name: str, text: str, *, future_century: bool, today: date) -> date:
    if not text.isdigit():
        raise MrzInvalid(f"the {name.replace('_', ' ')} {text!r} is not a YYMMDD date")
    yy, mm, dd = int(text[:2]), int(text[2:4]), int(text[4:])
    # Two-digit years: a birth date is never in the future; an expiry date is at most
    # 50 years ahead (ICAO gives no century, every reader has to pick a window).
    century = today.year // 100 * 100
    year = century + yy
    if future_century:
        if year > today.year + 50:
            year -= 100
        elif year < today.year - 50:
            year += 100
    elif year > today.year:
        year -= 100
    try:
        return date(year, mm, dd)
    except ValueError as exc:
        raise MrzInvalid(f"the {name.replace('_', ' ')} {text!r} is not a real date") from exc


def _name(field: str) -> tuple[str, str]:
    surname, _, given = field.partition("<<")
    return surname.replace("<", " ").strip(), given.replace("<", " ").strip()


def _clean(field: str) -> str:
    return field.replace("<", " ").strip()


def split_lines(text: str) -> list[str]:
    """The MRZ lines of ``text``: blank lines dropped, spaces removed, upper case."""
    return [line.replace(" ", "").upper() for line in text.splitlines() if line.strip()]


def mrz_format(lines: list[str]) -> MrzFormat:
    """Which layout ``lines`` have; raises MrzInvalid naming the shape found."""
    shape = (len(lines), len(lines[0]) if lines else 0)
    found = _SHAPES.get(shape)
    if found is None or any(len(line) != shape[1] for line in lines):
        lengths = "+".join(str(len(line)) for line in lines) or "nothing"
        raise MrzInvalid(
            f"a machine-readable zone has 3 lines of 30, or 2 of 36 or 44 characters; found"
            f" {lengths}: place the whole zone in view"
        )
    for line in lines:
        if not _ALPHABET.fullmatch(line):
            raise MrzInvalid(f"the line {line!r} holds characters an MRZ cannot contain")
    return found


def parse_mrz(text: str, today: date | None = None) -> MrzDocument:
    """Parse MRZ ``text`` and verify every check digit; ``today`` pins the date window."""
    lines = split_lines(text)
    kind = mrz_format(lines)
    today = today or date.today()
    if kind is MrzFormat.TD1:
        return _parse_td1(lines, today)
    return _parse_td23(lines, kind, today)


def _parse_td1(lines: list[str], today: date) -> MrzDocument:
    l1, l2, l3 = lines
    number, optional1 = l1[5:14], l1[15:30]
    number_digit = l1[14]
    if number_digit == "<" and optional1.strip("<"):
        # Document numbers longer than 9 characters continue in the optional field; the
        # check digit is the character before its first filler (ICAO 9303-5, 4.2.4).
        tail = optional1.split("<", 1)[0]
        number, number_digit, optional1 = number + tail[:-1], tail[-1], optional1[len(tail) :]
    _checked("document_number", number, number_digit)
    birth = _checked("birth_date", l2[0:6], l2[6])
    expiry = _checked("expiry_date", l2[8:14], l2[14])
    composite = l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29]
    _checked("composite", composite, l2[29])
    surname, given = _name(l3)
    return MrzDocument(
        format=MrzFormat.TD1,
        document_type=_clean(l1[0:2]),
        issuing_state=_clean(l1[2:5]),
        document_number=_clean(number),
        surname=surname,
        given_names=given,
        nationality=_clean(l2[15:18]),
        birth_date=_date("birth_date", birth, future_century=False, today=today),
        sex=_clean(l2[7]) or "X",
        expiry_date=_date("expiry_date", expiry, future_century=True, today=today),
        optional_data=(_clean(optional1) + " " + _clean(l2[18:29])).strip(),
        lines=tuple(lines),
    )


def _parse_td23(lines: list[str], kind: MrzFormat, today: date) -> MrzDocument:
    l1, l2 = lines
    width = len(l2)
    number = _checked("document_number", l2[0:9], l2[9])
    birth = _checked("birth_date", l2[13:19], l2[19])
    expiry = _checked("expiry_date", l2[21:27], l2[27])
    if kind is MrzFormat.TD3:
        optional = _checked("personal_number", l2[28:42], l2[42])
        composite = l2[0:10] + l2[13:20] + l2[21:43]
    else:
        optional = l2[28:35]
        composite = l2[0:10] + l2[13:20] + l2[21:35]
    _checked("composite", composite, l2[width - 1])
    surname, given = _name(l1[5:])
    return MrzDocument(
        format=kind,
        document_type=_clean(l1[0:2]),
        issuing_state=_clean(l1[2:5]),
        document_number=_clean(number),
        surname=surname,
        given_names=given,
        nationality=_clean(l2[10:13]),
        birth_date=_date("birth_date", birth, future_century=False, today=today),
        sex=_clean(l2[20]) or "X",
        expiry_date=_date("expiry_date", expiry, future_century=True, today=today),
        optional_data=_clean(optional),
        lines=tuple(lines),
    )


def _field(value: str, width: int) -> str:
    text = re.sub(r"[^A-Z0-9<]", "<", value.upper().replace(" ", "<"))
    if len(text) > width:
        raise MrzInvalid(f"{value!r} does not fit in {width} MRZ characters")
    return text.ljust(width, "<")


@dataclass(frozen=True)
class MrzFields:
    """What to write into an MRZ with :func:`compose_mrz` (dates as YYMMDD)."""

    document_type: str
    issuing_state: str
    document_number: str
    surname: str
    given_names: str
    nationality: str
    birth_date: str
    sex: str
    expiry_date: str
    optional_data: str = ""


def compose_mrz(kind: MrzFormat, f: MrzFields) -> list[str]:
    """The MRZ lines for ``f`` with correct check digits (specimens, tests, the fake reader)."""
    width = SHAPES[kind][1]
    names = f.surname.upper().replace(" ", "<") + "<<" + f.given_names.upper().replace(" ", "<")
    number = _field(f.document_number, 9)
    n_cd = check_digit(number)
    birth, b_cd = f.birth_date, check_digit(f.birth_date)
    expiry, e_cd = f.expiry_date, check_digit(f.expiry_date)
    sex = f.sex or "<"
    if kind is MrzFormat.TD1:
        l1 = _field(f.document_type, 2) + _field(f.issuing_state, 3) + number + n_cd
        l1 += _field(f.optional_data, 15)
        l2 = birth + b_cd + sex + expiry + e_cd + _field(f.nationality, 3) + "<" * 11
        l2 += check_digit(l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29])
        return [l1, l2, _field(names, width)]
    l1 = _field(f.document_type, 2) + _field(f.issuing_state, 3) + _field(names, width - 5)
    head = number + n_cd + _field(f.nationality, 3) + birth + b_cd + sex + expiry + e_cd
    if kind is MrzFormat.TD3:
        optional = _field(f.optional_data, 14)
        optional_cd = check_digit(optional) if optional.strip("<") else "<"
        body = head + optional + optional_cd
        l2 = body + check_digit(body[0:10] + body[13:20] + body[21:43])
    else:
        body = head + _field(f.optional_data, 7)
        l2 = body + check_digit(body[0:10] + body[13:20] + body[21:35])
    return [l1, l2]
