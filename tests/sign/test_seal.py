"""Seal keys, the form PDF and its PAdES seal, checked by pyHanko; a changed byte is found."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from signaling.paperwork import forms
from signaling.paperwork.errors import KeyMaterialError
from signaling.paperwork.seal import InkPoint, _roots, check_seals, ink_content, seal_pdf
from signaling.paperwork.seal_keys import SealFiles, init_keys, keys_dir, seal_for, trust_roots
from signaling.paperwork.session_facts import Applicant
from signaling.paperwork.verify import find_marker, where_differs

NOW = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)


def form(language: str = "zh-Hant") -> tuple[bytes, forms.PageBox, str, str]:
    session_id, doc_id = uuid.uuid4().hex, uuid.uuid4().hex
    data = forms.FormData(
        session_id=session_id, doc_id=doc_id, language=language,  # type: ignore[arg-type]
        service_name="稅務登記", department_name="稅務局",
        applicant=Applicant(
            {"name": "陳大文", "document_number": "H1234567"},
            verified=True, checked=True, face_matched=True,
        ),
        materials=[forms.MaterialLine("營業執照", "ab" * 32)], generated_at=NOW,
    )  # fmt: skip
    pdf, box = forms.application_form(data)
    return pdf, box, session_id, doc_id


def pyhanko_validates(pdf: bytes, data_dir: Path) -> None:
    """pyHanko's own verdict: intact, valid, trusted, whole file covered."""
    reader = PdfFileReader(io.BytesIO(pdf))
    assert reader.embedded_signatures, "no seal in the PDF"
    context = ValidationContext(trust_roots=_roots(trust_roots(data_dir, {})))
    for embedded in reader.embedded_signatures:
        status = validate_pdf_signature(embedded, context)
        assert status.intact and status.valid and status.trusted, status.pretty_print_details()
        assert status.bottom_line
        assert status.coverage.name == "ENTIRE_FILE"


def test_keys_init_makes_a_ca_and_one_key_per_department_once(tmp_path: Path) -> None:
    assert init_keys(tmp_path, ["taxation", "notary"]) == ["taxation", "notary"]
    root = keys_dir(tmp_path)
    assert (root / "ca.pem").is_file() and (root / "departments" / "notary-key.pem").is_file()
    assert (root / "departments" / "taxation-key.pem").stat().st_mode & 0o077 == 0
    assert init_keys(tmp_path, ["taxation", "notary"]) == []  # kept, not replaced


def test_missing_seal_key_says_to_run_keys_init(tmp_path: Path) -> None:
    with pytest.raises(KeyMaterialError, match="vcounter keys init"):
        seal_for(tmp_path, "taxation", {})
    missing = SealFiles(key=tmp_path / "real.key", cert=tmp_path / "real.pem")
    with pytest.raises(KeyMaterialError, match=r"real\.key"):
        seal_for(tmp_path, "taxation", {"taxation": missing})


def test_configured_real_seal_is_used(tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    init_keys(other, ["taxation"])
    real = SealFiles(
        key=keys_dir(other) / "departments" / "taxation-key.pem",
        cert=keys_dir(other) / "departments" / "taxation.pem",
        chain=[keys_dir(other) / "ca.pem"],
    )
    seal = seal_for(tmp_path / "data", "taxation", {"taxation": real})
    assert seal.key == real.key
    pdf, _, sid, did = form()
    sealed = seal_pdf(pdf, seal, forms.marker(sid, did))
    # trusted through the configured chain's root, not the (absent) development CA
    assert all(
        c.ok for c in check_seals(sealed, trust_roots(tmp_path / "data", {"taxation": real}))
    )
    assert not any(c.trusted for c in check_seals(sealed, trust_roots(tmp_path / "data", {})))


@pytest.mark.parametrize("language", ["zh-Hant", "zh-Hans", "en"])
def test_signed_form_is_the_form_shown_plus_a_sealed_update(tmp_path: Path, language: str) -> None:
    init_keys(tmp_path, ["taxation"])
    pdf, box, sid, did = form(language)
    assert pdf.startswith(b"%PDF-") and b"/FontFile" in pdf  # the CJK subset is embedded
    line = [InkPoint(10 + i * 6, 40 + (i % 6) * 9, i * 15, 0.6) for i in range(40)]
    ink = ink_content([line], 600, 200, box)
    completion = forms.completion_page(
        forms.CompletionData(sid, language, None, "alice", "", "kiosk-1", [(NOW, "form")],  # type: ignore[arg-type]
                             [forms.MaterialLine("form", "cd" * 32)], "pending", "ef" * 32),
        did, NOW,
    )  # fmt: skip
    sealed = seal_pdf(
        pdf, seal_for(tmp_path, "taxation", {}), forms.marker(sid, did),
        ink=(box.page, ink), completion=completion,
    )  # fmt: skip
    assert sealed.startswith(pdf)  # the exact bytes shown are inside, untouched
    assert len(PdfFileReader(io.BytesIO(sealed)).root["/Pages"]["/Kids"]) == 2
    pyhanko_validates(sealed, tmp_path)
    assert find_marker(sealed) == (sid, did)


def test_one_changed_byte_breaks_the_seal_and_is_located(tmp_path: Path) -> None:
    init_keys(tmp_path, ["taxation"])
    pdf, _, sid, did = form()
    sealed = seal_pdf(pdf, seal_for(tmp_path, "taxation", {}), forms.marker(sid, did))
    at = len(pdf) // 2
    changed = bytearray(sealed)
    changed[at] ^= 0x01
    checks = check_seals(bytes(changed), trust_roots(tmp_path, {}))
    assert checks and not checks[0].intact and not checks[0].ok
    where = where_differs(sealed, bytes(changed))
    assert where.startswith(f"byte {at} (inside PDF object ")
    assert f"stored 0x{sealed[at]:02x}, this file 0x{changed[at]:02x}" in where


def test_bytes_added_after_the_seal_are_reported(tmp_path: Path) -> None:
    init_keys(tmp_path, ["taxation"])
    pdf, _, sid, did = form()
    sealed = seal_pdf(pdf, seal_for(tmp_path, "taxation", {}), forms.marker(sid, did))
    longer = sealed + b"\n% appended\n"
    checks = check_seals(longer, trust_roots(tmp_path, {}))
    assert checks[0].intact and not checks[0].whole_file and not checks[0].ok
