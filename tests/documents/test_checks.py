"""Content checks: every kind of bad file is refused with its own code; good files pass."""

from __future__ import annotations

import pytest

from media.doc_checks import JPEG, PDF, PNG, check_document, check_size
from media.errors import DocumentRefused
from tests.documents import samples


def test_good_files_pass_and_are_typed_by_content() -> None:
    assert check_document(samples.page_jpeg()).content_type == JPEG
    assert check_document(samples.page_png()).content_type == PNG
    checked = check_document(samples.good_pdf(3))
    assert checked.content_type == PDF and checked.pages == 3


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty_file"),
        (samples.not_a_document(), "wrong_type"),
        (b"GIF89a" + b"\x00" * 100, "wrong_type"),
        (samples.corrupt_jpeg(), "corrupt_image"),
        (samples.bomb_png(), "too_many_pixels"),
        (samples.corrupt_pdf(), "corrupt_pdf"),
        (samples.encrypted_pdf(), "encrypted_pdf"),
        (samples.javascript_pdf(), "pdf_javascript"),
    ],
    ids=["empty", "exe", "gif", "truncated-jpeg", "bomb", "corrupt-pdf", "encrypted", "javascript"],
)
def test_bad_files_are_refused_with_their_reason(data: bytes, code: str) -> None:
    with pytest.raises(DocumentRefused) as caught:
        check_document(data)
    assert caught.value.code == code


def test_size_is_refused_before_reading() -> None:
    with pytest.raises(DocumentRefused) as caught:
        check_size(21 * 1024 * 1024, limit=20 * 1024 * 1024)
    assert caught.value.code == "too_large" and caught.value.params == {"limit_mb": 20}
