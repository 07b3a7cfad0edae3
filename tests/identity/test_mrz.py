"""MRZ parsing (ICAO 9303 specimens, every check digit) and reading specimen scans with tesseract."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from media.errors import CheckDigitMismatch, DocumentExpired, DocumentUnreadable, MrzInvalid
from media.mrz import MrzFields, MrzFormat, check_digit, compose_mrz, parse_mrz
from media.mrz_scan import read_mrz
from tests.identity.documents import SAMPLE, corrupt_check_digit, specimen

TODAY = date(2026, 12, 1)

# The specimens printed in ICAO Doc 9303 parts 4 and 5 (Anna Maria Eriksson of Utopia).
ICAO_TD3 = (
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10"
)
ICAO_TD1 = (
    "I<UTOD231458907<<<<<<<<<<<<<<<\n7408122F1204159UTO<<<<<<<<<<<6\nERIKSSON<<ANNA<MARIA<<<<<<<<<<"
)
ICAO_TD2 = "I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<\nD231458907UTO7408122F1204159<<<<<<<6"


def test_check_digit_matches_icao_examples() -> None:
    assert check_digit("L898902C3") == "6"
    assert check_digit("740812") == "2"
    assert check_digit("120415") == "9"
    assert check_digit("ZE184226B<<<<<") == "1"


@pytest.mark.parametrize(
    ("text", "kind"),
    [(ICAO_TD3, MrzFormat.TD3), (ICAO_TD1, MrzFormat.TD1), (ICAO_TD2, MrzFormat.TD2)],
)
def test_icao_specimens_parse(text: str, kind: MrzFormat) -> None:
    doc = parse_mrz(text, date(2010, 1, 1))
    assert doc.format is kind
    assert (doc.surname, doc.given_names) == ("ERIKSSON", "ANNA MARIA")
    assert doc.birth_date == date(1974, 8, 12)
    assert doc.expiry_date == date(2012, 4, 15)
    assert doc.sex == "F" and doc.issuing_state == "UTO"


@pytest.mark.parametrize("kind", list(MrzFormat))
def test_compose_then_parse_round_trips(kind: MrzFormat) -> None:
    fields = MrzFields(
        "ID", "MAC", "1234567A", "LEONG", "KA WAI", "PRT", "851130", "F", "310630", "X9"
    )
    doc = parse_mrz("\n".join(compose_mrz(kind, fields)), TODAY)
    assert doc.document_number == "1234567A"
    assert (doc.surname, doc.given_names) == ("LEONG", "KA WAI")
    assert doc.birth_date == date(1985, 11, 30) and doc.expiry_date == date(2031, 6, 30)
    assert doc.nationality == "PRT" and doc.sex == "F"
    assert "X9" in doc.optional_data


def test_td1_long_document_number_continues_in_optional_field() -> None:
    # ICAO 9303-5 4.2.4: a 12-character number, '<' in the check digit position, the last
    # three characters and the real check digit in the optional field
    l1 = "I<UTO" + "D23145890" + "<" + "734" + check_digit("D23145890734") + "<" * 11
    l2 = "7408122F1204159UTO<<<<<<<<<<<"
    l2 += check_digit(l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29])
    doc = parse_mrz("\n".join([l1, l2, "ERIKSSON<<ANNA<MARIA<<<<<<<<<<"]), date(2010, 1, 1))
    assert doc.document_number == "D23145890734"


@pytest.mark.parametrize(
    ("row", "col", "field"),
    [
        (1, 9, "document_number"),
        (1, 19, "birth_date"),
        (1, 27, "expiry_date"),
        (1, 42, "personal_number"),
        (1, 43, "composite"),
    ],
)
def test_every_td3_check_digit_is_checked(row: int, col: int, field: str) -> None:
    lines = ICAO_TD3.splitlines()
    digit = lines[row][col]
    lines[row] = lines[row][:col] + str((int(digit) + 1) % 10) + lines[row][col + 1 :]
    with pytest.raises(CheckDigitMismatch) as caught:
        parse_mrz("\n".join(lines), date(2010, 1, 1))
    assert caught.value.field == field
    assert "scan it again" in caught.value.message


@pytest.mark.parametrize(
    ("row", "col", "field"),
    [
        (0, 14, "document_number"),
        (1, 6, "birth_date"),
        (1, 14, "expiry_date"),
        (1, 29, "composite"),
    ],
)
def test_every_td1_check_digit_is_checked(row: int, col: int, field: str) -> None:
    lines = ICAO_TD1.splitlines()
    digit = lines[row][col]
    lines[row] = lines[row][:col] + str((int(digit) + 1) % 10) + lines[row][col + 1 :]
    with pytest.raises(CheckDigitMismatch) as caught:
        parse_mrz("\n".join(lines), date(2010, 1, 1))
    assert caught.value.field == field


def test_wrong_shape_and_characters_are_named() -> None:
    with pytest.raises(MrzInvalid, match="found 44\\+40"):
        parse_mrz(ICAO_TD3[:-4])
    with pytest.raises(MrzInvalid, match="characters an MRZ cannot contain"):
        parse_mrz(ICAO_TD3.replace("ANNA", "AN?A"))
    with pytest.raises(MrzInvalid, match="not a real date"):
        parse_mrz("\n".join(compose_mrz(MrzFormat.TD3, _with(birth_date="901341"))), TODAY)


def test_expired_document_is_refused_with_its_date() -> None:
    doc = parse_mrz(ICAO_TD3, TODAY)
    with pytest.raises(DocumentExpired, match="expired on 2012-04-15"):
        doc.require_valid_on(TODAY)
    assert doc.require_valid_on(date(2012, 4, 15)) is doc


def _with(**changes: str) -> MrzFields:
    return MrzFields(**{**SAMPLE.__dict__, **changes})


@pytest.mark.parametrize("kind", list(MrzFormat))
@pytest.mark.parametrize(
    "options",
    [{}, {"rotate": 8.0}, {"rotate": -14.0, "low_contrast": True}, {"rotate": 180.0}],
    ids=["flat", "rotated", "rotated-low-contrast", "upside-down"],
)
def test_scan_is_read_exactly(
    kind: MrzFormat, options: dict[str, float | bool], portrait: np.ndarray
) -> None:
    lines, scan = specimen(kind, portrait, **options)
    result = read_mrz(scan, TODAY)
    assert list(result.document.lines) == lines
    assert result.document.document_number == SAMPLE.document_number
    assert result.document.expiry_date == date(2034, 12, 31)


@pytest.mark.parametrize("kind", [MrzFormat.TD1, MrzFormat.TD3])
def test_scan_with_bad_check_digit_names_the_field(kind: MrzFormat, portrait: np.ndarray) -> None:
    lines, _ = specimen(kind, portrait)
    from tests.identity.documents import render_document

    scan = render_document(corrupt_check_digit(lines, kind), portrait, kind)
    with pytest.raises(CheckDigitMismatch) as caught:
        read_mrz(scan, TODAY)
    assert caught.value.field == "document_number"


def test_blank_page_is_unreadable() -> None:
    with pytest.raises(DocumentUnreadable, match="no machine-readable zone"):
        read_mrz(np.full((1000, 1400, 3), 235, np.uint8), TODAY)
    with pytest.raises(DocumentUnreadable, match="empty"):
        read_mrz(np.zeros((0, 0, 3), np.uint8), TODAY)


def test_expired_scan_reads_then_is_refused(portrait: np.ndarray) -> None:
    _, scan = specimen(MrzFormat.TD3, portrait, fields=_with(expiry_date="200101"))
    doc = read_mrz(scan, TODAY).document
    with pytest.raises(DocumentExpired):
        doc.require_valid_on(TODAY)
